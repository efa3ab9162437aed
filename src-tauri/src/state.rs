//! Everything the app holds while it runs, shared by the commands.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::call::CallManager;
use crate::error::CommandError;
use crate::frames::{FrameHub, FramePath};
use crate::hosting::{self, HostedServer};
use crate::launch::LaunchOptions;
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
    pub calls: CallManager,
    pub server: tokio::sync::Mutex<ServerState>,
    /// From the command line, `HUDDLE_SERVER` or a join link: wins over the setting.
    pub server_override: Mutex<Option<String>>,
    pub settings: Mutex<Settings>,
    pub settings_path: PathBuf,
}

/// What the window needs to start: the server, launch options, the frame socket.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppInfo {
    version: String,
    server: ServerInfo,
    /// Synthetic camera/microphone/screen (HUDDLE_FAKE_DEVICES=1 or the setting).
    fake_devices: bool,
    /// From the command line or a huddle:// link; fills the lobby.
    launch: LaunchOptions,
    /// ws://127.0.0.1:PORT/frames?token=TOKEN — only this window knows the token.
    frame_socket_url: String,
    /// How frames travel: the WebSocket (default, measured fastest on WebKitGTK), or a
    /// Tauri IPC channel (HUDDLE_FRAME_PATH=channel, for comparing the two).
    frame_path: FramePath,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ServerInfo {
    /// The signaling server the app joins through.
    pub url: String,
    /// True when the app runs the server itself (no server configured).
    hosted: bool,
    /// Addresses others on the network can use to reach a hosted server (only when
    /// others on the network may join).
    share_urls: Vec<String>,
    /// The passcode our hosted rooms are locked with, to give to the others (LAN
    /// hosting only).
    pub passcode: Option<String>,
    /// A plain `http://` server beyond loopback and private networks: emails, chat and
    /// the calls' keys' fingerprints travel readable and alterable.
    unencrypted_remote: bool,
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
        let lan = lock(&self.settings).lan_hosting;
        let mut server = self.server.lock().await;
        match wanted {
            Some(url) => {
                server.url = url;
                server.hosted = None;
            }
            // Hosted already, for the network or not as the setting says.
            None if server.hosted.as_ref().is_some_and(|h| h.lan == lan) => {}
            None => {
                // The old one (if any) stops before the new one takes the port.
                server.hosted = None;
                let hosted = hosting::host(lan).await?;
                server.url = hosted.url.clone();
                server.hosted = Some(hosted);
            }
        }
        Ok(())
    }

    /// The server joins go through now (hosting one if none is configured).
    pub async fn server_info(&self) -> Result<ServerInfo, CommandError> {
        self.resolve_server()
            .await
            .map_err(|e| CommandError::Unreachable(format!("cannot host a server here: {e}")))?;
        let server = self.server.lock().await;
        Ok(ServerInfo {
            unencrypted_remote: huddle_engine::server_transport(&server.url)
                == huddle_engine::ServerTransport::PlainRemote,
            url: server.url.clone(),
            hosted: server.hosted.is_some(),
            share_urls: server
                .hosted
                .as_ref()
                .map(|h| h.share_urls.clone())
                .unwrap_or_default(),
            passcode: server.hosted.as_ref().and_then(|h| h.passcode.clone()),
        })
    }

    pub async fn info(&self) -> Result<AppInfo, CommandError> {
        Ok(AppInfo {
            version: self.version.clone(),
            server: self.server_info().await?,
            fake_devices: self.fake_devices(),
            launch: lock(&self.launch).clone(),
            frame_socket_url: self.frame_socket_url.clone(),
            frame_path: self.frame_path,
        })
    }

    /// Saves the settings; a new server applies to the next join and replaces one given
    /// at launch.
    pub fn save_settings(&self, settings: Settings) -> Result<(), CommandError> {
        let settings = settings
            .normalized()
            .map_err(|e| CommandError::InvalidInput(e.to_string()))?;
        settings
            .save(&self.settings_path)
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        self.fake_devices
            .store(settings.fake_devices, Ordering::Relaxed);
        *lock(&self.settings) = settings;
        *lock(&self.server_override) = None;
        Ok(())
    }
}
