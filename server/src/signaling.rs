//! The Socket.IO side of PROTOCOL.md: every event a client sends, what it changes and
//! who hears about it.
//!
//! Two orderings are kept:
//! - **per connection**: a client's events are handled in the order it sent them
//!   (a `room:join` then a `chat:send` without waiting for the ack still works).
//!   Events that need no I/O are handled inline as they arrive; one that waits on
//!   storage queues whatever follows until it is done ([`Connection`]).
//! - **per room**: a state change and the events announcing it happen under the room's
//!   sequencer lock, so everyone in a room sees changes in the same order (a
//!   `sharerStopped` is never overtaken by the next `sharerStarted`).

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value};
use socketioxide::socket::Socket;

use crate::chat::{ChatStore, NewChatMessage};
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::protocol::{
    self, Acked, ChatAck, ChatSend, ErrorAck, ErrorCode, ErrorEvent, JoinAck, JoinRequest,
    MediaState, MediaStateChanged, OK, Participant, Refusal, RelayKind, RelayRequest, Relayed,
    UserJoined, UserLeft,
};
use crate::rate_limit::TokenBucket;
use crate::rooms::{ConnId, Left, Member, RoomError, RoomRegistry};

/// Number of sequencer locks rooms are spread over.
const SEQUENCER_SHARDS: usize = 64;

/// Shared state of the signaling service.
pub struct Hub {
    pub limits: Limits,
    pub rooms: Arc<dyn RoomRegistry>,
    pub chat: Arc<dyn ChatStore>,
    pub metrics: Arc<Metrics>,
    io: SocketIo,
    sequencers: Vec<Mutex<()>>,
    /// Chat is stored and broadcast under these (per room shard), so that everyone
    /// receives a room's messages in id order.
    chat_sequencers: Vec<tokio::sync::Mutex<()>>,
}

/// One client event, split from its Socket.IO packet.
struct Incoming {
    event: String,
    payload: Option<Box<RawValue>>,
    ack: AckSender,
    wants_ack: bool,
}

enum Job {
    Event(Incoming),
    Disconnect,
}

/// Per-connection state, kept in the socket's extensions.
pub struct Connection {
    limiter: Mutex<TokenBucket>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// A task is draining `pending`; new events must wait behind it.
    busy: bool,
    pending: VecDeque<Job>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn new(
        io: SocketIo,
        limits: Limits,
        rooms: Arc<dyn RoomRegistry>,
        chat: Arc<dyn ChatStore>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Hub {
            limits,
            rooms,
            chat,
            metrics,
            io,
            sequencers: (0..SEQUENCER_SHARDS).map(|_| Mutex::new(())).collect(),
            chat_sequencers: (0..SEQUENCER_SHARDS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    /// Wires a new connection: every event goes through one [`Dispatcher`].
    pub fn on_connect(self: &Arc<Self>, socket: &SocketRef) {
        self.metrics.connected();
        let connection = Arc::new(Connection {
            limiter: Mutex::new(TokenBucket::new(self.limits.rate_limit)),
            queue: Mutex::new(Queue::default()),
        });
        socket.extensions.insert(connection);
        socket.on_fallback(Dispatcher { hub: self.clone() });
        let hub = self.clone();
        socket.on_disconnect(async move |socket: SocketRef| {
            hub.metrics.disconnected();
            hub.enqueue(socket, Job::Disconnect);
        });
    }

    /// Runs `job` now if the connection is idle and it needs no I/O; otherwise queues it
    /// behind the connection's earlier events.
    fn enqueue(self: &Arc<Self>, socket: SocketRef, job: Job) {
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
        let needs_io =
            matches!(&job, Job::Event(e) if e.event == "room:join" || e.event == "chat:send");
        if !needs_io {
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
            Job::Event(e) if e.event == "room:join" || e.event == "chat:send" => {
                Some(Job::Event(e))
            }
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

    /// Sends the ack (or the `error` event when the client asked for no ack).
    fn finish(&self, socket: &SocketRef, e: Incoming, result: Result<Reply, Refusal>) {
        match result {
            Ok(reply) => {
                let sent = match &reply {
                    Reply::Ok => e.ack.send(&OK),
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

    // -- sequencing ------------------------------------------------------------

    fn sequencer(&self, room: &str) -> usize {
        let mut h = DefaultHasher::new();
        room.hash(&mut h);
        (h.finish() as usize) % self.sequencers.len()
    }

    /// Locks the sequencers of the given rooms, always in the same order.
    fn sequence<'a>(&'a self, rooms: &[&str]) -> Vec<MutexGuard<'a, ()>> {
        let mut shards: Vec<usize> = rooms.iter().map(|r| self.sequencer(r)).collect();
        shards.sort_unstable();
        shards.dedup();
        shards
            .into_iter()
            .map(|s| lock(&self.sequencers[s]))
            .collect()
    }

    // -- delivery --------------------------------------------------------------

    fn send<T: Serialize + ?Sized>(&self, to: ConnId, event: &str, data: &T) -> bool {
        match self.io.get_socket(to) {
            Some(socket) => match socket.emit(event, data) {
                Ok(()) => true,
                Err(err) => {
                    tracing::debug!(%to, event, %err, "could not deliver");
                    false
                }
            },
            None => false,
        }
    }

    fn send_all<T: Serialize + ?Sized>(&self, to: &[ConnId], event: &str, data: &T) {
        for id in to {
            self.send(*id, event, data);
        }
    }

    // -- requests --------------------------------------------------------------

    async fn join(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        let request =
            protocol::parse::<JoinRequest>(e.payload.as_deref())?.validate(&self.limits)?;
        let id = socket.id;
        let id_text = id.to_string();
        let current = self.rooms.room_of(id);
        let joined = {
            let mut rooms = vec![request.room.as_str()];
            rooms.extend(current.as_deref());
            let _sequenced = self.sequence(&rooms);
            let member = Member::new(id, request.email.clone(), request.name.clone());
            let joined = self
                .rooms
                .join(member, &request.room, self.limits.room_size)
                .map_err(|err| match err {
                    RoomError::RoomFull { capacity } => Refusal::new(
                        ErrorCode::RoomFull,
                        format!("room {} is full ({capacity} participants)", request.room),
                    ),
                    other => Refusal::new(ErrorCode::Internal, other.to_string()),
                })?;
            if !joined.already_member {
                if let Some(left) = &joined.left {
                    self.announce_left(left);
                }
                let others: Vec<ConnId> = joined.others.iter().map(|m| m.id).collect();
                self.send_all(
                    &others,
                    "user:joined",
                    &UserJoined {
                        email: request.email.clone(),
                        id: id_text.clone(),
                        name: request.name.clone(),
                        count: joined.count,
                    },
                );
                socket.emit("room:join", &request.echo()).ok();
                if let Some(sharer) = joined.sharer {
                    socket.emit("sharerAvailable", &sharer.to_string()).ok();
                    self.send(sharer, "viewerJoined", &id_text);
                }
                self.metrics.joined();
                tracing::debug!(socket = %id, room = %request.room, count = joined.count, "joined");
            }
            joined
        };
        // Read after joining: a message committed meanwhile is then in the history, in
        // the broadcast, or in both (clients de-duplicate by id) — never in neither.
        let history = match self.chat.history(&request.room, self.limits.history).await {
            Ok(history) => history,
            Err(err) => {
                tracing::error!(room = %request.room, %err, "could not read chat history");
                Vec::new()
            }
        };
        let ack = Acked::new(JoinAck {
            id: id_text,
            room: request.room,
            participants: joined
                .others
                .into_iter()
                .map(|m| Participant {
                    id: m.id.to_string(),
                    email: m.email,
                    name: m.name,
                    audio: m.audio,
                    video: m.video,
                })
                .collect(),
            sharer_id: joined.sharer.map(|s| s.to_string()),
            history,
            host_id: None,
            locked: false,
            waiting_room: false,
            ice_servers: Vec::new(),
        });
        Ok(Reply::Json(to_json(&ack)?))
    }

    /// Takes `id` out of its room and tells the others. `None` if it was in no room.
    fn leave(&self, id: ConnId) -> Option<Left> {
        let room = self.rooms.room_of(id)?;
        let _sequenced = self.sequence(&[&room]);
        let left = self.rooms.leave(id).ok()?;
        self.announce_left(&left);
        tracing::debug!(socket = %id, room = %left.room, "left");
        Some(left)
    }

    fn announce_left(&self, left: &Left) {
        let id = left.member.id.to_string();
        if left.was_sharer {
            self.send_all(&left.remaining, "sharerStopped", &id);
        }
        self.send_all(
            &left.remaining,
            "user:left",
            &UserLeft {
                id,
                email: left.member.email.clone(),
                count: left.remaining.len(),
            },
        );
    }

    fn start_sharing(&self, socket: &SocketRef) -> Result<Reply, Refusal> {
        let id = socket.id;
        let room = self
            .rooms
            .room_of(id)
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "join a room before sharing"))?;
        let _sequenced = self.sequence(&[&room]);
        match self.rooms.start_sharing(id) {
            Ok(others) => {
                self.send_all(&others, "sharerStarted", &id.to_string());
                Ok(Reply::Ok)
            }
            Err(RoomError::SharingConflict { sharer }) => {
                let sharer = sharer.to_string();
                socket.emit("sharingConflict", &sharer).ok();
                Err(Refusal {
                    code: ErrorCode::SharingConflict,
                    message: "someone else is already sharing in this room".into(),
                    sharer_id: Some(sharer),
                })
            }
            Err(_) => Err(Refusal::new(
                ErrorCode::NotJoined,
                "join a room before sharing",
            )),
        }
    }

    fn stop_sharing(&self, id: ConnId) -> Result<Reply, Refusal> {
        let not_sharer = || Refusal::new(ErrorCode::NotSharer, "you are not sharing");
        let room = self.rooms.room_of(id).ok_or_else(not_sharer)?;
        let _sequenced = self.sequence(&[&room]);
        let others = self.rooms.stop_sharing(id).map_err(|_| not_sharer())?;
        self.send_all(&others, "sharerStopped", &id.to_string());
        Ok(Reply::Ok)
    }

    fn media_state(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let state: MediaState = protocol::parse(e.payload.as_deref())?;
        let not_joined = || Refusal::new(ErrorCode::NotJoined, "not in a room");
        let room = self.rooms.room_of(id).ok_or_else(not_joined)?;
        let _sequenced = self.sequence(&[&room]);
        let others = self
            .rooms
            .set_media(id, state.audio, state.video)
            .map_err(|_| not_joined())?;
        self.send_all(
            &others,
            "media:state",
            &MediaStateChanged {
                id: id.to_string(),
                audio: state.audio,
                video: state.video,
            },
        );
        Ok(Reply::Ok)
    }

    async fn chat(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        let send = protocol::parse::<ChatSend>(e.payload.as_deref())?.validate(&self.limits)?;
        let seat = self
            .rooms
            .seat(socket.id)
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "join a room before chatting"))?;
        let _in_order = self.chat_sequencers[self.sequencer(&seat.room)]
            .lock()
            .await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let message = self
            .chat
            .append(NewChatMessage {
                room: seat.room,
                from: socket.id.to_string(),
                email: seat.email,
                name: seat.name,
                text: send.text,
                ts: now,
                client_id: send.client_id,
            })
            .await
            .map_err(|err| {
                tracing::error!(%err, "chat message not stored");
                Refusal::new(ErrorCode::Internal, "the message could not be stored")
            })?;
        self.metrics.chat_message();
        let others: Vec<ConnId> = self
            .rooms
            .members_of(&message.room)
            .into_iter()
            .filter(|m| *m != socket.id)
            .collect();
        self.send_all(&others, "chat:message", &message);
        Ok(Reply::Json(to_json(&Acked::new(ChatAck { message }))?))
    }

    fn relay(&self, from: ConnId, kind: RelayKind, e: &Incoming) -> Result<Reply, Refusal> {
        let request: RelayRequest = protocol::parse(e.payload.as_deref())?;
        let (to, body) = request.validate(kind, &self.limits)?;
        let not_in_room = || {
            Refusal::new(
                ErrorCode::NotInRoom,
                format!("`{}` is not in your room", kind.sent_as()),
            )
        };
        let target = ConnId::from_str(&to).map_err(|_| not_in_room())?;
        if target == from || !self.rooms.same_room(from, target) {
            return Err(not_in_room());
        }
        let from_text = from.to_string();
        if !self.send(target, kind.delivered_as(), &Relayed::new(from_text, body)) {
            return Err(not_in_room());
        }
        self.metrics.relayed(kind);
        Ok(Reply::Ok)
    }
}

enum Reply {
    Ok,
    Json(serde_json::Value),
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, Refusal> {
    serde_json::to_value(value).map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
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
struct Dispatcher {
    hub: Arc<Hub>,
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
