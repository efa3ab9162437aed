//! Plain HTTP on the Socket.IO port: health, metrics and the admin room list.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::signaling::Hub;

#[derive(Clone)]
pub struct HttpState {
    pub hub: Arc<Hub>,
    pub admin_token: Option<String>,
}

pub fn routes(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/rooms", get(rooms))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let (rooms, members) = state.hub.rooms.counts();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.hub.metrics.render(rooms, members),
    )
        .into_response()
}

#[derive(Serialize)]
struct RoomEntry {
    room: String,
    count: usize,
    #[serde(rename = "sharerId")]
    sharer_id: Option<String>,
}

async fn rooms(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.admin_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            let body = serde_json::json!({
                "ok": false,
                "error": { "code": "unauthorized", "message": "a valid admin token is required" }
            });
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(body),
            )
                .into_response();
        }
    }
    let list: Vec<RoomEntry> = state
        .hub
        .rooms
        .summaries()
        .into_iter()
        .map(|r| RoomEntry {
            room: r.room,
            count: r.count,
            sharer_id: r.sharer.map(|s| s.to_string()),
        })
        .collect();
    axum::Json(list).into_response()
}

/// Compares without an early exit, so response time does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
