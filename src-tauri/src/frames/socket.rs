//! The WebSocket the window reads frames from, bound to 127.0.0.1 on a random port. Only
//! this app's window may use it: the URL carries a random per-run token, and the `Origin`
//! must be the app's own, so neither another local process nor a web page in a browser
//! can watch the call.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Deserialize;

use super::FrameHub;

/// The origins the app's pages have (Linux/macOS, Windows), and Vite's in development.
fn allowed_origins() -> Vec<&'static str> {
    let mut origins = vec![
        "tauri://localhost",
        "http://tauri.localhost",
        "https://tauri.localhost",
    ];
    if cfg!(debug_assertions) {
        origins.push("http://localhost:5173");
    }
    origins
}

#[derive(Clone)]
struct Access {
    hub: Arc<FrameHub>,
    token: Arc<str>,
}

#[derive(Deserialize)]
struct FrameQuery {
    token: Option<String>,
}

/// A running frame socket: where the window connects.
pub struct FrameSocket {
    pub addr: SocketAddr,
    pub url: String,
}

pub async fn start(hub: Arc<FrameHub>) -> std::io::Result<FrameSocket> {
    let token: String = {
        let bytes: [u8; 24] = rand::thread_rng().r#gen();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/frames", get(upgrade))
        .with_state(Access {
            hub,
            token: token.as_str().into(),
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the frame socket stopped");
        }
    });
    tracing::info!(%addr, "frame socket listening");
    Ok(FrameSocket {
        addr,
        url: format!("ws://{addr}/frames?token={token}"),
    })
}

/// Equal-time comparison, so the token cannot be guessed byte by byte from timings.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn upgrade(
    State(access): State<Access>,
    Query(query): Query<FrameQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token_ok = query
        .token
        .as_deref()
        .is_some_and(|t| same_secret(t, &access.token));
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .unwrap_or("");
    if !token_ok || !allowed_origins().contains(&origin) {
        tracing::warn!(origin, token_ok, "refused a frame socket connection");
        return (StatusCode::FORBIDDEN, "forbidden").into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, access.hub))
}

/// Frames sent but not yet acknowledged by the window. The window answers each frame once it
/// has handled it; past this many, frames wait in the outlet (newest wins) instead of in the
/// socket, WebKit's buffers or the page's event queue, where they would pile up unseen.
const MAX_IN_FLIGHT: usize = 2;

/// What the window sends back for each frame it has handled.
const ACK: &str = "ack";

async fn serve(socket: WebSocket, hub: Arc<FrameHub>) {
    let mut frames = hub.connect();
    let (mut sink, mut incoming) = socket.split();
    let mut in_flight = 0usize;
    loop {
        tokio::select! {
            frame = frames.recv(), if in_flight < MAX_IN_FLIGHT => {
                let Some(frame) = frame else { break };
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    break;
                }
                in_flight += 1;
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) if text.as_str() == ACK => {
                    in_flight = in_flight.saturating_sub(1);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::debug!("frame socket closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
