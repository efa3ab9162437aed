//! From a Socket.IO packet to a handler, in the order the client sent its events.
//!
//! Every event of a connection goes through one [`Dispatcher`]. Events that need no
//! I/O are handled inline as they arrive; one that waits (on storage, on a passcode
//! hash) queues whatever follows until it is done ([`Connection`]), so a `room:join`
//! followed at once by a `chat:send` is handled in that order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;

use super::{Hub, Reply, lock};
use crate::protocol::{ErrorAck, ErrorCode, ErrorEvent, Refusal, RelayKind};
use crate::rate_limit::TokenBucket;

/// One client event, split from its Socket.IO packet.
pub(super) struct Incoming {
    pub event: String,
    pub payload: Option<Box<RawValue>>,
    pub ack: AckSender,
    pub wants_ack: bool,
}

pub(super) enum Job {
    Event(Incoming),
    Disconnect,
}

/// Per-connection state, kept in the socket's extensions.
pub struct Connection {
    limiter: Mutex<TokenBucket>,
    queue: Mutex<Queue>,
}

impl Connection {
    pub(super) fn new(rate_limit: u32) -> Self {
        Connection {
            limiter: Mutex::new(TokenBucket::new(rate_limit)),
            queue: Mutex::new(Queue::default()),
        }
    }
}

#[derive(Default)]
struct Queue {
    /// A task is draining `pending`; new events must wait behind it.
    busy: bool,
    pending: VecDeque<Job>,
}

/// Events whose handler waits on I/O.
fn needs_io(event: &str) -> bool {
    event == "room:join" || event == "chat:send"
}

impl Hub {
    /// Runs `job` now if the connection is idle and it needs no I/O; otherwise queues it
    /// behind the connection's earlier events.
    pub(super) fn enqueue(self: &Arc<Self>, socket: SocketRef, job: Job) {
        if let Some(connection) = socket.extensions.get::<Arc<Connection>>() {
            self.enqueue_on(connection, socket, job);
        }
    }

    fn enqueue_on(self: &Arc<Self>, connection: Arc<Connection>, socket: SocketRef, job: Job) {
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
                self.leave(socket.id);
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
            "room:join" => self.join(socket, &e).await,
            _ => self.chat(socket, &e).await,
        };
        self.finish(socket, e, result);
    }

    fn handle_inline(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        if let Some(kind) = RelayKind::from_event(&e.event) {
            return self.relay(socket.id, kind, e);
        }
        match e.event.as_str() {
            "room:leave" => match self.leave(socket.id) {
                Some(_) => Ok(Reply::Ok),
                None => Err(Refusal::new(ErrorCode::NotJoined, "not in a room")),
            },
            "startSharing" => self.start_sharing(socket),
            "stopSharing" => self.stop_sharing(socket.id),
            "media:state" => self.media_state(socket.id, e),
            other => Err(Refusal::new(
                ErrorCode::UnknownEvent,
                format!("unknown event `{other}`"),
            )),
        }
    }

    /// Sends the ack (or the `error` event when the client asked for no ack).
    fn finish(&self, socket: &SocketRef, e: Incoming, result: Result<Reply, Refusal>) {
        match result {
            Ok(reply) => {
                let sent = match &reply {
                    Reply::Ok => e.ack.send(&crate::protocol::OK),
                    Reply::Json(value) => e.ack.send(value),
                };
                if let Err(err) = sent {
                    tracing::debug!(socket = %socket.id, event = %e.event, %err, "ack not sent");
                }
            }
            Err(refusal) => self.refuse(socket, e, &refusal),
        }
    }

    fn refuse(&self, socket: &SocketRef, e: Incoming, refusal: &Refusal) {
        self.metrics.error(refusal.code);
        tracing::debug!(socket = %socket.id, event = %e.event, code = refusal.code.as_str(), message = %refusal.message, "refused");
        if e.wants_ack {
            let _ = e.ack.send(&ErrorAck::from(refusal));
        } else {
            let _ = socket.emit(
                "error",
                &ErrorEvent {
                    code: refusal.code,
                    message: refusal.message.clone(),
                    event: Some(e.event.clone()),
                },
            );
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
        Err(err) => {
            // Too deep or broken: still name the event in the error if we can.
            let event = raw.strip_prefix('[').and_then(|rest| {
                let mut de = serde_json::Deserializer::from_str(rest);
                serde::Deserialize::deserialize(&mut de).ok()
            });
            (event, Err(format!("malformed packet: {err}")))
        }
    }
}

/// The one message handler of every connection.
#[derive(Clone)]
pub(super) struct Dispatcher {
    pub hub: Arc<Hub>,
}

/// Marks our own [`MessageHandler`] implementation apart from socketioxide's closures.
pub struct Dispatch;

impl MessageHandler<LocalAdapter, Dispatch> for Dispatcher {
    fn call(&self, s: Arc<Socket<LocalAdapter>>, mut v: Value, ack_id: Option<i64>) {
        let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
        let socket = SocketRef::from(s);
        let raw = v.as_str().map(|s| s.as_str()).unwrap_or("");
        let (event, payload) = split_packet(raw);
        let incoming = |payload| Incoming {
            event: event.clone().unwrap_or_default(),
            payload,
            ack,
            wants_ack: ack_id.is_some(),
        };
        let hub = &self.hub;
        // Set up in `on_connect`, before any event can arrive.
        let Some(connection) = socket.extensions.get::<Arc<Connection>>() else {
            return;
        };
        let allowed = lock(&connection.limiter).try_take();
        let e = match payload {
            Err(message) => {
                return hub.refuse(&socket, incoming(None), &Refusal::bad_request(message));
            }
            Ok(_) if !allowed => {
                let refusal = Refusal::new(ErrorCode::RateLimited, "too many events; slow down");
                return hub.refuse(&socket, incoming(None), &refusal);
            }
            Ok(payload) => incoming(payload),
        };
        if e.payload
            .as_ref()
            .is_some_and(|p| p.get().len() > hub.limits.max_event_bytes())
        {
            let refusal = Refusal::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "payload is larger than {} bytes",
                    hub.limits.max_event_bytes()
                ),
            );
            return hub.refuse(&socket, e, &refusal);
        }
        hub.enqueue_on(connection, socket, Job::Event(e));
    }
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
