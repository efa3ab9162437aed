//! Requests (client → server events that take an ack): which event each payload goes
//! under, and what its ack carries after `{ "ok": true }`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::chat::{ChatAck, ChatSend};
use crate::event;
use crate::room::{
    IceServersAck, JoinReply, JoinRequest, LobbyTarget, MediaState, RoomLock, RoomSettings,
    RoomsList,
};

/// A request payload, the event it is sent under and the ack it gets.
pub trait Request: Serialize {
    const EVENT: &'static str;
    type Ack: DeserializeOwned;
}

/// An empty payload or ack (`{}`, `{ "ok": true }`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `{ "ok": true, ...body }`: a successful ack as the server sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Acked<T> {
    pub ok: bool,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Acked<T> {
    pub fn new(body: T) -> Self {
        Acked { ok: true, body }
    }
}

/// `{ "ok": true }`
pub const OK: Acked<Empty> = Acked {
    ok: true,
    body: Empty {},
};

macro_rules! empty_request {
    ($(#[$doc:meta])* $name:ident, $event:expr, $ack:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {}

        impl Request for $name {
            const EVENT: &'static str = $event;
            type Ack = $ack;
        }
    };
}

empty_request!(
    /// `room:leave`.
    RoomLeave,
    event::ROOM_LEAVE,
    Empty
);
empty_request!(
    /// `startSharing`.
    StartSharing,
    event::START_SHARING,
    Empty
);
empty_request!(
    /// `stopSharing`.
    StopSharing,
    event::STOP_SHARING,
    Empty
);
empty_request!(
    /// `rooms:list`.
    ListRooms,
    event::ROOMS_LIST,
    RoomsList
);
empty_request!(
    /// `ice:servers`: fresh TURN credentials.
    RefreshIceServers,
    event::ICE_SERVERS,
    IceServersAck
);

impl Request for JoinRequest {
    const EVENT: &'static str = event::ROOM_JOIN;
    type Ack = JoinReply;
}

impl Request for MediaState {
    const EVENT: &'static str = event::MEDIA_STATE;
    type Ack = Empty;
}

impl Request for ChatSend {
    const EVENT: &'static str = event::CHAT_SEND;
    type Ack = ChatAck;
}

impl Request for RoomLock {
    const EVENT: &'static str = event::ROOM_LOCK;
    type Ack = RoomSettings;
}

/// `lobby:admit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit(pub LobbyTarget);

impl Request for Admit {
    const EVENT: &'static str = event::LOBBY_ADMIT;
    type Ack = Empty;
}

/// `lobby:deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deny(pub LobbyTarget);

impl Request for Deny {
    const EVENT: &'static str = event::LOBBY_DENY;
    type Ack = Empty;
}

/// `room:remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remove(pub LobbyTarget);

impl Request for Remove {
    const EVENT: &'static str = event::ROOM_REMOVE;
    type Ack = Empty;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_empty_payloads_have_the_protocol_shape() {
        assert_eq!(serde_json::to_string(&OK).unwrap(), r#"{"ok":true}"#);
        assert_eq!(serde_json::to_string(&RoomLeave {}).unwrap(), "{}");
        let settings = Acked::new(RoomSettings {
            locked: true,
            waiting_room: false,
            listed: false,
        });
        assert_eq!(
            serde_json::to_string(&settings).unwrap(),
            r#"{"ok":true,"locked":true,"waitingRoom":false,"listed":false}"#
        );
        assert_eq!(
            serde_json::to_string(&Admit(LobbyTarget { id: "x".into() })).unwrap(),
            r#"{"id":"x"}"#
        );
    }
}
