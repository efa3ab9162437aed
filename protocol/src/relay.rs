//! Relays: a member sends `{ to, ... }`, the target receives `{ from, ... }` (under the
//! same or a paired event name). Only known fields are ever forwarded.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::event;
use crate::limits::{self, Limits};
use crate::sdp::{IceCandidate, SessionDescription};

/// Every relayed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayKind {
    UserCall,
    CallAccepted,
    NegoNeeded,
    NegoDone,
    IceCandidate,
    CallEnd,
    ShareOffer,
    ShareAnswer,
    ShareIce,
}

/// What a relay carries besides `to`/`from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayField {
    Offer,
    Ans,
    Candidate,
    Nothing,
}

impl RelayKind {
    pub const ALL: [RelayKind; 9] = [
        RelayKind::UserCall,
        RelayKind::CallAccepted,
        RelayKind::NegoNeeded,
        RelayKind::NegoDone,
        RelayKind::IceCandidate,
        RelayKind::CallEnd,
        RelayKind::ShareOffer,
        RelayKind::ShareAnswer,
        RelayKind::ShareIce,
    ];

    /// The relay a sender's event starts.
    pub fn from_event(event: &str) -> Option<Self> {
        RelayKind::ALL
            .into_iter()
            .find(|kind| kind.sent_as() == event)
    }

    /// The relay a target's event ends.
    pub fn from_delivered(event: &str) -> Option<Self> {
        RelayKind::ALL
            .into_iter()
            .find(|kind| kind.delivered_as() == event)
    }

    /// The event name the sender emits.
    pub fn sent_as(self) -> &'static str {
        match self {
            RelayKind::UserCall => event::USER_CALL,
            RelayKind::CallAccepted => event::CALL_ACCEPTED,
            RelayKind::NegoNeeded => event::PEER_NEGO_NEEDED,
            RelayKind::NegoDone => event::PEER_NEGO_DONE,
            RelayKind::IceCandidate => event::ICE_CANDIDATE,
            RelayKind::CallEnd => event::CALL_END,
            RelayKind::ShareOffer => event::SHARE_OFFER,
            RelayKind::ShareAnswer => event::SHARE_ANSWER,
            RelayKind::ShareIce => event::SHARE_ICE,
        }
    }

    /// The event name the target receives.
    pub fn delivered_as(self) -> &'static str {
        match self {
            RelayKind::UserCall => event::INCOMING_CALL,
            RelayKind::NegoDone => event::PEER_NEGO_FINAL,
            RelayKind::CallEnd => event::CALL_ENDED,
            other => other.sent_as(),
        }
    }

    pub fn field(self) -> RelayField {
        match self {
            RelayKind::UserCall | RelayKind::NegoNeeded | RelayKind::ShareOffer => {
                RelayField::Offer
            }
            RelayKind::CallAccepted | RelayKind::NegoDone | RelayKind::ShareAnswer => {
                RelayField::Ans
            }
            RelayKind::IceCandidate | RelayKind::ShareIce => RelayField::Candidate,
            RelayKind::CallEnd => RelayField::Nothing,
        }
    }

    /// A screen-share relay (since 1.1 only between the sharer and a viewer).
    pub fn is_share(self) -> bool {
        matches!(
            self,
            RelayKind::ShareOffer | RelayKind::ShareAnswer | RelayKind::ShareIce
        )
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a relay carries, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayBody {
    Offer(SessionDescription),
    Ans(SessionDescription),
    Candidate(IceCandidate),
    Nothing,
}

/// A relay as the sender emits it: `{ to, offer | ans | candidate }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayRequest {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<SessionDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ans: Option<SessionDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<IceCandidate>,
}

impl RelayRequest {
    pub fn new(to: impl Into<String>, body: RelayBody) -> Self {
        let mut out = RelayRequest {
            to: to.into(),
            ..Default::default()
        };
        match body {
            RelayBody::Offer(d) => out.offer = Some(d),
            RelayBody::Ans(d) => out.ans = Some(d),
            RelayBody::Candidate(c) => out.candidate = Some(c),
            RelayBody::Nothing => {}
        }
        out
    }

    /// Checks the target and the one field `kind` carries; everything else is dropped.
    pub fn validate(
        self,
        kind: RelayKind,
        limits: &Limits,
    ) -> Result<(String, RelayBody), Refusal> {
        limits::validate_id(&self.to, "to")?;
        let description = |d: Option<SessionDescription>, field: &str| {
            let d = d.ok_or_else(|| Refusal::bad_request(format!("`{field}` is required")))?;
            if d.sdp.len() > limits.max_sdp_bytes {
                return Err(Refusal::bad_request(format!(
                    "`{field}.sdp` is longer than {} bytes",
                    limits.max_sdp_bytes
                )));
            }
            Ok(d)
        };
        let body = match kind.field() {
            RelayField::Offer => RelayBody::Offer(description(self.offer, "offer")?),
            RelayField::Ans => RelayBody::Ans(description(self.ans, "ans")?),
            RelayField::Candidate => {
                let c = self
                    .candidate
                    .ok_or_else(|| Refusal::bad_request("`candidate` is required"))?;
                if c.candidate.len() > limits.max_candidate_bytes {
                    return Err(Refusal::bad_request(format!(
                        "`candidate.candidate` is longer than {} bytes",
                        limits.max_candidate_bytes
                    )));
                }
                let short = |s: &Option<String>| s.as_ref().is_none_or(|s| s.len() <= 256);
                if !short(&c.sdp_mid) || !short(&c.username_fragment) {
                    return Err(Refusal::bad_request(
                        "`sdpMid` and `usernameFragment` must be at most 256 bytes",
                    ));
                }
                RelayBody::Candidate(c)
            }
            RelayField::Nothing => RelayBody::Nothing,
        };
        Ok((self.to, body))
    }
}

/// A relay as the target receives it: `from` in place of `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relayed {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<SessionDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ans: Option<SessionDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<IceCandidate>,
}

impl Relayed {
    pub fn new(from: impl Into<String>, body: RelayBody) -> Self {
        let r = RelayRequest::new(String::new(), body);
        Relayed {
            from: from.into(),
            offer: r.offer,
            ans: r.ans,
            candidate: r.candidate,
        }
    }

    /// The one field `kind` carries; `None` when it is missing.
    pub fn into_body(self, kind: RelayKind) -> Option<RelayBody> {
        Some(match kind.field() {
            RelayField::Offer => RelayBody::Offer(self.offer?),
            RelayField::Ans => RelayBody::Ans(self.ans?),
            RelayField::Candidate => RelayBody::Candidate(self.candidate?),
            RelayField::Nothing => RelayBody::Nothing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::sdp::SdpType;

    #[test]
    fn relays_forward_only_known_fields() {
        let l = Limits::default();
        let req: RelayRequest = serde_json::from_str(
            r#"{"to":"abc","evil":1,"offer":{"type":"offer","sdp":"x"},"candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0,"x":2}}"#,
        )
        .unwrap();
        let (to, body) = req.validate(RelayKind::IceCandidate, &l).unwrap();
        assert_eq!(to, "abc");
        let out = serde_json::to_string(&Relayed::new("me", body)).unwrap();
        assert_eq!(
            out,
            r#"{"from":"me","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}"#
        );
    }

    #[test]
    fn sdp_limit_is_inclusive_and_the_field_must_match_the_kind() {
        let l = Limits::default();
        let req = |n: usize| RelayRequest {
            to: "x".into(),
            offer: Some(SessionDescription {
                kind: SdpType::Offer,
                sdp: "v".repeat(n),
            }),
            ..Default::default()
        };
        assert!(
            req(l.max_sdp_bytes)
                .validate(RelayKind::UserCall, &l)
                .is_ok()
        );
        assert_eq!(
            req(l.max_sdp_bytes + 1)
                .validate(RelayKind::UserCall, &l)
                .unwrap_err()
                .code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            req(1)
                .validate(RelayKind::CallAccepted, &l)
                .unwrap_err()
                .code,
            ErrorCode::BadRequest
        );
        let no_target = RelayRequest::default();
        assert!(no_target.validate(RelayKind::CallEnd, &l).is_err());
    }

    #[test]
    fn names_pair_up() {
        for kind in RelayKind::ALL {
            assert_eq!(RelayKind::from_event(kind.sent_as()), Some(kind));
            assert_eq!(RelayKind::from_delivered(kind.delivered_as()), Some(kind));
        }
        assert_eq!(
            RelayKind::from_event("user:call").unwrap().delivered_as(),
            "incoming:call"
        );
        assert_eq!(
            RelayKind::from_event("peer:nego:done")
                .unwrap()
                .delivered_as(),
            "peer:nego:final"
        );
        assert_eq!(RelayKind::from_event("room:join"), None);
    }

    #[test]
    fn a_request_round_trips_through_its_body() {
        let body = RelayBody::Ans(SessionDescription::answer("v=0"));
        let sent = serde_json::to_value(RelayRequest::new("t", body.clone())).unwrap();
        assert_eq!(sent["to"], "t");
        assert_eq!(sent["ans"]["type"], "answer");
        let delivered: Relayed =
            serde_json::from_value(serde_json::to_value(Relayed::new("f", body.clone())).unwrap())
                .unwrap();
        assert_eq!(delivered.into_body(RelayKind::CallAccepted), Some(body));
    }
}
