//! The Socket.IO side of PROTOCOL.md: every event a client sends, what it changes and
//! who hears about it.
//!
//! - [`dispatch`]: from a packet to a handler, in the order each client sent its events;
//! - [`room`]: joining, leaving, media state;
//! - [`sharing`]: the one sharer of a room;
//! - [`relay`]: offer/answer/candidate relays;
//! - [`chat`]: chat messages.
//!
//! Two orderings are kept:
//! - **per connection**: a client's events are handled in the order it sent them
//!   ([`dispatch`]);
//! - **per room**: a state change and the events announcing it happen under the room's
//!   sequencer lock, so everyone in a room sees changes in the same order (a
//!   `sharerStopped` is never overtaken by the next `sharerStarted`).

mod chat;
mod dispatch;
mod relay;
mod room;
mod sharing;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use crate::chat::ChatStore;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::protocol::{ErrorCode, Refusal};
use crate::rooms::{ConnId, RoomRegistry};

pub use dispatch::{Connection, Dispatch};
use dispatch::{Dispatcher, Job};

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
        socket
            .extensions
            .insert(Arc::new(Connection::new(self.limits.rate_limit)));
        socket.on_fallback(Dispatcher { hub: self.clone() });
        let hub = self.clone();
        socket.on_disconnect(async move |socket: SocketRef| {
            hub.metrics.disconnected();
            hub.enqueue(socket, Job::Disconnect);
        });
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
}

enum Reply {
    Ok,
    Json(serde_json::Value),
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, Refusal> {
    serde_json::to_value(value).map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}
