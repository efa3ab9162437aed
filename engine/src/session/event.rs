//! What the application hears from a session.

use std::time::Duration;

use huddle_protocol::{ChatMessage, Participant};

use crate::media::stream::StreamKind;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Joined {
        id: String,
        room: String,
        participants: Vec<Participant>,
        sharer_id: Option<String>,
        history: Vec<ChatMessage>,
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
