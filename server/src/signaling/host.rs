//! What the host of a room does (`room:lock`, `lobby:admit`, `lobby:deny`,
//! `room:remove`), and what anyone may ask (`rooms:list`, `ice:servers`).
//!
//! Checks come in the protocol's order: the payload (`bad_request`), then membership
//! (`not_joined`, `not_in_room`), then permission (`not_host`).

use std::str::FromStr;

use super::dispatch::Incoming;
use super::{Hub, Outbox, Reply, refusal, unix_ms};
use crate::access::PasscodeHash;
use crate::protocol::{
    self, Acked, Empty, ErrorCode, IceServersAck, JoinEcho, LobbyDenied, LobbyTarget, Refusal,
    RoomLock, RoomRemoved, RoomsList, event,
};
use crate::rooms::{ConnId, Departure, Joined, LockChange, RoomError, Seat};

impl Hub {
    pub(super) async fn lock_room(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let request = protocol::parse::<RoomLock>(e.payload.as_deref())?.validate(&self.limits)?;
        self.hosted_room(id).await?;
        let passcode = match request.passcode {
            None => None,
            Some(None) => Some(None),
            Some(Some(passcode)) => {
                // Hashing takes milliseconds on purpose: not on the async runtime.
                let hash = tokio::task::spawn_blocking(move || PasscodeHash::new(&passcode))
                    .await
                    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?
                    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
                Some(Some(hash))
            }
        };
        let change = LockChange {
            passcode,
            waiting_room: request.waiting_room,
            listed: request.listed,
        };
        // The host may have left while the passcode was hashed: the rule checks again.
        let (locked, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.lock(id, change))
            .await?;
        let locked = match locked {
            Ok(locked) => locked,
            Err(err) => {
                sequenced.release().await;
                return Err(refusal(err));
            }
        };
        let mut out = Outbox::default();
        out.post(&locked.others, event::ROOM_SETTINGS, &locked.settings);
        // Asked under the sequencer, so meeting writes stay in order.
        let saved = self.store.save_meeting(locked.save);
        self.deliver(out).await;
        sequenced.release().await;
        let (room, settings) = (locked.room, locked.settings);
        tracing::debug!(socket = %id, %room, locked = settings.locked, waiting_room = settings.waiting_room, listed = settings.listed, "room settings");
        // Acked once on disk, so a lock the host was told about survives a crash. It is
        // in effect either way; a failed write is retried and shows in /healthz.
        if let Err(err) = saved.await {
            tracing::error!(%room, %err, "room settings not saved yet");
        }
        Reply::json(&Acked::new(settings))
    }

    /// The target of a host's request: any well-formed payload; an id that is not a
    /// socket id is nobody's (`not_waiting` / `not_in_room` later).
    fn target(e: &Incoming) -> Result<Option<ConnId>, Refusal> {
        let target = protocol::parse::<LobbyTarget>(e.payload.as_deref())?.validate()?;
        Ok(ConnId::from_str(&target.id).ok())
    }

    /// The room `id` hosts (`not_joined`, `not_host` otherwise).
    async fn hosted_room(&self, id: ConnId) -> Result<String, Refusal> {
        self.view(Some(id), None, |rooms| rooms.hosted_room(id))
            .await?
            .map_err(refusal)
    }

    pub(super) async fn admit(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        self.hosted_room(id).await?;
        let target = target.ok_or_else(|| refusal(RoomError::NotWaiting))?;
        let capacity = self.limits.room_size;
        let (admitted, sequenced) = self
            .transact(Some(id), None, |rooms| {
                rooms.admit(id, target, capacity).map(|joined| {
                    let echo = echo_of(rooms.seat(joined.id), &joined);
                    (joined, echo)
                })
            })
            .await?;
        let joined = match admitted {
            Ok((joined, echo)) => {
                let mut out = Outbox::default();
                self.announce_entry(&mut out, &joined, &echo);
                self.deliver(out).await;
                sequenced.release().await;
                joined
            }
            Err(err) => {
                sequenced.release().await;
                return Err(refusal(err));
            }
        };
        self.send_admissions(vec![joined]).await;
        Ok(Reply::Ok)
    }

    pub(super) async fn deny(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        self.hosted_room(id).await?;
        let target = target.ok_or_else(|| refusal(RoomError::NotWaiting))?;
        let (denied, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.deny(id, target))
            .await?;
        let reply = match denied {
            Ok(denied) => {
                let mut out = Outbox::default();
                out.post_one(
                    denied.id,
                    event::LOBBY_DENIED,
                    &LobbyDenied { room: denied.room },
                );
                self.deliver(out).await;
                Ok(Reply::Ok)
            }
            Err(err) => Err(refusal(err)),
        };
        sequenced.release().await;
        reply
    }

    pub(super) async fn remove(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        let room = self
            .room_of(id)
            .await?
            .ok_or_else(|| refusal(RoomError::NotJoined))?;
        let target = target.ok_or_else(|| refusal(RoomError::NotInRoom))?;
        let (removal, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.remove(id, target, unix_ms()))
            .await?;
        let mut removal = match removal {
            Ok(removal) => removal,
            Err(err) => {
                sequenced.release().await;
                return Err(refusal(err));
            }
        };
        let mut out = Outbox::default();
        out.post_one(
            target,
            event::ROOM_REMOVED,
            &RoomRemoved {
                room: removal.left.room.clone(),
                by: removal.by.to_string(),
            },
        );
        let record = removal.left.save.take();
        self.announce_departure(&mut out, &Departure::Left(Box::new(removal.left)));
        let saved = record.map(|r| self.store.save_meeting(r));
        let admitted = out.take_admitted();
        self.deliver(out).await;
        sequenced.release().await;
        self.send_admissions(admitted).await;
        tracing::debug!(socket = %target, %room, by = %id, "removed");
        // Acked once on disk, so the removal holds after a crash.
        if let Some(saved) = saved
            && let Err(err) = saved.await
        {
            tracing::error!(%room, %err, "removal not saved yet");
        }
        Ok(Reply::Ok)
    }

    pub(super) async fn rooms_list(&self, e: &Incoming) -> Result<Reply, Refusal> {
        protocol::parse::<Empty>(e.payload.as_deref())?;
        let rooms = self.view_all(|rooms| rooms.listed()).await?;
        Reply::json(&Acked::new(RoomsList { rooms }))
    }

    pub(super) async fn refresh_ice_servers(
        &self,
        id: ConnId,
        e: &Incoming,
    ) -> Result<Reply, Refusal> {
        protocol::parse::<Empty>(e.payload.as_deref())?;
        if self.room_of(id).await?.is_none() {
            return Err(Refusal::new(
                ErrorCode::NotJoined,
                "join a room to get ICE servers",
            ));
        }
        Reply::json(&Acked::new(IceServersAck {
            ice_servers: self.ice_servers(id),
        }))
    }
}

/// What the admitted one would have had echoed had it walked in.
fn echo_of(seat: Option<Seat>, joined: &Joined) -> JoinEcho {
    JoinEcho {
        email: seat.as_ref().map(|s| s.email.clone()).unwrap_or_default(),
        room: joined.room.clone(),
        name: seat.and_then(|s| s.name),
    }
}
