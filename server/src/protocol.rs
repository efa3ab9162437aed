//! The wire vocabulary, from the `huddle-protocol` crate (the one definition of every
//! payload, ack and error code), plus how the server reads a payload off the wire.
//!
//! Requests are parsed into typed structs so that only known, validated fields are
//! ever forwarded; a client's object is never relayed as-is.

use serde::Deserialize;
use serde_json::value::RawValue;

pub use huddle_protocol::request::OK;
pub use huddle_protocol::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
