//! Plain HTTP on the Socket.IO port: health, metrics and the admin room list.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::protocol::AdminRoom;
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
    let list: Vec<AdminRoom> = state
        .hub
        .rooms
        .summaries()
        .into_iter()
        .map(|r| AdminRoom {
            room: r.room,
            count: r.count,
            sharer_id: r.sharer.map(|s| s.to_string()),
        })
        .collect();
    axum::Json(list).into_response()
}

/// Copies a request's URI and header values out of hyper's read buffer.
///
/// hyper parses a request in place: its URI and header values are slices of the
/// connection's 8–16 KB read buffer. socketioxide keeps each connection's request for as
/// long as the connection lives, and with it that whole buffer: 8 KB of RSS per idle
/// connection, measured. The copies take a few hundred bytes.
pub async fn detach_from_read_buffer(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    for value in parts.headers.values_mut() {
        if let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    Request::from_parts(parts, body)
}

/// Compares without an early exit, so response time does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};

    fn points_into(buffer: &Bytes, bytes: &[u8]) -> bool {
        buffer.as_ptr_range().contains(&bytes.as_ptr())
    }

    #[tokio::test]
    async fn detached_requests_keep_their_contents_but_not_the_read_buffer() {
        let buffer =
            Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket|dGhlIHNhbXBsZSBub25jZQ==");
        let bar = buffer.iter().position(|&b| b == b'|').unwrap();
        let uri = Uri::from_maybe_shared(buffer.slice(..bar)).unwrap();
        let key = HeaderValue::from_maybe_shared(buffer.slice(bar + 1..)).unwrap();
        let request = Request::builder()
            .uri(uri)
            .header("sec-websocket-key", key)
            .body(Body::empty())
            .unwrap();
        assert!(points_into(
            &buffer,
            request.headers()["sec-websocket-key"].as_bytes()
        ));

        let detached = detach_from_read_buffer(request).await;
        let value = detached.headers()["sec-websocket-key"].as_bytes();
        assert_eq!(value, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert!(!points_into(&buffer, value));
        assert_eq!(detached.uri(), "/socket.io/?EIO=4&transport=websocket");
        let query = detached.uri().query().unwrap();
        assert!(!points_into(&buffer, query.as_bytes()));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
