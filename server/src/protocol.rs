//! The wire vocabulary of PROTOCOL.md: error codes, request payloads (parsed and
//! validated), and the shapes the server sends back.
//!
//! Requests are parsed into typed structs so that only known, validated fields are
//! ever forwarded; a client's object is never relayed as-is.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::Limits;

/// Every error code of PROTOCOL.md (plus `unknown_event`, which it allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    BadRequest,
    InvalidEmail,
    InvalidRoom,
    NotJoined,
    NotInRoom,
    RoomFull,
    SharingConflict,
    NotSharer,
    RateLimited,
    Unauthorized,
    PayloadTooLarge,
    Internal,
    UnknownEvent,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadRequest,
        ErrorCode::InvalidEmail,
        ErrorCode::InvalidRoom,
        ErrorCode::NotJoined,
        ErrorCode::NotInRoom,
        ErrorCode::RoomFull,
        ErrorCode::SharingConflict,
        ErrorCode::NotSharer,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Internal,
        ErrorCode::UnknownEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::SharingConflict => "sharing_conflict",
            ErrorCode::NotSharer => "not_sharer",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::UnknownEvent => "unknown_event",
        }
    }

    /// Position in [`ErrorCode::ALL`], for per-code counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A refused request: what goes into `{ ok: false, error }` and the `error` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// Only for `sharing_conflict`: who is sharing.
    pub sharer_id: Option<String>,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            sharer_id: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(ErrorCode::BadRequest, message)
    }
}

/// `{ "ok": false, "error": { code, message, sharerId? } }`
#[derive(Serialize)]
pub struct ErrorAck<'a> {
    pub ok: bool,
    pub error: ErrorBody<'a>,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
    #[serde(rename = "sharerId", skip_serializing_if = "Option::is_none")]
    pub sharer_id: Option<&'a str>,
}

impl<'a> From<&'a Refusal> for ErrorAck<'a> {
    fn from(r: &'a Refusal) -> Self {
        ErrorAck {
            ok: false,
            error: ErrorBody {
                code: r.code,
                message: &r.message,
                sharer_id: r.sharer_id.as_deref(),
            },
        }
    }
}

/// The `error` event sent when a failed request carried no ack callback.
#[derive(Serialize)]
pub struct ErrorEvent<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
    pub event: &'a str,
}

/// `{ "ok": true }`
#[derive(Serialize)]
pub struct OkAck {
    pub ok: bool,
}

pub const OK: OkAck = OkAck { ok: true };

/// Parses a request payload into `T`, turning type errors into `bad_request`.
/// A missing payload is read as `{}` so that requests without fields work without one.
pub fn parse<'a, T: Deserialize<'a>>(payload: Option<&'a RawValue>) -> Result<T, Refusal> {
    let raw = payload.map(RawValue::get).unwrap_or("{}");
    // serde would also fill a struct from an array, by position: payloads are objects.
    if !raw.trim_start().starts_with('{') {
        return Err(Refusal::bad_request("the payload must be a JSON object"));
    }
    serde_json::from_str(raw).map_err(|e| Refusal::bad_request(format!("malformed payload: {e}")))
}

// ---------------------------------------------------------------------------
// Joining

#[derive(Debug, Deserialize)]
pub struct JoinRequest {
    pub email: String,
    pub room: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A join request whose fields passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidJoin {
    pub email: String,
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl JoinRequest {
    pub fn validate(self, limits: &Limits) -> Result<ValidJoin, Refusal> {
        validate_email(&self.email, limits)?;
        validate_room(&self.room, limits)?;
        let name = match self.name {
            Some(name) if name.chars().count() > limits.max_name_chars => {
                return Err(Refusal::bad_request(format!(
                    "name is longer than {} characters",
                    limits.max_name_chars
                )));
            }
            Some(name) if name.chars().any(char::is_control) => {
                return Err(Refusal::bad_request("name contains control characters"));
            }
            Some(name) if name.trim().is_empty() => None,
            other => other,
        };
        Ok(ValidJoin {
            email: self.email,
            room: self.room,
            name,
        })
    }
}

/// `local@domain`: one `@`, both sides non-empty, no spaces or control characters,
/// a domain made of dot-separated labels of letters, digits and hyphens.
pub fn validate_email(email: &str, limits: &Limits) -> Result<(), Refusal> {
    let invalid = |why: &str| Err(Refusal::new(ErrorCode::InvalidEmail, why.to_string()));
    if email.len() > limits.max_email_bytes {
        return invalid("email address is too long");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("email address needs an @");
    };
    if local.is_empty() || domain.is_empty() {
        return invalid("email address needs a name before and a domain after the @");
    }
    if local.len() > 64 {
        return invalid("the part before the @ is too long");
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '<' || c == '>')
    {
        return invalid("email address contains characters that are not allowed");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !domain.split('.').all(label_ok) {
        return invalid("email domain is not valid");
    }
    Ok(())
}

/// 1–64 characters of `[A-Za-z0-9_-]`.
pub fn validate_room(room: &str, limits: &Limits) -> Result<(), Refusal> {
    if room.is_empty() || room.len() > limits.max_room_chars {
        return Err(Refusal::new(
            ErrorCode::InvalidRoom,
            format!("room must be 1 to {} characters", limits.max_room_chars),
        ));
    }
    if !room
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Refusal::new(
            ErrorCode::InvalidRoom,
            "room may contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(())
}

/// Sent to everyone already in a room when someone joins.
#[derive(Serialize)]
pub struct UserJoined<'a> {
    pub email: &'a str,
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub count: usize,
}

/// Sent to the rest of a room when someone leaves.
#[derive(Serialize)]
pub struct UserLeft<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub audio: bool,
    pub video: bool,
}

#[derive(Serialize)]
pub struct JoinAck<'a> {
    pub ok: bool,
    pub id: &'a str,
    pub room: &'a str,
    pub participants: Vec<ParticipantView>,
    #[serde(rename = "sharerId")]
    pub sharer_id: Option<String>,
    pub history: Vec<ChatMessage>,
}

// ---------------------------------------------------------------------------
// Relays

/// Every relayed event: what the sender emits, what the target receives, and which
/// field it carries.
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

/// What a relay carries besides `to`.
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

    pub fn from_event(event: &str) -> Option<Self> {
        RelayKind::ALL
            .into_iter()
            .find(|kind| kind.sent_as() == event)
    }

    /// The event name the sender emits.
    pub fn sent_as(self) -> &'static str {
        match self {
            RelayKind::UserCall => "user:call",
            RelayKind::CallAccepted => "call:accepted",
            RelayKind::NegoNeeded => "peer:nego:needed",
            RelayKind::NegoDone => "peer:nego:done",
            RelayKind::IceCandidate => "ice:candidate",
            RelayKind::CallEnd => "call:end",
            RelayKind::ShareOffer => "share:offer",
            RelayKind::ShareAnswer => "share:answer",
            RelayKind::ShareIce => "share:ice",
        }
    }

    /// The event name the target receives.
    pub fn delivered_as(self) -> &'static str {
        match self {
            RelayKind::UserCall => "incoming:call",
            RelayKind::NegoDone => "peer:nego:final",
            RelayKind::CallEnd => "call:ended",
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

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    Offer,
    Answer,
    Pranswer,
    Rollback,
}

/// An RTCSessionDescriptionInit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: SdpType,
    pub sdp: String,
}

/// An RTCIceCandidateInit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RelayRequest {
    pub to: String,
    #[serde(default)]
    pub offer: Option<SessionDescription>,
    #[serde(default)]
    pub ans: Option<SessionDescription>,
    #[serde(default)]
    pub candidate: Option<IceCandidate>,
}

/// What a relay carries, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayBody {
    Offer(SessionDescription),
    Ans(SessionDescription),
    Candidate(IceCandidate),
    Nothing,
}

/// The relayed event as the target receives it: `from` in place of `to`.
#[derive(Serialize)]
pub struct Relayed<'a> {
    pub from: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<&'a SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ans: Option<&'a SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<&'a IceCandidate>,
}

impl<'a> Relayed<'a> {
    pub fn new(from: &'a str, body: &'a RelayBody) -> Self {
        let mut out = Relayed {
            from,
            offer: None,
            ans: None,
            candidate: None,
        };
        match body {
            RelayBody::Offer(d) => out.offer = Some(d),
            RelayBody::Ans(d) => out.ans = Some(d),
            RelayBody::Candidate(c) => out.candidate = Some(c),
            RelayBody::Nothing => {}
        }
        out
    }
}

/// Socket ids are short; anything longer is not one.
const MAX_ID_BYTES: usize = 64;

impl RelayRequest {
    pub fn validate(
        self,
        kind: RelayKind,
        limits: &Limits,
    ) -> Result<(String, RelayBody), Refusal> {
        if self.to.is_empty() || self.to.len() > MAX_ID_BYTES {
            return Err(Refusal::bad_request("`to` must be a socket id"));
        }
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

// ---------------------------------------------------------------------------
// Media state and chat

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct MediaState {
    pub audio: bool,
    pub video: bool,
}

#[derive(Serialize)]
pub struct MediaStateChanged<'a> {
    pub id: &'a str,
    pub audio: bool,
    pub video: bool,
}

#[derive(Debug, Deserialize)]
pub struct ChatSend {
    pub text: String,
    #[serde(rename = "clientId", default)]
    pub client_id: Option<String>,
}

impl ChatSend {
    pub fn validate(self, limits: &Limits) -> Result<ChatSend, Refusal> {
        if self.text.trim().is_empty() {
            return Err(Refusal::bad_request("chat text is empty"));
        }
        if self.text.chars().count() > limits.max_chat_chars {
            return Err(Refusal::bad_request(format!(
                "chat text is longer than {} characters",
                limits.max_chat_chars
            )));
        }
        if let Some(id) = &self.client_id
            && id.chars().count() > limits.max_client_id_chars
        {
            return Err(Refusal::bad_request(format!(
                "clientId is longer than {} characters",
                limits.max_client_id_chars
            )));
        }
        Ok(self)
    }
}

/// A stored chat message, as PROTOCOL.md's ChatMessage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub room: String,
    pub from: String,
    pub email: String,
    pub name: Option<String>,
    pub text: String,
    pub ts: i64,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Chat ids are the per-room sequence number, zero-padded so that they sort the same
/// as strings and as numbers.
pub fn chat_id(seq: i64) -> String {
    format!("{seq:012}")
}

#[derive(Serialize)]
pub struct ChatAck<'a> {
    pub ok: bool,
    pub message: &'a ChatMessage,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn emails() {
        let l = limits();
        for ok in [
            "a@example.com",
            "ada.lovelace+huddle@mail.example.org",
            "x@localhost",
            "é@exämple.de",
        ] {
            assert_eq!(validate_email(ok, &l), Ok(()), "{ok}");
        }
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "",
            "a",
            "@b.com",
            "a@",
            "a b@c.com",
            "a@b c.com",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a@b.com\n",
            long.as_str(),
        ] {
            let err = validate_email(bad, &l).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidEmail, "{bad:?}");
        }
    }

    #[test]
    fn rooms() {
        let l = limits();
        for ok in ["1234", "a", "team_room-2", &"r".repeat(64)] {
            assert_eq!(validate_room(ok, &l), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"r".repeat(65), "room:1"] {
            assert_eq!(
                validate_room(bad, &l).unwrap_err().code,
                ErrorCode::InvalidRoom,
                "{bad}"
            );
        }
    }

    #[test]
    fn join_name_rules() {
        let l = limits();
        let join = |name: Option<&str>| {
            JoinRequest {
                email: "a@b.c".into(),
                room: "1".into(),
                name: name.map(str::to_string),
            }
            .validate(&l)
        };
        assert_eq!(
            join(Some(&"é".repeat(64)))
                .unwrap()
                .name
                .unwrap()
                .chars()
                .count(),
            64
        );
        assert_eq!(
            join(Some(&"é".repeat(65))).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(join(Some("   ")).unwrap().name, None);
        assert_eq!(join(None).unwrap().name, None);
    }

    #[test]
    fn parse_refuses_wrong_types_and_missing_fields() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        let bad = [
            r#"{"email":5,"room":"1"}"#,
            r#"{"room":"1"}"#,
            r#""text""#,
            "[]",
            "null",
            r#"["a@b.c","1"]"#,
        ];
        for s in bad {
            let r = raw(s);
            let err = parse::<JoinRequest>(Some(&r)).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{s}");
        }
        // Deep nesting where a value is expected is refused; in an ignored field it is
        // skipped without recursion (and never forwarded).
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep = format!(r#"{{"audio":{},"video":true}}"#, nest(100_000));
        assert_eq!(
            parse::<MediaState>(Some(&raw(&deep))).unwrap_err().code,
            ErrorCode::BadRequest
        );
        let ignored = format!(r#"{{"audio":true,"video":true,"x":{}}}"#, nest(100_000));
        assert!(parse::<MediaState>(Some(&raw(&ignored))).is_ok());
        let state: MediaState =
            parse(Some(&raw(r#"{"audio":false,"video":true,"extra":1}"#))).unwrap();
        assert_eq!(
            state,
            MediaState {
                audio: false,
                video: true
            }
        );
    }

    #[test]
    fn relays_forward_only_known_fields() {
        let l = limits();
        let req: RelayRequest = serde_json::from_str(
            r#"{"to":"abc","evil":1,"candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0,"x":2}}"#,
        )
        .unwrap();
        let (to, body) = req.validate(RelayKind::IceCandidate, &l).unwrap();
        assert_eq!(to, "abc");
        let out = serde_json::to_string(&Relayed::new("me", &body)).unwrap();
        assert_eq!(
            out,
            r#"{"from":"me","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}"#
        );
    }

    #[test]
    fn sdp_limit_is_inclusive() {
        let l = limits();
        let req = |n: usize| RelayRequest {
            to: "x".into(),
            offer: Some(SessionDescription {
                kind: SdpType::Offer,
                sdp: "v".repeat(n),
            }),
            ans: None,
            candidate: None,
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
    }

    #[test]
    fn relay_names() {
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
        assert_eq!(
            RelayKind::from_event("call:end").unwrap().delivered_as(),
            "call:ended"
        );
        assert_eq!(
            RelayKind::from_event("share:ice").unwrap().delivered_as(),
            "share:ice"
        );
        assert_eq!(RelayKind::from_event("room:join"), None);
    }

    #[test]
    fn chat_rules_and_ids() {
        let l = limits();
        let send = |t: &str| {
            ChatSend {
                text: t.into(),
                client_id: None,
            }
            .validate(&l)
        };
        assert!(send(&"é".repeat(4000)).is_ok());
        assert_eq!(
            send(&"é".repeat(4001)).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(send(" \n").unwrap_err().code, ErrorCode::BadRequest);
        assert!(chat_id(9) < chat_id(10));
        assert_eq!(chat_id(42), "000000000042");
    }
}
