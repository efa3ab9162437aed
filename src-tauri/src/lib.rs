//! Huddle's desktop app: a Tauri 2 window around the engine.
//!
//! The window (ui/) draws; everything else happens here, in Rust, through the engine's
//! API (`huddle_engine`'s re-exports):
//! - [`commands`]: the IPC layer — what the window asks for, handed on;
//! - [`call`]: the call manager — joining, the call's events and figures, leaving;
//! - [`lobby`]: what the lobby lists (devices, screens and windows to share);
//! - [`local_media`]: our camera and microphone, previewed in the lobby, then sent;
//! - [`frames`]: decoded video, sized by the engine for each tile and sent to the
//!   window as binary frames;
//! - [`events`], [`error`]: what the window hears, and how refusals look;
//! - [`hosting`]: the signaling server run in-process when none is configured;
//! - [`launch`], [`instance`], [`settings`], [`state`]: command line, `huddle://`
//!   links, one running app receiving them, saved settings, what the app holds.
//!
//! The window's side of the contract (`ui/src/bridge/generated.ts`) is generated from
//! these types; a test fails when it is stale (`bindings.rs`).

#[cfg(test)]
mod bindings;
pub mod call;
pub mod commands;
pub mod error;
pub mod events;
pub mod frames;
pub mod hosting;
pub mod instance;
pub mod launch;
pub mod lobby;
pub mod local_media;
pub mod settings;
pub mod state;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tauri::{Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::call::{CallManager, OwnLevel};
use crate::events::Notify;
use crate::frames::FrameHub;
use crate::launch::{JoinLink, LaunchArgs};
use crate::settings::Settings;
use crate::state::{AppState, ServerState, lock};

/// Events reach the window through Tauri's event system.
struct WindowNotify(tauri::AppHandle);

impl Notify for WindowNotify {
    fn notify(&self, event: &str, payload: serde_json::Value) {
        if let Err(e) = self.0.emit(event, payload) {
            tracing::debug!(event, error = %e, "event not delivered");
        }
    }
}

/// Builds the app's state once Tauri is up: settings, the frame socket.
fn setup(
    app: &mut tauri::App,
    args: &LaunchArgs,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let (launch, server_override) = args.resolve()?;
    let settings_path = app.path().app_config_dir()?.join("settings.json");
    let settings = Settings::load(&settings_path);
    let fake = args.fake_devices || settings::fake_devices_from_env() || settings.fake_devices;
    let hub = Arc::new(FrameHub::new());
    let socket = tauri::async_runtime::block_on(frames::socket::start(hub.clone()))?;
    let notify: Arc<dyn Notify> = Arc::new(WindowNotify(app.handle().clone()));
    let calls = CallManager::new(
        hub.clone(),
        notify,
        Arc::new(OwnLevel::default()),
        Arc::default(),
    );
    app.manage(AppState {
        started,
        lobby_shown: AtomicBool::new(false),
        version: app.package_info().version.to_string(),
        launch: Mutex::new(launch),
        fake_devices: AtomicBool::new(fake),
        frame_socket_url: socket.url,
        frame_path: frames::FramePath::from_env(),
        hub,
        calls,
        server: tokio::sync::Mutex::new(ServerState {
            url: String::new(),
            hosted: None,
        }),
        server_override: Mutex::new(server_override),
        settings: Mutex::new(settings),
        settings_path,
    });

    // A link opened while we run (macOS; elsewhere a link starts a new process, which
    // hands it over: `instance`).
    let handle = app.handle().clone();
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            match JoinLink::parse(url.as_str()) {
                Ok(link) => apply_launch(&handle, launch::options_from_link(&link)),
                Err(e) => tracing::warn!(error = %e, "ignored a link"),
            }
        }
    });
    Ok(())
}

/// Fills the lobby from a link or a second launch, as at start.
pub(crate) fn apply_launch<R: tauri::Runtime>(
    handle: &tauri::AppHandle<R>,
    options: launch::LaunchOptions,
) {
    let Some(state) = handle.try_state::<AppState>() else {
        return;
    };
    *lock(&state.launch) = options.clone();
    let _ = handle.emit(events::LAUNCH, options);
}

pub fn run(args: LaunchArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Parse the link before any window opens: a bad one is an error on the command line.
    args.resolve()?;
    let context = tauri::generate_context!();
    let identifier = context.config().identifier.clone();
    let app = tauri::Builder::default()
        // First: a second launch hands its arguments over before building anything.
        .plugin(instance::plugin(&identifier))
        .plugin(tauri_plugin_deep_link::init())
        .setup(move |app| setup(app, &args, started).map_err(Into::into))
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::subscribe_frames,
            commands::list_devices,
            commands::lobby_ready,
            commands::set_preview,
            commands::join,
            commands::cancel_join,
            commands::leave,
            commands::send_chat,
            commands::set_muted,
            commands::set_camera_on,
            commands::set_camera_view,
            commands::lock_room,
            commands::door,
            commands::list_rooms,
            commands::use_link_server,
            commands::switch_device,
            commands::list_share_sources,
            commands::start_share,
            commands::stop_share,
            commands::set_view_sizes,
            commands::get_settings,
            commands::save_settings,
        ])
        .build(context)?;
    app.run(|handle, event| {
        // Closing the window leaves the room properly, so others see us go at once.
        if let tauri::RunEvent::ExitRequested { .. } = event {
            let state = handle.state::<AppState>();
            let _ = state.calls.cancel_join();
            let _ = tauri::async_runtime::block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(2), state.calls.leave()).await
            });
            state.calls.close_preview();
        }
    });
    Ok(())
}
