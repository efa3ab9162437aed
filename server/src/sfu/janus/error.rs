//! What can go wrong talking to Janus, with Janus's own error codes kept readable.

use std::fmt;
use std::time::Duration;

/// Why a Janus session ended without us destroying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLoss {
    /// Janus saw no request for `session_timeout` seconds (keepalives stopped).
    TimedOut,
    /// The WebSocket to Janus closed: Janus destroys every session of a closed socket
    /// (a Janus restart looks the same).
    Disconnected,
}

impl fmt::Display for SessionLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionLoss::TimedOut => "timed out in Janus",
            SessionLoss::Disconnected => "the connection to Janus closed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JanusError {
    #[error("invalid Janus URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach Janus at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url} does not speak the Janus API: {reason}")]
    NotJanus { url: String, reason: String },
    #[error("Janus at {url} has no {plugin} plugin loaded")]
    PluginMissing { url: String, plugin: String },
    #[error("the connection to Janus is down")]
    Disconnected,
    #[error("the Janus client was closed")]
    Closed,
    #[error("Janus did not answer `{request}` within {after:?}")]
    Timeout {
        request: &'static str,
        after: Duration,
    },
    /// The Janus core refused a request (`{"janus":"error"}`).
    #[error("Janus refused `{request}`: {code} ({reason})")]
    Api {
        request: &'static str,
        code: ApiErrorCode,
        reason: String,
    },
    /// The VideoRoom plugin refused a request (`error_code` in its reply).
    #[error("the VideoRoom refused `{request}`: {code} ({reason})")]
    VideoRoom {
        request: &'static str,
        code: VideoRoomErrorCode,
        reason: String,
    },
    #[error("the Janus session is gone: {0}")]
    SessionLost(SessionLoss),
    #[error("unexpected reply to `{request}`: {detail}")]
    UnexpectedReply {
        request: &'static str,
        detail: String,
    },
}

impl JanusError {
    /// A wrong or missing API secret (core 403) or admin key (VideoRoom 433).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            JanusError::Api {
                code: ApiErrorCode::Unauthorized,
                ..
            } | JanusError::VideoRoom {
                code: VideoRoomErrorCode::Unauthorized,
                ..
            }
        )
    }

    /// Whether retrying later (after a reconnect) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            JanusError::Disconnected
                | JanusError::Timeout { .. }
                | JanusError::Connect { .. }
                | JanusError::SessionLost(_)
        )
    }
}

/// Declares a numeric error-code enum with its names, keeping unknown codes.
macro_rules! error_codes {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
            Other(u16),
        }

        impl $name {
            pub fn from_code(code: u16) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Other(other),
                }
            }

            pub fn code(self) -> u16 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Other(code) => code,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => write!(f, "{} {}", $code, stringify!($variant)),)*
                    $name::Other(code) => write!(f, "{code}"),
                }
            }
        }
    };
}

error_codes! {
    /// The Janus core's error codes (`apierror.h`, Janus 1.1).
    ApiErrorCode {
        Unauthorized = 403,
        UnauthorizedPlugin = 405,
        TransportSpecific = 450,
        MissingRequest = 452,
        UnknownRequest = 453,
        InvalidJson = 454,
        InvalidJsonObject = 455,
        MissingMandatoryElement = 456,
        InvalidRequestPath = 457,
        SessionNotFound = 458,
        HandleNotFound = 459,
        PluginNotFound = 460,
        PluginAttach = 461,
        PluginMessage = 462,
        PluginDetach = 463,
        JsepUnknownType = 464,
        JsepInvalidSdp = 465,
        TrickleInvalidStream = 466,
        InvalidElementType = 467,
        SessionConflict = 468,
        UnexpectedAnswer = 469,
        TokenNotFound = 470,
        WebrtcState = 471,
        NotAcceptingSessions = 472,
        Unknown = 490,
    }
}

error_codes! {
    /// The VideoRoom plugin's error codes (`janus_videoroom.c`, Janus 1.1).
    VideoRoomErrorCode {
        NoMessage = 421,
        InvalidJson = 422,
        InvalidRequest = 423,
        JoinFirst = 424,
        AlreadyJoined = 425,
        NoSuchRoom = 426,
        RoomExists = 427,
        NoSuchFeed = 428,
        MissingElement = 429,
        InvalidElement = 430,
        InvalidSdpType = 431,
        PublishersFull = 432,
        Unauthorized = 433,
        AlreadyPublished = 434,
        NotPublished = 435,
        IdExists = 436,
        InvalidSdp = 437,
        UnknownError = 499,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        assert_eq!(ApiErrorCode::from_code(403), ApiErrorCode::Unauthorized);
        assert_eq!(ApiErrorCode::from_code(458).code(), 458);
        assert_eq!(ApiErrorCode::from_code(999), ApiErrorCode::Other(999));
        assert_eq!(
            VideoRoomErrorCode::from_code(427),
            VideoRoomErrorCode::RoomExists
        );
        assert_eq!(VideoRoomErrorCode::from_code(433).code(), 433);
        assert_eq!(
            ApiErrorCode::SessionNotFound.to_string(),
            "458 SessionNotFound"
        );
    }

    #[test]
    fn messages_say_what_was_refused_and_why() {
        let e = JanusError::Api {
            request: "create",
            code: ApiErrorCode::Unauthorized,
            reason: "Unauthorized request (wrong or missing secret/token)".into(),
        };
        assert!(e.is_unauthorized());
        assert_eq!(
            e.to_string(),
            "Janus refused `create`: 403 Unauthorized (Unauthorized request (wrong or missing secret/token))"
        );
        assert!(!e.is_transient());
        assert!(JanusError::Disconnected.is_transient());
    }
}
