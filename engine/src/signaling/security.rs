//! Whether a server URL keeps the signaling private: `https://` always does; plain
//! `http://` is fine on loopback and private networks (the app's LAN hosting) and
//! exposes emails, chat and the DTLS fingerprints of every call anywhere else.

use std::net::IpAddr;

/// How a server URL carries the signaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `https://` (TLS).
    Encrypted,
    /// `http://` to loopback or a private address.
    PlainLocal,
    /// `http://` to anything else: readable and alterable on the way.
    PlainRemote,
}

/// What `url` is; an unparsable URL counts as remote and plain.
pub fn transport_of(url: &str) -> Transport {
    let Ok(parsed) = url::Url::parse(url) else {
        return Transport::PlainRemote;
    };
    if matches!(parsed.scheme(), "https" | "wss") {
        return Transport::Encrypted;
    }
    let local = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => is_local(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_local(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        None => false,
    };
    if local {
        Transport::PlainLocal
    } else {
        Transport::PlainRemote
    }
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_encrypted_anywhere() {
        assert_eq!(
            transport_of("https://huddle.example.com"),
            Transport::Encrypted
        );
        assert_eq!(transport_of("https://127.0.0.1:4100"), Transport::Encrypted);
    }

    #[test]
    fn plain_http_is_local_only_on_loopback_and_private_addresses() {
        for url in [
            "http://127.0.0.1:4100",
            "http://localhost:4100",
            "http://10.1.2.3:4100",
            "http://172.20.0.1",
            "http://192.168.1.20:4100",
            "http://[::1]:4100",
            "http://[fd00::5]:4100",
        ] {
            assert_eq!(transport_of(url), Transport::PlainLocal, "{url}");
        }
        for url in [
            "http://huddle.example.com",
            "http://8.8.8.8:4100",
            "http://172.32.0.1",
            "http://[2001:db8::1]",
            "not a url",
        ] {
            assert_eq!(transport_of(url), Transport::PlainRemote, "{url}");
        }
    }
}
