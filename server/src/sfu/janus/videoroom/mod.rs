//! The VideoRoom plugin (Janus 1.1, multistream): typed requests, replies and events, and a
//! handle that speaks them.
//!
//! Rooms and participants have string ids (`string_ids = true` in the plugin's config):
//! Huddle's room names and socket ids are used as they are. A publisher's handle is also
//! where room news arrive (new feeds, feeds gone); a subscriber's handle carries one
//! receive-only PeerConnection for any number of feeds, renegotiated as they change.

//!
//! - [`request`]: what we send;
//! - [`reply`]: what Janus answers, and how an answer is checked;
//! - [`event`]: what a handle hears without asking;
//! - [`handle`]: [`VideoRoomHandle`], which speaks them.

pub mod event;
pub mod handle;
pub mod reply;
pub mod request;

pub use event::{VideoRoomEvent, classify};
pub use handle::{VideoRoomEvents, VideoRoomHandle};
pub use reply::{
    Joined, Participant, PublishedStream, Publisher, RoomCreated, RoomInfo, Subscription,
    SubscriptionChange, SubscriptionStream,
};
pub use request::{
    Configure, ConfigurePublisher, ConfigureSubscriber, CreateRoom, Join, JoinPublisher,
    JoinSubscriber, Publish, PublisherStreamConfig, StreamDescription, SubscribeStream,
    SubscriberStreamConfig, UnsubscribeStream, Update, VideoRoomRequest,
};

/// The plugin's package name.
pub const PLUGIN: &str = "janus.plugin.videoroom";

#[cfg(test)]
mod tests;
