//! The protocol's limits (defaults; a server may configure its own) and the checks both
//! ends run, so that a client can refuse bad input before sending it.

use crate::error::{ErrorCode, Refusal};

/// Limits of PROTOCOL.md, plus the server's history length and rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_email_bytes: usize,
    pub max_room_chars: usize,
    pub max_name_chars: usize,
    pub max_sdp_bytes: usize,
    pub max_candidate_bytes: usize,
    pub max_chat_chars: usize,
    pub max_client_id_chars: usize,
    pub min_passcode_chars: usize,
    pub max_passcode_chars: usize,
    pub room_size: usize,
    /// How many recent chat messages a join ack carries.
    pub history: usize,
    /// Events per second per connection; `0` turns the limit off.
    pub rate_limit: u32,
}

impl Limits {
    /// The largest whole event payload accepted; bigger ones get `payload_too_large`.
    /// An SDP plus generous room for the envelope around it.
    pub fn max_event_bytes(&self) -> usize {
        self.max_sdp_bytes + 16 * 1024
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_email_bytes: 254,
            max_room_chars: 64,
            max_name_chars: 64,
            max_sdp_bytes: 64 * 1024,
            max_candidate_bytes: 2 * 1024,
            max_chat_chars: 4000,
            max_client_id_chars: 128,
            min_passcode_chars: 4,
            max_passcode_chars: 64,
            room_size: 50,
            history: 100,
            rate_limit: 200,
        }
    }
}

/// Socket ids are short; anything longer is not one.
pub const MAX_ID_BYTES: usize = 64;

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

/// A display name: at most the limit, no control characters; blank means none.
pub fn validate_name(name: Option<String>, limits: &Limits) -> Result<Option<String>, Refusal> {
    match name {
        Some(name) if name.chars().count() > limits.max_name_chars => Err(Refusal::bad_request(
            format!("name is longer than {} characters", limits.max_name_chars),
        )),
        Some(name) if name.chars().any(char::is_control) => {
            Err(Refusal::bad_request("name contains control characters"))
        }
        Some(name) if name.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A passcode: 4–64 characters, no control characters.
pub fn validate_passcode(passcode: &str, limits: &Limits) -> Result<(), Refusal> {
    let n = passcode.chars().count();
    if n < limits.min_passcode_chars || n > limits.max_passcode_chars {
        return Err(Refusal::bad_request(format!(
            "a passcode has {} to {} characters",
            limits.min_passcode_chars, limits.max_passcode_chars
        )));
    }
    if passcode.chars().any(char::is_control) {
        return Err(Refusal::bad_request("passcode contains control characters"));
    }
    Ok(())
}

/// A socket id as a target (`to`, `id`): non-empty and short.
pub fn validate_id(id: &str, field: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(Refusal::bad_request(format!(
            "`{field}` must be a socket id"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let l = Limits::default();
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
        let l = Limits::default();
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
    fn names() {
        let l = Limits::default();
        let name = |s: &str| validate_name(Some(s.to_string()), &l);
        assert_eq!(name(&"é".repeat(64)).unwrap().unwrap().chars().count(), 64);
        assert_eq!(
            name(&"é".repeat(65)).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(name("a\u{7}").unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(name("   ").unwrap(), None);
        assert_eq!(validate_name(None, &l).unwrap(), None);
    }

    #[test]
    fn passcodes() {
        let l = Limits::default();
        assert!(validate_passcode("1234", &l).is_ok());
        assert!(validate_passcode(&"p".repeat(64), &l).is_ok());
        for bad in ["123", "", &"p".repeat(65), "12\n34"] {
            assert_eq!(
                validate_passcode(bad, &l).unwrap_err().code,
                ErrorCode::BadRequest
            );
        }
    }
}
