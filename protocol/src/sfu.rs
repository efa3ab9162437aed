//! The SFU path (since 1.1, issue 16): rooms past `--sfu-threshold` participants send their
//! media through a selective forwarding unit instead of a full mesh.
//!
//! A client that speaks it says so with `room:join { sfu: 1 }`; only such clients ever see
//! an `sfu:*` event, and a room that stays small never does. In an SFU room each client has
//! one send-only *publisher* connection (it offers, [`SfuPublish`]) and one receive-only
//! *subscriber* connection for everyone else's streams (the server offers, [`SfuOffer`]).

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::event;
use crate::limits::{self, Limits};
use crate::request::{Empty, Request};
use crate::sdp::{IceCandidate, SdpType, SessionDescription};

/// The SFU protocol version this crate speaks (`room:join { sfu }`).
pub const SFU_VERSION: u32 = 1;

/// How a room's media travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// Every member calls every other (the 1.0 way).
    #[default]
    Mesh,
    /// Through the SFU: one publisher and one subscriber connection per member.
    Sfu,
}

impl MediaMode {
    pub fn is_mesh(&self) -> bool {
        *self == MediaMode::Mesh
    }
}

/// `sfu:mode` (server → client): the room now uses the SFU. A higher `epoch` than the
/// last one seen means the server rebuilt the room's SFU state: publish again on a fresh
/// connection and expect a fresh `sfu:offer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuMode {
    pub mode: MediaMode,
    pub epoch: u64,
}

/// What a published stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamSource {
    Camera,
    Microphone,
    Screen,
}

impl StreamSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamSource::Camera => "camera",
            StreamSource::Microphone => "microphone",
            StreamSource::Screen => "screen",
        }
    }

    pub fn parse(s: &str) -> Option<StreamSource> {
        match s {
            "camera" => Some(StreamSource::Camera),
            "microphone" => Some(StreamSource::Microphone),
            "screen" => Some(StreamSource::Screen),
            _ => None,
        }
    }
}

/// One m-line of a publisher's offer and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStream {
    pub mid: String,
    pub source: StreamSource,
}

/// `sfu:publish` (request): publish, or renegotiate the publisher connection (add or
/// remove the screen, restart ICE). Ack: [`SfuPublishAck`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuPublish {
    pub offer: SessionDescription,
    pub streams: Vec<PublishStream>,
}

impl SfuPublish {
    /// An offer within the SDP limit, and streams that name distinct mids of it with at
    /// most one of each source.
    pub fn validate(self, limits: &Limits) -> Result<SfuPublish, Refusal> {
        validate_sdp(&self.offer, SdpType::Offer, limits)?;
        let mids = media_mids(&self.offer.sdp);
        for (i, s) in self.streams.iter().enumerate() {
            if !mids.iter().any(|m| *m == s.mid) {
                return Err(Refusal::bad_request(format!(
                    "stream mid `{}` is not an m-line of the offer",
                    s.mid
                )));
            }
            if self.streams[..i]
                .iter()
                .any(|o| o.mid == s.mid || o.source == s.source)
            {
                return Err(Refusal::bad_request(
                    "each mid and each source at most once in `streams`",
                ));
            }
        }
        if self.streams.is_empty() {
            return Err(Refusal::bad_request("`streams` is empty"));
        }
        Ok(self)
    }

    pub fn has(&self, source: StreamSource) -> bool {
        self.streams.iter().any(|s| s.source == source)
    }
}

/// The `sfu:publish` ack (after `{ ok: true }`): the SFU's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuPublishAck {
    pub answer: SessionDescription,
}

impl Request for SfuPublish {
    const EVENT: &'static str = event::SFU_PUBLISH;
    type Ack = SfuPublishAck;
}

/// Which of a client's two SFU connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SfuPc {
    Publisher,
    Subscriber,
}

/// `sfu:ice`, both ways: a trickled candidate of one connection (`null`: no more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuIce {
    pub pc: SfuPc,
    pub candidate: Option<IceCandidate>,
}

impl SfuIce {
    pub fn validate(self, limits: &Limits) -> Result<SfuIce, Refusal> {
        if let Some(c) = &self.candidate
            && c.candidate.len() > limits.max_candidate_bytes
        {
            return Err(Refusal::bad_request("candidate is too large"));
        }
        Ok(self)
    }
}

impl Request for SfuIce {
    const EVENT: &'static str = event::SFU_ICE;
    type Ack = Empty;
}

/// An m-line of the subscriber connection: which member's which stream it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedStream {
    pub mid: String,
    /// `audio` or `video`.
    pub kind: String,
    /// The member's socket id; `null` for an m-line that carries nothing now.
    pub from: Option<String>,
    pub source: Option<StreamSource>,
    pub active: bool,
}

/// `sfu:offer` (server → client): the whole subscription, every time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuOffer {
    pub version: u64,
    pub offer: SessionDescription,
    pub streams: Vec<SubscribedStream>,
}

/// `sfu:answer` (request): the answer to the `sfu:offer` of that `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuAnswer {
    pub version: u64,
    pub answer: SessionDescription,
}

impl SfuAnswer {
    pub fn validate(self, limits: &Limits) -> Result<SfuAnswer, Refusal> {
        validate_sdp(&self.answer, SdpType::Answer, limits)?;
        Ok(self)
    }
}

impl Request for SfuAnswer {
    const EVENT: &'static str = event::SFU_ANSWER;
    type Ack = Empty;
}

/// `sfu:view` (request): the members whose camera the client shows; the others' cameras
/// are paused at the SFU (audio and the screen always flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuView {
    pub video: Vec<String>,
}

impl SfuView {
    pub fn validate(self, limits: &Limits) -> Result<SfuView, Refusal> {
        if self.video.len() > limits.room_size {
            return Err(Refusal::bad_request("more ids than a room holds"));
        }
        for id in &self.video {
            limits::validate_id(id, "video")?;
        }
        Ok(self)
    }
}

impl Request for SfuView {
    const EVENT: &'static str = event::SFU_VIEW;
    type Ack = Empty;
}

/// `sfu:restart` (request): restart ICE on the subscriber connection (a new `sfu:offer`
/// follows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuRestart {}

impl Request for SfuRestart {
    const EVENT: &'static str = event::SFU_RESTART;
    type Ack = Empty;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Up,
    Down,
    Slow,
}

/// `sfu:link` (server → client): the SFU's view of one of the client's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfuLink {
    pub pc: SfuPc,
    pub state: LinkState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `slow`: whether the SFU saw the loss on what it receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

fn validate_sdp(sdp: &SessionDescription, kind: SdpType, limits: &Limits) -> Result<(), Refusal> {
    if sdp.kind != kind {
        return Err(Refusal::bad_request(format!(
            "expected an {} description",
            kind.as_str()
        )));
    }
    if sdp.sdp.len() > limits.max_sdp_bytes {
        return Err(Refusal::new(
            crate::ErrorCode::PayloadTooLarge,
            "session description is too large",
        ));
    }
    if !sdp.sdp.starts_with("v=0") {
        return Err(Refusal::bad_request("not a session description"));
    }
    Ok(())
}

/// The `a=mid:` of every m-line, in order.
pub fn media_mids(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OFFER: &str = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n";

    #[test]
    fn shapes_are_the_documented_ones() {
        let offer: SfuOffer = serde_json::from_value(json!({
            "version": 4, "offer": {"type": "offer", "sdp": "v=0"},
            "streams": [
                {"mid": "0", "kind": "video", "from": "s1", "source": "camera", "active": true},
                {"mid": "2", "kind": "video", "from": null, "source": null, "active": false}]
        }))
        .unwrap();
        assert_eq!(offer.streams[0].source, Some(StreamSource::Camera));
        assert_eq!(offer.streams[1].from, None);
        assert_eq!(
            serde_json::to_value(SfuMode {
                mode: MediaMode::Sfu,
                epoch: 3
            })
            .unwrap(),
            json!({"mode": "sfu", "epoch": 3})
        );
        let ice: SfuIce =
            serde_json::from_value(json!({"pc": "subscriber", "candidate": null})).unwrap();
        assert_eq!(ice.pc, SfuPc::Subscriber);
        assert_eq!(
            serde_json::to_value(SfuLink {
                pc: SfuPc::Publisher,
                state: LinkState::Up,
                reason: None,
                uplink: None,
                lost: None
            })
            .unwrap(),
            json!({"pc": "publisher", "state": "up"})
        );
    }

    #[test]
    fn a_publish_names_mids_of_its_offer_once() {
        let l = Limits::default();
        let publish = |streams: Value| {
            serde_json::from_value::<SfuPublish>(
                json!({"offer": {"type": "offer", "sdp": OFFER}, "streams": streams}),
            )
            .unwrap()
            .validate(&l)
        };
        use serde_json::Value;
        assert!(
            publish(
                json!([{"mid": "0", "source": "camera"}, {"mid": "1", "source": "microphone"}])
            )
            .is_ok()
        );
        for bad in [
            json!([]),
            json!([{"mid": "7", "source": "camera"}]),
            json!([{"mid": "0", "source": "camera"}, {"mid": "0", "source": "screen"}]),
            json!([{"mid": "0", "source": "camera"}, {"mid": "1", "source": "camera"}]),
        ] {
            assert_eq!(
                publish(bad.clone()).unwrap_err().code,
                crate::ErrorCode::BadRequest,
                "{bad}"
            );
        }
        assert!(
            serde_json::from_value::<SfuPublish>(json!({"offer": {"type": "offer", "sdp": OFFER},
                "streams": [{"mid": "0", "source": "window"}]}))
            .is_err()
        );
        let answer = SfuAnswer {
            version: 1,
            answer: SessionDescription::offer(OFFER),
        };
        assert!(answer.validate(&l).is_err());
    }
}
