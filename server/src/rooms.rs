//! Room state: who is in which room, their media state, and who is sharing.
//!
//! [`RoomRegistry`] is the seam for a multi-node deployment (state in Redis);
//! [`MemoryRooms`] keeps it in this process. Every method is one atomic step, so that,
//! for example, of many simultaneous `start_sharing` calls in a room exactly one wins.

use std::collections::HashMap;
use std::sync::Mutex;

pub use socketioxide::socket::Sid as ConnId;

/// A participant as the room sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: ConnId,
    pub email: String,
    pub name: Option<String>,
    pub audio: bool,
    pub video: bool,
}

impl Member {
    /// A new joiner: microphone and camera are assumed on until `media:state` says otherwise.
    pub fn new(id: ConnId, email: String, name: Option<String>) -> Self {
        Member {
            id,
            email,
            name,
            audio: true,
            video: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("not in a room")]
    NotJoined,
    #[error("the room is full ({capacity} participants)")]
    RoomFull { capacity: usize },
    #[error("someone else is sharing")]
    SharingConflict { sharer: ConnId },
    #[error("not the sharer")]
    NotSharer,
}

/// What a successful join changed.
#[derive(Debug, Clone)]
pub struct Joined {
    pub room: String,
    /// The connection was already in this room: nothing changed.
    pub already_member: bool,
    /// Everyone else in the room, in join order.
    pub others: Vec<Member>,
    /// Participants after the join.
    pub count: usize,
    pub sharer: Option<ConnId>,
    /// The room the connection left to join this one.
    pub left: Option<Left>,
}

/// What a leave changed.
#[derive(Debug, Clone)]
pub struct Left {
    pub room: String,
    pub member: Member,
    pub remaining: Vec<ConnId>,
    pub was_sharer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room: String,
    pub count: usize,
    pub sharer: Option<ConnId>,
}

/// A member's identity and room, for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub room: String,
    pub email: String,
    pub name: Option<String>,
}

pub trait RoomRegistry: Send + Sync + 'static {
    /// Puts `member` in `room` (leaving their current room first); refuses a full room
    /// without touching the current one.
    fn join(&self, member: Member, room: &str, capacity: usize) -> Result<Joined, RoomError>;
    fn leave(&self, id: ConnId) -> Result<Left, RoomError>;
    /// Makes `id` the room's sharer; returns the other members to tell.
    fn start_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError>;
    /// Clears the sharer if it is `id`; returns the other members to tell.
    fn stop_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError>;
    /// Records a media state; returns the other members to tell.
    fn set_media(&self, id: ConnId, audio: bool, video: bool) -> Result<Vec<ConnId>, RoomError>;
    /// Both connections are in the same room.
    fn same_room(&self, a: ConnId, b: ConnId) -> bool;
    fn seat(&self, id: ConnId) -> Option<Seat>;
    fn room_of(&self, id: ConnId) -> Option<String>;
    fn members_of(&self, room: &str) -> Vec<ConnId>;
    fn summaries(&self) -> Vec<RoomSummary>;
    /// (rooms, joined connections)
    fn counts(&self) -> (usize, usize);
}

#[derive(Default)]
struct Room {
    /// In join order.
    members: Vec<ConnId>,
    sharer: Option<ConnId>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Room>,
    seats: HashMap<ConnId, (String, Member)>,
}

impl State {
    fn others(&self, room: &str, id: ConnId) -> Vec<ConnId> {
        self.rooms
            .get(room)
            .map(|r| r.members.iter().copied().filter(|m| *m != id).collect())
            .unwrap_or_default()
    }

    fn remove(&mut self, id: ConnId) -> Result<Left, RoomError> {
        let (room_name, member) = self.seats.remove(&id).ok_or(RoomError::NotJoined)?;
        let mut remaining = Vec::new();
        let mut was_sharer = false;
        if let Some(room) = self.rooms.get_mut(&room_name) {
            room.members.retain(|m| *m != id);
            if room.sharer == Some(id) {
                room.sharer = None;
                was_sharer = true;
            }
            remaining = room.members.clone();
            if room.members.is_empty() {
                self.rooms.remove(&room_name);
            }
        }
        Ok(Left {
            room: room_name,
            member,
            remaining,
            was_sharer,
        })
    }

    fn members(&self, ids: &[ConnId]) -> Vec<Member> {
        ids.iter()
            .filter_map(|id| self.seats.get(id).map(|(_, m)| m.clone()))
            .collect()
    }
}

/// Room state in this process, behind one lock: every operation is short.
#[derive(Default)]
pub struct MemoryRooms {
    state: Mutex<State>,
}

impl MemoryRooms {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not take every room down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RoomRegistry for MemoryRooms {
    fn join(&self, member: Member, room: &str, capacity: usize) -> Result<Joined, RoomError> {
        let mut state = self.lock();
        let id = member.id;
        if let Some((current, _)) = state.seats.get(&id)
            && current == room
        {
            let r = state.rooms.get(room);
            let others = state.others(room, id);
            return Ok(Joined {
                room: room.to_string(),
                already_member: true,
                count: others.len() + 1,
                others: state.members(&others),
                sharer: r.and_then(|r| r.sharer),
                left: None,
            });
        }
        let size = state.rooms.get(room).map_or(0, |r| r.members.len());
        if size >= capacity {
            return Err(RoomError::RoomFull { capacity });
        }
        let left = state.remove(id).ok();
        let entry = state.rooms.entry(room.to_string()).or_default();
        let others = entry.members.clone();
        let sharer = entry.sharer;
        entry.members.push(id);
        let count = entry.members.len();
        state.seats.insert(id, (room.to_string(), member));
        Ok(Joined {
            room: room.to_string(),
            already_member: false,
            others: state.members(&others),
            count,
            sharer,
            left,
        })
    }

    fn leave(&self, id: ConnId) -> Result<Left, RoomError> {
        self.lock().remove(id)
    }

    fn start_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        let mut state = self.lock();
        let room_name = state.seats.get(&id).ok_or(RoomError::NotJoined)?.0.clone();
        let room = state
            .rooms
            .get_mut(&room_name)
            .ok_or(RoomError::NotJoined)?;
        match room.sharer {
            Some(sharer) if sharer != id => Err(RoomError::SharingConflict { sharer }),
            _ => {
                room.sharer = Some(id);
                Ok(state.others(&room_name, id))
            }
        }
    }

    fn stop_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        let mut state = self.lock();
        let room_name = state.seats.get(&id).ok_or(RoomError::NotJoined)?.0.clone();
        let room = state
            .rooms
            .get_mut(&room_name)
            .ok_or(RoomError::NotJoined)?;
        if room.sharer != Some(id) {
            return Err(RoomError::NotSharer);
        }
        room.sharer = None;
        Ok(state.others(&room_name, id))
    }

    fn set_media(&self, id: ConnId, audio: bool, video: bool) -> Result<Vec<ConnId>, RoomError> {
        let mut state = self.lock();
        let (room, member) = state.seats.get_mut(&id).ok_or(RoomError::NotJoined)?;
        member.audio = audio;
        member.video = video;
        let room = room.clone();
        Ok(state.others(&room, id))
    }

    fn same_room(&self, a: ConnId, b: ConnId) -> bool {
        let state = self.lock();
        match (state.seats.get(&a), state.seats.get(&b)) {
            (Some((ra, _)), Some((rb, _))) => ra == rb,
            _ => false,
        }
    }

    fn seat(&self, id: ConnId) -> Option<Seat> {
        self.lock().seats.get(&id).map(|(room, m)| Seat {
            room: room.clone(),
            email: m.email.clone(),
            name: m.name.clone(),
        })
    }

    fn room_of(&self, id: ConnId) -> Option<String> {
        self.lock().seats.get(&id).map(|(room, _)| room.clone())
    }

    fn members_of(&self, room: &str) -> Vec<ConnId> {
        self.lock()
            .rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }

    fn summaries(&self) -> Vec<RoomSummary> {
        let state = self.lock();
        let mut out: Vec<RoomSummary> = state
            .rooms
            .iter()
            .map(|(name, r)| RoomSummary {
                room: name.clone(),
                count: r.members.len(),
                sharer: r.sharer,
            })
            .collect();
        out.sort_by(|a, b| a.room.cmp(&b.room));
        out
    }

    fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.rooms.len(), state.seats.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn member(id: ConnId) -> Member {
        Member::new(id, format!("{id}@example.com"), None)
    }

    #[test]
    fn join_leave_and_forget_empty_rooms() {
        let rooms = MemoryRooms::new();
        let (a, b) = (ConnId::new(), ConnId::new());
        let ja = rooms.join(member(a), "1", 50).unwrap();
        assert!(ja.others.is_empty());
        assert_eq!(ja.count, 1);
        let jb = rooms.join(member(b), "1", 50).unwrap();
        assert_eq!(jb.others.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a]);
        assert_eq!(jb.count, 2);
        assert!(rooms.same_room(a, b));

        let again = rooms.join(member(b), "1", 50).unwrap();
        assert!(again.already_member);
        assert_eq!(rooms.counts(), (1, 2));

        let left = rooms.leave(a).unwrap();
        assert_eq!(left.remaining, vec![b]);
        assert_eq!(rooms.leave(a).unwrap_err(), RoomError::NotJoined);
        rooms.leave(b).unwrap();
        assert_eq!(rooms.counts(), (0, 0));
    }

    #[test]
    fn switching_rooms_leaves_the_old_one_and_a_full_room_keeps_you_where_you_are() {
        let rooms = MemoryRooms::new();
        let (a, b, c) = (ConnId::new(), ConnId::new(), ConnId::new());
        rooms.join(member(a), "x", 2).unwrap();
        rooms.join(member(b), "x", 2).unwrap();
        rooms.join(member(c), "y", 2).unwrap();
        rooms.start_sharing(a).unwrap();
        let moved = rooms.join(member(a), "y", 2).unwrap();
        let left = moved.left.unwrap();
        assert_eq!(left.room, "x");
        assert!(left.was_sharer);
        assert_eq!(left.remaining, vec![b]);
        assert_eq!(
            rooms.join(member(b), "y", 2).unwrap_err(),
            RoomError::RoomFull { capacity: 2 }
        );
        assert_eq!(rooms.room_of(b).as_deref(), Some("x"));
    }

    #[test]
    fn sharing_rules() {
        let rooms = MemoryRooms::new();
        let (a, b) = (ConnId::new(), ConnId::new());
        assert_eq!(rooms.start_sharing(a).unwrap_err(), RoomError::NotJoined);
        rooms.join(member(a), "1", 50).unwrap();
        rooms.join(member(b), "1", 50).unwrap();
        assert_eq!(rooms.start_sharing(a).unwrap(), vec![b]);
        assert_eq!(
            rooms.start_sharing(a).unwrap(),
            vec![b],
            "the sharer may ask again"
        );
        assert_eq!(
            rooms.start_sharing(b).unwrap_err(),
            RoomError::SharingConflict { sharer: a }
        );
        assert_eq!(rooms.stop_sharing(b).unwrap_err(), RoomError::NotSharer);
        assert_eq!(rooms.stop_sharing(a).unwrap(), vec![b]);
        assert_eq!(rooms.start_sharing(b).unwrap(), vec![a]);
        let joined = rooms.join(member(ConnId::new()), "1", 50).unwrap();
        assert_eq!(joined.sharer, Some(b));
    }

    #[test]
    fn exactly_one_of_many_simultaneous_sharers_wins() {
        for _ in 0..50 {
            let rooms = Arc::new(MemoryRooms::new());
            let ids: Vec<ConnId> = (0..20).map(|_| ConnId::new()).collect();
            for id in &ids {
                rooms.join(member(*id), "r", 50).unwrap();
            }
            let barrier = Arc::new(std::sync::Barrier::new(ids.len()));
            let handles: Vec<_> = ids
                .iter()
                .map(|id| {
                    let (rooms, barrier, id) = (rooms.clone(), barrier.clone(), *id);
                    std::thread::spawn(move || {
                        barrier.wait();
                        rooms.start_sharing(id)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let winners = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(winners, 1);
            let sharer = rooms.summaries()[0].sharer.unwrap();
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                assert_eq!(*r, RoomError::SharingConflict { sharer });
            }
        }
    }

    #[test]
    fn media_state_is_kept_for_later_joiners() {
        let rooms = MemoryRooms::new();
        let (a, b) = (ConnId::new(), ConnId::new());
        rooms.join(member(a), "1", 50).unwrap();
        rooms.set_media(a, false, true).unwrap();
        let joined = rooms.join(member(b), "1", 50).unwrap();
        assert!(!joined.others[0].audio);
        assert!(joined.others[0].video);
        assert!(!rooms.same_room(a, ConnId::new()));
    }
}
