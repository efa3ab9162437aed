//! What the rules read from, or fix in, session descriptions and candidates: text
//! manipulation only.

use huddle_protocol::IceCandidate;

/// The value of the first `a=<name>:` line of an SDP.
fn first_attribute(sdp: &str, name: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| {
            l.trim_end()
                .strip_prefix("a=")?
                .strip_prefix(name)?
                .strip_prefix(':')
        })
        .map(str::to_string)
}

/// The mid of the first m-line of an SDP.
pub fn first_mid(sdp: &str) -> Option<String> {
    first_attribute(sdp, "mid")
}

/// Our local candidate as it is relayed: webrtc-rs gives an empty mid, browsers need a
/// real one; everything is bundled on the first m-line, so that one it is.
pub fn with_mid(mut candidate: IceCandidate, first_mid: Option<&str>) -> IceCandidate {
    if candidate.sdp_mid.as_deref().is_none_or(str::is_empty) {
        candidate.sdp_mid = first_mid.map(str::to_string);
    }
    candidate.sdp_m_line_index = Some(candidate.sdp_m_line_index.unwrap_or(0));
    candidate
}

/// The `a=ice-ufrag:` value of an SDP (the first one; bundled m-lines share it).
pub fn ice_ufrag(sdp: &str) -> Option<String> {
    first_attribute(sdp, "ice-ufrag")
}

/// The `a=setup:` value of an SDP (the first one; bundled m-lines share it).
pub fn dtls_setup(sdp: &str) -> Option<String> {
    first_attribute(sdp, "setup")
}

/// The `a=fingerprint:` value of an SDP (the first one): the DTLS certificate's hash,
/// new for every connection.
pub fn dtls_fingerprint(sdp: &str) -> Option<String> {
    first_attribute(sdp, "fingerprint")
}

/// The SDP with every `a=setup:` line set to `role`.
pub fn with_dtls_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            let ending = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str(ending);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Our DTLS role once an answer to our `actpass` offer chose theirs.
pub fn our_role_after(their_answer: &str) -> Option<String> {
    dtls_setup(their_answer).map(|theirs| {
        if theirs == "passive" {
            "active"
        } else {
            "passive"
        }
        .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dtls_role_is_read_and_rewritten() {
        let sdp =
            "v=0\r\nm=audio 9 UDP 111\r\na=setup:active\r\nm=video 9 UDP 96\r\na=setup:active\r\n";
        assert_eq!(dtls_setup(sdp).as_deref(), Some("active"));
        let fixed = with_dtls_setup(sdp, "passive");
        assert_eq!(fixed.matches("a=setup:passive\r\n").count(), 2);
        assert!(!fixed.contains("active\r\n"));
        assert_eq!(fixed.len(), sdp.len() + 2);
        assert_eq!(our_role_after(sdp).as_deref(), Some("passive"));
        assert_eq!(
            our_role_after("a=setup:passive\r\n").as_deref(),
            Some("active")
        );
        assert_eq!(our_role_after("v=0\r\n"), None);
    }

    #[test]
    fn candidates_get_the_first_mid() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        assert_eq!(first_mid(sdp).as_deref(), Some("0"));
        let local = IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some(String::new()),
            sdp_m_line_index: None,
            username_fragment: None,
        };
        let out = with_mid(local.clone(), first_mid(sdp).as_deref());
        assert_eq!(out.sdp_mid.as_deref(), Some("0"));
        assert_eq!(out.sdp_m_line_index, Some(0));
        assert_eq!(out.candidate, local.candidate);
        // A mid of its own is kept.
        let own = IceCandidate {
            sdp_mid: Some("1".into()),
            ..local
        };
        assert_eq!(with_mid(own, Some("0")).sdp_mid.as_deref(), Some("1"));
    }
}
