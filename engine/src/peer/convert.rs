//! Descriptions and candidates between the protocol's shapes and webrtc-rs's.

use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::RTCIceCandidateInit;

use huddle_protocol::{IceCandidate, SdpType, SessionDescription};

use super::connection::PeerError;

/// Signaling's description → webrtc-rs's (parsed, so bad SDP fails here).
pub fn to_rtc_description(d: &SessionDescription) -> Result<RTCSessionDescription, PeerError> {
    let bad = |e: webrtc::error::Error| PeerError::BadDescription(e.to_string());
    match d.kind {
        SdpType::Offer => RTCSessionDescription::offer(d.sdp.clone()).map_err(bad),
        SdpType::Answer => RTCSessionDescription::answer(d.sdp.clone()).map_err(bad),
        SdpType::Pranswer => RTCSessionDescription::pranswer(d.sdp.clone()).map_err(bad),
        SdpType::Rollback => {
            serde_json::from_value(serde_json::json!({ "type": "rollback", "sdp": d.sdp }))
                .map_err(|e| PeerError::BadDescription(e.to_string()))
        }
    }
}

pub fn from_rtc_description(d: &RTCSessionDescription) -> SessionDescription {
    let kind = match d.sdp_type.to_string().as_str() {
        "answer" => SdpType::Answer,
        "pranswer" => SdpType::Pranswer,
        "rollback" => SdpType::Rollback,
        _ => SdpType::Offer,
    };
    SessionDescription {
        kind,
        sdp: d.sdp.clone(),
    }
}

pub fn to_rtc_candidate(c: &IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate.clone(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_m_line_index,
        username_fragment: c.username_fragment.clone(),
        url: None,
    }
}

/// webrtc-rs reports local candidates with an empty mid; browsers need a real one.
/// Everything is bundled on the first m-line, so that one it is.
pub fn from_rtc_candidate(c: &RTCIceCandidateInit, first_mid: Option<&str>) -> IceCandidate {
    let mid = c.sdp_mid.as_deref().filter(|m| !m.is_empty()).or(first_mid);
    IceCandidate {
        candidate: c.candidate.clone(),
        sdp_mid: mid.map(str::to_string),
        sdp_m_line_index: Some(c.sdp_mline_index.unwrap_or(0)),
        username_fragment: c.username_fragment.clone(),
    }
}

/// The mid of the first m-line of an SDP.
pub fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_get_the_first_mid() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        assert_eq!(first_mid(sdp).as_deref(), Some("0"));
        let local = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
            ..Default::default()
        };
        let out = from_rtc_candidate(&local, Some("0"));
        assert_eq!(out.sdp_mid.as_deref(), Some("0"));
        assert_eq!(to_rtc_candidate(&out).candidate, local.candidate);
    }

    #[test]
    fn bad_sdp_is_an_error_not_a_panic() {
        let d = SessionDescription::offer("garbage");
        assert!(to_rtc_description(&d).is_err());
    }
}
