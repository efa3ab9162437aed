//! The VideoRoom's requests: what we send the plugin (the `body` of a Janus `message`).

use serde::Serialize;
use serde_json::Value;

/// Every request we send the plugin (the `body` of a Janus `message`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "request", rename_all = "lowercase")]
pub enum VideoRoomRequest {
    Create(CreateRoom),
    Destroy {
        room: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    Exists {
        room: String,
    },
    /// With the admin key, private rooms are listed too.
    List {
        #[serde(skip_serializing_if = "Option::is_none")]
        admin_key: Option<String>,
    },
    ListParticipants {
        room: String,
    },
    Join(Join),
    Publish(Publish),
    Configure(Configure),
    Unpublish,
    Leave,
    /// With an answer: completes a subscription's negotiation; without: resumes after `pause`.
    Start,
    Pause,
    Update(Update),
}

impl VideoRoomRequest {
    pub fn name(&self) -> &'static str {
        match self {
            VideoRoomRequest::Create(_) => "create",
            VideoRoomRequest::Destroy { .. } => "destroy",
            VideoRoomRequest::Exists { .. } => "exists",
            VideoRoomRequest::List { .. } => "list",
            VideoRoomRequest::ListParticipants { .. } => "listparticipants",
            VideoRoomRequest::Join(Join::Publisher(_)) => "join (publisher)",
            VideoRoomRequest::Join(Join::Subscriber(_)) => "join (subscriber)",
            VideoRoomRequest::Publish(_) => "publish",
            VideoRoomRequest::Configure(_) => "configure",
            VideoRoomRequest::Unpublish => "unpublish",
            VideoRoomRequest::Leave => "leave",
            VideoRoomRequest::Start => "start",
            VideoRoomRequest::Pause => "pause",
            VideoRoomRequest::Update(_) => "update",
        }
    }

    pub fn body(&self) -> Value {
        serde_json::to_value(self).expect("a VideoRoom request always serializes")
    }
}

/// `create`: a room that lives until destroyed (never written to Janus's config file).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateRoom {
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The plugin's `admin_key`, needed when it is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_key: Option<String>,
    /// Needed later to destroy or edit the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_private: Option<bool>,
    /// How many may publish at once (Janus's default is 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishers: Option<u32>,
    /// Video bitrate cap per publisher, bit/s (sent to publishers as REMB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    /// A keyframe request to every publisher every `fir_freq` seconds (0: only on demand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fir_freq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audiocodec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub videocodec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_joining: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "ptype", rename_all = "lowercase")]
pub enum Join {
    Publisher(JoinPublisher),
    Subscriber(JoinSubscriber),
}

/// `join` as a publisher: a participant of the room (publishing comes with `publish`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JoinPublisher {
    pub room: String,
    /// Our id for the participant (Huddle: the socket id); Janus picks one if absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `join` as a subscriber: one PeerConnection receiving the listed streams.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JoinSubscriber {
    pub room: String,
    pub streams: Vec<SubscribeStream>,
    /// The publisher this subscription belongs to (its `private_id` from `joined`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_id: Option<u64>,
    /// Whether Janus renegotiates by itself when a subscribed feed goes (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoupdate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_msid: Option<bool>,
}

/// A publisher's stream to receive: all of `feed`'s streams, or the one with `mid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeStream {
    pub feed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

impl SubscribeStream {
    pub fn feed(feed: impl Into<String>) -> SubscribeStream {
        SubscribeStream {
            feed: feed.into(),
            mid: None,
        }
    }
}

/// What to stop receiving: a whole feed, one of its streams, or one of our m-lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnsubscribeStream {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_mid: Option<String>,
}

impl UnsubscribeStream {
    pub fn feed(feed: impl Into<String>) -> UnsubscribeStream {
        UnsubscribeStream {
            feed: Some(feed.into()),
            ..Default::default()
        }
    }
}

/// `update`: subscribe and unsubscribe in one renegotiation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Update {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscribe: Vec<SubscribeStream>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsubscribe: Vec<UnsubscribeStream>,
}

/// A label for a published stream (e.g. `camera`, `screen`), seen by subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamDescription {
    pub mid: String,
    pub description: String,
}

/// `publish`, sent with the publisher's offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Publish {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audiocodec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub videocodec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<StreamDescription>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Configure {
    Publisher(ConfigurePublisher),
    Subscriber(ConfigureSubscriber),
}

/// `configure` of a publisher: bitrate, keyframes, per-stream relay on/off, and (with an
/// offer) renegotiation, e.g. to add the screen as a second video stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigurePublisher {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<PublisherStreamConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<StreamDescription>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublisherStreamConfig {
    pub mid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe: Option<bool>,
    /// Whether Janus relays this stream to subscribers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<bool>,
}

/// `configure` of a subscriber: pause or resume single streams (by our m-line's mid),
/// or ask for an ICE restart (a new offer).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigureSubscriber {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<SubscriberStreamConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriberStreamConfig {
    pub mid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substream: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal: Option<u8>,
}
