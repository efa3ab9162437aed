//! The STUN and TURN servers handed to clients (join acks, `lobby:admitted`,
//! `ice:servers`). TURN credentials follow coturn's REST scheme (`use-auth-secret`):
//! username `<expiry unix seconds>:<socket id>`, credential
//! base64(HMAC-SHA1(shared secret, username)), valid for the TTL.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::protocol::IceServer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceConfig {
    /// `stun:` / `stuns:` URLs.
    pub stun: Vec<String>,
    /// `turn:` / `turns:` URLs.
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub turn_secret: Option<String>,
    /// How long handed-out TURN credentials stay valid.
    pub turn_ttl: Duration,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            stun: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl: Duration::from_secs(43_200),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceConfigError {
    #[error("`{0}` is not a STUN URL (stun:HOST[:PORT] or stuns:HOST[:PORT])")]
    NotStun(String),
    #[error("`{0}` is not a TURN URL (turn:HOST[:PORT][?transport=udp|tcp] or turns:…)")]
    NotTurn(String),
    #[error("TURN URLs need a shared secret (--turn-secret or --turn-secret-file)")]
    NoSecret,
    #[error("a TURN secret was given but no TURN URL (--turn-url)")]
    NoTurnUrl,
    #[error("the TURN secret is empty")]
    EmptySecret,
    #[error("the TURN credential lifetime must be at least one second")]
    NoTtl,
}

/// What the server hands out, checked once at start.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    stun: Vec<String>,
    turn: Option<Turn>,
}

#[derive(Debug, Clone)]
struct Turn {
    urls: Vec<String>,
    secret: String,
    ttl: Duration,
}

fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| {
        url.strip_prefix(s)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
    })
}

impl IceServers {
    pub fn new(config: &IceConfig) -> Result<Self, IceConfigError> {
        for url in &config.stun {
            if !has_scheme(url, &["stun", "stuns"]) {
                return Err(IceConfigError::NotStun(url.clone()));
            }
        }
        for url in &config.turn_urls {
            if !has_scheme(url, &["turn", "turns"]) {
                return Err(IceConfigError::NotTurn(url.clone()));
            }
        }
        let turn = match (&config.turn_secret, config.turn_urls.is_empty()) {
            (None, true) => None,
            (None, false) => return Err(IceConfigError::NoSecret),
            (Some(_), true) => return Err(IceConfigError::NoTurnUrl),
            (Some(secret), false) => {
                if secret.is_empty() {
                    return Err(IceConfigError::EmptySecret);
                }
                if config.turn_ttl.as_secs() == 0 {
                    return Err(IceConfigError::NoTtl);
                }
                Some(Turn {
                    urls: config.turn_urls.clone(),
                    secret: secret.clone(),
                    ttl: config.turn_ttl,
                })
            }
        };
        Ok(IceServers {
            stun: config.stun.clone(),
            turn,
        })
    }

    /// The list for connection `id`, with TURN credentials valid from `now_unix` for the
    /// TTL. Empty when nothing is configured.
    pub fn for_client(&self, id: &str, now_unix: u64) -> Vec<IceServer> {
        let mut out = Vec::new();
        if !self.stun.is_empty() {
            out.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        if let Some(turn) = &self.turn {
            let username = format!("{}:{id}", now_unix + turn.ttl.as_secs());
            let credential = rest_credential(&turn.secret, &username);
            out.push(IceServer {
                urls: turn.urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        out
    }
}

/// coturn's REST credential: base64(HMAC-SHA1(secret, username)).
pub fn rest_credential(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(username.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(stun: &[&str], turn: &[&str], secret: Option<&str>) -> IceConfig {
        IceConfig {
            stun: stun.iter().map(|s| s.to_string()).collect(),
            turn_urls: turn.iter().map(|s| s.to_string()).collect(),
            turn_secret: secret.map(str::to_string),
            ..IceConfig::default()
        }
    }

    #[test]
    fn the_credential_is_coturns_rest_hmac() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        assert_eq!(
            rest_credential("Jefe", "what do ya want for nothing?"),
            B64.encode([
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ])
        );
    }

    #[test]
    fn servers_for_a_client() {
        let ice = IceServers::new(&config(
            &["stun:stun.example:3478"],
            &[
                "turn:turn.example:3478",
                "turn:turn.example:3478?transport=tcp",
            ],
            Some("s3cret"),
        ))
        .unwrap();
        let list = ice.for_client("abc", 1_000);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].urls, ["stun:stun.example:3478"]);
        assert!(list[0].username.is_none());
        let turn = &list[1];
        assert_eq!(turn.urls.len(), 2);
        assert_eq!(turn.username.as_deref(), Some("44200:abc"));
        assert_eq!(
            turn.credential.as_deref(),
            Some(rest_credential("s3cret", "44200:abc").as_str())
        );
        assert!(
            IceServers::new(&IceConfig::default())
                .unwrap()
                .for_client("x", 0)
                .is_empty()
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        use IceConfigError::*;
        let err = |c: IceConfig| IceServers::new(&c).unwrap_err();
        assert_eq!(
            err(config(&["turn:x"], &[], None)),
            NotStun("turn:x".into())
        );
        assert_eq!(err(config(&["stun:"], &[], None)), NotStun("stun:".into()));
        assert_eq!(
            err(config(&[], &["http://x"], Some("s"))),
            NotTurn("http://x".into())
        );
        assert_eq!(err(config(&[], &["turn:x"], None)), NoSecret);
        assert_eq!(err(config(&[], &[], Some("s"))), NoTurnUrl);
        assert_eq!(err(config(&[], &["turn:x"], Some(""))), EmptySecret);
        let mut c = config(&[], &["turns:x:5349"], Some("s"));
        c.turn_ttl = Duration::ZERO;
        assert_eq!(err(c), NoTtl);
    }
}
