//! The VideoRoom plugin (Janus 1.1, multistream): typed requests, replies and events, and a
//! handle that speaks them.
//!
//! Rooms and participants have string ids (`string_ids = true` in the plugin's config):
//! Huddle's room names and socket ids are used as they are. A publisher's handle is also
//! where room news arrive (new feeds, feeds gone); a subscriber's handle carries one
//! receive-only PeerConnection for any number of feeds, renegotiated as they change.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::dispatch::HandleEvent;
use super::error::{JanusError, SessionLoss, VideoRoomErrorCode};
use super::message::{Jsep, TrickleCandidate};
use super::session::{Handle, HandleEvents, Session};

/// The plugin's package name.
pub const PLUGIN: &str = "janus.plugin.videoroom";

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Replies and events
// ---------------------------------------------------------------------------

/// Room and participant ids are strings with `string_ids`; numbers are read as strings.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    })
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "id")] String);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomCreated {
    #[serde(deserialize_with = "id")]
    pub room: String,
    #[serde(default)]
    pub permanent: bool,
}

/// A room, from `list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomInfo {
    #[serde(deserialize_with = "id")]
    pub room: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub num_participants: u32,
    #[serde(default)]
    pub max_publishers: u32,
}

/// A room member, from `listparticipants`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Participant {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub display: Option<String>,
    /// Whether it has an active PeerConnection publishing.
    #[serde(default)]
    pub publisher: bool,
    #[serde(default)]
    pub talking: Option<bool>,
}

/// An active publisher (a feed) and its streams.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Publisher {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub dummy: bool,
    #[serde(default)]
    pub streams: Vec<PublishedStream>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublishedStream {
    /// `audio`, `video` or `data`.
    #[serde(rename = "type")]
    pub kind: String,
    pub mindex: u32,
    pub mid: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub codec: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub simulcast: bool,
    #[serde(default)]
    pub svc: bool,
}

/// `joined`: we are in the room as a publisher; who already publishes there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Joined {
    #[serde(deserialize_with = "id")]
    pub room: String,
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub private_id: u64,
    #[serde(default)]
    pub publishers: Vec<Publisher>,
}

/// One m-line of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscriptionStream {
    pub mindex: u32,
    pub mid: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The publisher it comes from (absent for an m-line that carries nothing any more).
    #[serde(default, deserialize_with = "opt_id")]
    pub feed_id: Option<String>,
    #[serde(default)]
    pub feed_mid: Option<String>,
    #[serde(default)]
    pub feed_display: Option<String>,
    #[serde(default)]
    pub feed_description: Option<String>,
    #[serde(default)]
    pub send: bool,
    #[serde(default)]
    pub ready: bool,
    /// False for an m-line left inactive after its feed went.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A new subscription: its m-lines and Janus's offer, to answer with [`VideoRoomHandle::start`].
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub room: String,
    pub streams: Vec<SubscriptionStream>,
    pub offer: Jsep,
}

/// What a change to a subscription did.
#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionChange {
    /// A new offer to answer with [`VideoRoomHandle::start`].
    Renegotiate {
        streams: Vec<SubscriptionStream>,
        offer: Jsep,
    },
    /// Nothing to negotiate (e.g. the streams were already there or already gone).
    Unchanged,
    /// Janus is busy with an earlier renegotiation: the offer comes later, as
    /// [`VideoRoomEvent::Updated`].
    Deferred,
}

/// What a VideoRoom handle hears without asking.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoRoomEvent {
    /// Feeds started (or changed their streams).
    Publishers {
        room: String,
        publishers: Vec<Publisher>,
    },
    /// A feed stopped publishing.
    Unpublished {
        room: String,
        feed: String,
    },
    /// A participant left the room.
    Leaving {
        room: String,
        participant: String,
    },
    /// We were removed from the room (e.g. kicked).
    Removed {
        reason: Option<String>,
    },
    /// The room was destroyed.
    Destroyed {
        room: String,
    },
    /// Our subscription changed on Janus's side (a feed went, or a deferred update):
    /// answer the offer with [`VideoRoomHandle::start`].
    Updated {
        room: String,
        streams: Vec<SubscriptionStream>,
        offer: Option<Jsep>,
    },
    /// An asynchronous request failed after it was accepted.
    Error {
        code: VideoRoomErrorCode,
        reason: String,
    },
    WebrtcUp,
    Media {
        kind: String,
        mid: Option<String>,
        receiving: bool,
    },
    SlowLink {
        uplink: bool,
        media: Option<String>,
        mid: Option<String>,
        lost: Option<u64>,
    },
    Hangup {
        reason: Option<String>,
    },
    Trickle(TrickleCandidate),
    Detached,
    SessionLost(SessionLoss),
    /// Anything else the plugin says (talking, …), as it came.
    Other(Value),
}

// The fields of `"videoroom": "event"` messages we read.
#[derive(Deserialize, Default)]
struct EventFields {
    #[serde(default, deserialize_with = "opt_id")]
    room: Option<String>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    publishers: Option<Vec<Publisher>>,
    #[serde(default, deserialize_with = "opt_id")]
    unpublished: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    leaving: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

// `attached`: a new subscription's m-lines.
#[derive(Deserialize)]
struct Attached {
    #[serde(deserialize_with = "id")]
    room: String,
    #[serde(default)]
    streams: Vec<SubscriptionStream>,
}

#[derive(Deserialize)]
struct UpdatedFields {
    #[serde(deserialize_with = "id")]
    room: String,
    #[serde(default)]
    streams: Vec<SubscriptionStream>,
}

/// Reads a plugin event into a [`VideoRoomEvent`] (anything unexpected stays `Other`).
pub fn classify(data: Value, jsep: Option<Jsep>) -> VideoRoomEvent {
    let kind = data.get("videoroom").and_then(Value::as_str).unwrap_or("");
    match kind {
        "destroyed" => match data.get("room").cloned().map(id_of) {
            Some(Some(room)) => VideoRoomEvent::Destroyed { room },
            _ => VideoRoomEvent::Other(data),
        },
        "updated" => match UpdatedFields::deserialize(&data) {
            Ok(u) => VideoRoomEvent::Updated {
                room: u.room,
                streams: u.streams,
                offer: jsep,
            },
            Err(_) => VideoRoomEvent::Other(data),
        },
        "event" => {
            let Ok(f) = EventFields::deserialize(&data) else {
                return VideoRoomEvent::Other(data);
            };
            let room = f.room.clone().unwrap_or_default();
            if let Some(code) = f.error_code {
                VideoRoomEvent::Error {
                    code: VideoRoomErrorCode::from_code(code),
                    reason: f.error.unwrap_or_default(),
                }
            } else if let Some(publishers) = f.publishers {
                VideoRoomEvent::Publishers { room, publishers }
            } else if let Some(feed) = f.unpublished {
                VideoRoomEvent::Unpublished { room, feed }
            } else if let Some(who) = f.leaving {
                // "ok" means us (our own leave, or being kicked); ids are never "ok" (we pick them).
                if who == "ok" {
                    VideoRoomEvent::Removed { reason: f.reason }
                } else {
                    VideoRoomEvent::Leaving {
                        room,
                        participant: who,
                    }
                }
            } else {
                VideoRoomEvent::Other(data)
            }
        }
        _ => VideoRoomEvent::Other(data),
    }
}

fn id_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl From<HandleEvent> for VideoRoomEvent {
    fn from(e: HandleEvent) -> VideoRoomEvent {
        match e {
            HandleEvent::Plugin { data, jsep } => classify(data, jsep),
            HandleEvent::WebrtcUp => VideoRoomEvent::WebrtcUp,
            HandleEvent::Media {
                kind,
                mid,
                receiving,
            } => VideoRoomEvent::Media {
                kind,
                mid,
                receiving,
            },
            HandleEvent::SlowLink {
                uplink,
                media,
                mid,
                lost,
            } => VideoRoomEvent::SlowLink {
                uplink,
                media,
                mid,
                lost,
            },
            HandleEvent::Hangup { reason } => VideoRoomEvent::Hangup { reason },
            HandleEvent::Trickle(c) => VideoRoomEvent::Trickle(c),
            HandleEvent::Detached => VideoRoomEvent::Detached,
            HandleEvent::SessionLost(why) => VideoRoomEvent::SessionLost(why),
        }
    }
}

/// A reply's `error_code` as an error; otherwise the reply.
fn checked(request: &'static str, data: Value) -> Result<Value, JanusError> {
    match data.get("error_code").and_then(Value::as_u64) {
        Some(code) => Err(JanusError::VideoRoom {
            request,
            code: VideoRoomErrorCode::from_code(u16::try_from(code).unwrap_or(u16::MAX)),
            reason: data
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
        None => Ok(data),
    }
}

fn unexpected(request: &'static str, data: &Value) -> JanusError {
    JanusError::UnexpectedReply {
        request,
        detail: data.to_string(),
    }
}

/// `data` must say `"videoroom": kind`; then it is read as `T`.
fn expect<T: for<'de> Deserialize<'de>>(
    request: &'static str,
    kind: &str,
    data: &Value,
) -> Result<T, JanusError> {
    if data.get("videoroom").and_then(Value::as_str) != Some(kind) {
        return Err(unexpected(request, data));
    }
    T::deserialize(data).map_err(|e| JanusError::UnexpectedReply {
        request,
        detail: format!("{e}: {data}"),
    })
}

/// `"videoroom": "event"` with `field` set (e.g. `"configured": "ok"`).
fn expect_event(request: &'static str, field: &str, data: &Value) -> Result<(), JanusError> {
    let is_event = data.get("videoroom").and_then(Value::as_str) == Some("event");
    if is_event && data.get(field).is_some() {
        Ok(())
    } else {
        Err(unexpected(request, data))
    }
}

// ---------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------

/// A handle attached to the VideoRoom plugin.
pub struct VideoRoomHandle {
    handle: Handle,
}

impl VideoRoomHandle {
    pub async fn attach(session: &Session) -> Result<VideoRoomHandle, JanusError> {
        Ok(VideoRoomHandle {
            handle: session.attach(PLUGIN).await?,
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Sends a request; the plugin's refusal becomes [`JanusError::VideoRoom`].
    pub async fn request(
        &self,
        request: &VideoRoomRequest,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<Jsep>), JanusError> {
        let name = request.name();
        let (data, jsep) =
            self.handle
                .message(request.body(), jsep)
                .await
                .map_err(|e| match e {
                    // Name the plugin request rather than the core's `message`.
                    JanusError::Api { code, reason, .. } => JanusError::Api {
                        request: name,
                        code,
                        reason,
                    },
                    JanusError::Timeout { after, .. } => JanusError::Timeout {
                        request: name,
                        after,
                    },
                    other => other,
                })?;
        Ok((checked(name, data)?, jsep))
    }

    pub async fn create_room(&self, room: CreateRoom) -> Result<RoomCreated, JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Create(room), None).await?;
        expect("create", "created", &data)
    }

    pub async fn destroy_room(&self, room: &str, secret: Option<&str>) -> Result<(), JanusError> {
        let request = VideoRoomRequest::Destroy {
            room: room.to_owned(),
            secret: secret.map(str::to_owned),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Value>("destroy", "destroyed", &data).map(|_| ())
    }

    pub async fn room_exists(&self, room: &str) -> Result<bool, JanusError> {
        #[derive(Deserialize)]
        struct Exists {
            exists: bool,
        }
        let request = VideoRoomRequest::Exists {
            room: room.to_owned(),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Exists>("exists", "success", &data).map(|e| e.exists)
    }

    /// Every room (private ones too when `admin_key` is given), e.g. to remove rooms a
    /// previous server process left behind: rooms outlive their creator's session.
    pub async fn list_rooms(&self, admin_key: Option<&str>) -> Result<Vec<RoomInfo>, JanusError> {
        #[derive(Deserialize)]
        struct List {
            list: Vec<RoomInfo>,
        }
        let request = VideoRoomRequest::List {
            admin_key: admin_key.map(str::to_owned),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<List>("list", "success", &data).map(|l| l.list)
    }

    pub async fn list_participants(&self, room: &str) -> Result<Vec<Participant>, JanusError> {
        #[derive(Deserialize)]
        struct Participants {
            participants: Vec<Participant>,
        }
        let request = VideoRoomRequest::ListParticipants {
            room: room.to_owned(),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Participants>("listparticipants", "participants", &data).map(|p| p.participants)
    }

    /// Joins a room as a publisher (not yet publishing).
    pub async fn join_publisher(&self, join: JoinPublisher) -> Result<Joined, JanusError> {
        let request = VideoRoomRequest::Join(Join::Publisher(join));
        let (data, _) = self.request(&request, None).await?;
        expect(request.name(), "joined", &data)
    }

    /// Publishes with our offer; returns Janus's answer.
    pub async fn publish(&self, publish: Publish, offer: Jsep) -> Result<Jsep, JanusError> {
        let (data, jsep) = self
            .request(&VideoRoomRequest::Publish(publish), Some(offer))
            .await?;
        expect_event("publish", "configured", &data)?;
        jsep.ok_or_else(|| unexpected("publish", &data))
    }

    /// Reconfigures our publication; with an offer, renegotiates it (the answer comes back).
    pub async fn configure_publisher(
        &self,
        configure: ConfigurePublisher,
        offer: Option<Jsep>,
    ) -> Result<Option<Jsep>, JanusError> {
        let (data, jsep) = self
            .request(
                &VideoRoomRequest::Configure(Configure::Publisher(configure)),
                offer,
            )
            .await?;
        expect_event("configure", "configured", &data)?;
        Ok(jsep)
    }

    pub async fn unpublish(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Unpublish, None).await?;
        expect_event("unpublish", "unpublished", &data)
    }

    /// Leaves the room (a publisher) or ends the subscription (a subscriber).
    pub async fn leave(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Leave, None).await?;
        expect_event("leave", "leaving", &data).or_else(|_| expect_event("leave", "left", &data))
    }

    /// Subscribes to `join.streams`; returns Janus's offer, to answer with [`Self::start`].
    pub async fn join_subscriber(&self, join: JoinSubscriber) -> Result<Subscription, JanusError> {
        let request = VideoRoomRequest::Join(Join::Subscriber(join));
        let (data, jsep) = self.request(&request, None).await?;
        let attached: Attached = expect(request.name(), "attached", &data)?;
        let offer = jsep.ok_or_else(|| unexpected("join (subscriber)", &data))?;
        Ok(Subscription {
            room: attached.room,
            streams: attached.streams,
            offer,
        })
    }

    /// Completes a subscription's (re)negotiation with our answer.
    pub async fn start(&self, answer: Jsep) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Start, Some(answer)).await?;
        expect_event("start", "started", &data)
    }

    /// Pauses every stream of the subscription.
    pub async fn pause(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Pause, None).await?;
        expect_event("pause", "paused", &data)
    }

    /// Resumes a paused subscription.
    pub async fn resume(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Start, None).await?;
        expect_event("start", "started", &data)
    }

    /// Adds and removes streams of the subscription.
    pub async fn update(&self, update: Update) -> Result<SubscriptionChange, JanusError> {
        let (data, jsep) = self
            .request(&VideoRoomRequest::Update(update), None)
            .await?;
        match data.get("videoroom").and_then(Value::as_str) {
            Some("updating") => Ok(SubscriptionChange::Deferred),
            Some("updated") => {
                let u: UpdatedFields =
                    UpdatedFields::deserialize(&data).map_err(|_| unexpected("update", &data))?;
                Ok(match jsep {
                    Some(offer) => SubscriptionChange::Renegotiate {
                        streams: u.streams,
                        offer,
                    },
                    None => SubscriptionChange::Unchanged,
                })
            }
            _ => Err(unexpected("update", &data)),
        }
    }

    pub async fn subscribe(
        &self,
        streams: Vec<SubscribeStream>,
    ) -> Result<SubscriptionChange, JanusError> {
        self.update(Update {
            subscribe: streams,
            unsubscribe: Vec::new(),
        })
        .await
    }

    pub async fn unsubscribe(
        &self,
        streams: Vec<UnsubscribeStream>,
    ) -> Result<SubscriptionChange, JanusError> {
        self.update(Update {
            subscribe: Vec::new(),
            unsubscribe: streams,
        })
        .await
    }

    /// Pauses or resumes single streams of a subscription, or restarts ICE (then an offer
    /// comes back, to answer with [`Self::start`]).
    pub async fn configure_subscriber(
        &self,
        configure: ConfigureSubscriber,
    ) -> Result<Option<Jsep>, JanusError> {
        let (data, jsep) = self
            .request(
                &VideoRoomRequest::Configure(Configure::Subscriber(configure)),
                None,
            )
            .await?;
        expect_event("configure", "configured", &data)?;
        Ok(jsep)
    }

    pub async fn trickle(&self, candidate: TrickleCandidate) -> Result<(), JanusError> {
        self.handle.trickle(candidate).await
    }

    pub async fn hangup(&self) -> Result<(), JanusError> {
        self.handle.hangup().await
    }

    pub async fn detach(self) -> Result<(), JanusError> {
        self.handle.detach().await
    }

    /// The next event; `None` once the handle can hear nothing more.
    pub async fn next_event(&mut self) -> Option<VideoRoomEvent> {
        self.handle.next_event().await.map(VideoRoomEvent::from)
    }

    pub fn try_next_event(&mut self) -> Option<VideoRoomEvent> {
        self.handle.try_next_event().map(VideoRoomEvent::from)
    }

    /// Moves the event stream out (see [`Handle::take_events`]).
    pub fn take_events(&mut self) -> Option<VideoRoomEvents> {
        self.handle
            .take_events()
            .map(|inner| VideoRoomEvents { inner })
    }
}

/// A VideoRoom handle's events, read apart from the handle.
pub struct VideoRoomEvents {
    inner: HandleEvents,
}

impl VideoRoomEvents {
    pub async fn next(&mut self) -> Option<VideoRoomEvent> {
        self.inner.next().await.map(VideoRoomEvent::from)
    }

    pub fn try_next(&mut self) -> Option<VideoRoomEvent> {
        self.inner.try_next().map(VideoRoomEvent::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_serialize_as_the_plugin_expects() {
        let create = VideoRoomRequest::Create(CreateRoom {
            room: "huddle-1234".into(),
            admin_key: Some("k".into()),
            publishers: Some(50),
            ..Default::default()
        });
        assert_eq!(
            create.body(),
            json!({"request": "create", "room": "huddle-1234", "admin_key": "k", "publishers": 50})
        );
        assert_eq!(
            VideoRoomRequest::ListParticipants { room: "r".into() }.body(),
            json!({"request": "listparticipants", "room": "r"})
        );
        assert_eq!(
            VideoRoomRequest::Join(Join::Publisher(JoinPublisher {
                room: "r".into(),
                id: Some("sock1".into()),
                display: Some("Ada".into()),
            }))
            .body(),
            json!({"request": "join", "ptype": "publisher", "room": "r", "id": "sock1", "display": "Ada"})
        );
        assert_eq!(
            VideoRoomRequest::Join(Join::Subscriber(JoinSubscriber {
                room: "r".into(),
                streams: vec![
                    SubscribeStream::feed("a"),
                    SubscribeStream {
                        feed: "b".into(),
                        mid: Some("1".into())
                    }
                ],
                private_id: Some(1657201291),
                ..Default::default()
            }))
            .body(),
            json!({"request": "join", "ptype": "subscriber", "room": "r",
                   "streams": [{"feed": "a"}, {"feed": "b", "mid": "1"}], "private_id": 1657201291})
        );
        assert_eq!(
            VideoRoomRequest::Publish(Publish {
                descriptions: vec![StreamDescription {
                    mid: "2".into(),
                    description: "screen".into()
                }],
                ..Default::default()
            })
            .body(),
            json!({"request": "publish", "descriptions": [{"mid": "2", "description": "screen"}]})
        );
        assert_eq!(
            VideoRoomRequest::Configure(Configure::Subscriber(ConfigureSubscriber {
                streams: vec![SubscriberStreamConfig {
                    mid: "3".into(),
                    send: Some(false),
                    ..Default::default()
                }],
                restart: None,
            }))
            .body(),
            json!({"request": "configure", "streams": [{"mid": "3", "send": false}]})
        );
        assert_eq!(
            VideoRoomRequest::Configure(Configure::Publisher(ConfigurePublisher {
                keyframe: Some(true),
                ..Default::default()
            }))
            .body(),
            json!({"request": "configure", "keyframe": true})
        );
        assert_eq!(
            VideoRoomRequest::Update(Update {
                subscribe: vec![SubscribeStream::feed("c")],
                unsubscribe: vec![UnsubscribeStream::feed("a")],
            })
            .body(),
            json!({"request": "update", "subscribe": [{"feed": "c"}], "unsubscribe": [{"feed": "a"}]})
        );
        assert_eq!(VideoRoomRequest::Start.body(), json!({"request": "start"}));
        assert_eq!(
            VideoRoomRequest::List {
                admin_key: Some("k".into())
            }
            .body(),
            json!({"request": "list", "admin_key": "k"})
        );
        assert_eq!(VideoRoomRequest::Leave.body(), json!({"request": "leave"}));
    }

    // Replies below are what Janus 1.1.2 (Debian) sent in this project's lab.

    #[test]
    fn plugin_errors_become_typed_errors() {
        let data = json!({"videoroom": "event", "error_code": 433, "error": "Unauthorized (wrong admin_key)"});
        let e = checked("create", data).unwrap_err();
        assert!(e.is_unauthorized());
        assert_eq!(
            e,
            JanusError::VideoRoom {
                request: "create",
                code: VideoRoomErrorCode::Unauthorized,
                reason: "Unauthorized (wrong admin_key)".into()
            }
        );
        let data = json!({"videoroom": "event", "error_code": 426, "error": "No such room (nope)"});
        assert!(matches!(
            checked("listparticipants", data),
            Err(JanusError::VideoRoom {
                code: VideoRoomErrorCode::NoSuchRoom,
                ..
            })
        ));
    }

    #[test]
    fn sync_replies_parse() {
        let created: RoomCreated = expect(
            "create",
            "created",
            &json!({"videoroom": "created", "room": "abc", "permanent": false}),
        )
        .unwrap();
        assert_eq!(created.room, "abc");
        let p: Vec<Participant> = expect::<Value>(
            "listparticipants",
            "participants",
            &json!({"videoroom": "participants", "room": "abc",
                    "participants": [{"id": "sock1", "display": "Ada", "publisher": false}]}),
        )
        .map(|v| serde_json::from_value(v["participants"].clone()).unwrap())
        .unwrap();
        assert_eq!(p[0].id, "sock1");
        assert!(!p[0].publisher);
        // A reply of another kind is an error, not a silent default.
        assert!(matches!(
            expect::<RoomCreated>(
                "create",
                "created",
                &json!({"videoroom": "success", "room": "abc"})
            ),
            Err(JanusError::UnexpectedReply {
                request: "create",
                ..
            })
        ));
    }

    #[test]
    fn joined_lists_who_publishes() {
        let joined: Joined = expect(
            "join (publisher)",
            "joined",
            &json!({"videoroom": "joined", "room": "abc", "description": "Room abc", "id": "sock2",
                    "private_id": 1657201291u64,
                    "publishers": [{"id": "sock1", "display": "Ada", "streams": [
                        {"type": "audio", "mindex": 0, "mid": "0", "codec": "opus", "fec": true},
                        {"type": "video", "mindex": 1, "mid": "1", "codec": "vp8"}
                    ], "talking": false}]}),
        )
        .unwrap();
        assert_eq!(joined.private_id, 1657201291);
        assert_eq!(
            joined.publishers[0].streams[1].codec.as_deref(),
            Some("vp8")
        );
        assert_eq!(joined.publishers[0].streams[0].kind, "audio");
    }

    #[test]
    fn events_are_classified() {
        assert_eq!(
            classify(json!({"videoroom": "destroyed", "room": "abc"}), None),
            VideoRoomEvent::Destroyed { room: "abc".into() }
        );
        assert_eq!(
            classify(
                json!({"videoroom": "event", "room": "abc", "unpublished": "sock1"}),
                None
            ),
            VideoRoomEvent::Unpublished {
                room: "abc".into(),
                feed: "sock1".into()
            }
        );
        assert_eq!(
            classify(
                json!({"videoroom": "event", "room": "abc", "leaving": "sock1"}),
                None
            ),
            VideoRoomEvent::Leaving {
                room: "abc".into(),
                participant: "sock1".into()
            }
        );
        assert_eq!(
            classify(
                json!({"videoroom": "event", "leaving": "ok", "reason": "kicked"}),
                None
            ),
            VideoRoomEvent::Removed {
                reason: Some("kicked".into())
            }
        );
        match classify(
            json!({"videoroom": "event", "room": "abc", "publishers": [{"id": "sock3", "streams": [
                {"type": "video", "mindex": 1, "mid": "1", "codec": "vp8"}]}]}),
            None,
        ) {
            VideoRoomEvent::Publishers { room, publishers } => {
                assert_eq!(room, "abc");
                assert_eq!(publishers[0].id, "sock3");
            }
            other => panic!("{other:?}"),
        }
        match classify(
            json!({"videoroom": "updated", "room": "abc", "streams": [
                {"type": "video", "active": true, "mindex": 0, "mid": "0", "ready": false, "send": true,
                 "feed_id": "sock1", "feed_display": "Ada", "feed_mid": "1"},
                {"type": "video", "active": false, "mindex": 1, "mid": "1", "ready": false, "send": true}]}),
            Some(Jsep::offer("v=0\r\n")),
        ) {
            VideoRoomEvent::Updated { streams, offer, .. } => {
                assert_eq!(streams[0].feed_id.as_deref(), Some("sock1"));
                assert!(!streams[1].active);
                assert_eq!(streams[1].feed_id, None);
                assert!(offer.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(
                json!({"videoroom": "talking", "room": "abc", "id": "x"}),
                None
            ),
            VideoRoomEvent::Other(_)
        ));
        assert!(matches!(
            classify(
                json!({"videoroom": "event", "error_code": 428, "error": "No such feed"}),
                None
            ),
            VideoRoomEvent::Error {
                code: VideoRoomErrorCode::NoSuchFeed,
                ..
            }
        ));
    }

    #[test]
    fn a_subscriptions_streams_parse() {
        // The `attached` reply to a subscriber's join, as Janus 1.1.2 sent it in the lab.
        let data = json!({"videoroom": "attached", "room": "lab-17504-1-7spap", "streams": [
            {"type": "video", "active": true, "mindex": 0, "mid": "0", "ready": false, "send": true,
             "feed_id": "feed-a", "feed_display": "A", "feed_mid": "0", "feed_description": "camera",
             "codec": "vp8"},
            {"type": "audio", "active": true, "mindex": 1, "mid": "1", "ready": false, "send": true,
             "feed_id": "feed-a", "feed_display": "A", "feed_mid": "1", "codec": "opus"}]});
        let attached: Attached = expect("join (subscriber)", "attached", &data).unwrap();
        assert_eq!(attached.streams.len(), 2);
        let video = &attached.streams[0];
        assert_eq!(
            (
                video.kind.as_str(),
                video.mid.as_str(),
                video.feed_id.as_deref()
            ),
            ("video", "0", Some("feed-a"))
        );
        assert_eq!(video.feed_description.as_deref(), Some("camera"));
        assert!(video.active && video.send && !video.ready);
        // The `configured` reply to a publish names its streams (and their descriptions).
        let configured = json!({"videoroom": "event", "room": "r", "configured": "ok",
            "audio_codec": "opus", "video_codec": "vp8", "streams": [
            {"type": "video", "mindex": 0, "mid": "0", "description": "camera", "codec": "vp8"}]});
        assert!(expect_event("publish", "configured", &configured).is_ok());
        assert!(expect_event("publish", "started", &configured).is_err());
    }

    #[test]
    fn numeric_ids_are_read_as_strings() {
        let r: RoomCreated =
            serde_json::from_value(json!({"room": 1234, "permanent": false})).unwrap();
        assert_eq!(r.room, "1234");
    }
}
