//! Building a webrtc-rs peer connection the way Huddle needs it, and the events it
//! reports back to the session.

use std::sync::Arc;
use std::time::Duration;

const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
const ICE_KEEPALIVE: Duration = Duration::from_secs(1);
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(3);
const ICE_FAILED_AFTER: Duration = Duration::from_secs(15);
// How long the controlling agent lets better pairs try before it nominates the best working
// pair whose candidates are of these types (the ICE crate waits 0 / 0.5 / 1 / 2 s). It cannot
// change its nomination later, so it waits a little for a direct path — a few round trips,
// since every pair is checked at once — but not the 2 s that made a relayed call start 2.6 s
// after Chromium's. Counted from the start of the checks.
const ACCEPT_HOST_AFTER: Duration = Duration::ZERO;
const ACCEPT_SRFLX_AFTER: Duration = Duration::from_millis(100);
const ACCEPT_PRFLX_AFTER: Duration = Duration::from_millis(150);
const ACCEPT_RELAY_AFTER: Duration = Duration::from_millis(250);

use rtc::interceptor::{Registry, Slot};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_RTX, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceTransportPolicy,
};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::transport::RTCIceServer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCIceGatheringState, RTCPeerConnectionState,
};

use super::congestion::CongestionHandle;
use super::feedback::{FeedbackToApplication, SLOT};
use crate::codec::{VIDEO_CODECS, VideoCodec};

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("WebRTC: {0}")]
    WebRtc(String),
    #[error("the remote description is not usable: {0}")]
    BadDescription(String),
}

impl From<webrtc::error::Error> for PeerError {
    fn from(e: webrtc::error::Error) -> Self {
        PeerError::WebRtc(e.to_string())
    }
}

/// A STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// How peer connections are made.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to gather host candidates on. `0.0.0.0:0` means every
    /// interface except loopback; add `127.0.0.1:0` for calls on one machine.
    pub udp_addrs: Vec<String>,
    /// Only relay candidates (W3C ICE transport policy `relay`): nothing of our own
    /// addresses reaches the peer, at the cost of going through TURN.
    pub relay_only: bool,
}

impl PeerSetup {
    /// Whether any TURN server is configured (a relay candidate is then expected).
    pub fn has_turn(&self) -> bool {
        self.ice_servers
            .iter()
            .flat_map(|s| &s.urls)
            .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    }
}

impl Default for PeerSetup {
    fn default() -> Self {
        PeerSetup {
            ice_servers: Vec::new(),
            udp_addrs: vec!["0.0.0.0:0".into(), "127.0.0.1:0".into()],
            relay_only: false,
        }
    }
}

/// What a peer connection reports.
#[derive(Clone)]
pub enum PeerEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    Ice(RTCIceConnectionState),
    /// Gathering of local candidates finished (for this ICE generation).
    GatheringComplete,
    /// A STUN or TURN server refused us or did not answer.
    CandidateError {
        url: String,
        code: u16,
        text: String,
    },
    Track(Arc<dyn TrackRemote>),
}

/// Where a connection's events go (the caller tags them with which connection it is).
pub type PeerEvents = Box<dyn Fn(PeerEvent) + Send + Sync>;

struct Handler {
    tell: PeerEvents,
}

impl Handler {
    fn tell(&self, event: PeerEvent) {
        (self.tell)(event);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(
        &self,
        event: rtc::peer_connection::event::RTCPeerConnectionIceEvent,
    ) {
        match event.candidate.to_json() {
            Ok(init) => self.tell(PeerEvent::Candidate(init)),
            Err(err) => tracing::debug!(%err, "unusable local candidate"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.tell(PeerEvent::State(state));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.tell(PeerEvent::Ice(state));
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.tell(PeerEvent::GatheringComplete);
        }
    }

    async fn on_ice_candidate_error(
        &self,
        event: rtc::peer_connection::event::RTCPeerConnectionIceErrorEvent,
    ) {
        self.tell(PeerEvent::CandidateError {
            url: event.url,
            code: event.error_code,
            text: event.error_text,
        });
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.tell(PeerEvent::Track(track));
    }
}

/// A video codec as webrtc-rs negotiates it: 90 kHz, with the feedback we answer
/// (REMB for the bitrate, FIR for keyframes; NACK and PLI come with the interceptors).
pub fn video_rtc_codec(codec: &VideoCodec) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: codec.mime.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: codec.fmtp.to_owned(),
        rtcp_feedback: vec![
            RTCPFeedback {
                typ: "goog-remb".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
        ],
    }
}

pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// Every video codec we have, with the payload type our offers give it.
pub fn video_rtc_codecs() -> Vec<RTCRtpCodecParameters> {
    VIDEO_CODECS
        .into_iter()
        .map(|codec| RTCRtpCodecParameters {
            rtp_codec: video_rtc_codec(codec),
            payload_type: codec.payload_type,
        })
        .collect()
}

/// The payload type our offers give the RTX (RFC 4588) stream that repairs `codec`: the
/// one after its own, as browsers number them (VP8 96 → 97, H.264 102 → 103).
pub fn rtx_payload_type(codec: &VideoCodec) -> u8 {
    codec.payload_type + 1
}

/// An RTX codec for every video codec (`apt` = its payload type), so retransmissions
/// travel on their own SSRC as browsers negotiate them: a receiver then tells a resent
/// packet from a late one, and a browser sends its padding probes there rather than on
/// the media stream.
pub fn video_rtx_codecs() -> Vec<RTCRtpCodecParameters> {
    VIDEO_CODECS
        .into_iter()
        .map(|codec| RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_RTX.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: format!("apt={}", codec.payload_type),
                rtcp_feedback: vec![],
            },
            payload_type: rtx_payload_type(codec),
        })
        .collect()
}

/// The payload type of Opus in our offers.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// The webrtc-rs configuration of `setup`: its ICE servers and transport policy.
/// Also what `set_configuration` is given when the servers change mid-call.
pub fn rtc_configuration(setup: &PeerSetup) -> RTCConfiguration {
    let policy = if setup.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    RTCConfigurationBuilder::new()
        .with_ice_servers(
            setup
                .ice_servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
        )
        .with_ice_transport_policy(policy)
        .build()
}

/// A new peer connection: every video codec and Opus, our congestion control (TWCC both
/// ways, estimator, pacer, budgeted retransmissions: `peer::congestion`, reporting into
/// `congestion`), RTCP reports, feedback delivered to us, mDNS off (it fails where there
/// is no multicast route, and we gather plain host candidates anyway).
pub async fn connect(
    setup: &PeerSetup,
    events: PeerEvents,
    congestion: &CongestionHandle,
) -> Result<Arc<dyn PeerConnection>, PeerError> {
    let mut media = MediaEngine::default();
    // Codecs first: the interceptors add their feedback to the codecs registered so far.
    for codec in video_rtc_codecs() {
        media.register_codec(codec, RtpCodecKind::Video)?;
    }
    media.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    let registry = super::congestion::register(Registry::new(), &mut media, congestion)?
        .with(Slot::from(SLOT), FeedbackToApplication::default());
    // RTX after the interceptors: a repair stream carries no feedback of its own (as in
    // browsers' offers); its packets are answered for the stream they repair.
    for codec in video_rtx_codecs() {
        media.register_codec(codec, RtpCodecKind::Video)?;
    }
    let config = rtc_configuration(setup);
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        // The ICE agent's tick also paces the first DTLS flights: at the default 200 ms
        // a call takes ~0.25 s to come up even on loopback. 20 ms ticks, the same 1.4 s
        // of attempts per candidate pair.
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(70))
        // Consent checks every second and "disconnected" after 3 s without an answer
        // (defaults 2 s and 5 s), so a broken path is noticed, and restarted, sooner.
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_AFTER),
            Some(ICE_FAILED_AFTER),
            Some(ICE_KEEPALIVE),
        )
        .with_host_acceptance_min_wait(Some(ACCEPT_HOST_AFTER))
        .with_srflx_acceptance_min_wait(Some(ACCEPT_SRFLX_AFTER))
        .with_prflx_acceptance_min_wait(Some(ACCEPT_PRFLX_AFTER))
        // With only relay candidates there is nothing better to wait for.
        .with_relay_acceptance_min_wait(Some(if setup.relay_only {
            Duration::ZERO
        } else {
            ACCEPT_RELAY_AFTER
        }))
        .build();
    let handler = Arc::new(Handler { tell: events });
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(setup.udp_addrs.clone())
        .build()
        .await?;
    Ok(Arc::new(pc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_video_codec_has_an_rtx_codec_whose_payload_type_clashes_with_none() {
        let media = video_rtc_codecs();
        let rtx = video_rtx_codecs();
        assert_eq!(rtx.len(), media.len());
        let mut all: Vec<u8> = media.iter().chain(&rtx).map(|c| c.payload_type).collect();
        all.push(OPUS_PAYLOAD_TYPE);
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "payload types {all:?}");
        for (m, r) in media.iter().zip(&rtx) {
            assert_eq!(r.rtp_codec.sdp_fmtp_line, format!("apt={}", m.payload_type));
            assert!(r.rtp_codec.mime_type.eq_ignore_ascii_case("video/rtx"));
            assert!((96..=127).contains(&r.payload_type));
        }
    }
}
