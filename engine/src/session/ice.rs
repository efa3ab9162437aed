//! The ICE servers a session uses: the ones the application gave (the CLI's
//! `--ice-server`) plus the ones the server hands out in its join ack, and when the
//! server's TURN credentials must be renewed. Plain functions of their inputs (the
//! time is a parameter), so every rule is tested without a clock.

use std::time::Duration;

use huddle_protocol::IceServer as WireIceServer;

use crate::peer::IceServer;

/// Renew this long before the credentials expire, at least (a fifth of what is left
/// when that is more): time for the request, the restart offer and the new checks.
const MIN_MARGIN: Duration = Duration::from_secs(5);

/// The server's ICE servers in the engine's shape.
pub fn from_wire(servers: &[WireIceServer]) -> Vec<IceServer> {
    servers
        .iter()
        .filter(|s| !s.urls.is_empty())
        .map(|s| IceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect()
}

/// What a connection uses: the application's servers first, then the server's.
pub fn merge(own: &[IceServer], from_server: &[IceServer]) -> Vec<IceServer> {
    let mut all = own.to_vec();
    for s in from_server {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    all
}

/// When the earliest TURN credential of `servers` expires (unix seconds), from REST
/// usernames `<expiry>:<id>` (coturn's `use-auth-secret` scheme). Static usernames
/// have no expiry.
pub fn expiry(servers: &[IceServer]) -> Option<u64> {
    servers
        .iter()
        .filter(|s| s.urls.iter().any(|u| u.starts_with("turn")))
        .filter_map(|s| {
            let (expiry, _id) = s.username.split_once(':')?;
            expiry.parse::<u64>().ok()
        })
        .min()
}

/// How long from `now_unix` until the credentials expiring at `expiry_unix` should be
/// renewed: before a fifth of their remaining life is left, and at least
/// [`MIN_MARGIN`] (or half of what is left) ahead.
pub fn refresh_delay(expiry_unix: u64, now_unix: u64) -> Duration {
    let remaining = Duration::from_secs(expiry_unix.saturating_sub(now_unix));
    let margin = (remaining / 5).max(MIN_MARGIN).min(remaining / 2);
    remaining - margin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(user: &str) -> IceServer {
        IceServer {
            urls: vec!["turn:10.0.0.1:3478?transport=udp".into()],
            username: user.into(),
            credential: "c".into(),
        }
    }

    fn stun() -> IceServer {
        IceServer {
            urls: vec!["stun:10.0.0.1:3478".into()],
            username: String::new(),
            credential: String::new(),
        }
    }

    #[test]
    fn wire_servers_convert_and_empty_ones_are_dropped() {
        let wire: Vec<WireIceServer> = serde_json::from_value(serde_json::json!([
            { "urls": ["stun:s:3478"] },
            { "urls": ["turn:s:3478"], "username": "100:abc", "credential": "x" },
            { "urls": [] }
        ]))
        .unwrap();
        let servers = from_wire(&wire);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, "");
        assert_eq!(servers[1].username, "100:abc");
        assert_eq!(servers[1].credential, "x");
    }

    #[test]
    fn merge_keeps_own_first_and_drops_duplicates() {
        let own = vec![stun()];
        let merged = merge(&own, &[stun(), turn("1:a")]);
        assert_eq!(merged, vec![stun(), turn("1:a")]);
    }

    #[test]
    fn expiry_is_the_earliest_rest_username() {
        assert_eq!(expiry(&[stun(), turn("200:a"), turn("150:b")]), Some(150));
        assert_eq!(expiry(&[turn("static-user")]), None);
        assert_eq!(expiry(&[stun()]), None);
    }

    #[test]
    fn refresh_comes_before_expiry_with_a_margin() {
        // 12 hours left: renew with a fifth (2.4 h) to spare.
        assert_eq!(refresh_delay(43_200, 0), Duration::from_secs(34_560));
        // 20 s left: at least 5 s ahead.
        assert_eq!(refresh_delay(1_020, 1_000), Duration::from_secs(15));
        // 6 s left: half of it.
        assert_eq!(refresh_delay(1_006, 1_000), Duration::from_secs(3));
        // Already expired: now.
        assert_eq!(refresh_delay(900, 1_000), Duration::ZERO);
    }
}
