//! The signaling protocol between Huddle's server, its engine and any Socket.IO client
//! (`../shared/PROTOCOL.md`, version 1.1; `docs/protocol.md` in this repository says
//! how the project implements it).
//!
//! Every wire type is defined here and nowhere else:
//! - [`event`]: every event name;
//! - [`error`]: error codes and the `{ ok: false, error }` shape;
//! - [`limits`]: the protocol's limits and the validation both ends share;
//! - [`sdp`]: session descriptions and ICE candidates as they travel;
//! - [`room`]: joining, leaving, participants, media state, hosts, locks, the waiting
//!   room, listed rooms and ICE servers;
//! - [`relay`]: the offer/answer/candidate relays between two members of a room;
//! - [`chat`]: chat messages;
//! - [`sfu`]: the SFU path of rooms past mesh size;
//! - [`server_event`]: everything a client can receive, parsed into one enum;
//! - [`request`]: which requests exist and what their acks carry.

pub mod chat;
pub mod error;
pub mod event;
pub mod limits;
pub mod relay;
pub mod request;
pub mod room;
pub mod sdp;
pub mod server_event;
pub mod sfu;

pub use chat::{ChatAck, ChatMessage, ChatSend, chat_id};
pub use error::{ErrorAck, ErrorCode, ErrorEvent, Refusal};
pub use limits::Limits;
pub use relay::{RelayBody, RelayField, RelayKind, RelayRequest, Relayed};
pub use request::{Acked, Empty, Request};
pub use room::{
    AdminRoom, HostChanged, IceServer, IceServersAck, JoinAck, JoinEcho, JoinReply, JoinRequest,
    ListedRoom, LobbyDenied, LobbyKnock, LobbyLeft, LobbyTarget, MediaState, MediaStateChanged,
    Participant, RoomLock, RoomRemove, RoomRemoved, RoomSettings, RoomsList, UserJoined, UserLeft,
    WaitingAck,
};
pub use sdp::{IceCandidate, SdpType, SessionDescription};
pub use server_event::{ParseError, ServerEvent};
pub use sfu::{
    LinkState, MediaMode, PublishStream, SfuAnswer, SfuIce, SfuLink, SfuMode, SfuOffer, SfuPc,
    SfuPublish, SfuPublishAck, SfuRestart, SfuView, StreamSource, SubscribedStream,
};

/// The protocol version this crate implements.
pub const VERSION: &str = "1.1";
