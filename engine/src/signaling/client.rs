//! A Socket.IO client for the signaling server (rust_socketio, async), speaking
//! PROTOCOL.md: typed requests with acks, fire-and-forget relays, and a stream of
//! [`SignalingEvent`]s.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

use huddle_protocol::{
    ErrorCode, ErrorEvent, Refusal, RelayBody, RelayKind, RelayRequest, Request, ServerEvent,
};

/// What the client hears: the connection going and coming back, and the server's events.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    /// The Socket.IO connection is up again after a loss (we are a new connection).
    Connected,
    /// The Socket.IO connection dropped; the client is reconnecting.
    Disconnected,
    Server(ServerEvent),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalingError {
    #[error("cannot reach the signaling server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the CA certificate is not usable: {0}")]
    BadCaCert(String),
    #[error("the server refused `{event}`: {refusal}")]
    Refused { event: String, refusal: Refusal },
    #[error("no answer to `{0}` from the signaling server")]
    Timeout(String),
    #[error("could not send `{event}`: {reason}")]
    Send { event: String, reason: String },
    #[error("unexpected answer to `{event}`: {answer}")]
    BadAnswer { event: String, answer: String },
}

impl SignalingError {
    /// The protocol's error code, when the server refused a request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SignalingError::Refused { refusal, .. } => Some(refusal.code),
            _ => None,
        }
    }
}

/// How long a request waits for its ack.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SignalingClient {
    client: Client,
    /// rust_socketio picks ack ids at random from 0..999, so two requests in flight
    /// could collide; one at a time keeps every ack with its request.
    in_flight: Mutex<()>,
}

impl SignalingClient {
    /// Connects (WebSocket, reconnecting with backoff when the connection drops) and
    /// returns the client with the stream of everything the server sends. `ca_pem`: a
    /// CA certificate (PEM) trusted for an `https://` server, besides the system's.
    pub async fn connect(
        url: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<(Arc<Self>, mpsc::UnboundedReceiver<SignalingEvent>), SignalingError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (first_connect_tx, first_connect_rx) = oneshot::channel();
        let first_connect = Arc::new(std::sync::Mutex::new(Some(first_connect_tx)));

        let on_connect = events_tx.clone();
        let on_close = events_tx.clone();
        let on_error = events_tx.clone();
        let on_any = events_tx;
        let mut builder = ClientBuilder::new(url);
        if let Some(pem) = ca_pem {
            builder = builder.tls_config(tls_trusting(pem)?);
        }
        let client = builder
            .transport_type(TransportType::Websocket)
            .reconnect(true)
            .reconnect_on_disconnect(true)
            .reconnect_delay(200, 5_000)
            .on(Event::Connect, move |_, _| {
                // The first connect completes `connect()`; any later one is a reconnect.
                match first_connect.lock().ok().and_then(|mut g| g.take()) {
                    Some(tx) => {
                        let _ = tx.send(());
                    }
                    None => {
                        let _ = on_connect.send(SignalingEvent::Connected);
                    }
                }
                async {}.boxed()
            })
            .on(Event::Close, move |_, _| {
                let _ = on_close.send(SignalingEvent::Disconnected);
                async {}.boxed()
            })
            .on(Event::Error, move |payload, _| {
                match first_arg(&payload) {
                    Some(v) if v.get("code").is_some() => {
                        if let Ok(e) = serde_json::from_value::<ErrorEvent>(v) {
                            let _ = on_error.send(SignalingEvent::Server(ServerEvent::Error(e)));
                        }
                    }
                    // rust_socketio reports a broken transport (the server died, the
                    // network went) as an error, not as a close; it reconnects by itself.
                    other => {
                        tracing::debug!(?other, "socket.io transport error");
                        let _ = on_error.send(SignalingEvent::Disconnected);
                    }
                }
                async {}.boxed()
            })
            .on_any(move |event, payload, _| {
                let name = event.as_str().to_string();
                let arg = first_arg(&payload).unwrap_or(Value::Null);
                match ServerEvent::parse(&name, &arg) {
                    Ok(e) => {
                        let _ = on_any.send(SignalingEvent::Server(e));
                    }
                    Err(err) => tracing::debug!(%err, "ignored server event"),
                }
                async {}.boxed()
            })
            .connect()
            .await
            .map_err(|e| SignalingError::Unreachable {
                url: url.to_string(),
                reason: error_chain(&e),
            })?;
        disable_nagle_towards(url);
        // An emit sent before the namespace's connect packet arrives can be lost.
        match tokio::time::timeout(REQUEST_TIMEOUT, first_connect_rx).await {
            Ok(Ok(())) => {}
            _ => {
                let _ = client.disconnect().await;
                return Err(SignalingError::Unreachable {
                    url: url.to_string(),
                    reason: "the server accepted the connection but never confirmed it".into(),
                });
            }
        }
        Ok((
            Arc::new(SignalingClient {
                client,
                in_flight: Mutex::new(()),
            }),
            events_rx,
        ))
    }

    /// Sends a request and waits for its ack; `{ ok: false }` becomes
    /// [`SignalingError::Refused`].
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Ack, SignalingError> {
        let event = R::EVENT;
        let payload = serde_json::to_value(request).map_err(|e| SignalingError::Send {
            event: event.to_string(),
            reason: e.to_string(),
        })?;
        let answer = self.request_raw(event, payload).await?;
        serde_json::from_value(answer.clone()).map_err(|e| SignalingError::BadAnswer {
            event: event.to_string(),
            answer: format!("{e}: {answer}"),
        })
    }

    async fn request_raw(&self, event: &str, payload: Value) -> Result<Value, SignalingError> {
        let _one_at_a_time = self.in_flight.lock().await;
        let (tx, rx) = oneshot::channel();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        self.client
            .emit_with_ack(event, payload, REQUEST_TIMEOUT, move |answer, _| {
                if let Some(tx) = tx.lock().ok().and_then(|mut g| g.take()) {
                    let _ = tx.send(first_arg(&answer).unwrap_or(Value::Null));
                }
                async {}.boxed()
            })
            .await
            .map_err(|e| SignalingError::Send {
                event: event.to_string(),
                reason: e.to_string(),
            })?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| SignalingError::Timeout(event.to_string()))?
            .map_err(|_| SignalingError::Timeout(event.to_string()))?;
        match answer.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(answer),
            Some(false) => {
                let refusal = answer
                    .get("error")
                    .and_then(|e| serde_json::from_value::<Refusal>(e.clone()).ok())
                    .unwrap_or_else(|| {
                        Refusal::new(ErrorCode::Unknown, format!("unexplained refusal: {answer}"))
                    });
                Err(SignalingError::Refused {
                    event: event.to_string(),
                    refusal,
                })
            }
            None => Err(SignalingError::BadAnswer {
                event: event.to_string(),
                answer: answer.to_string(),
            }),
        }
    }

    /// Sends a request without asking for an ack (e.g. `sfu:ice`: a refusal comes back
    /// as an `error` event).
    pub async fn notify<R: Request>(&self, request: &R) -> Result<(), SignalingError> {
        let event = R::EVENT;
        let payload = serde_json::to_value(request).map_err(|e| SignalingError::Send {
            event: event.to_string(),
            reason: e.to_string(),
        })?;
        self.client
            .emit(event, payload)
            .await
            .map_err(|e| SignalingError::Send {
                event: event.to_string(),
                reason: e.to_string(),
            })
    }

    /// Sends a relay to another member without waiting for an ack (the server reports
    /// a failed relay as an `error` event).
    pub async fn relay(
        &self,
        kind: RelayKind,
        to: &str,
        body: RelayBody,
    ) -> Result<(), SignalingError> {
        let event = kind.sent_as();
        let payload = serde_json::to_value(RelayRequest::new(to, body)).map_err(|e| {
            SignalingError::Send {
                event: event.to_string(),
                reason: e.to_string(),
            }
        })?;
        self.client
            .emit(event, payload)
            .await
            .map_err(|e| SignalingError::Send {
                event: event.to_string(),
                reason: e.to_string(),
            })
    }

    pub async fn disconnect(&self) {
        if let Err(err) = self.client.disconnect().await {
            tracing::debug!(%err, "disconnect");
        }
    }
}

/// An error with its causes ("EngineIO Error" alone says nothing of a refused
/// certificate underneath).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// A TLS connector (native-tls, what rust_socketio takes) that also trusts `pem`.
fn tls_trusting(pem: &[u8]) -> Result<native_tls::TlsConnector, SignalingError> {
    let ca = native_tls::Certificate::from_pem(pem)
        .map_err(|e| SignalingError::BadCaCert(e.to_string()))?;
    native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .map_err(|e| SignalingError::BadCaCert(e.to_string()))
}

/// rust_socketio opens its WebSocket without TCP_NODELAY, and a small request then
/// waits for the server's delayed ACK: measured, every `room:join` took 40–48 ms on
/// loopback instead of under 1 ms. Signaling is small latency-bound messages, so turn
/// Nagle off on our own TCP connections to the server, found among this process's
/// file descriptors (Linux only; elsewhere nothing changes).
fn disable_nagle_towards(url: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::{AsRawFd, BorrowedFd};
        let Some(server) = url::Url::parse(url)
            .ok()
            .and_then(|u| u.socket_addrs(|| None).ok())
        else {
            return;
        };
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in fds.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: the fd is open (listed just now) and only borrowed for these calls;
            // getsockopt/setsockopt on a non-socket fail harmlessly.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let sock = socket2::SockRef::from(&borrowed);
            let ours = sock
                .peer_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .is_some_and(|a| server.contains(&a));
            if ours
                && sock.r#type().is_ok_and(|t| t == socket2::Type::STREAM)
                && let Err(err) = sock.set_tcp_nodelay(true)
            {
                tracing::debug!(%err, fd = borrowed.as_raw_fd(), "TCP_NODELAY not set");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = url;
}

/// The first argument of an event or ack. Acks arrive wrapped once more than events.
fn first_arg(payload: &Payload) -> Option<Value> {
    match payload {
        Payload::Text(values) => {
            let first = values.first()?.clone();
            match first {
                Value::Array(mut inner) if values.len() == 1 && !inner.is_empty() => {
                    Some(inner.swap_remove(0))
                }
                other => Some(other),
            }
        }
        #[allow(deprecated)]
        Payload::String(s) => serde_json::from_str(s).ok(),
        Payload::Binary(_) => None,
    }
}
