//! Joining and leaving a room, who is in it, media state, and (since 1.1) the host,
//! the lock, the waiting room, listed rooms, removals and ICE servers.

use serde::{Deserialize, Deserializer, Serialize};

use crate::chat::ChatMessage;
use crate::error::Refusal;
use crate::limits::{self, Limits};
use crate::sfu::MediaMode;

fn yes() -> bool {
    true
}

/// `room:join` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub email: String,
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Since 1.1: needed when the room is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// The SFU protocol version the client speaks (see [`crate::sfu`]); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sfu: Option<u32>,
}

impl JoinRequest {
    /// Checks every field (a blank name becomes none). The passcode is checked against
    /// the room, not here, beyond its length.
    pub fn validate(self, limits: &Limits) -> Result<JoinRequest, Refusal> {
        limits::validate_email(&self.email, limits)?;
        limits::validate_room(&self.room, limits)?;
        let name = limits::validate_name(self.name, limits)?;
        if let Some(p) = &self.passcode
            && p.chars().count() > limits.max_passcode_chars
        {
            return Err(Refusal::bad_request("passcode is too long"));
        }
        Ok(JoinRequest { name, ..self })
    }

    /// What the joiner receives back as the `room:join` event (never the passcode).
    pub fn echo(&self) -> JoinEcho {
        JoinEcho {
            email: self.email.clone(),
            room: self.room.clone(),
            name: self.name.clone(),
        }
    }
}

/// The `room:join` event the joiner receives: what it sent, without the passcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinEcho {
    pub email: String,
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Someone in a room, as a join ack lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Participant {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub audio: bool,
    #[serde(default = "yes")]
    pub video: bool,
}

/// A W3C `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The ack of a successful `room:join` (after `{ ok: true }`), and the payload of
/// `lobby:admitted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAck {
    pub id: String,
    pub room: String,
    /// Everyone else, in join order.
    pub participants: Vec<Participant>,
    #[serde(rename = "sharerId", default)]
    pub sharer_id: Option<String>,
    /// The current meeting's latest messages, oldest first.
    #[serde(default)]
    pub history: Vec<ChatMessage>,
    // Since 1.1 (a 1.0 server sends none of these).
    #[serde(rename = "hostId", default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub locked: bool,
    #[serde(rename = "waitingRoom", default)]
    pub waiting_room: bool,
    #[serde(rename = "iceServers", default)]
    pub ice_servers: Vec<IceServer>,
    /// How the room's media travels. Sent only when it is the SFU, so that the acks of
    /// mesh rooms stay exactly as 1.1 clients know them; absent means mesh.
    #[serde(default, skip_serializing_if = "MediaMode::is_mesh")]
    pub media: MediaMode,
    /// With `media: "sfu"`: the epoch of the room's SFU state (see [`crate::SfuMode`]).
    #[serde(rename = "sfuEpoch", default, skip_serializing_if = "Option::is_none")]
    pub sfu_epoch: Option<u64>,
}

/// The ack of a `room:join` that waits in the waiting room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingAck {
    pub waiting: bool,
    pub room: String,
}

/// What a successful `room:join` led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinReply {
    Joined(JoinAck),
    /// In the waiting room: `lobby:admitted` or `lobby:denied` follows.
    Waiting {
        room: String,
    },
}

impl<'de> Deserialize<'de> for JoinReply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if value.get("waiting").and_then(serde_json::Value::as_bool) == Some(true) {
            let w: WaitingAck = serde_json::from_value(value).map_err(serde::de::Error::custom)?;
            return Ok(JoinReply::Waiting { room: w.room });
        }
        serde_json::from_value(value)
            .map(JoinReply::Joined)
            .map_err(serde::de::Error::custom)
    }
}

/// `user:joined`, to everyone already in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserJoined {
    pub email: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Participants after the join.
    pub count: usize,
}

/// `user:left`, to the rest of the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLeft {
    pub id: String,
    pub email: String,
    pub count: usize,
}

/// `media:state` request: our microphone and camera are on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
}

/// `media:state` as the others receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStateChanged {
    pub id: String,
    pub audio: bool,
    pub video: bool,
}

/// `host:changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChanged {
    #[serde(rename = "hostId")]
    pub host_id: String,
}

/// `room:lock` request (host only). A field left out keeps its value; `passcode: null`
/// clears the passcode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLock {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub passcode: Option<Option<String>>,
    #[serde(
        rename = "waitingRoom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub waiting_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
}

/// Tells a field given as `null` (Some(None)) from one left out (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl RoomLock {
    pub fn validate(self, limits: &Limits) -> Result<RoomLock, Refusal> {
        if let Some(Some(p)) = &self.passcode {
            limits::validate_passcode(p, limits)?;
        }
        Ok(self)
    }
}

/// The `room:lock` ack (after `{ ok: true }`) and the `room:settings` event: never the
/// passcode itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub locked: bool,
    #[serde(rename = "waitingRoom")]
    pub waiting_room: bool,
    #[serde(default)]
    pub listed: bool,
}

/// `lobby:knock`, to the host: someone waits to be let in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyKnock {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `lobby:admit` / `lobby:deny` request, and `lobby:left`: one waiting connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyTarget {
    pub id: String,
}

impl LobbyTarget {
    pub fn validate(self) -> Result<LobbyTarget, Refusal> {
        limits::validate_id(&self.id, "id")?;
        Ok(self)
    }
}

pub type LobbyLeft = LobbyTarget;
pub type RoomRemove = LobbyTarget;

/// `lobby:denied`, to the one who waited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyDenied {
    pub room: String,
}

/// A listed room, as `rooms:list` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRoom {
    pub room: String,
    pub count: usize,
    pub locked: bool,
}

/// The `rooms:list` ack (after `{ ok: true }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsList {
    pub rooms: Vec<ListedRoom>,
}

/// `room:removed`, to the one the host removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRemoved {
    pub room: String,
    /// The host's id.
    pub by: String,
}

/// The `ice:servers` ack (after `{ ok: true }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServersAck {
    #[serde(rename = "iceServers")]
    pub ice_servers: Vec<IceServer>,
}

/// A room in `GET /api/rooms` (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRoom {
    pub room: String,
    pub count: usize,
    #[serde(rename = "sharerId")]
    pub sharer_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_join_ack_from_a_1_0_server_still_parses() {
        let j: JoinReply = serde_json::from_value(json!({
            "ok": true, "id": "me", "room": "1",
            "participants": [{"id": "p", "email": "p@x.y", "name": null, "audio": false, "video": true}],
            "sharerId": null, "history": []
        }))
        .unwrap();
        let JoinReply::Joined(j) = j else {
            panic!("not joined")
        };
        assert_eq!(j.participants[0].name, None);
        assert!(!j.participants[0].audio);
        assert_eq!(j.sharer_id, None);
        assert_eq!(j.host_id, None);
        assert!(j.ice_servers.is_empty());
    }

    #[test]
    fn a_waiting_ack_is_told_apart() {
        let j: JoinReply =
            serde_json::from_value(json!({"ok": true, "waiting": true, "room": "9"})).unwrap();
        assert_eq!(j, JoinReply::Waiting { room: "9".into() });
    }

    #[test]
    fn a_join_never_echoes_the_passcode() {
        let join = JoinRequest {
            email: "a@b.c".into(),
            room: "1".into(),
            name: Some("  ".into()),
            passcode: Some("secret".into()),
            sfu: None,
        }
        .validate(&Limits::default())
        .unwrap();
        assert_eq!(join.name, None);
        assert_eq!(
            serde_json::to_string(&join.echo()).unwrap(),
            r#"{"email":"a@b.c","room":"1"}"#
        );
    }

    #[test]
    fn lock_tells_null_from_absent() {
        let l: RoomLock = serde_json::from_value(json!({"passcode": null})).unwrap();
        assert_eq!(l.passcode, Some(None));
        let l: RoomLock = serde_json::from_value(json!({"waitingRoom": true})).unwrap();
        assert_eq!(l.passcode, None);
        assert_eq!(l.waiting_room, Some(true));
        let l: RoomLock = serde_json::from_value(json!({"passcode": "abcd"})).unwrap();
        assert_eq!(l.passcode, Some(Some("abcd".into())));
        let short = RoomLock {
            passcode: Some(Some("abc".into())),
            ..Default::default()
        };
        assert!(short.validate(&Limits::default()).is_err());
        assert_eq!(
            serde_json::to_string(&RoomLock {
                passcode: Some(None),
                ..Default::default()
            })
            .unwrap(),
            r#"{"passcode":null}"#
        );
    }
}
