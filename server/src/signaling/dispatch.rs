//! From a Socket.IO packet to a handler, in the order the client sent its events.
//!
//! Every event of a connection goes through one [`Dispatcher`]. The rate limit is
//! applied first, before the payload is parsed. Events that need no I/O are handled
//! inline as they arrive; one that waits (on storage, on a passcode hash) queues
//! whatever follows until it is done ([`Connection`]), so a `room:join` followed at
//! once by a `chat:send` is handled in that order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError};

use super::{Client, Hub, Outbound, Reply, lock, raw};
use crate::net::ClientIp;
use crate::protocol::{ErrorAck, ErrorCode, ErrorEvent, OK, Refusal, RelayKind, event};
use crate::rate_limit::TokenBucket;

/// One client event, split from its Socket.IO packet.
pub(super) struct Incoming {
    /// The sender's state.
    pub connection: Arc<Connection>,
    pub event: String,
    pub payload: Option<Box<RawValue>>,
    pub ack: AckSender,
    pub wants_ack: bool,
}

pub(super) enum Job {
    Event(Incoming),
    Disconnect,
}

/// Per-connection state, held by its dispatcher and the hub's client list.
pub struct Connection {
    limiter: Mutex<TokenBucket>,
    queue: Mutex<Queue>,
    /// Where the client connects from (none for a session made outside the HTTP layer).
    pub client: Option<ClientIp>,
    pub outbound: Outbound,
    /// Over its byte budget: nothing more is sent to it or taken from it.
    cut: AtomicBool,
}

impl Connection {
    pub(super) fn new(rate_limit: u32, client: Option<ClientIp>, outbound: Outbound) -> Self {
        Connection {
            limiter: Mutex::new(TokenBucket::new(rate_limit)),
            queue: Mutex::new(Queue::default()),
            client,
            outbound,
            cut: AtomicBool::new(false),
        }
    }

    pub(super) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Marks the connection cut and closes its wire; true the first time.
    pub(super) fn cut(&self) -> bool {
        let first = !self.cut.swap(true, Ordering::AcqRel);
        if first {
            self.outbound.cut();
        }
        first
    }
}

#[derive(Default)]
struct Queue {
    /// A task is draining `pending`; new events must wait behind it.
    busy: bool,
    pending: VecDeque<Job>,
}

/// `{ "ok": true }`, the most common ack, serialized once.
static OK_RAW: std::sync::LazyLock<Box<RawValue>> = std::sync::LazyLock::new(|| {
    serde_json::value::to_raw_value(&OK).expect("a constant serializes")
});

/// Events whose handler waits on I/O (storage, a passcode hash).
fn needs_io(name: &str) -> bool {
    matches!(
        name,
        event::ROOM_JOIN
            | event::CHAT_SEND
            | event::ROOM_LOCK
            | event::LOBBY_ADMIT
            | event::ROOM_REMOVE
    )
}

impl Hub {
    /// Runs `job` now if the connection is idle and it needs no I/O; otherwise queues it
    /// behind the connection's earlier events.
    pub(super) fn enqueue_on(
        self: &Arc<Self>,
        connection: Arc<Connection>,
        socket: SocketRef,
        job: Job,
    ) {
        let mut queue = lock(&connection.queue);
        if queue.busy {
            queue.pending.push_back(job);
            return;
        }
        if !matches!(&job, Job::Event(e) if needs_io(&e.event)) {
            drop(queue);
            if let Some(job) = self.run_now(&socket, job) {
                // Unreachable by construction: only I/O jobs are handed back.
                tracing::error!(event = %job_name(&job), "job needing I/O was run inline");
            }
            return;
        }
        queue.busy = true;
        drop(queue);
        let hub = self.clone();
        tokio::spawn(async move {
            let mut job = job;
            loop {
                hub.run(&socket, job).await;
                let mut queue = lock(&connection.queue);
                match queue.pending.pop_front() {
                    Some(next) => job = next,
                    None => {
                        queue.busy = false;
                        return;
                    }
                }
            }
        });
    }

    /// Handles a job that needs no I/O; hands back one that does.
    fn run_now(&self, socket: &SocketRef, job: Job) -> Option<Job> {
        match job {
            Job::Disconnect => {
                self.disconnected(socket.id);
                None
            }
            Job::Event(e) if needs_io(&e.event) => Some(Job::Event(e)),
            Job::Event(e) => {
                let result = self.handle_inline(socket, &e);
                self.finish(socket, e, result);
                None
            }
        }
    }

    async fn run(&self, socket: &SocketRef, job: Job) {
        let Some(Job::Event(e)) = self.run_now(socket, job) else {
            return;
        };
        let result = match e.event.as_str() {
            event::ROOM_JOIN => self.join(socket, &e).await,
            event::CHAT_SEND => self.chat(socket, &e).await,
            event::ROOM_LOCK => self.lock_room(socket.id, &e).await,
            event::ROOM_REMOVE => self.remove(socket.id, &e).await,
            _ => self.admit(socket.id, &e).await,
        };
        self.finish(socket, e, result);
    }

    fn handle_inline(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        if let Some(kind) = RelayKind::from_event(&e.event) {
            return self.relay(socket.id, kind, e);
        }
        let id = socket.id;
        match e.event.as_str() {
            event::ROOM_LEAVE => match self.leave(id) {
                Some(_) => Ok(Reply::Ok),
                None => Err(Refusal::new(ErrorCode::NotJoined, "not in a room")),
            },
            event::START_SHARING => self.start_sharing(socket),
            event::STOP_SHARING => self.stop_sharing(id),
            event::MEDIA_STATE => self.media_state(id, e),
            event::LOBBY_DENY => self.deny(id, e),
            event::ROOMS_LIST => self.rooms_list(e),
            event::ICE_SERVERS => self.refresh_ice_servers(id, e),
            other => Err(Refusal::new(
                ErrorCode::UnknownEvent,
                format!("unknown event `{other}`"),
            )),
        }
    }

    /// Sends the ack (or the `error` event when the client asked for no ack).
    fn finish(&self, socket: &SocketRef, e: Incoming, result: Result<Reply, Refusal>) {
        match result {
            Ok(Reply::Ok) => self.answer(socket, e, &OK_RAW),
            Ok(Reply::Json(data)) => self.answer(socket, e, &data),
            Err(refusal) => self.refuse(socket, e, &refusal),
        }
    }

    /// Acks within the client's byte budget.
    fn answer(&self, socket: &SocketRef, e: Incoming, data: &RawValue) {
        if !e.wants_ack {
            return;
        }
        let client = Client {
            socket: socket.clone(),
            connection: e.connection.clone(),
        };
        if !e.connection.outbound.charge(data.get().len()) {
            self.overflowed(&client);
            return;
        }
        match e.ack.send(data) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => self.overflowed(&client),
            Err(err) => {
                tracing::debug!(socket = %socket.id, event = %e.event, %err, "ack not sent")
            }
        }
    }

    fn refuse(&self, socket: &SocketRef, e: Incoming, refusal: &Refusal) {
        self.metrics.error(refusal.code);
        tracing::debug!(socket = %socket.id, event = %e.event, code = refusal.code.as_str(), message = %refusal.message, "refused");
        if e.wants_ack {
            if let Some(data) = raw(&ErrorAck::from(refusal)) {
                self.answer(socket, e, &data);
            }
        } else {
            let error = ErrorEvent {
                code: refusal.code,
                message: refusal.message.clone(),
                event: Some(e.event.clone()),
            };
            if let Some(data) = raw(&error) {
                let client = Client {
                    socket: socket.clone(),
                    connection: e.connection.clone(),
                };
                self.emit_raw(&client, event::ERROR, &data);
            }
        }
    }
}

fn job_name(job: &Job) -> &str {
    match job {
        Job::Event(e) => &e.event,
        Job::Disconnect => "disconnect",
    }
}

/// Splits a packet's JSON array `["event", payload, ...]`. Only the first argument is
/// read; a callback is not part of the array (Socket.IO carries it as an ack id).
fn split_packet(raw: &str) -> (Option<String>, Result<Option<Box<RawValue>>, String>) {
    match serde_json::from_str::<Vec<Box<RawValue>>>(raw) {
        Ok(parts) => {
            let mut parts = parts.into_iter();
            let event = parts
                .next()
                .and_then(|first| serde_json::from_str::<String>(first.get()).ok());
            (event, Ok(parts.next()))
        }
        // Too deep or broken: still name the event in the error if we can.
        Err(err) => (event_name(raw), Err(format!("malformed packet: {err}"))),
    }
}

/// The one message handler of every connection.
#[derive(Clone)]
pub(super) struct Dispatcher {
    pub hub: Arc<Hub>,
    pub connection: Arc<Connection>,
}

/// Marks our own [`MessageHandler`] implementation apart from socketioxide's closures.
pub struct Dispatch;

impl MessageHandler<LocalAdapter, Dispatch> for Dispatcher {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, mut v: Value, ack_id: Option<i64>) {
        let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
        let socket = SocketRef::from(s);
        let hub = &self.hub;
        let connection = &self.connection;
        if connection.is_cut() {
            return;
        }
        let raw = v.as_str().map(|s| s.as_str()).unwrap_or("");
        let mut e = Incoming {
            connection: connection.clone(),
            event: String::new(),
            payload: None,
            ack,
            wants_ack: ack_id.is_some(),
        };
        // Before anything is parsed: the limit, then the size of the whole packet.
        if !lock(&connection.limiter).try_take() {
            e.event = event_name(raw).unwrap_or_default();
            let refusal = Refusal::new(ErrorCode::RateLimited, "too many events; slow down");
            return hub.refuse(&socket, e, &refusal);
        }
        let max = hub.limits.max_event_bytes();
        if raw.len() > max + PACKET_ENVELOPE_BYTES {
            e.event = event_name(raw).unwrap_or_default();
            return hub.refuse(&socket, e, &too_large(max));
        }
        let (event, payload) = split_packet(raw);
        e.event = event.unwrap_or_default();
        match payload {
            Err(message) => return hub.refuse(&socket, e, &Refusal::bad_request(message)),
            Ok(Some(p)) if p.get().len() > max => return hub.refuse(&socket, e, &too_large(max)),
            Ok(payload) => e.payload = payload,
        }
        hub.enqueue_on(connection.clone(), socket, Job::Event(e));
    }
}

/// Room around a payload for the event name and the array around them.
const PACKET_ENVELOPE_BYTES: usize = 1024;

fn too_large(max: usize) -> Refusal {
    Refusal::new(
        ErrorCode::PayloadTooLarge,
        format!("payload is larger than {max} bytes"),
    )
}

/// The event name at the start of a packet, read without parsing the rest.
fn event_name(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('[')?;
    let mut de = serde_json::Deserializer::from_str(rest);
    serde::Deserialize::deserialize(&mut de).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{self, ChatSend};

    #[test]
    fn packets_split_into_event_and_first_argument() {
        let (event, payload) = split_packet(r#"["room:join",{"email":"a@b.c"},"extra"]"#);
        assert_eq!(event.as_deref(), Some("room:join"));
        assert_eq!(payload.unwrap().unwrap().get(), r#"{"email":"a@b.c"}"#);

        let (event, payload) = split_packet(r#"["room:leave"]"#);
        assert_eq!(event.as_deref(), Some("room:leave"));
        assert!(payload.unwrap().is_none());

        let deep = format!(
            r#"["chat:send",{}{}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (event, payload) = split_packet(&deep);
        assert_eq!(event.as_deref(), Some("chat:send"));
        let refusal = protocol::parse::<ChatSend>(payload.unwrap().as_deref()).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::BadRequest);

        let (event, payload) = split_packet(r#"["media:state",{"audio":tru"#);
        assert_eq!(event.as_deref(), Some("media:state"));
        assert!(payload.is_err());
    }
}
