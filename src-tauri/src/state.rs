//! Everything the app holds while it runs, shared by the commands.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::call::{Call, OwnLevel};
use crate::events::Notify;
use crate::frames::{FrameHub, FramePath};
use crate::hosting::{self, HostedServer};
use crate::launch::LaunchOptions;
use crate::local_media::{LevelListener, Preview};
use crate::settings::Settings;

/// Which signaling server joins go through.
pub struct ServerState {
    pub url: String,
    /// Set while the app hosts the server itself.
    pub hosted: Option<HostedServer>,
}

pub struct AppState {
    /// When the process started (near enough: when `run` began), for the cold-start log.
    pub started: std::time::Instant,
    pub lobby_shown: AtomicBool,
    pub version: String,
    pub launch: Mutex<LaunchOptions>,
    pub fake_devices: AtomicBool,
    pub frame_socket_url: String,
    pub frame_path: FramePath,
    pub hub: Arc<FrameHub>,
    pub notify: Arc<dyn Notify>,
    pub own_level: Arc<OwnLevel>,
    pub on_level: LevelListener,
    pub preview: Arc<Mutex<Preview>>,
    pub call: tokio::sync::Mutex<Option<Arc<Call>>>,
    pub server: tokio::sync::Mutex<ServerState>,
    /// From the command line, `HUDDLE_SERVER` or a join link: wins over the setting.
    pub server_override: Mutex<Option<String>>,
    pub settings: Mutex<Settings>,
    pub settings_path: PathBuf,
}

/// The level listener: remembers our level (for the active speaker) and tells the window.
pub fn level_listener(notify: Arc<dyn Notify>, own: Arc<OwnLevel>) -> LevelListener {
    Arc::new(move |level| {
        own.set(level);
        notify.notify("mic-level", serde_json::json!({ "level": level }));
    })
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AppState {
    pub fn fake_devices(&self) -> bool {
        self.fake_devices.load(Ordering::Relaxed)
    }

    /// The server a join goes to now: the override, else the setting, else one we host
    /// (started on first need).
    pub async fn resolve_server(&self) -> Result<(), huddle_server::ServerError> {
        let wanted = lock(&self.server_override)
            .clone()
            .or_else(|| lock(&self.settings).server.clone());
        let mut server = self.server.lock().await;
        match wanted {
            Some(url) => {
                server.url = url;
                server.hosted = None;
            }
            None if server.hosted.is_none() => {
                let hosted = hosting::host().await?;
                server.url = hosted.url.clone();
                server.hosted = Some(hosted);
            }
            None => {}
        }
        Ok(())
    }
}
