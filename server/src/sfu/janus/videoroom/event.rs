//! The VideoRoom's events: what a handle hears without asking, read from Janus's messages.

use serde::Deserialize;
use serde_json::Value;

use super::super::dispatch::{HandleEvent, LinkEvent};
use super::super::error::VideoRoomErrorCode;
use super::super::message::Jsep;
use super::reply::{Publisher, SubscriptionStream, UpdatedFields, opt_id};

/// What a VideoRoom handle hears without asking.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoRoomEvent {
    /// Feeds started (or changed their streams).
    Publishers {
        room: String,
        publishers: Vec<Publisher>,
    },
    /// A feed stopped publishing.
    Unpublished { room: String, feed: String },
    /// A participant left the room.
    Leaving { room: String, participant: String },
    /// We were removed from the room (e.g. kicked).
    Removed { reason: Option<String> },
    /// The room was destroyed.
    Destroyed { room: String },
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
    /// Janus's word on the handle's peer connection.
    Link(LinkEvent),
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
            HandleEvent::Link(e) => VideoRoomEvent::Link(e),
        }
    }
}
