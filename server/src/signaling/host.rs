//! What the host of a room does (`room:lock`, `lobby:admit`, `lobby:deny`,
//! `room:remove`), and what anyone may ask (`rooms:list`, `ice:servers`).
//!
//! Checks come in the protocol's order: the payload (`bad_request`), then membership
//! (`not_joined`, `not_in_room`), then permission (`not_host`).

use std::str::FromStr;

use super::dispatch::Incoming;
use super::{Hub, Reply, refusal, unix_ms};
use crate::access::PasscodeHash;
use crate::protocol::{
    self, Acked, Empty, ErrorCode, IceServersAck, JoinEcho, LobbyDenied, LobbyTarget, Refusal,
    RoomLock, RoomRemoved, RoomsList, event,
};
use crate::rooms::{ConnId, Departure, Joined, LockChange, RoomError};

impl Hub {
    pub(super) async fn lock_room(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let request = protocol::parse::<RoomLock>(e.payload.as_deref())?.validate(&self.limits)?;
        self.rooms.hosted_room(id).map_err(refusal)?;
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
        // The host may have left while the passcode was hashed: check again, locked.
        let room = self.rooms.hosted_room(id).map_err(refusal)?;
        let (settings, saved) = {
            let _sequenced = self.sequence(&[&room]);
            let locked = self.rooms.lock(id, change).map_err(refusal)?;
            self.send_all(&locked.others, event::ROOM_SETTINGS, &locked.settings);
            (locked.settings, self.store.save_meeting(locked.save))
        };
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

    pub(super) async fn admit(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        let room = self.rooms.hosted_room(id).map_err(refusal)?;
        let target = target.ok_or_else(|| refusal(RoomError::NotWaiting))?;
        let joined = {
            let _sequenced = self.sequence(&[&room]);
            let joined = self
                .rooms
                .admit(id, target, self.limits.room_size)
                .map_err(refusal)?;
            let echo = self.echo_of(&joined);
            self.announce_entry(&joined, &echo);
            joined
        };
        let ack = self.join_ack(target, joined).await;
        self.send(target, event::LOBBY_ADMITTED, &ack);
        Ok(Reply::Ok)
    }

    /// What the admitted one would have had echoed had it walked in.
    fn echo_of(&self, joined: &Joined) -> JoinEcho {
        let seat = self.rooms.seat(joined.id);
        JoinEcho {
            email: seat.as_ref().map(|s| s.email.clone()).unwrap_or_default(),
            room: joined.room.clone(),
            name: seat.and_then(|s| s.name),
        }
    }

    pub(super) fn deny(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        let room = self.rooms.hosted_room(id).map_err(refusal)?;
        let target = target.ok_or_else(|| refusal(RoomError::NotWaiting))?;
        let _sequenced = self.sequence(&[&room]);
        let denied = self.rooms.deny(id, target).map_err(refusal)?;
        self.send(
            denied.id,
            event::LOBBY_DENIED,
            &LobbyDenied { room: denied.room },
        );
        Ok(Reply::Ok)
    }

    pub(super) async fn remove(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let target = Self::target(e)?;
        let room = self
            .rooms
            .room_of(id)
            .ok_or_else(|| refusal(RoomError::NotJoined))?;
        let target = target.ok_or_else(|| refusal(RoomError::NotInRoom))?;
        let saved = {
            let _sequenced = self.sequence(&[&room]);
            let mut removal = self.rooms.remove(id, target, unix_ms()).map_err(refusal)?;
            self.send(
                target,
                event::ROOM_REMOVED,
                &RoomRemoved {
                    room: removal.left.room.clone(),
                    by: removal.by.to_string(),
                },
            );
            let record = removal.left.save.take();
            self.announce_departure(&Departure::Left(Box::new(removal.left)));
            record.map(|r| self.store.save_meeting(r))
        };
        tracing::debug!(socket = %target, %room, by = %id, "removed");
        // Acked once on disk, so the removal holds after a crash.
        if let Some(saved) = saved
            && let Err(err) = saved.await
        {
            tracing::error!(%room, %err, "removal not saved yet");
        }
        Ok(Reply::Ok)
    }

    pub(super) fn rooms_list(&self, e: &Incoming) -> Result<Reply, Refusal> {
        protocol::parse::<Empty>(e.payload.as_deref())?;
        Reply::json(&Acked::new(RoomsList {
            rooms: self.rooms.listed(),
        }))
    }

    pub(super) fn refresh_ice_servers(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        protocol::parse::<Empty>(e.payload.as_deref())?;
        if self.rooms.room_of(id).is_none() {
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
