//! The Socket.IO side of PROTOCOL.md: every event a client sends, what it changes and
//! who hears about it.
//!
//! - [`dispatch`]: from a packet to a handler, in the order each client sent its events;
//! - [`room`]: joining (the door: passcode, waiting room), leaving, media state;
//! - [`host`]: what the host does: lock, admit, deny, remove; listed rooms;
//! - [`sharing`]: the one sharer of a room;
//! - [`relay`]: offer/answer/candidate relays (screen-share ones only with the sharer);
//! - [`chat`]: chat messages, per meeting;
//! - [`meetings`]: ending meetings of rooms left empty;
//! - [`outbound`]: the byte budget of what waits to be sent to one client.
//!
//! Two orderings are kept:
//! - **per connection**: a client's events are handled in the order it sent them
//!   ([`dispatch`]);
//! - **per room**: a state change and the events announcing it happen under the room's
//!   sequencer lock, so everyone in a room sees changes in the same order (a
//!   `sharerStopped` is never overtaken by the next `sharerStarted`).

mod chat;
mod dispatch;
mod host;
mod meetings;
mod outbound;
mod relay;
mod room;
mod sharing;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use axum::extract::ConnectInfo;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError, TransportType};

use crate::access::PasscodeLimiter;
use crate::config::Limits;
use crate::ice::IceServers;
use crate::metrics::Metrics;
use crate::net::{Admission, ClientIp, Peer, Wire};
use crate::protocol::{ErrorCode, IceServer, Refusal};
use crate::rooms::{ConnId, MeetingRecord, RoomError, RoomRegistry};
use crate::storage::Store;

pub use dispatch::{Connection, Dispatch};
use dispatch::{Dispatcher, Job};
pub use meetings::spawn_meeting_sweeper;
pub use outbound::Outbound;

/// Number of sequencer locks rooms are spread over.
const SEQUENCER_SHARDS: usize = 64;

/// What the hub needs besides its parts.
pub struct HubSettings {
    pub limits: Limits,
    pub max_outbound_bytes: usize,
    pub ice: IceServers,
}

/// Shared state of the signaling service.
pub struct Hub {
    pub limits: Limits,
    pub rooms: Arc<dyn RoomRegistry>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub admission: Arc<Admission>,
    ice: IceServers,
    max_outbound_bytes: usize,
    passcodes: Mutex<PasscodeLimiter<ConnId>>,
    /// Every connected client: what sending to it needs, found with one lookup.
    clients: RwLock<HashMap<ConnId, Client>>,
    me: Weak<Hub>,
    sequencers: Vec<Mutex<()>>,
    /// Chat is stored and broadcast under these (per room shard), so that everyone
    /// receives a room's messages in id order.
    chat_sequencers: Vec<tokio::sync::Mutex<()>>,
}

/// A connected client: its socket and the server's state for it.
#[derive(Clone)]
struct Client {
    socket: SocketRef,
    connection: Arc<Connection>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Hub {
    pub fn new(
        settings: HubSettings,
        rooms: Arc<dyn RoomRegistry>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        admission: Arc<Admission>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Hub {
            limits: settings.limits,
            rooms,
            store,
            metrics,
            admission,
            ice: settings.ice,
            max_outbound_bytes: settings.max_outbound_bytes,
            passcodes: Mutex::new(PasscodeLimiter::protocol()),
            clients: RwLock::new(HashMap::new()),
            me: me.clone(),
            sequencers: (0..SEQUENCER_SHARDS).map(|_| Mutex::new(())).collect(),
            chat_sequencers: (0..SEQUENCER_SHARDS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    /// Wires a new connection: every event goes through one [`Dispatcher`].
    pub fn on_connect(self: &Arc<Self>, socket: &SocketRef) {
        self.metrics.connected();
        let request = socket.req_parts();
        let client = request.extensions.get::<ClientIp>().copied();
        let outbound = Outbound::new(self.max_outbound_bytes as u64);
        if socket.transport_type() == TransportType::Websocket
            && let Some(ConnectInfo(peer)) = request.extensions.get::<ConnectInfo<Peer>>()
        {
            outbound.attach(peer.wire.clone());
        }
        let connection = Arc::new(Connection::new(self.limits.rate_limit, client, outbound));
        self.clients_mut().insert(
            socket.id,
            Client {
                socket: socket.clone(),
                connection: connection.clone(),
            },
        );
        socket.on_fallback(Dispatcher {
            hub: self.clone(),
            connection: connection.clone(),
        });
        let hub = self.clone();
        socket.on_disconnect(async move |socket: SocketRef| {
            hub.metrics.disconnected();
            hub.enqueue_on(connection.clone(), socket, Job::Disconnect);
        });
    }

    fn clients(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ConnId, Client>> {
        self.clients.read().unwrap_or_else(|e| e.into_inner())
    }

    fn clients_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ConnId, Client>> {
        self.clients.write().unwrap_or_else(|e| e.into_inner())
    }

    fn connection(&self, id: ConnId) -> Option<Arc<Connection>> {
        self.clients().get(&id).map(|c| c.connection.clone())
    }

    /// A polling session moved to WebSocket: its bytes now go through `wire`.
    pub fn upgraded(&self, sid: &str, wire: Arc<Wire>) {
        if let Some(c) = ConnId::from_str(sid)
            .ok()
            .and_then(|id| self.connection(id))
        {
            c.outbound.attach(wire);
        }
    }

    /// The budget of a polling session, to count what each poll carries away.
    pub fn outbound_of(&self, sid: &str) -> Option<Arc<Connection>> {
        ConnId::from_str(sid)
            .ok()
            .and_then(|id| self.connection(id))
    }

    fn client_addr(&self, id: ConnId) -> Option<IpAddr> {
        self.connection(id)
            .and_then(|c| c.client)
            .and_then(ClientIp::counted)
    }

    /// Saves a meeting without waiting for it (writes stay in order).
    fn save(&self, record: MeetingRecord) {
        drop(self.store.save_meeting(record));
    }

    fn ice_servers(&self, id: ConnId) -> Vec<IceServer> {
        let now = u64::try_from(unix_ms() / 1000).unwrap_or(0);
        self.ice.for_client(&id.to_string(), now)
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

    /// Emits an already serialized payload, within the client's byte budget.
    fn emit_raw(&self, to: &Client, event: &str, data: &RawValue) -> bool {
        let Client { socket, connection } = to;
        if connection.is_cut() {
            return false;
        }
        if !connection.outbound.charge(data.get().len()) {
            self.overflowed(to);
            return false;
        }
        match socket.emit(event, data) {
            Ok(()) => true,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                self.overflowed(to);
                false
            }
            Err(err) => {
                tracing::debug!(to = %socket.id, event, %err, "could not deliver");
                false
            }
        }
    }

    /// Sends `event` to one connection; false if it is gone or over its budget.
    fn send<T: Serialize + ?Sized>(&self, to: ConnId, event: &str, data: &T) -> bool {
        let Some(data) = raw(data) else { return false };
        match self.clients().get(&to) {
            Some(client) => self.emit_raw(client, event, &data),
            None => false,
        }
    }

    /// Sends `event` to several connections, serialized once.
    fn send_all<T: Serialize + ?Sized>(&self, to: &[ConnId], event: &str, data: &T) {
        if to.is_empty() {
            return;
        }
        let Some(data) = raw(data) else { return };
        let clients = self.clients();
        for id in to {
            if let Some(client) = clients.get(id) {
                self.emit_raw(client, event, &data);
            }
        }
    }

    /// A client let more than its budget pile up (it does not read): cut it off. Its
    /// place in the room is given up at once; the transport closes as soon as it can.
    fn overflowed(&self, client: &Client) {
        if !client.connection.cut() {
            return;
        }
        self.metrics.slow_client_disconnected();
        tracing::warn!(socket = %client.socket.id, budget = self.max_outbound_bytes, "a client stopped reading; disconnecting it");
        let Some(hub) = self.me.upgrade() else {
            return;
        };
        let client = client.clone();
        // Not from here: the caller may hold a room's sequencer or the client list.
        tokio::spawn(async move {
            hub.enqueue_on(client.connection, client.socket.clone(), Job::Disconnect);
            // Polling has no wire to cut: close the Socket.IO session instead.
            let _ = client.socket.disconnect();
        });
    }
}

/// Serializes a payload once, for one or many recipients.
fn raw<T: Serialize + ?Sized>(data: &T) -> Option<Box<RawValue>> {
    match serde_json::value::to_raw_value(data) {
        Ok(raw) => Some(raw),
        Err(err) => {
            tracing::error!(%err, "an event could not be serialized");
            None
        }
    }
}

enum Reply {
    Ok,
    Json(Box<RawValue>),
}

impl Reply {
    fn json<T: Serialize>(value: &T) -> Result<Reply, Refusal> {
        serde_json::value::to_raw_value(value)
            .map(Reply::Json)
            .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
    }
}

/// The protocol's answer to a room rule that said no.
fn refusal(err: RoomError) -> Refusal {
    let code = match &err {
        RoomError::NotJoined => ErrorCode::NotJoined,
        RoomError::RoomFull { .. } => ErrorCode::RoomFull,
        RoomError::SharingConflict { .. } => ErrorCode::SharingConflict,
        RoomError::NotSharer => ErrorCode::NotSharer,
        RoomError::NotHost => ErrorCode::NotHost,
        RoomError::NotInRoom => ErrorCode::NotInRoom,
        RoomError::NotWaiting => ErrorCode::NotWaiting,
        RoomError::Removed => ErrorCode::Removed,
        RoomError::RemoveSelf => ErrorCode::BadRequest,
        // Only seen if the passcode keeps changing under a joiner.
        RoomError::PasscodeChanged => ErrorCode::BadPasscode,
    };
    Refusal::new(code, err.to_string())
}
