//! HTTP on the Socket.IO port: health, metrics, the admin room list, and the layer in
//! front of Socket.IO that admits sessions and measures what leaves for each client.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body::Frame;

use crate::access::constant_time_eq;
use crate::net::Peer;
use crate::protocol::AdminRoom;
use crate::signaling::{Connection, Hub};

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

/// `200 ok`, or `503` with the reason when the database does not take writes.
async fn healthz(State(state): State<HttpState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(3), state.hub.store.health()).await {
        Ok(Ok(())) => "ok".into_response(),
        Ok(Err(err)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("storage: {err}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage: not answering\n").into_response(),
    }
}

/// `None` when the request carries the admin token; the refusal otherwise.
fn check_token(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let token = state.admin_token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return None;
    }
    let body = serde_json::json!({
        "ok": false,
        "error": { "code": "unauthorized", "message": "a valid admin token is required" }
    });
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(body),
        )
            .into_response(),
    )
}

async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(refused) = check_token(&state, &headers) {
        return refused;
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.hub.metrics.render(state.hub.rooms.counts()),
    )
        .into_response()
}

/// Only with an admin token: without one the list of rooms is nobody's business.
async fn rooms(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if state.admin_token.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(refused) = check_token(&state, &headers) {
        return refused;
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

/// In front of Socket.IO: refuses pages from other origins and sessions over the caps
/// (with the reason in the body), records the client's address, and ties each
/// session's transport to its byte budget.
pub async fn sessions(State(hub): State<Arc<Hub>>, mut request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    let admission = &hub.admission;
    if let Err(refused) = admission.check_origin(request.headers()) {
        hub.metrics.refused(refused.label());
        tracing::debug!(%refused, "refused a connection");
        return (refused.status(), format!("{refused}\n")).into_response();
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone());
    let (sid, websocket) = session_of(request.uri());
    match (sid, peer) {
        (None, Some(peer)) => {
            // A new session: it takes a place for as long as it lives.
            let client = admission.client_ip(peer.addr.ip(), request.headers());
            match admission.admit(client) {
                Ok(slot) => {
                    request.extensions_mut().insert(Arc::new(slot));
                    request.extensions_mut().insert(client);
                }
                Err(refused) => {
                    // Counted in /metrics; not logged above debug, or a flood would fill
                    // the log.
                    hub.metrics.refused(refused.label());
                    tracing::debug!(client = %client.ip, %refused, "refused a connection");
                    return (refused.status(), format!("{refused}\n")).into_response();
                }
            }
            next.run(request).await
        }
        (Some(sid), Some(peer)) if websocket => {
            hub.upgraded(&sid, peer.wire);
            next.run(request).await
        }
        (Some(sid), _) if request.method() == Method::GET => {
            let connection = hub.outbound_of(&sid);
            let response = next.run(request).await;
            match connection {
                Some(connection) => response.map(|body| {
                    Body::new(Drained {
                        inner: body,
                        connection,
                    })
                }),
                None => response,
            }
        }
        _ => next.run(request).await,
    }
}

/// The Engine.IO session id of a request, and whether it asks for a WebSocket.
fn session_of(uri: &Uri) -> (Option<String>, bool) {
    let mut sid = None;
    let mut websocket = false;
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("sid", v)) if !v.is_empty() => sid = Some(v.to_string()),
            Some(("transport", "websocket")) => websocket = true,
            _ => {}
        }
    }
    (sid, websocket)
}

/// A poll's response body, counting what it carries out of the session's queue.
struct Drained {
    inner: Body,
    connection: Arc<Connection>,
}

impl http_body::Body for Drained {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            self.connection.outbound.drained(data.len());
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sessions_and_transports_from_the_query() {
        let s = |u: &str| session_of(&u.parse::<Uri>().unwrap());
        assert_eq!(s("/socket.io/?EIO=4&transport=polling"), (None, false));
        assert_eq!(s("/socket.io/?EIO=4&transport=websocket"), (None, true));
        assert_eq!(
            s("/socket.io/?EIO=4&transport=websocket&sid=abc"),
            (Some("abc".into()), true)
        );
        assert_eq!(
            s("/socket.io/?EIO=4&transport=polling&t=x&sid=abc"),
            (Some("abc".into()), false)
        );
        assert_eq!(s("/socket.io/?sid="), (None, false));
    }
}
