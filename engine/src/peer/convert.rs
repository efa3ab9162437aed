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

/// A local candidate as webrtc-rs reports it (often with an empty mid, which the
/// session fills in before relaying it).
pub fn from_rtc_candidate(c: &RTCIceCandidateInit) -> IceCandidate {
    IceCandidate {
        candidate: c.candidate.clone(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_m_line_index: c.sdp_mline_index,
        username_fragment: c.username_fragment.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_convert_both_ways() {
        let local = RTCIceCandidateInit {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
            ..Default::default()
        };
        let back = to_rtc_candidate(&from_rtc_candidate(&local));
        assert_eq!(back.candidate, local.candidate);
        assert_eq!(back.sdp_mid, local.sdp_mid);
        assert_eq!(back.sdp_mline_index, local.sdp_mline_index);
        assert_eq!(back.username_fragment, local.username_fragment);
    }

    #[test]
    fn bad_sdp_is_an_error_not_a_panic() {
        let d = SessionDescription::offer("garbage");
        assert!(to_rtc_description(&d).is_err());
    }
}
