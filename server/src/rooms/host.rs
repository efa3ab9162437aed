//! What the host of a room may do: lock it, admit or deny those waiting, remove a
//! member. Membership is checked before permission (`not_joined` / `not_in_room`
//! before `not_host`).

use super::registry::Registry;
use super::{
    ConnId, Denied, Departure, Joined, LockChange, Locked, Millis, Place, Removal, RoomError,
};

impl Registry {
    pub fn hosted_room(&self, id: ConnId) -> Result<String, RoomError> {
        let room = self.joined_room(id).ok_or(RoomError::NotJoined)?;
        match self.rooms.get(room) {
            Some(r) if r.host == Some(id) => Ok(room.to_string()),
            _ => Err(RoomError::NotHost),
        }
    }

    pub fn lock(&mut self, id: ConnId, change: LockChange) -> Result<Locked, RoomError> {
        let room = self.hosted_room(id)?;
        let r = self.rooms.get_mut(&room).ok_or(RoomError::NotJoined)?;
        let lock = &mut r.meeting.lock;
        if let Some(passcode) = change.passcode {
            lock.passcode = passcode;
            r.meeting.lock_version += 1;
        }
        if let Some(on) = change.waiting_room {
            lock.waiting_room = on;
        }
        if let Some(on) = change.listed {
            lock.listed = on;
        }
        Ok(Locked {
            settings: r.meeting.lock.settings(),
            others: r.others(id),
            save: r.meeting.record(&room),
            room,
        })
    }

    pub fn admit(
        &mut self,
        host: ConnId,
        target: ConnId,
        capacity: usize,
    ) -> Result<Joined, RoomError> {
        let room = self.hosted_room(host)?;
        let r = self.rooms.get_mut(&room).ok_or(RoomError::NotJoined)?;
        let at = r
            .lobby
            .iter()
            .position(|m| m.id == target)
            .ok_or(RoomError::NotWaiting)?;
        if r.members.len() >= capacity {
            return Err(RoomError::RoomFull { capacity });
        }
        let member = r.lobby.remove(at);
        // An admission lifts a removal, for this connection and this email.
        let lifted = r.meeting.removed_conns.remove(&target)
            | r.meeting.removed_emails.remove(&member.email);
        let others = r.members.clone();
        r.members.push(member);
        let mut joined = r.view(&room, target, others);
        joined.save = lifted.then(|| r.meeting.record(&room));
        self.places.insert(
            target,
            Place {
                room,
                waiting: false,
            },
        );
        Ok(joined)
    }

    pub fn deny(&mut self, host: ConnId, target: ConnId) -> Result<Denied, RoomError> {
        let room = self.hosted_room(host)?;
        let r = self.rooms.get_mut(&room).ok_or(RoomError::NotJoined)?;
        let at = r
            .lobby
            .iter()
            .position(|m| m.id == target)
            .ok_or(RoomError::NotWaiting)?;
        r.lobby.remove(at);
        self.places.remove(&target);
        Ok(Denied { room, id: target })
    }

    /// Membership is checked before permission: a target not in the host's room is
    /// `not_in_room` even for a non-host.
    pub fn remove(
        &mut self,
        host: ConnId,
        target: ConnId,
        now: Millis,
    ) -> Result<Removal, RoomError> {
        if target == host {
            return Err(RoomError::RemoveSelf);
        }
        let room = self
            .joined_room(host)
            .ok_or(RoomError::NotJoined)?
            .to_string();
        if self.joined_room(target) != Some(room.as_str()) {
            return Err(RoomError::NotInRoom);
        }
        self.hosted_room(host)?;
        let Some(Departure::Left(mut left)) = self.depart(target, now) else {
            return Err(RoomError::NotInRoom);
        };
        let r = self.rooms.get_mut(&room).ok_or(RoomError::NotJoined)?;
        r.meeting.removed_conns.insert(target);
        r.meeting.removed_emails.insert(left.member.email.clone());
        left.save = Some(r.meeting.record(&room));
        Ok(Removal {
            left: *left,
            by: host,
        })
    }
}
