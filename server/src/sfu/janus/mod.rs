//! A client of Janus's WebSocket API (Janus 1.1) and its VideoRoom plugin.
//!
//! From the wire inwards:
//! - [`message`]: the core API's requests, replies and events as serde types;
//! - [`dispatch`]: the transaction table that matches replies to requests (sans-IO);
//! - [`connection`]: the WebSocket task: handshake, keepalives, reconnects;
//! - [`client`], [`session`]: the API a caller uses: sessions and plugin handles;
//! - [`videoroom`]: the VideoRoom's typed requests, replies and events;
//! - [`error`]: typed errors with Janus's error codes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), huddle_server::sfu::janus::JanusError> {
//! use huddle_server::sfu::janus::{JanusClient, JanusConfig, VideoRoomHandle, CreateRoom};
//! let janus = JanusClient::connect(JanusConfig::new("ws://10.0.0.5:8188").with_api_secret("s")).await?;
//! let session = janus.create_session().await?;
//! let admin = VideoRoomHandle::attach(&session).await?;
//! admin.create_room(CreateRoom { room: "1234".into(), admin_key: Some("k".into()), ..Default::default() }).await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod connection;
pub mod dispatch;
pub mod error;
pub mod message;
pub mod session;
pub mod videoroom;

pub use client::JanusClient;
pub use connection::{JanusConfig, Keepalive, LinkStatus};
pub use dispatch::{HandleEvent, LinkEvent};
pub use error::{ApiErrorCode, JanusError, SessionLoss, VideoRoomErrorCode};
pub use message::{Jsep, ServerInfo, TrickleCandidate};
pub use session::{Handle, HandleEvents, Session};
pub use videoroom::{
    ConfigurePublisher, ConfigureSubscriber, CreateRoom, JoinPublisher, JoinSubscriber, Joined,
    Participant, Publish, PublishedStream, Publisher, PublisherStreamConfig, RoomCreated, RoomInfo,
    StreamDescription, SubscribeStream, SubscriberStreamConfig, Subscription, SubscriptionChange,
    SubscriptionStream, UnsubscribeStream, Update, VideoRoomEvent, VideoRoomEvents,
    VideoRoomHandle,
};
