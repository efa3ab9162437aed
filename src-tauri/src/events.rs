//! What the window hears, as JSON: the session's events (`session`), connection figures
//! (`stats`), the microphone level (`mic-level`) and launch requests (`launch`).

use huddle_engine::protocol::{ChatMessage, JoinAck, Participant};
use huddle_engine::{Session, SessionEvent};
use serde::Serialize;

/// The events' names (the window listens by these).
pub const SESSION: &str = "session";
pub const STATS: &str = "stats";
pub const MIC_LEVEL: &str = "mic-level";
pub const LAUNCH: &str = "launch";

/// Sends an event to the window. The Tauri app implements it; tests record.
pub trait Notify: Send + Sync {
    fn notify(&self, event: &str, payload: serde_json::Value);
}

/// Sends `payload` as event `name`.
pub fn send(notify: &dyn Notify, name: &str, payload: &impl Serialize) {
    match serde_json::to_value(payload) {
        Ok(value) => notify.notify(name, value),
        Err(e) => tracing::warn!(event = name, error = %e, "event not serialized"),
    }
}

/// The `mic-level` event: the local microphone's level, 0..1.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MicLevel {
    pub level: f32,
}

/// The join command's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "Joined"))]
pub struct UiJoined {
    pub self_id: String,
    pub room: String,
    pub participants: Vec<Participant>,
    pub sharer_id: Option<String>,
    pub history: Vec<ChatMessage>,
    pub join_ms: f64,
    /// The room's host (since protocol 1.1; none from a 1.0 server).
    pub host_id: Option<String>,
    pub locked: bool,
    pub waiting_room: bool,
}

impl UiJoined {
    /// What the window needs of a session that just joined.
    pub fn of(session: &Session, joined: &JoinAck) -> Self {
        UiJoined {
            self_id: joined.id.clone(),
            room: joined.room.clone(),
            participants: joined.participants.clone(),
            sharer_id: joined.sharer_id.clone(),
            history: joined.history.clone(),
            join_ms: session.join_rtt().as_secs_f64() * 1000.0,
            host_id: joined.host_id.clone(),
            locked: joined.locked,
            waiting_room: joined.waiting_room,
        }
    }
}

/// The `session` event: what happens in the room.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "SessionEvent"))]
pub enum UiSessionEvent {
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
    /// The server's copy (its wire shape: `clientId` only when the sender gave one).
    Chat {
        message: ChatMessage,
    },
    SharerStarted {
        id: String,
    },
    SharerStopped {
        id: String,
    },
    PeerConnected {
        id: String,
    },
    PeerFailed {
        id: String,
        reason: String,
    },
    Reconnecting,
    /// Back in the room as a new connection: our new id, who is there now, and the chat
    /// history (with what was said while we were away).
    Rejoined {
        #[serde(rename = "selfId")]
        self_id: String,
        participants: Vec<Participant>,
        #[serde(rename = "sharerId")]
        sharer_id: Option<String>,
        history: Vec<ChatMessage>,
    },
    /// The connection held after all (no rejoin).
    Reconnected,
    ServerError {
        code: String,
        message: String,
    },
    /// The session is over without the user leaving (e.g. the server is gone for good).
    Ended {
        reason: String,
    },
    /// The room has a new host (the old one left).
    HostChanged {
        #[serde(rename = "hostId")]
        host_id: String,
    },
    /// The host changed the room's passcode lock, waiting room or listing.
    RoomSettings {
        locked: bool,
        #[serde(rename = "waitingRoom")]
        waiting_room: bool,
        listed: bool,
    },
    /// (To the host) someone waits to be let in.
    Knock {
        id: String,
        email: String,
        name: Option<String>,
    },
    /// (To the host) someone stopped waiting.
    KnockWithdrawn {
        id: String,
    },
    /// The host removed us: the call is over.
    Removed {
        room: String,
    },
    /// The join reached the room's waiting room: the join command answers once the host
    /// lets us in (or not). Sent by the call manager while the join waits (again after
    /// a reconnect, with `reconnecting` / `reconnected` between), not by the call.
    Waiting {
        room: String,
    },
}

impl UiSessionEvent {
    /// The window's view of an engine event; `None` for what it does not show.
    pub fn from_engine(event: &SessionEvent) -> Option<Self> {
        Some(match event {
            SessionEvent::ParticipantJoined { id, email, name } => {
                UiSessionEvent::ParticipantJoined {
                    id: id.clone(),
                    email: email.clone(),
                    name: name.clone(),
                }
            }
            SessionEvent::ParticipantLeft { id, email } => UiSessionEvent::ParticipantLeft {
                id: id.clone(),
                email: email.clone(),
            },
            SessionEvent::MediaState { id, audio, video } => UiSessionEvent::MediaState {
                id: id.clone(),
                audio: *audio,
                video: *video,
            },
            SessionEvent::Chat(m) => UiSessionEvent::Chat { message: m.clone() },
            SessionEvent::SharerStarted { id } => UiSessionEvent::SharerStarted { id: id.clone() },
            SessionEvent::SharerStopped { id } => UiSessionEvent::SharerStopped { id: id.clone() },
            SessionEvent::Connected { id } => UiSessionEvent::PeerConnected { id: id.clone() },
            SessionEvent::PeerFailed { id, reason } => UiSessionEvent::PeerFailed {
                id: id.clone(),
                reason: reason.clone(),
            },
            SessionEvent::Reconnecting => UiSessionEvent::Reconnecting,
            SessionEvent::Rejoined {
                id,
                participants,
                sharer_id,
                history,
            } => UiSessionEvent::Rejoined {
                self_id: id.clone(),
                participants: participants.clone(),
                sharer_id: sharer_id.clone(),
                history: history.clone(),
            },
            SessionEvent::ConnectionHeld => UiSessionEvent::Reconnected,
            SessionEvent::ServerError { code, message } => UiSessionEvent::ServerError {
                code: code.clone(),
                message: message.clone(),
            },
            SessionEvent::HostChanged { host_id } => UiSessionEvent::HostChanged {
                host_id: host_id.clone(),
            },
            SessionEvent::RoomSettings(s) => UiSessionEvent::RoomSettings {
                locked: s.locked,
                waiting_room: s.waiting_room,
                listed: s.listed,
            },
            SessionEvent::Knock { id, email, name } => UiSessionEvent::Knock {
                id: id.clone(),
                email: email.clone(),
                name: name.clone(),
            },
            SessionEvent::KnockWithdrawn { id } => {
                UiSessionEvent::KnockWithdrawn { id: id.clone() }
            }
            SessionEvent::Removed { room, .. } => UiSessionEvent::Removed { room: room.clone() },
            // Already visible as video in a tile; the join command answers once we are
            // let in (or refused).
            SessionEvent::MediaFlowing { .. }
            | SessionEvent::Joined { .. }
            | SessionEvent::Waiting { .. }
            | SessionEvent::Admitted { .. }
            | SessionEvent::Denied { .. }
            | SessionEvent::NoMediaConnection { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_in_kebab_case() {
        let e = UiSessionEvent::from_engine(&SessionEvent::SharerStarted { id: "x".into() });
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            serde_json::json!({"type": "sharer-started", "id": "x"})
        );
        let e = UiSessionEvent::from_engine(&SessionEvent::Connected { id: "p".into() });
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            serde_json::json!({"type": "peer-connected", "id": "p"})
        );
        let m = ChatMessage {
            id: "000000000001".into(),
            room: "1".into(),
            from: "a".into(),
            email: "a@x.io".into(),
            name: None,
            text: "hi".into(),
            ts: 5,
            client_id: Some("c1".into()),
        };
        let v = serde_json::to_value(UiSessionEvent::from_engine(&SessionEvent::Chat(m))).unwrap();
        assert_eq!(v["type"], "chat");
        assert_eq!(v["message"]["clientId"], "c1");
        assert_eq!(v["message"]["text"], "hi");
    }
}
