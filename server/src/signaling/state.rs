//! Where room state lives: in this process ([`MemoryRooms`], one node) or in Redis
//! ([`RedisRooms`], several nodes). Handlers see one interface: a transition runs under
//! the room's sequencer and hands back a [`Sequenced`] guard, held while its events go
//! out; reads see a consistent view of a room.

use std::sync::Arc;

use tokio::sync::MutexGuard;

use super::Hub;
use crate::cluster::{Held, RedisRooms, Unavailable};
use crate::protocol::{ErrorCode, Refusal, RelayKind};
use crate::rooms::{ConnId, MemoryRooms, Place, Registry, RoomError, relay_rule};

pub enum Rooms {
    Memory(Arc<MemoryRooms>),
    Redis(Arc<RedisRooms>),
}

/// A room's sequencer, held: a shard lock (one node) or the room's Redis lock.
pub(super) enum Sequenced<'a> {
    Memory(#[allow(dead_code)] Vec<MutexGuard<'a, ()>>),
    Redis(Held),
}

impl Sequenced<'_> {
    pub async fn release(self) {
        if let Sequenced::Redis(held) = self {
            held.release().await;
        }
    }
}

pub(super) fn unavailable(err: Unavailable) -> Refusal {
    tracing::warn!(%err, "room state unavailable");
    Refusal::new(
        ErrorCode::Internal,
        format!("rooms are unavailable right now ({err}); try again"),
    )
}

impl Hub {
    /// Runs one room transition on `anchor`'s room (wherever it is) and `extra`.
    pub(super) async fn transact<R>(
        &self,
        anchor: Option<ConnId>,
        extra: Option<&str>,
        f: impl FnOnce(&mut Registry) -> R,
    ) -> Result<(R, Sequenced<'_>), Refusal> {
        match &self.rooms {
            Rooms::Memory(rooms) => {
                let current = anchor.and_then(|id| rooms.with(|r| r.place_of(id)));
                let mut names: Vec<&str> = extra.into_iter().collect();
                names.extend(current.as_ref().map(|p| p.room.as_str()));
                let guards = self.sequence(&names).await;
                Ok((rooms.with(f), Sequenced::Memory(guards)))
            }
            Rooms::Redis(rooms) => {
                let (out, held) = rooms
                    .transact(anchor, extra, f)
                    .await
                    .map_err(unavailable)?;
                Ok((out, Sequenced::Redis(held)))
            }
        }
    }

    pub(super) async fn place_of(&self, id: ConnId) -> Result<Option<Place>, Refusal> {
        match &self.rooms {
            Rooms::Memory(rooms) => Ok(rooms.with(|r| r.place_of(id))),
            Rooms::Redis(rooms) => rooms.place_of(id).await.map_err(unavailable),
        }
    }

    /// The room `id` is a member of.
    pub(super) async fn room_of(&self, id: ConnId) -> Result<Option<String>, Refusal> {
        Ok(self
            .place_of(id)
            .await?
            .filter(|p| !p.waiting)
            .map(|p| p.room))
    }

    /// Reads `id`'s room (and `extra`) without changing anything.
    pub(super) async fn view<R>(
        &self,
        id: Option<ConnId>,
        extra: Option<&str>,
        f: impl FnOnce(&Registry) -> R,
    ) -> Result<R, Refusal> {
        match &self.rooms {
            Rooms::Memory(rooms) => Ok(rooms.with(|r| f(r))),
            Rooms::Redis(rooms) => {
                let mut names: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
                if let Some(id) = id
                    && let Some(place) = rooms.place_of(id).await.map_err(unavailable)?
                {
                    names.push(place.room);
                }
                rooms.read(&names, f).await.map_err(unavailable)
            }
        }
    }

    /// Reads every room (listings, counts).
    pub async fn view_all<R>(&self, f: impl FnOnce(&Registry) -> R) -> Result<R, Refusal> {
        match &self.rooms {
            Rooms::Memory(rooms) => Ok(rooms.with(|r| f(r))),
            Rooms::Redis(rooms) => rooms.read_all(f).await.map_err(unavailable),
        }
    }

    pub(super) async fn check_relay(
        &self,
        from: ConnId,
        to: ConnId,
        kind: RelayKind,
    ) -> Result<Result<(), RoomError>, Refusal> {
        match &self.rooms {
            Rooms::Memory(rooms) => Ok(rooms.with(|r| r.check_relay(from, to, kind))),
            Rooms::Redis(rooms) => {
                let (a, b, sharer) = rooms.relay_view(from, to).await.map_err(unavailable)?;
                let member =
                    |p: &Option<Place>| p.as_ref().filter(|p| !p.waiting).map(|p| p.room.clone());
                let (a, b) = (member(&a), member(&b));
                Ok(relay_rule(
                    from,
                    to,
                    a.as_deref(),
                    b.as_deref(),
                    sharer,
                    kind,
                ))
            }
        }
    }
}
