//! The VideoRoom's replies: what its answers to our requests carry, and how a reply is
//! checked (a refusal becomes a typed error, an unexpected kind is never a silent default).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::super::error::{JanusError, VideoRoomErrorCode};
use super::super::message::Jsep;

/// Room and participant ids are strings with `string_ids`; numbers are read as strings.
pub(super) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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

pub(super) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
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
    /// Janus's own flag for a placeholder publisher (VideoRoom "dummy publishers"): not a
    /// participant, so never offered to anyone.
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

// `attached`: a new subscription's m-lines.
#[derive(Deserialize)]
pub(super) struct Attached {
    #[serde(deserialize_with = "id")]
    pub(super) room: String,
    #[serde(default)]
    pub(super) streams: Vec<SubscriptionStream>,
}

#[derive(Deserialize)]
pub(super) struct UpdatedFields {
    #[serde(deserialize_with = "id")]
    pub(super) room: String,
    #[serde(default)]
    pub(super) streams: Vec<SubscriptionStream>,
}

/// A reply's `error_code` as an error; otherwise the reply.
pub(super) fn checked(request: &'static str, data: Value) -> Result<Value, JanusError> {
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

pub(super) fn unexpected(request: &'static str, data: &Value) -> JanusError {
    JanusError::UnexpectedReply {
        request,
        detail: data.to_string(),
    }
}

/// `data` must say `"videoroom": kind`; then it is read as `T`.
pub(super) fn expect<T: for<'de> Deserialize<'de>>(
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
pub(super) fn expect_event(
    request: &'static str,
    field: &str,
    data: &Value,
) -> Result<(), JanusError> {
    let is_event = data.get("videoroom").and_then(Value::as_str) == Some("event");
    if is_event && data.get(field).is_some() {
        Ok(())
    } else {
        Err(unexpected(request, data))
    }
}
