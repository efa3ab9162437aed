//! Errors the window sees: a stable `code` the UI turns into words, and a message.

use huddle_engine::{SessionError, SignalingError};
use serde::Serialize;

/// Runs blocking work (devices, screen capture) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The server refused a request with one of PROTOCOL.md's codes.
    #[error("{message}")]
    Server {
        code: String,
        message: String,
        sharer_id: Option<String>,
    },
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("not in a room")]
    NotJoined,
    #[error("already in a room: leave it first")]
    AlreadyJoined,
    /// The person left the waiting room before the host let them in.
    #[error("you left the waiting room")]
    Cancelled,
    #[error("{0}")]
    Internal(String),
}

impl CommandError {
    pub fn code(&self) -> &str {
        match self {
            CommandError::Server { code, .. } => code,
            CommandError::Unreachable(_) => "unreachable",
            CommandError::Device(_) => "device",
            CommandError::InvalidInput(_) => "invalid_input",
            CommandError::NotJoined => "not_joined",
            CommandError::AlreadyJoined => "already_joined",
            CommandError::Cancelled => "cancelled",
            CommandError::Internal(_) => "internal",
        }
    }
}

/// What `invoke` rejects with: a code the UI turns into words, the message, and who
/// shares when that is why.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS), ts(rename = "CommandError"))]
pub struct Rejection {
    /// The server's codes (invalid_email, invalid_room, room_full, rate_limited, …),
    /// or unreachable, device, invalid_input, not_joined, already_joined, cancelled, internal.
    code: String,
    message: String,
    /// With sharing_conflict: who is sharing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    sharer_id: Option<String>,
}

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sharer_id = match self {
            CommandError::Server { sharer_id, .. } => sharer_id.clone(),
            _ => None,
        };
        Rejection {
            code: self.code().to_string(),
            message: self.to_string(),
            sharer_id,
        }
        .serialize(serializer)
    }
}

impl From<SignalingError> for CommandError {
    fn from(e: SignalingError) -> Self {
        match e {
            SignalingError::Unreachable { .. } | SignalingError::Timeout(_) => {
                CommandError::Unreachable(e.to_string())
            }
            SignalingError::Refused { refusal, .. } => CommandError::Server {
                code: refusal.code.to_string(),
                message: refusal.message,
                sharer_id: refusal.sharer_id,
            },
            SignalingError::BadCaCert(_) => CommandError::InvalidInput(e.to_string()),
            other => CommandError::Internal(other.to_string()),
        }
    }
}

impl From<SessionError> for CommandError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Signaling(s) => s.into(),
            SessionError::SharingConflict { sharer_id } => CommandError::Server {
                code: "sharing_conflict".into(),
                message: format!("{sharer_id} is already sharing in this room"),
                sharer_id: Some(sharer_id),
            },
            SessionError::Ended => CommandError::NotJoined,
            err @ SessionError::Denied { .. } => CommandError::Server {
                code: "denied".into(),
                message: err.to_string(),
                sharer_id: None,
            },
            err @ SessionError::Removed { .. } => CommandError::Server {
                code: "removed".into(),
                message: err.to_string(),
                sharer_id: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_code_message_and_sharer() {
        let e: CommandError = SessionError::SharingConflict {
            sharer_id: "abc".into(),
        }
        .into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "sharing_conflict");
        assert_eq!(v["sharerId"], "abc");
        assert!(v["message"].as_str().unwrap().contains("abc"));
    }

    #[test]
    fn server_refusals_keep_their_code() {
        let e: CommandError = SignalingError::Refused {
            event: "room:join".into(),
            refusal: huddle_engine::protocol::Refusal::new(
                huddle_engine::protocol::ErrorCode::RoomFull,
                "the room is full",
            ),
        }
        .into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "room_full");
        assert!(v.get("sharerId").is_none());
        let e: CommandError = SignalingError::Unreachable {
            url: "http://x".into(),
            reason: "refused".into(),
        }
        .into();
        assert_eq!(e.code(), "unreachable");
    }
}
