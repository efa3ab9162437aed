//! Room state: who is in which room or waiting at its door, the host, the sharer,
//! media states, and the room's meeting (its lock, its removals, when it emptied).
//!
//! [`RoomRegistry`] is the seam for a multi-node deployment (state elsewhere);
//! [`MemoryRooms`] keeps it in this process around [`Registry`], the rules as a state
//! machine without sockets or clocks: every call is one atomic step that says what
//! changed, and the caller tells the clients and persists the meeting.

mod host;
mod lifecycle;
mod meeting;
mod registry;
mod snapshot;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

pub use meeting::{Lock, LockChange, MeetingId, MeetingRecord, Millis};
pub use registry::{Registry, relay_rule};
pub use snapshot::{MemberDoc, RoomDoc, SnapshotError};
pub use socketioxide::socket::Sid as ConnId;

use crate::access::PasscodeHash;
use crate::protocol::{ListedRoom, RelayKind, RoomSettings};

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
    #[error("only the host may do that")]
    NotHost,
    #[error("not in your room")]
    NotInRoom,
    #[error("not waiting to join this room")]
    NotWaiting,
    #[error("removed from this room by its host")]
    Removed,
    #[error("the room's passcode changed")]
    PasscodeChanged,
    #[error("the host cannot remove themselves")]
    RemoveSelf,
}

/// What a joiner must pass to get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    Open,
    /// The room has a passcode; `version` changes whenever it does.
    Passcode {
        hash: PasscodeHash,
        version: u64,
    },
}

/// What the joiner proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Nothing,
    /// The passcode of this lock version was checked.
    Passcode(u64),
}

/// A joined member's room, as a join ack describes it.
#[derive(Debug, Clone)]
pub struct Joined {
    /// Who joined.
    pub id: ConnId,
    pub room: String,
    /// The connection was already in this room: nothing changed.
    pub already_member: bool,
    /// Everyone else in the room, in join order.
    pub others: Vec<Member>,
    /// Participants after the join.
    pub count: usize,
    pub sharer: Option<ConnId>,
    pub host: ConnId,
    pub settings: RoomSettings,
    pub meeting: MeetingId,
    /// The joiner became host while others waited: they knock on its door now.
    pub knocks: Vec<Member>,
    /// Where the connection was before (a room or a waiting room).
    pub departed: Option<Departure>,
    /// The meeting changed (started, no longer empty, a removal lifted): persist it.
    pub save: Option<MeetingRecord>,
}

/// A joiner put in the waiting room.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub room: String,
    /// Already waiting there: nobody is told again.
    pub already_waiting: bool,
    pub waiter: Member,
    /// Who to knock on (nobody when the room is empty).
    pub host: Option<ConnId>,
    pub departed: Option<Departure>,
}

#[derive(Debug, Clone)]
pub enum JoinOutcome {
    Entered(Joined),
    Waiting(Waiting),
}

/// A connection leaving where it was.
#[derive(Debug, Clone)]
pub enum Departure {
    Left(Box<Left>),
    /// It stopped waiting at a room's door.
    Unqueued {
        room: String,
        id: ConnId,
        host: Option<ConnId>,
    },
}

/// A member leaving a room.
#[derive(Debug, Clone)]
pub struct Left {
    pub room: String,
    pub member: Member,
    pub remaining: Vec<ConnId>,
    pub was_sharer: bool,
    /// The host left and someone else is host now.
    pub new_host: Option<NewHost>,
    pub save: Option<MeetingRecord>,
    /// The room emptied while someone waited at its door: the longest waiting (not
    /// removed) is let in and becomes host, as a joiner of an empty room would.
    pub promoted: Option<Promoted>,
}

/// A waiter let in because nobody was left to admit it.
#[derive(Debug, Clone)]
pub struct Promoted {
    pub member: Member,
    pub joined: Joined,
}

#[derive(Debug, Clone)]
pub struct NewHost {
    pub id: ConnId,
    /// Still waiting: each knocks again on the new host's door.
    pub waiting: Vec<Member>,
}

/// A `room:lock` applied.
#[derive(Debug, Clone)]
pub struct Locked {
    pub room: String,
    pub settings: RoomSettings,
    pub others: Vec<ConnId>,
    pub save: MeetingRecord,
}

#[derive(Debug, Clone)]
pub struct Denied {
    pub room: String,
    pub id: ConnId,
}

#[derive(Debug, Clone)]
pub struct Removal {
    pub left: Left,
    pub by: ConnId,
}

/// A meeting that ended: its record (with `ended_at`) and who was still waiting.
#[derive(Debug, Clone)]
pub struct EndedMeeting {
    pub record: MeetingRecord,
    pub waiting: Vec<ConnId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room: String,
    pub count: usize,
    pub sharer: Option<ConnId>,
}

/// A member's identity, room and meeting, for chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub room: String,
    pub meeting: MeetingId,
    pub email: String,
    pub name: Option<String>,
}

/// Where a connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub room: String,
    pub waiting: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rooms with at least one participant.
    pub rooms: usize,
    pub participants: usize,
    pub waiting: usize,
    /// Meetings not ended (some rooms in them may be empty for now).
    pub meetings: usize,
}

pub trait RoomRegistry: Send + Sync + 'static {
    /// What `id` must pass to join `room` (nothing if it is already there).
    fn door(&self, id: ConnId, room: &str) -> Door;
    /// Puts `member` in `room` or its waiting room, leaving where it was first.
    fn join(
        &self,
        member: Member,
        room: &str,
        pass: Pass,
        capacity: usize,
        now: Millis,
    ) -> Result<JoinOutcome, RoomError>;
    /// Takes `id` out of its room or waiting room.
    fn leave(&self, id: ConnId, now: Millis) -> Option<Departure>;
    /// The room `id` is host of (`not_joined`, `not_host` otherwise).
    fn hosted_room(&self, id: ConnId) -> Result<String, RoomError>;
    fn lock(&self, id: ConnId, change: LockChange) -> Result<Locked, RoomError>;
    fn admit(&self, host: ConnId, target: ConnId, capacity: usize) -> Result<Joined, RoomError>;
    fn deny(&self, host: ConnId, target: ConnId) -> Result<Denied, RoomError>;
    fn remove(&self, host: ConnId, target: ConnId, now: Millis) -> Result<Removal, RoomError>;
    /// Makes `id` the room's sharer; returns the other members to tell.
    fn start_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError>;
    /// Clears the sharer if it is `id`; returns the other members to tell.
    fn stop_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError>;
    /// Records a media state; returns the other members to tell.
    fn set_media(&self, id: ConnId, audio: bool, video: bool) -> Result<Vec<ConnId>, RoomError>;
    /// Whether `from` may send `kind` to `to` (`not_in_room`, then `not_sharer`).
    fn check_relay(&self, from: ConnId, to: ConnId, kind: RelayKind) -> Result<(), RoomError>;
    fn seat(&self, id: ConnId) -> Option<Seat>;
    fn place_of(&self, id: ConnId) -> Option<Place>;
    /// The room `id` is a member of.
    fn room_of(&self, id: ConnId) -> Option<String>;
    fn members_of(&self, room: &str) -> Vec<ConnId>;
    fn listed(&self) -> Vec<ListedRoom>;
    fn summaries(&self) -> Vec<RoomSummary>;
    fn counts(&self) -> Counts;
    /// Ends the meetings of rooms that stayed empty for the idle time.
    fn end_idle_meetings(&self, now: Millis) -> Vec<EndedMeeting>;
    /// Takes back the meetings a previous run left open (`stopped_at`: when it was
    /// last known alive); returns the records to save (those that ended meanwhile, and
    /// those whose room is now empty).
    fn restore(
        &self,
        open: Vec<MeetingRecord>,
        next_meeting: i64,
        stopped_at: Option<Millis>,
        now: Millis,
    ) -> Vec<MeetingRecord>;
}

/// Room state in this process, behind one lock: every operation is short.
pub struct MemoryRooms {
    state: Mutex<Registry>,
}

impl MemoryRooms {
    /// `meeting_idle_ms`: how long a room stays empty before its meeting ends.
    pub fn new(meeting_idle_ms: Millis) -> Self {
        MemoryRooms {
            state: Mutex::new(Registry::new(meeting_idle_ms)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic elsewhere must not take every room down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the registry: one atomic step.
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.state())
    }
}

impl RoomRegistry for MemoryRooms {
    fn door(&self, id: ConnId, room: &str) -> Door {
        self.state().door(id, room)
    }
    fn join(
        &self,
        member: Member,
        room: &str,
        pass: Pass,
        capacity: usize,
        now: Millis,
    ) -> Result<JoinOutcome, RoomError> {
        self.state().join(member, room, pass, capacity, now)
    }
    fn leave(&self, id: ConnId, now: Millis) -> Option<Departure> {
        self.state().leave(id, now)
    }
    fn hosted_room(&self, id: ConnId) -> Result<String, RoomError> {
        self.state().hosted_room(id)
    }
    fn lock(&self, id: ConnId, change: LockChange) -> Result<Locked, RoomError> {
        self.state().lock(id, change)
    }
    fn admit(&self, host: ConnId, target: ConnId, capacity: usize) -> Result<Joined, RoomError> {
        self.state().admit(host, target, capacity)
    }
    fn deny(&self, host: ConnId, target: ConnId) -> Result<Denied, RoomError> {
        self.state().deny(host, target)
    }
    fn remove(&self, host: ConnId, target: ConnId, now: Millis) -> Result<Removal, RoomError> {
        self.state().remove(host, target, now)
    }
    fn start_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        self.state().start_sharing(id)
    }
    fn stop_sharing(&self, id: ConnId) -> Result<Vec<ConnId>, RoomError> {
        self.state().stop_sharing(id)
    }
    fn set_media(&self, id: ConnId, audio: bool, video: bool) -> Result<Vec<ConnId>, RoomError> {
        self.state().set_media(id, audio, video)
    }
    fn check_relay(&self, from: ConnId, to: ConnId, kind: RelayKind) -> Result<(), RoomError> {
        self.state().check_relay(from, to, kind)
    }
    fn seat(&self, id: ConnId) -> Option<Seat> {
        self.state().seat(id)
    }
    fn place_of(&self, id: ConnId) -> Option<Place> {
        self.state().place_of(id)
    }
    fn room_of(&self, id: ConnId) -> Option<String> {
        self.state()
            .place_of(id)
            .filter(|p| !p.waiting)
            .map(|p| p.room)
    }
    fn members_of(&self, room: &str) -> Vec<ConnId> {
        self.state().members_of(room)
    }
    fn listed(&self) -> Vec<ListedRoom> {
        self.state().listed()
    }
    fn summaries(&self) -> Vec<RoomSummary> {
        self.state().summaries()
    }
    fn counts(&self) -> Counts {
        self.state().counts()
    }
    fn end_idle_meetings(&self, now: Millis) -> Vec<EndedMeeting> {
        self.state().end_idle_meetings(now)
    }
    fn restore(
        &self,
        open: Vec<MeetingRecord>,
        next_meeting: i64,
        stopped_at: Option<Millis>,
        now: Millis,
    ) -> Vec<MeetingRecord> {
        self.state().restore(open, next_meeting, stopped_at, now)
    }
}
