//! The other way frames can reach the window: a Tauri IPC channel with raw payloads.
//! Kept so the two paths can be measured side by side (`HUDDLE_FRAME_PATH=channel`; it has
//! no acknowledgements, so frames are not held back for a slow window as on the socket);
//! the WebSocket is the default because it measured faster on WebKitGTK
//! (docs/benchmarks.md, "Desktop app").

use std::sync::Arc;

use tauri::ipc::{Channel, InvokeResponseBody};

use super::FrameHub;

/// Which path carries frames to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum FramePath {
    WebSocket,
    Channel,
}

impl FramePath {
    /// `HUDDLE_FRAME_PATH=channel` picks the IPC channel; anything else the WebSocket.
    pub fn from_env() -> FramePath {
        match std::env::var("HUDDLE_FRAME_PATH").as_deref() {
            Ok("channel") => FramePath::Channel,
            _ => FramePath::WebSocket,
        }
    }
}

/// Sends every frame for the window down `channel` until the window goes away.
pub fn serve(hub: Arc<FrameHub>, channel: Channel<InvokeResponseBody>) {
    let mut frames = hub.connect();
    tauri::async_runtime::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if channel.send(InvokeResponseBody::Raw(frame)).is_err() {
                break;
            }
        }
    });
}
