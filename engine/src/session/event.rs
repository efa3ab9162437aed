//! What the application hears from a session.

use std::time::Duration;

use huddle_protocol::{ChatMessage, Participant, RoomSettings};

use crate::media::stream::StreamKind;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Joined {
        id: String,
        room: String,
        participants: Vec<Participant>,
        sharer_id: Option<String>,
        history: Vec<ChatMessage>,
        /// The room's host (none from a 1.0 server).
        host_id: Option<String>,
        locked: bool,
        waiting_room: bool,
    },
    /// The room has a waiting room: we are connected and wait for the host to let us
    /// in (`Admitted` then `Joined` follow, or `Denied`).
    Waiting {
        room: String,
    },
    /// The host let us in from the waiting room.
    Admitted {
        room: String,
    },
    /// The host turned us away: we are in no room.
    Denied {
        room: String,
    },
    /// The host removed us from the room: every call has ended.
    Removed {
        room: String,
        by: String,
    },
    /// The room has a new host (the old one left).
    HostChanged {
        host_id: String,
    },
    /// The host changed the room's lock, waiting room or listing.
    RoomSettings(RoomSettings),
    /// (To the host) someone waits in the waiting room.
    Knock {
        id: String,
        email: String,
        name: Option<String>,
    },
    /// (To the host) someone stopped waiting (left, or joined elsewhere).
    KnockWithdrawn {
        id: String,
    },
    ParticipantJoined {
        id: String,
        email: String,
        name: Option<String>,
    },
    ParticipantLeft {
        id: String,
        email: String,
    },
    MediaState {
        id: String,
        audio: bool,
        video: bool,
    },
    Chat(ChatMessage),
    /// A remote stream started: its first packets are here.
    MediaFlowing {
        id: String,
        email: String,
        kind: StreamKind,
    },
    Connected {
        id: String,
    },
    PeerFailed {
        id: String,
        reason: String,
    },
    /// Someone (maybe us) started or stopped sharing their screen.
    SharerStarted {
        id: String,
    },
    SharerStopped {
        id: String,
    },
    Reconnecting,
    /// Back in the room as a new connection: our new id, who is there now, and the
    /// room's chat history (with what was said while we were away). Calls start over; a
    /// share we were sending or viewing has ended.
    Rejoined {
        id: String,
        participants: Vec<Participant>,
        sharer_id: Option<String>,
        history: Vec<ChatMessage>,
    },
    /// A transport error turned out not to have broken the connection.
    ConnectionHeld,
    ServerError {
        code: String,
        message: String,
    },
    /// Someone was met `waited` ago and no call has come up since (only with a connect
    /// timeout configured).
    NoMediaConnection {
        waited: Duration,
    },
}
