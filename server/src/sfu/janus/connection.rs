//! The one WebSocket to Janus and the task that owns it.
//!
//! Everything that touches the socket happens in one task: requests come in over a channel,
//! get a transaction (see [`dispatch`](super::dispatch)) and go out; frames from Janus settle
//! requests or go to their handle. The task also sends every live session's keepalive and,
//! when the socket drops, fails what was pending, reports every session lost (Janus destroys
//! the sessions of a closed socket) and reconnects with backoff, refusing requests with
//! [`JanusError::Disconnected`] meanwhile.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::dispatch::{HandleEvent, LinkEvent, Reply, Routed, Transactions};
use super::error::{ApiErrorCode, JanusError, SessionLoss};
use super::message::{Incoming, Request, ServerInfo};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The WebSocket subprotocol of the Janus API.
pub const SUBPROTOCOL: &str = "janus-protocol";

/// How often the session keepalive goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// A third of the server's `session_timeout` (read from `info` at each connect).
    Auto,
    Every(Duration),
    /// None at all (sessions then time out in Janus; for tests).
    Off,
}

#[derive(Debug, Clone)]
pub struct JanusConfig {
    /// `ws://host:port` of Janus's WebSocket API.
    pub url: String,
    pub api_secret: Option<String>,
    pub keepalive: Keepalive,
    /// How long a request may wait for Janus's answer (and a connect for the handshake).
    pub request_timeout: Duration,
    /// Reconnect backoff: from `reconnect_min`, doubling up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Plugins Janus must have loaded, checked at each connect.
    pub required_plugins: Vec<String>,
}

impl JanusConfig {
    pub fn new(url: impl Into<String>) -> JanusConfig {
        JanusConfig {
            url: url.into(),
            api_secret: None,
            keepalive: Keepalive::Auto,
            request_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(5),
            required_plugins: vec![super::videoroom::PLUGIN.to_owned()],
        }
    }

    pub fn with_api_secret(mut self, secret: impl Into<String>) -> JanusConfig {
        self.api_secret = Some(secret.into());
        self
    }

    pub fn with_keepalive(mut self, keepalive: Keepalive) -> JanusConfig {
        self.keepalive = keepalive;
        self
    }

    fn keepalive_period(&self, info: &ServerInfo) -> Option<Duration> {
        match self.keepalive {
            Keepalive::Off => None,
            Keepalive::Every(d) => Some(d),
            Keepalive::Auto if info.session_timeout == 0 => None,
            Keepalive::Auto => Some(
                Duration::from_millis(info.session_timeout * 1000 / 3)
                    .max(Duration::from_millis(500)),
            ),
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Connected. `epoch` counts connections: sessions of an earlier epoch are gone.
    Up { epoch: u64 },
    /// Not connected; reconnecting.
    Down { reason: String },
    /// Closed for good ([`super::JanusClient::close`]).
    Closed,
}

/// What the connection should track once a request succeeds.
pub(super) enum Track {
    Nothing,
    NewSession(watch::Sender<Option<SessionLoss>>),
    NewHandle {
        session_id: u64,
        events: mpsc::UnboundedSender<HandleEvent>,
    },
    EndSession(u64),
    EndHandle {
        session_id: u64,
        handle_id: u64,
    },
}

pub(super) enum Command {
    Call {
        request: Request,
        reply: oneshot::Sender<Result<Reply, JanusError>>,
        track: Track,
    },
    /// A session or handle dropped without being destroyed: stop tracking it and tell Janus.
    Forget {
        session_id: u64,
        handle_id: Option<u64>,
    },
    Close,
}

enum Waiter {
    Caller {
        reply: oneshot::Sender<Result<Reply, JanusError>>,
        track: Track,
    },
    Keepalive {
        session_id: u64,
    },
    /// Nobody waits (a destroy or detach sent on drop).
    Quiet,
}

/// Live sessions and where their handles' events go.
#[derive(Default)]
struct Registry {
    sessions: HashMap<u64, SessionEntry>,
}

struct SessionEntry {
    lost: watch::Sender<Option<SessionLoss>>,
    handles: HashMap<u64, mpsc::UnboundedSender<HandleEvent>>,
}

impl Registry {
    fn lose(&mut self, session_id: u64, why: SessionLoss) {
        if let Some(entry) = self.sessions.remove(&session_id) {
            tracing::warn!(session_id, %why, "Janus session lost");
            for events in entry.handles.values() {
                let _ = events.send(HandleEvent::Link(LinkEvent::SessionLost(why)));
            }
            let _ = entry.lost.send(Some(why));
        }
    }

    fn lose_all(&mut self, why: SessionLoss) {
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            self.lose(id, why);
        }
    }

    fn deliver(&mut self, session_id: Option<u64>, handle_id: u64, event: HandleEvent) {
        let entry = match session_id {
            Some(sid) => self.sessions.get_mut(&sid),
            None => self
                .sessions
                .values_mut()
                .find(|e| e.handles.contains_key(&handle_id)),
        };
        let Some(entry) = entry else {
            tracing::debug!(handle_id, ?event, "event for a handle we no longer track");
            return;
        };
        let detached = event == HandleEvent::Link(LinkEvent::Detached);
        if let Some(events) = entry.handles.get(&handle_id) {
            let _ = events.send(event);
        }
        if detached {
            entry.handles.remove(&handle_id);
        }
    }
}

/// Opens the WebSocket and checks, with `info`, that Janus is there with what we need.
pub(super) async fn open(config: &JanusConfig) -> Result<(Socket, ServerInfo), JanusError> {
    let url = &config.url;
    let connect_error = |reason: String| JanusError::Connect {
        url: url.clone(),
        reason,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| JanusError::BadUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (mut socket, _) = tokio::time::timeout(
        config.request_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|_| connect_error(format!("no answer within {:?}", config.request_timeout)))?
    .map_err(|e| connect_error(e.to_string()))?;

    const HELLO: &str = "hello";
    socket
        .send(Message::text(
            Request::Info.encode(HELLO, config.api_secret.as_deref()),
        ))
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    let not_janus = |reason: String| JanusError::NotJanus {
        url: url.clone(),
        reason,
    };
    let info = tokio::time::timeout(config.request_timeout, async {
        while let Some(frame) = socket.next().await {
            let frame = frame.map_err(|e| connect_error(e.to_string()))?;
            let Message::Text(text) = frame else { continue };
            match Incoming::parse(&text) {
                Ok(Incoming::ServerInfo(info)) if info.transaction.as_deref() == Some(HELLO) => {
                    return Ok(info);
                }
                Ok(Incoming::Error { error, .. }) => {
                    return Err(JanusError::Api {
                        request: "info",
                        code: ApiErrorCode::from_code(error.code),
                        reason: error.reason,
                    });
                }
                _ => continue,
            }
        }
        Err(not_janus(
            "the socket closed before `info` was answered".into(),
        ))
    })
    .await
    .map_err(|_| {
        not_janus(format!(
            "no answer to `info` within {:?}",
            config.request_timeout
        ))
    })??;

    for plugin in &config.required_plugins {
        if !info.plugins.contains_key(plugin) {
            return Err(JanusError::PluginMissing {
                url: url.clone(),
                plugin: plugin.clone(),
            });
        }
    }
    Ok((socket, info))
}

enum End {
    /// Closed on purpose.
    Closed,
    /// The socket failed or Janus closed it.
    Lost(String),
}

/// The connection task: serves `socket`, then reconnects until closed.
pub(super) async fn run(
    config: JanusConfig,
    mut socket: Socket,
    mut info: ServerInfo,
    mut commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<LinkStatus>,
) {
    let mut epoch = 1;
    let mut task = Task {
        transactions: Transactions::default(),
        registry: Registry::default(),
        config,
    };
    loop {
        let _ = status.send(LinkStatus::Up { epoch });
        tracing::info!(url = %task.config.url, version = %info.version_string, epoch, "connected to Janus");
        let keepalive = task.config.keepalive_period(&info);
        let reason = match task.serve(socket, &mut commands, keepalive).await {
            End::Closed => {
                task.fail_everything(JanusError::Closed, SessionLoss::Disconnected);
                let _ = status.send(LinkStatus::Closed);
                return;
            }
            End::Lost(reason) => reason,
        };
        tracing::warn!(url = %task.config.url, %reason, "lost the connection to Janus; reconnecting");
        task.fail_everything(JanusError::Disconnected, SessionLoss::Disconnected);
        let _ = status.send(LinkStatus::Down {
            reason: reason.clone(),
        });

        let mut delay = task.config.reconnect_min;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                () = refuse_until_closed(&mut commands) => {
                    let _ = status.send(LinkStatus::Closed);
                    return;
                }
            }
            let attempt = tokio::select! {
                r = open(&task.config) => r,
                () = refuse_until_closed(&mut commands) => {
                    let _ = status.send(LinkStatus::Closed);
                    return;
                }
            };
            match attempt {
                Ok((s, i)) => {
                    socket = s;
                    info = i;
                    epoch += 1;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "Janus still unreachable");
                    let _ = status.send(LinkStatus::Down {
                        reason: e.to_string(),
                    });
                    delay = (delay * 2).min(task.config.reconnect_max);
                }
            }
        }
    }
}

/// While disconnected: answers every request at once, until the client closes.
async fn refuse_until_closed(commands: &mut mpsc::UnboundedReceiver<Command>) {
    loop {
        match commands.recv().await {
            None | Some(Command::Close) => return,
            Some(Command::Call { reply, .. }) => {
                let _ = reply.send(Err(JanusError::Disconnected));
            }
            Some(Command::Forget { .. }) => {}
        }
    }
}

struct Task {
    transactions: Transactions<Waiter>,
    registry: Registry,
    config: JanusConfig,
}

impl Task {
    async fn serve(
        &mut self,
        socket: Socket,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        keepalive: Option<Duration>,
    ) -> End {
        let (mut sink, mut stream) = socket.split();
        let mut keepalive = keepalive.map(|period| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        let mut sweep = tokio::time::interval(Duration::from_millis(200));
        loop {
            let mut outgoing: Vec<(Request, Waiter)> = Vec::new();
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Close) => {
                        let _ = sink.send(Message::Close(None)).await;
                        return End::Closed;
                    }
                    Some(Command::Call { request, reply, track }) => {
                        outgoing.push((request, Waiter::Caller { reply, track }));
                    }
                    Some(Command::Forget { session_id, handle_id }) => {
                        outgoing.push((self.forget(session_id, handle_id), Waiter::Quiet));
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_text(&text),
                    Some(Ok(Message::Close(frame))) => {
                        return End::Lost(format!("Janus closed the WebSocket ({frame:?})"));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return End::Lost(e.to_string()),
                    None => return End::Lost("the WebSocket ended".into()),
                },
                _ = tick(&mut keepalive) => {
                    for &session_id in self.registry.sessions.keys() {
                        outgoing.push((Request::Keepalive { session_id }, Waiter::Keepalive { session_id }));
                    }
                }
                _ = sweep.tick() => {
                    for (waiter, error) in self.transactions.expire(Instant::now()) {
                        self.settle(waiter, Err(error));
                    }
                }
            }
            for (request, waiter) in outgoing {
                let transaction = self.transactions.begin(
                    request.name(),
                    request.settle(),
                    waiter,
                    Instant::now(),
                    self.config.request_timeout,
                );
                let text = request.encode(&transaction, self.config.api_secret.as_deref());
                tracing::trace!(request = request.name(), %transaction, "to Janus");
                if let Err(e) = sink.send(Message::text(text)).await {
                    return End::Lost(e.to_string());
                }
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        tracing::trace!(frame = %text, "from Janus");
        let routed = match Incoming::parse(text) {
            Ok(frame) => self.transactions.route(frame),
            Err(unreadable) => self.transactions.unreadable(unreadable),
        };
        match routed {
            Routed::Settled { waiter, result } => self.settle(waiter, result),
            Routed::Accepted => {}
            Routed::ToHandle {
                session_id,
                handle_id,
                event,
            } => self.registry.deliver(session_id, handle_id, event),
            Routed::SessionTimedOut { session_id } => {
                self.registry.lose(session_id, SessionLoss::TimedOut)
            }
            Routed::Ignored { why } => tracing::debug!(%why, "Janus frame ignored"),
        }
    }

    fn settle(&mut self, waiter: Waiter, result: Result<Reply, JanusError>) {
        match waiter {
            Waiter::Caller { reply, track } => {
                if let Ok(r) = &result {
                    self.track(track, r);
                }
                let _ = reply.send(result);
            }
            Waiter::Keepalive { session_id } => match result {
                Err(JanusError::Api {
                    code: ApiErrorCode::SessionNotFound,
                    ..
                }) => self.registry.lose(session_id, SessionLoss::TimedOut),
                Err(e) => tracing::warn!(session_id, error = %e, "keepalive failed"),
                Ok(_) => {}
            },
            Waiter::Quiet => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "cleanup request failed");
                }
            }
        }
    }

    fn track(&mut self, track: Track, reply: &Reply) {
        let new_id = match reply {
            Reply::Success { id } => *id,
            _ => None,
        };
        match track {
            Track::Nothing => {}
            Track::NewSession(lost) => {
                if let Some(id) = new_id {
                    self.registry.sessions.insert(
                        id,
                        SessionEntry {
                            lost,
                            handles: HashMap::new(),
                        },
                    );
                }
            }
            Track::NewHandle { session_id, events } => {
                if let (Some(id), Some(entry)) =
                    (new_id, self.registry.sessions.get_mut(&session_id))
                {
                    entry.handles.insert(id, events);
                }
            }
            Track::EndSession(id) => {
                self.registry.sessions.remove(&id);
            }
            Track::EndHandle {
                session_id,
                handle_id,
            } => {
                if let Some(entry) = self.registry.sessions.get_mut(&session_id) {
                    entry.handles.remove(&handle_id);
                }
            }
        }
    }

    /// Stops tracking a dropped session or handle; returns the request that ends it in Janus.
    fn forget(&mut self, session_id: u64, handle_id: Option<u64>) -> Request {
        match handle_id {
            Some(handle_id) => {
                if let Some(entry) = self.registry.sessions.get_mut(&session_id) {
                    entry.handles.remove(&handle_id);
                }
                Request::Detach {
                    session_id,
                    handle_id,
                }
            }
            None => {
                self.registry.sessions.remove(&session_id);
                Request::Destroy { session_id }
            }
        }
    }

    fn fail_everything(&mut self, error: JanusError, why: SessionLoss) {
        for waiter in self.transactions.drain() {
            self.settle(waiter, Err(error.clone()));
        }
        self.registry.lose_all(why);
    }
}

async fn tick(keepalive: &mut Option<tokio::time::Interval>) {
    match keepalive {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::Settle;
    use super::*;

    #[test]
    fn keepalive_follows_the_servers_session_timeout() {
        let mut info: ServerInfo = serde_json::from_str(r#"{"session-timeout":60}"#).unwrap();
        let config = JanusConfig::new("ws://x");
        assert_eq!(
            config.keepalive_period(&info),
            Some(Duration::from_secs(20))
        );
        info.session_timeout = 1;
        assert_eq!(
            config.keepalive_period(&info),
            Some(Duration::from_millis(500))
        );
        info.session_timeout = 0;
        assert_eq!(config.keepalive_period(&info), None);
        let every = config
            .clone()
            .with_keepalive(Keepalive::Every(Duration::from_secs(3)));
        assert_eq!(every.keepalive_period(&info), Some(Duration::from_secs(3)));
        let off = config.with_keepalive(Keepalive::Off);
        assert_eq!(off.keepalive_period(&info), None);
        assert_eq!(Request::Keepalive { session_id: 1 }.settle(), Settle::Ack);
    }

    #[test]
    fn a_lost_session_tells_each_of_its_handles() {
        let mut registry = Registry::default();
        let (lost_tx, lost_rx) = watch::channel(None);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        registry.sessions.insert(
            1,
            SessionEntry {
                lost: lost_tx,
                handles: HashMap::from([(2, events_tx)]),
            },
        );
        registry.deliver(None, 2, HandleEvent::Link(LinkEvent::WebrtcUp));
        registry.lose(1, SessionLoss::TimedOut);
        assert_eq!(
            events_rx.try_recv().unwrap(),
            HandleEvent::Link(LinkEvent::WebrtcUp)
        );
        assert_eq!(
            events_rx.try_recv().unwrap(),
            HandleEvent::Link(LinkEvent::SessionLost(SessionLoss::TimedOut))
        );
        assert_eq!(*lost_rx.borrow(), Some(SessionLoss::TimedOut));
        assert!(registry.sessions.is_empty());
    }
}
