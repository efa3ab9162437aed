//! Error codes and the shapes a refusal travels in.

use serde::{Deserialize, Serialize};

/// Every error code of the protocol, plus `unknown_event` (which it allows) and
/// [`ErrorCode::Unknown`] for a code this version does not know (a newer server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    // Since 1.1.
    PasscodeRequired,
    BadPasscode,
    NotHost,
    Removed,
    NotWaiting,
    // The SFU path.
    SfuRequired,
    SfuInactive,
    SfuActive,
    SfuUnavailable,
    StaleOffer,
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 24] = [
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
        ErrorCode::PasscodeRequired,
        ErrorCode::BadPasscode,
        ErrorCode::NotHost,
        ErrorCode::Removed,
        ErrorCode::NotWaiting,
        ErrorCode::SfuRequired,
        ErrorCode::SfuInactive,
        ErrorCode::SfuActive,
        ErrorCode::SfuUnavailable,
        ErrorCode::StaleOffer,
        ErrorCode::Unknown,
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
            ErrorCode::PasscodeRequired => "passcode_required",
            ErrorCode::BadPasscode => "bad_passcode",
            ErrorCode::NotHost => "not_host",
            ErrorCode::Removed => "removed",
            ErrorCode::NotWaiting => "not_waiting",
            ErrorCode::SfuRequired => "sfu_required",
            ErrorCode::SfuInactive => "sfu_inactive",
            ErrorCode::SfuActive => "sfu_active",
            ErrorCode::SfuUnavailable => "sfu_unavailable",
            ErrorCode::StaleOffer => "stale_offer",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Position in [`ErrorCode::ALL`], for per-code counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the `error` object of `{ ok: false, error }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// Only for `sharing_conflict`: who is sharing.
    #[serde(rename = "sharerId", default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Serialize)]
pub struct ErrorAck<'a> {
    pub ok: bool,
    pub error: &'a Refusal,
}

impl<'a> From<&'a Refusal> for ErrorAck<'a> {
    fn from(error: &'a Refusal) -> Self {
        ErrorAck { ok: false, error }
    }
}

/// The `error` event: a failed request that carried no ack callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub code: ErrorCode,
    pub message: String,
    /// The event that was refused.
    #[serde(default)]
    pub event: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_unknown_ones_survive() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(ErrorCode::ALL[code.index()], code);
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"from_the_future\"").unwrap(),
            ErrorCode::Unknown
        );
    }

    #[test]
    fn refusals_serialize_as_the_protocol_says() {
        let mut r = Refusal::new(ErrorCode::SharingConflict, "busy");
        assert_eq!(
            serde_json::to_string(&ErrorAck::from(&r)).unwrap(),
            r#"{"ok":false,"error":{"code":"sharing_conflict","message":"busy"}}"#
        );
        r.sharer_id = Some("s".into());
        assert!(
            serde_json::to_string(&ErrorAck::from(&r))
                .unwrap()
                .ends_with(r#""sharerId":"s"}}"#)
        );
    }
}
