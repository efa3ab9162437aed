//! Everything a client can receive from the server, parsed from an event's name and its
//! first argument.

use serde::de::DeserializeOwned;

use crate::chat::ChatMessage;
use crate::error::ErrorEvent;
use crate::event;
use crate::relay::{RelayBody, RelayKind, Relayed};
use crate::room::{
    HostChanged, JoinAck, JoinEcho, LobbyDenied, LobbyKnock, LobbyLeft, MediaStateChanged,
    RoomRemoved, RoomSettings, UserJoined, UserLeft,
};
use crate::sfu::{SfuIce, SfuLink, SfuMode, SfuOffer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The `room:join` echo the joiner receives.
    JoinEcho(JoinEcho),
    UserJoined(UserJoined),
    UserLeft(UserLeft),
    /// A relay from another member: `kind` says which, `body` what it carries.
    Relay {
        kind: RelayKind,
        from: String,
        body: RelayBody,
    },
    MediaState(MediaStateChanged),
    Chat(ChatMessage),
    SharerStarted(String),
    SharerStopped(String),
    SharerAvailable(String),
    ViewerJoined(String),
    SharingConflict(String),
    HostChanged(HostChanged),
    RoomSettings(RoomSettings),
    LobbyKnock(LobbyKnock),
    LobbyAdmitted(Box<JoinAck>),
    LobbyDenied(LobbyDenied),
    LobbyLeft(LobbyLeft),
    RoomRemoved(RoomRemoved),
    SfuMode(SfuMode),
    SfuOffer(Box<SfuOffer>),
    SfuIce(SfuIce),
    SfuLink(SfuLink),
    Error(ErrorEvent),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown event `{0}`")]
    UnknownEvent(String),
    #[error("`{event}` carried an unexpected payload: {reason}")]
    BadPayload { event: String, reason: String },
}

impl ServerEvent {
    /// Parses one event from its name and first argument.
    pub fn parse(name: &str, payload: &serde_json::Value) -> Result<ServerEvent, ParseError> {
        let bad = |reason: String| ParseError::BadPayload {
            event: name.to_string(),
            reason,
        };
        fn from<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T, String> {
            T::deserialize(v).map_err(|e| e.to_string())
        }
        let id = || {
            payload
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("expected a socket id".into()))
        };
        if let Some(kind) = RelayKind::from_delivered(name) {
            let relayed: Relayed = from(payload).map_err(bad)?;
            let from = relayed.from.clone();
            let body = relayed
                .into_body(kind)
                .ok_or_else(|| bad("the relay's field is missing".into()))?;
            return Ok(ServerEvent::Relay { kind, from, body });
        }
        Ok(match name {
            event::ROOM_JOIN => ServerEvent::JoinEcho(from(payload).map_err(bad)?),
            event::USER_JOINED => ServerEvent::UserJoined(from(payload).map_err(bad)?),
            event::USER_LEFT => ServerEvent::UserLeft(from(payload).map_err(bad)?),
            event::MEDIA_STATE => ServerEvent::MediaState(from(payload).map_err(bad)?),
            event::CHAT_MESSAGE => ServerEvent::Chat(from(payload).map_err(bad)?),
            event::SHARER_STARTED => ServerEvent::SharerStarted(id()?),
            event::SHARER_STOPPED => ServerEvent::SharerStopped(id()?),
            event::SHARER_AVAILABLE => ServerEvent::SharerAvailable(id()?),
            event::VIEWER_JOINED => ServerEvent::ViewerJoined(id()?),
            event::SHARING_CONFLICT => ServerEvent::SharingConflict(id()?),
            event::HOST_CHANGED => ServerEvent::HostChanged(from(payload).map_err(bad)?),
            event::ROOM_SETTINGS => ServerEvent::RoomSettings(from(payload).map_err(bad)?),
            event::LOBBY_KNOCK => ServerEvent::LobbyKnock(from(payload).map_err(bad)?),
            event::LOBBY_ADMITTED => {
                ServerEvent::LobbyAdmitted(Box::new(from(payload).map_err(bad)?))
            }
            event::LOBBY_DENIED => ServerEvent::LobbyDenied(from(payload).map_err(bad)?),
            event::LOBBY_LEFT => ServerEvent::LobbyLeft(from(payload).map_err(bad)?),
            event::ROOM_REMOVED => ServerEvent::RoomRemoved(from(payload).map_err(bad)?),
            event::SFU_MODE => ServerEvent::SfuMode(from(payload).map_err(bad)?),
            event::SFU_OFFER => ServerEvent::SfuOffer(Box::new(from(payload).map_err(bad)?)),
            event::SFU_ICE => ServerEvent::SfuIce(from(payload).map_err(bad)?),
            event::SFU_LINK => ServerEvent::SfuLink(from(payload).map_err(bad)?),
            event::ERROR => ServerEvent::Error(from(payload).map_err(bad)?),
            other => return Err(ParseError::UnknownEvent(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::SessionDescription;
    use serde_json::json;

    #[test]
    fn parses_relays_and_bare_ids() {
        let e = ServerEvent::parse(
            "incoming:call",
            &json!({"from": "a", "offer": {"type": "offer", "sdp": "v=0"}}),
        );
        assert_eq!(
            e,
            Ok(ServerEvent::Relay {
                kind: RelayKind::UserCall,
                from: "a".into(),
                body: RelayBody::Offer(SessionDescription::offer("v=0")),
            })
        );
        assert_eq!(
            ServerEvent::parse("call:ended", &json!({"from": "a"})),
            Ok(ServerEvent::Relay {
                kind: RelayKind::CallEnd,
                from: "a".into(),
                body: RelayBody::Nothing,
            })
        );
        assert_eq!(
            ServerEvent::parse("sharerStarted", &json!("abc")),
            Ok(ServerEvent::SharerStarted("abc".into()))
        );
        assert!(matches!(
            ServerEvent::parse("incoming:call", &json!({"from": "a"})),
            Err(ParseError::BadPayload { .. })
        ));
        assert!(matches!(
            ServerEvent::parse("sharerStarted", &json!({})),
            Err(ParseError::BadPayload { .. })
        ));
        assert_eq!(
            ServerEvent::parse("whatever", &json!({})),
            Err(ParseError::UnknownEvent("whatever".into()))
        );
    }

    #[test]
    fn parses_the_1_1_events() {
        assert_eq!(
            ServerEvent::parse("host:changed", &json!({"hostId": "h"})),
            Ok(ServerEvent::HostChanged(HostChanged {
                host_id: "h".into()
            }))
        );
        let admitted = ServerEvent::parse(
            "lobby:admitted",
            &json!({"id": "me", "room": "1", "participants": [], "sharerId": null,
                    "history": [], "hostId": "h", "locked": true, "waitingRoom": true,
                    "iceServers": [{"urls": ["stun:s:3478"]}]}),
        )
        .unwrap();
        let ServerEvent::LobbyAdmitted(ack) = admitted else {
            panic!("not admitted")
        };
        assert!(ack.locked && ack.waiting_room);
        assert_eq!(ack.ice_servers[0].urls, ["stun:s:3478"]);
        assert_eq!(
            ServerEvent::parse("error", &json!({"code": "not_host", "message": "m"})).unwrap(),
            ServerEvent::Error(ErrorEvent {
                code: crate::ErrorCode::NotHost,
                message: "m".into(),
                event: None
            })
        );
    }
}
