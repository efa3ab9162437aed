//! The rules of rooms, as a state machine: no sockets, no clocks (time is passed in),
//! no storage (changed meetings are handed back to be saved).
//!
//! Invariants: a connection is in at most one place (a room or one waiting room), and
//! every place it is in names a room that exists; a room exists from the start of its
//! meeting to its end, empty or not; a room with members has a host, who is one of
//! them.

use std::collections::HashMap;

use super::meeting::Meeting;
use super::{
    ConnId, Counts, Departure, Door, JoinOutcome, Joined, Left, MeetingId, Member, Millis, NewHost,
    Pass, Place, Promoted, RoomError, RoomSummary, Seat, Waiting,
};
use crate::protocol::{ListedRoom, RelayKind};

pub(super) struct Room {
    /// In join order: the first has been here longest.
    pub members: Vec<Member>,
    pub sharer: Option<ConnId>,
    pub host: Option<ConnId>,
    /// The waiting room, in knock order.
    pub lobby: Vec<Member>,
    pub meeting: Meeting,
}

impl Room {
    pub fn new(meeting: Meeting) -> Self {
        Room {
            members: Vec::new(),
            sharer: None,
            host: None,
            lobby: Vec::new(),
            meeting,
        }
    }

    pub fn ids(&self) -> Vec<ConnId> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn others(&self, id: ConnId) -> Vec<ConnId> {
        self.members
            .iter()
            .map(|m| m.id)
            .filter(|m| *m != id)
            .collect()
    }

    /// What a join ack tells `id`, a member.
    pub fn view(&self, name: &str, id: ConnId, others: Vec<Member>) -> Joined {
        Joined {
            id,
            room: name.to_string(),
            already_member: false,
            others,
            count: self.members.len(),
            sharer: self.sharer,
            host: self.host.unwrap_or(id),
            settings: self.meeting.lock.settings(),
            meeting: self.meeting.id,
            knocks: Vec::new(),
            departed: None,
            save: None,
        }
    }
}

pub struct Registry {
    pub(super) rooms: HashMap<String, Room>,
    pub(super) places: HashMap<ConnId, Place>,
    pub(super) next_meeting: i64,
    /// How long a room stays empty before its meeting ends.
    pub(super) idle_ms: Millis,
}

impl Registry {
    pub fn new(idle_ms: Millis) -> Self {
        Registry {
            rooms: HashMap::new(),
            places: HashMap::new(),
            next_meeting: 1,
            idle_ms,
        }
    }

    pub(super) fn joined_room(&self, id: ConnId) -> Option<&str> {
        self.places
            .get(&id)
            .filter(|p| !p.waiting)
            .map(|p| p.room.as_str())
    }

    pub fn door(&self, id: ConnId, room: &str) -> Door {
        if self.places.get(&id).is_some_and(|p| p.room == room) {
            return Door::Open;
        }
        match self.rooms.get(room) {
            Some(r) => match &r.meeting.lock.passcode {
                Some(hash) => Door::Passcode {
                    hash: hash.clone(),
                    version: r.meeting.lock_version,
                },
                None => Door::Open,
            },
            None => Door::Open,
        }
    }

    pub fn join(
        &mut self,
        member: Member,
        room: &str,
        pass: Pass,
        capacity: usize,
        now: Millis,
    ) -> Result<JoinOutcome, RoomError> {
        let id = member.id;
        if let Some(place) = self.places.get(&id).filter(|p| p.room == room)
            && let Some(r) = self.rooms.get(room)
        {
            if place.waiting {
                let waiter = r.lobby.iter().find(|m| m.id == id).cloned();
                return Ok(JoinOutcome::Waiting(Waiting {
                    room: room.to_string(),
                    already_waiting: true,
                    waiter: waiter.unwrap_or(member),
                    host: r.host,
                    departed: None,
                }));
            }
            let others = r.members.iter().filter(|m| m.id != id).cloned().collect();
            let mut view = r.view(room, id, others);
            view.already_member = true;
            return Ok(JoinOutcome::Entered(view));
        }

        if let Some(r) = self.rooms.get(room) {
            let meeting = &r.meeting;
            if meeting.lock.passcode.is_some() && pass != Pass::Passcode(meeting.lock_version) {
                return Err(RoomError::PasscodeChanged);
            }
            let removed = meeting.is_removed(id, &member.email);
            if removed && !meeting.lock.waiting_room {
                return Err(RoomError::Removed);
            }
            // Nobody to admit: the joiner goes straight in (and becomes host), unless
            // removed, whose only way back is an admission.
            if removed || (meeting.lock.waiting_room && !r.members.is_empty()) {
                if r.lobby.len() >= capacity {
                    return Err(RoomError::RoomFull { capacity });
                }
                let departed = self.depart(id, now);
                let r = self.rooms.get_mut(room).ok_or(RoomError::NotJoined)?;
                r.lobby.push(member.clone());
                self.places.insert(
                    id,
                    Place {
                        room: room.to_string(),
                        waiting: true,
                    },
                );
                return Ok(JoinOutcome::Waiting(Waiting {
                    room: room.to_string(),
                    already_waiting: false,
                    waiter: member,
                    host: r.host,
                    departed,
                }));
            }
            if r.members.len() >= capacity {
                return Err(RoomError::RoomFull { capacity });
            }
        }

        let departed = self.depart(id, now);
        let mut started = false;
        let next_meeting = &mut self.next_meeting;
        let r = self.rooms.entry(room.to_string()).or_insert_with(|| {
            started = true;
            let meeting = Meeting::new(MeetingId(*next_meeting), now);
            *next_meeting += 1;
            Room::new(meeting)
        });
        let others = r.members.clone();
        r.members.push(member);
        let mut knocks = Vec::new();
        if r.host.is_none() {
            r.host = Some(id);
            knocks = r.lobby.clone();
        }
        let was_empty = r.meeting.emptied_at.take().is_some();
        let save = (started || was_empty).then(|| r.meeting.record(room));
        let mut joined = r.view(room, id, others);
        joined.knocks = knocks;
        joined.departed = departed;
        joined.save = save;
        self.places.insert(
            id,
            Place {
                room: room.to_string(),
                waiting: false,
            },
        );
        Ok(JoinOutcome::Entered(joined))
    }

    /// Takes `id` out of its place; the host's role passes to whoever has been in the
    /// room longest.
    pub(super) fn depart(&mut self, id: ConnId, now: Millis) -> Option<Departure> {
        let place = self.places.remove(&id)?;
        let r = self.rooms.get_mut(&place.room)?;
        if place.waiting {
            r.lobby.retain(|m| m.id != id);
            return Some(Departure::Unqueued {
                room: place.room,
                id,
                host: r.host,
            });
        }
        let at = r.members.iter().position(|m| m.id == id)?;
        let member = r.members.remove(at);
        let was_sharer = r.sharer == Some(id);
        if was_sharer {
            r.sharer = None;
        }
        let mut new_host = None;
        if r.host == Some(id) {
            r.host = r.members.first().map(|m| m.id);
            new_host = r.host.map(|host| NewHost {
                id: host,
                waiting: r.lobby.clone(),
            });
        }
        let remaining = r.ids();
        let mut save = None;
        let mut promoted = None;
        if r.members.is_empty() {
            promoted = Self::promote(r, &place.room);
            if promoted.is_none() {
                r.meeting.emptied_at = Some(now);
                save = Some(r.meeting.record(&place.room));
            }
        }
        if let Some(p) = &promoted {
            self.places.insert(
                p.member.id,
                Place {
                    room: place.room.clone(),
                    waiting: false,
                },
            );
        }
        Some(Departure::Left(Box::new(Left {
            remaining,
            room: place.room,
            member,
            was_sharer,
            new_host,
            save,
            promoted,
        })))
    }

    /// Lets the longest-waiting joiner into the empty room `r` as its host; the rest
    /// knock on its door. A removed joiner stays: only a host's admission lets it back.
    fn promote(r: &mut Room, name: &str) -> Option<Promoted> {
        let at = r
            .lobby
            .iter()
            .position(|m| !r.meeting.is_removed(m.id, &m.email))?;
        let member = r.lobby.remove(at);
        r.members.push(member.clone());
        r.host = Some(member.id);
        let mut joined = r.view(name, member.id, Vec::new());
        joined.knocks = r.lobby.clone();
        Some(Promoted { member, joined })
    }

    pub fn leave(&mut self, id: ConnId, now: Millis) -> Option<Departure> {
        self.depart(id, now)
    }

    fn joined_room_mut(&mut self, id: ConnId) -> Result<&mut Room, RoomError> {
        let room = self.joined_room(id).ok_or(RoomError::NotJoined)?;
        let room = room.to_string();
        self.rooms.get_mut(&room).ok_or(RoomError::NotJoined)
    }

    pub fn start_sharing(&mut self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        let r = self.joined_room_mut(id)?;
        match r.sharer {
            Some(sharer) if sharer != id => Err(RoomError::SharingConflict { sharer }),
            _ => {
                r.sharer = Some(id);
                Ok(r.others(id))
            }
        }
    }

    pub fn stop_sharing(&mut self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        let r = self.joined_room_mut(id)?;
        if r.sharer != Some(id) {
            return Err(RoomError::NotSharer);
        }
        r.sharer = None;
        Ok(r.others(id))
    }

    pub fn set_media(
        &mut self,
        id: ConnId,
        audio: bool,
        video: bool,
    ) -> Result<Vec<ConnId>, RoomError> {
        let r = self.joined_room_mut(id)?;
        let member = r
            .members
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(RoomError::NotJoined)?;
        member.audio = audio;
        member.video = video;
        Ok(r.others(id))
    }

    /// Relays go between two members of one room; screen-share relays only between
    /// the sharer and a viewer: an offer from the sharer, an answer to it, candidates
    /// either way.
    pub fn check_relay(&self, from: ConnId, to: ConnId, kind: RelayKind) -> Result<(), RoomError> {
        let sharer = self
            .joined_room(from)
            .and_then(|room| self.rooms.get(room))
            .and_then(|r| r.sharer);
        relay_rule(
            from,
            to,
            self.joined_room(from),
            self.joined_room(to),
            sharer,
            kind,
        )
    }

    pub fn seat(&self, id: ConnId) -> Option<Seat> {
        let room = self.joined_room(id)?;
        let r = self.rooms.get(room)?;
        let m = r.members.iter().find(|m| m.id == id)?;
        Some(Seat {
            room: room.to_string(),
            meeting: r.meeting.id,
            email: m.email.clone(),
            name: m.name.clone(),
        })
    }

    pub fn place_of(&self, id: ConnId) -> Option<Place> {
        self.places.get(&id).cloned()
    }

    pub fn members_of(&self, room: &str) -> Vec<ConnId> {
        self.rooms.get(room).map(Room::ids).unwrap_or_default()
    }

    pub fn listed(&self) -> Vec<ListedRoom> {
        let mut out: Vec<ListedRoom> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.meeting.lock.listed)
            .map(|(name, r)| ListedRoom {
                room: name.clone(),
                count: r.members.len(),
                locked: r.meeting.lock.passcode.is_some(),
            })
            .collect();
        out.sort_by(|a, b| a.room.cmp(&b.room));
        out
    }

    /// Rooms with someone in them.
    pub fn summaries(&self) -> Vec<RoomSummary> {
        let mut out: Vec<RoomSummary> = self
            .rooms
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(name, r)| RoomSummary {
                room: name.clone(),
                count: r.members.len(),
                sharer: r.sharer,
            })
            .collect();
        out.sort_by(|a, b| a.room.cmp(&b.room));
        out
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            meetings: self.rooms.len(),
            ..Counts::default()
        };
        for r in self.rooms.values() {
            counts.rooms += usize::from(!r.members.is_empty());
            counts.participants += r.members.len();
            counts.waiting += r.lobby.len();
        }
        counts
    }
}

/// Relays go between two members of one room; screen-share relays only between the
/// sharer and a viewer: an offer from the sharer, an answer to it, candidates either
/// way. (`sharer`: the sharer of `from`'s room.)
pub fn relay_rule(
    from: ConnId,
    to: ConnId,
    from_room: Option<&str>,
    to_room: Option<&str>,
    sharer: Option<ConnId>,
    kind: RelayKind,
) -> Result<(), RoomError> {
    match (from_room, to_room) {
        (Some(a), Some(b)) if a == b && from != to => {}
        _ => return Err(RoomError::NotInRoom),
    }
    let allowed = match kind {
        RelayKind::ShareOffer => sharer == Some(from),
        RelayKind::ShareAnswer => sharer == Some(to),
        RelayKind::ShareIce => sharer == Some(from) || sharer == Some(to),
        _ => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(RoomError::NotSharer)
    }
}
