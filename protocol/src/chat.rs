//! Chat: what a member sends, and the stored message everyone receives.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::limits::Limits;

/// `chat:send` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSend {
    pub text: String,
    /// The sender's own id for its optimistic copy; echoed in the stored message.
    #[serde(rename = "clientId", default, skip_serializing_if = "Option::is_none")]
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

/// A stored chat message (PROTOCOL.md's ChatMessage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChatMessage {
    /// The room's sequence number, zero-padded (see [`chat_id`]).
    pub id: String,
    pub room: String,
    /// The sender's socket id.
    pub from: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: i64,
    #[serde(rename = "clientId", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub client_id: Option<String>,
}

/// The `chat:send` ack (after `{ ok: true }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatAck {
    pub message: ChatMessage,
}

/// Chat ids are the per-room sequence number, zero-padded so that they sort the same
/// as strings and as numbers.
pub fn chat_id(seq: i64) -> String {
    format!("{seq:012}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn chat_rules_and_ids() {
        let l = Limits::default();
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
