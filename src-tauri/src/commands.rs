//! The commands the window invokes (mirrored by `ui/src/bridge/contract.ts`).

use std::sync::Arc;
use std::time::Duration;

use huddle_engine::capture::screen::{self, ShareChoice};
use huddle_engine::capture::source::SpeakerChoice;
use huddle_engine::devices::{self, DeviceInfo};
use huddle_engine::peer::PeerSetup;
use huddle_engine::session::{Identity, Session};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::call::Call;
use crate::error::CommandError;
use crate::events::UiJoined;
use crate::frames::FramePath;
use crate::frames::hub::RemoteFrames;
use crate::launch::LaunchOptions;
use crate::local_media;
use crate::settings::Settings;
use crate::state::{AppState, lock};
use huddle_engine::protocol::ChatMessage;

/// The largest size a screen is shared at, and its frame rate.
const SHARE_MAX: (usize, usize) = (1920, 1080);
const SHARE_FPS: u32 = 30;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    url: String,
    hosted: bool,
    share_urls: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    version: String,
    server: ServerInfo,
    fake_devices: bool,
    launch: LaunchOptions,
    frame_socket_url: String,
    frame_path: FramePath,
}

async fn server_info(state: &AppState) -> Result<ServerInfo, CommandError> {
    state
        .resolve_server()
        .await
        .map_err(|e| CommandError::Unreachable(format!("cannot host a server here: {e}")))?;
    let server = state.server.lock().await;
    Ok(ServerInfo {
        url: server.url.clone(),
        hosted: server.hosted.is_some(),
        share_urls: server
            .hosted
            .as_ref()
            .map(|h| h.share_urls.clone())
            .unwrap_or_default(),
    })
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, CommandError> {
    Ok(AppInfo {
        version: state.version.clone(),
        server: server_info(&state).await?,
        fake_devices: state.fake_devices(),
        launch: lock(&state.launch).clone(),
        frame_socket_url: state.frame_socket_url.clone(),
        frame_path: state.frame_path,
    })
}

/// Frames over an IPC channel instead of the WebSocket (when `framePath` says so).
#[tauri::command]
pub async fn subscribe_frames(
    state: State<'_, AppState>,
    channel: tauri::ipc::Channel<tauri::ipc::InvokeResponseBody>,
) -> Result<(), CommandError> {
    crate::frames::channel::serve(state.hub.clone(), channel);
    Ok(())
}

#[derive(Serialize)]
pub struct Device {
    id: String,
    label: String,
}

#[derive(Serialize)]
pub struct DeviceList {
    cameras: Vec<Device>,
    microphones: Vec<Device>,
    speakers: Vec<Device>,
    problems: Vec<String>,
}

/// Real devices (a "system default" first where there is one), with the synthetic ones
/// first when they are asked for.
fn device_list(listing: devices::Listing, fake: bool) -> DeviceList {
    let mut problems = Vec::new();
    let mut kind = |listed: Result<Vec<DeviceInfo>, String>, default: bool| -> Vec<Device> {
        match listed {
            Ok(list) => {
                let mut out = Vec::new();
                if default && !list.is_empty() {
                    out.push(Device {
                        id: "default".into(),
                        label: "System default".into(),
                    });
                }
                out.extend(list.into_iter().map(|d| Device {
                    id: d.id,
                    label: d.name,
                }));
                out
            }
            Err(e) => {
                problems.push(e);
                Vec::new()
            }
        }
    };
    let mut cameras = kind(listing.cameras, false);
    let mut microphones = kind(listing.microphones, true);
    let speakers = kind(listing.speakers, true);
    if fake {
        cameras.insert(
            0,
            Device {
                id: "test".into(),
                label: "Test pattern (synthetic)".into(),
            },
        );
        microphones.insert(
            0,
            Device {
                id: "sine".into(),
                label: "Test tone, 440 Hz (synthetic)".into(),
            },
        );
        // Synthetic media needs no real devices: what failed to list is no problem.
        problems.clear();
    }
    DeviceList {
        cameras,
        microphones,
        speakers,
        problems,
    }
}

#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> Result<DeviceList, CommandError> {
    let fake = state.fake_devices();
    let listing = tokio::task::spawn_blocking(devices::list)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(device_list(listing, fake))
}

/// The window's lobby is interactive: logged once, as the cold-start time.
#[tauri::command]
pub async fn lobby_ready(state: State<'_, AppState>) -> Result<(), CommandError> {
    if !state
        .lobby_shown
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        let ms = state.started.elapsed().as_millis() as u64;
        tracing::info!(ms, "lobby interactive");
    }
    Ok(())
}

#[tauri::command]
pub async fn set_preview(
    state: State<'_, AppState>,
    camera: Option<String>,
    microphone: Option<String>,
) -> Result<(), CommandError> {
    if state.call.lock().await.is_some() {
        return Err(CommandError::AlreadyJoined);
    }
    let preview = state.preview.clone();
    let hub = state.hub.clone();
    let on_level = state.on_level.clone();
    tokio::task::spawn_blocking(move || {
        lock(&preview).set(camera.as_deref(), microphone.as_deref(), &hub, &on_level)
    })
    .await
    .map_err(|e| CommandError::Internal(e.to_string()))?
}

#[derive(Deserialize)]
pub struct JoinRequest {
    email: String,
    room: String,
    name: Option<String>,
    camera: Option<String>,
    microphone: Option<String>,
    speaker: Option<String>,
}

#[tauri::command]
pub async fn join(
    state: State<'_, AppState>,
    request: JoinRequest,
) -> Result<UiJoined, CommandError> {
    let mut call_slot = state.call.lock().await;
    if call_slot.is_some() {
        return Err(CommandError::AlreadyJoined);
    }
    let server_url = server_info(&state).await?.url;
    let (email, room) = (request.email.trim(), request.room.trim());
    if email.is_empty() {
        return Err(CommandError::Server {
            code: "invalid_email".into(),
            message: "enter your email address".into(),
            sharer_id: None,
        });
    }
    if room.is_empty() {
        return Err(CommandError::Server {
            code: "invalid_room".into(),
            message: "enter a room number".into(),
            sharer_id: None,
        });
    }
    let identity = Identity {
        server_url,
        email: email.to_string(),
        room: room.to_string(),
        name: request
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
    };

    // The lobby's devices move into the call.
    let (preview, hub, on_level) = (
        state.preview.clone(),
        state.hub.clone(),
        state.on_level.clone(),
    );
    let (camera, microphone) = (request.camera.clone(), request.microphone.clone());
    let speaker = SpeakerChoice::parse(request.speaker.as_deref().unwrap_or("none"));
    let opened = tokio::task::spawn_blocking(move || {
        let taken =
            lock(&preview).take(camera.as_deref(), microphone.as_deref(), &hub, &on_level)?;
        devices::assemble(taken.camera, taken.microphone, &speaker)
            .map_err(|e| CommandError::Device(format!("speaker: {e}")))
    })
    .await
    .map_err(|e| CommandError::Internal(e.to_string()))?;
    let opened = match opened {
        Ok(o) => o,
        Err(e) => {
            restore_preview(&state, &request.camera, &request.microphone).await;
            return Err(e);
        }
    };

    let sink = Arc::new(RemoteFrames(state.hub.clone()));
    let joined = Session::join(
        identity,
        opened.local,
        opened.playback.mixer.clone(),
        sink,
        PeerSetup::default(),
    )
    .await;
    let session = match joined {
        Ok(s) => s,
        Err(e) => {
            restore_preview(&state, &request.camera, &request.microphone).await;
            return Err(e.into());
        }
    };
    let answer = UiJoined {
        self_id: session.joined.id.clone(),
        room: session.joined.room.clone(),
        participants: session.joined.participants.clone(),
        sharer_id: session.joined.sharer_id.clone(),
        history: session.joined.history.clone(),
        join_ms: session.join_rtt.as_secs_f64() * 1000.0,
    };
    *call_slot = Some(Call::start(
        session,
        opened.playback,
        state.notify.clone(),
        state.own_level.clone(),
    ));
    Ok(answer)
}

/// After a failed join the lobby shows the devices again.
async fn restore_preview(state: &AppState, camera: &Option<String>, mic: &Option<String>) {
    let (preview, hub, on_level) = (
        state.preview.clone(),
        state.hub.clone(),
        state.on_level.clone(),
    );
    let (camera, mic) = (camera.clone(), mic.clone());
    let _ = tokio::task::spawn_blocking(move || {
        lock(&preview).set(camera.as_deref(), mic.as_deref(), &hub, &on_level)
    })
    .await;
}

async fn current_call(state: &AppState) -> Result<Arc<Call>, CommandError> {
    state
        .call
        .lock()
        .await
        .clone()
        .ok_or(CommandError::NotJoined)
}

/// Leaves the room: every call ends, the devices close.
pub async fn leave_call(state: &AppState) -> Result<(), CommandError> {
    let Some(mut call) = state.call.lock().await.take() else {
        return Err(CommandError::NotJoined);
    };
    call.stop_tasks();
    // A command still running holds the call for a moment.
    let call = loop {
        match Arc::try_unwrap(call) {
            Ok(c) => break c,
            Err(shared) => {
                call = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let report = call.session.leave().await?;
    tracing::info!(room = %report.room, peers = report.peers_met, "left the room");
    Ok(())
}

#[tauri::command]
pub async fn leave(state: State<'_, AppState>) -> Result<(), CommandError> {
    leave_call(&state).await
}

#[tauri::command]
pub async fn send_chat(
    state: State<'_, AppState>,
    text: String,
) -> Result<ChatMessage, CommandError> {
    if text.trim().is_empty() {
        return Err(CommandError::InvalidInput("the message is empty".into()));
    }
    let call = current_call(&state).await?;
    Ok(call.session.chat(&text).await?)
}

#[tauri::command]
pub async fn set_muted(state: State<'_, AppState>, muted: bool) -> Result<(), CommandError> {
    let call = current_call(&state).await?;
    call.session.set_muted(muted);
    *lock(&call.muted) = muted;
    Ok(())
}

#[tauri::command]
pub async fn set_camera_on(state: State<'_, AppState>, on: bool) -> Result<(), CommandError> {
    current_call(&state).await?.session.set_camera_on(on);
    Ok(())
}

#[tauri::command]
pub async fn switch_device(
    state: State<'_, AppState>,
    kind: String,
    id: Option<String>,
) -> Result<(), CommandError> {
    let call = current_call(&state).await?;
    let (hub, on_level) = (state.hub.clone(), state.on_level.clone());
    match (kind.as_str(), id) {
        ("camera", Some(id)) => {
            let cam = blocking(move || local_media::open_camera(&id, &hub)).await??;
            call.session.switch_camera(Box::new(cam));
            call.session.set_camera_on(true);
        }
        ("camera", None) => call.session.set_camera_on(false),
        ("microphone", Some(id)) => {
            let mic = blocking(move || local_media::open_microphone(&id, &on_level)).await??;
            call.session.switch_microphone(Box::new(mic));
            call.session.set_muted(false);
            *lock(&call.muted) = false;
        }
        ("microphone", None) => {
            call.session.set_muted(true);
            *lock(&call.muted) = true;
        }
        ("speaker", id) => {
            let choice = SpeakerChoice::parse(id.as_deref().unwrap_or("none"));
            let call = call.clone();
            blocking(move || {
                lock(&call.playback)
                    .switch(&choice)
                    .map_err(|e| CommandError::Device(format!("speaker: {e}")))
            })
            .await??;
        }
        (other, _) => {
            return Err(CommandError::InvalidInput(format!(
                "unknown device kind '{other}'"
            )));
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))
}

#[derive(Serialize)]
pub struct ScreenSource {
    id: String,
    name: String,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
pub struct WindowSource {
    id: String,
    title: String,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
pub struct ShareSources {
    screens: Vec<ScreenSource>,
    windows: Vec<WindowSource>,
}

#[tauri::command]
pub async fn list_share_sources(state: State<'_, AppState>) -> Result<ShareSources, CommandError> {
    let fake = state.fake_devices();
    blocking(move || {
        let mut screens: Vec<ScreenSource> = screen::list_screens()
            .unwrap_or_default()
            .into_iter()
            .map(|s| ScreenSource {
                id: format!("screen:{}", s.id),
                name: s.name,
                width: s.width,
                height: s.height,
            })
            .collect();
        if fake {
            let (width, height) = screen::TEST_SIZE;
            screens.insert(
                0,
                ScreenSource {
                    id: "test".into(),
                    name: "Test screen (synthetic)".into(),
                    width: width as u32,
                    height: height as u32,
                },
            );
        }
        let windows = screen::list_windows()
            .unwrap_or_default()
            .into_iter()
            .map(|w| WindowSource {
                id: format!("window:{}", w.id),
                title: w.title,
                width: w.width,
                height: w.height,
            })
            .collect();
        ShareSources { screens, windows }
    })
    .await
}

#[tauri::command]
pub async fn start_share(state: State<'_, AppState>, source: String) -> Result<(), CommandError> {
    let call = current_call(&state).await?;
    let choice = ShareChoice::parse(&source).map_err(CommandError::InvalidInput)?;
    let opened = blocking(move || screen::open_share(&choice, SHARE_MAX.0, SHARE_MAX.1, SHARE_FPS))
        .await?
        .map_err(|e| CommandError::Device(format!("screen: {e}")))?
        .ok_or_else(|| CommandError::InvalidInput("choose a screen or a window".into()))?;
    call.session.start_sharing(opened).await?;
    *lock(&call.sharing) = true;
    Ok(())
}

#[tauri::command]
pub async fn stop_share(state: State<'_, AppState>) -> Result<(), CommandError> {
    let call = current_call(&state).await?;
    call.session.stop_sharing().await?;
    *lock(&call.sharing) = false;
    Ok(())
}

#[derive(Deserialize)]
pub struct ViewSize {
    stream: String,
    width: f64,
    height: f64,
}

#[tauri::command]
pub async fn set_view_sizes(
    state: State<'_, AppState>,
    sizes: Vec<ViewSize>,
) -> Result<(), CommandError> {
    let clamp = |v: f64| v.clamp(2.0, 7680.0).round() as usize;
    state.hub.set_view_sizes(
        sizes
            .into_iter()
            .filter(|s| s.width.is_finite() && s.height.is_finite())
            .map(|s| (s.stream, clamp(s.width), clamp(s.height))),
    );
    Ok(())
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<Settings, CommandError> {
    Ok(lock(&state.settings).clone())
}

/// Saves the settings; a new server applies to the next join.
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<AppInfo, CommandError> {
    let settings = settings
        .normalized()
        .map_err(|e| CommandError::InvalidInput(e.to_string()))?;
    settings
        .save(&state.settings_path)
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    state
        .fake_devices
        .store(settings.fake_devices, std::sync::atomic::Ordering::Relaxed);
    *lock(&state.settings) = settings;
    // A server chosen here replaces one given at launch.
    *lock(&state.server_override) = None;
    app_info(state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> DeviceInfo {
        DeviceInfo {
            id: id.into(),
            name: format!("Device {id}"),
            is_default: false,
        }
    }

    #[test]
    fn device_lists_put_defaults_and_synthetic_sources_first() {
        let listing = devices::Listing {
            cameras: Err("no camera found".into()),
            microphones: Ok(vec![info("pulse:mic")]),
            speakers: Ok(vec![]),
        };
        let list = device_list(listing, false);
        assert!(list.cameras.is_empty());
        assert_eq!(
            list.microphones
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>(),
            ["default", "pulse:mic"]
        );
        assert!(list.speakers.is_empty());
        assert_eq!(list.problems, ["no camera found"]);

        let listing = devices::Listing {
            cameras: Err("no camera found".into()),
            microphones: Ok(vec![]),
            speakers: Ok(vec![]),
        };
        let list = device_list(listing, true);
        assert_eq!(list.cameras[0].id, "test");
        assert_eq!(list.microphones[0].id, "sine");
        assert!(list.problems.is_empty());
    }
}
