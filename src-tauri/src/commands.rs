//! The commands the window invokes: each hands its arguments to the part of the app that
//! does the work and gives back its answer (the contract is generated into
//! `ui/src/bridge/generated.ts`, see `bindings.rs`).

use huddle_engine::devices;
use huddle_engine::protocol::ChatMessage;
use tauri::State;

use crate::call::{DeviceKind, DoorAction, JoinRequest, RoomLockRequest, RoomSettings};
use crate::error::{CommandError, blocking};
use crate::events::UiJoined;
use crate::frames::hub::ViewSize;
use crate::lobby::{self, DeviceList, ShareSources};
use crate::settings::Settings;
use crate::state::{AppInfo, AppState, lock};

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, CommandError> {
    state.info().await
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

#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> Result<DeviceList, CommandError> {
    let fake = state.fake_devices();
    let listing = blocking(devices::list).await?;
    Ok(lobby::device_list(listing, fake))
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
    state.calls.set_preview(camera, microphone).await
}

#[tauri::command]
pub async fn join(
    state: State<'_, AppState>,
    request: JoinRequest,
) -> Result<UiJoined, CommandError> {
    let server = state.server_info().await?;
    let joined = state.calls.join(server.url, request).await?;
    // A room we host for the network is always locked with the generated passcode.
    if let Some(passcode) = server.passcode
        && joined.host_id.as_deref() == Some(joined.self_id.as_str())
        && !joined.locked
    {
        let lock = RoomLockRequest {
            passcode: Some(passcode),
            waiting_room: None,
            listed: None,
        };
        let settings = state.calls.lock_room(lock).await?;
        return Ok(UiJoined {
            locked: settings.locked,
            ..joined
        });
    }
    Ok(joined)
}

/// Withdraws a join that waits in a waiting room.
#[tauri::command]
pub fn cancel_join(state: State<'_, AppState>) -> Result<(), CommandError> {
    state.calls.cancel_join()
}

#[tauri::command]
pub async fn leave(state: State<'_, AppState>) -> Result<(), CommandError> {
    state.calls.leave().await
}

#[tauri::command]
pub async fn send_chat(
    state: State<'_, AppState>,
    text: String,
) -> Result<ChatMessage, CommandError> {
    state.calls.chat(text).await
}

/// (Host) the room's passcode, waiting room and listing.
#[tauri::command]
pub async fn lock_room(
    state: State<'_, AppState>,
    lock: RoomLockRequest,
) -> Result<RoomSettings, CommandError> {
    state.calls.lock_room(lock).await
}

/// (Host) admit or deny someone waiting, or remove a participant.
#[tauri::command]
pub async fn door(
    state: State<'_, AppState>,
    action: DoorAction,
    id: String,
) -> Result<(), CommandError> {
    state.calls.door(action, id).await
}

/// The open (listed) rooms of the server the lobby would join.
#[tauri::command]
pub async fn list_rooms(state: State<'_, AppState>) -> Result<Vec<ListedRoom>, CommandError> {
    let server = state.server_info().await?.url;
    let rooms = huddle_engine::list_rooms(&server, None).await?;
    Ok(rooms
        .into_iter()
        .map(|r| ListedRoom {
            room: r.room,
            count: r.count as u32,
            locked: r.locked,
        })
        .collect())
}

/// The person confirmed the server a join link named: joins go there from now on.
#[tauri::command]
pub async fn use_link_server(
    state: State<'_, AppState>,
    server: String,
) -> Result<AppInfo, CommandError> {
    let server = server.trim().trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(CommandError::InvalidInput(format!(
            "not a server address: {server}"
        )));
    }
    *lock(&state.server_override) = Some(server);
    lock(&state.launch).link_server = None;
    state.info().await
}

/// A room the lobby offers.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ListedRoom {
    pub room: String,
    pub count: u32,
    pub locked: bool,
}

#[tauri::command]
pub async fn set_muted(state: State<'_, AppState>, muted: bool) -> Result<(), CommandError> {
    state.calls.set_muted(muted).await
}

#[tauri::command]
pub async fn set_camera_on(state: State<'_, AppState>, on: bool) -> Result<(), CommandError> {
    state.calls.set_camera_on(on).await
}

/// Which participants' cameras are on screen (null: all). In a room on the SFU the others
/// are paused at the SFU, so they cost no download.
#[tauri::command]
pub async fn set_camera_view(
    state: State<'_, AppState>,
    ids: Option<Vec<String>>,
) -> Result<(), CommandError> {
    state.calls.set_camera_view(ids).await
}

#[tauri::command]
pub async fn switch_device(
    state: State<'_, AppState>,
    kind: DeviceKind,
    id: Option<String>,
) -> Result<(), CommandError> {
    state.calls.switch_device(kind, id).await
}

#[tauri::command]
pub async fn list_share_sources(state: State<'_, AppState>) -> Result<ShareSources, CommandError> {
    let fake = state.fake_devices();
    blocking(move || lobby::share_sources(fake)).await
}

#[tauri::command]
pub async fn start_share(state: State<'_, AppState>, source: String) -> Result<(), CommandError> {
    state.calls.start_share(source).await
}

#[tauri::command]
pub async fn stop_share(state: State<'_, AppState>) -> Result<(), CommandError> {
    state.calls.stop_share().await
}

#[tauri::command]
pub async fn set_view_sizes(
    state: State<'_, AppState>,
    sizes: Vec<ViewSize>,
) -> Result<(), CommandError> {
    state.hub.set_view_sizes(sizes);
    Ok(())
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Result<Settings, CommandError> {
    Ok(lock(&state.settings).clone())
}

/// Saves the settings and answers with the app info as it is now.
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<AppInfo, CommandError> {
    state.save_settings(settings)?;
    state.info().await
}
