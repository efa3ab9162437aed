//! Who may open a Socket.IO session, decided on its first HTTP request:
//!
//! - **Origin.** A request that carries an `Origin` header (a web page) must come from
//!   an allowed origin (`--allow-origin`); none are by default. Native clients and Node
//!   send no `Origin` and are not affected.
//! - **Connection caps.** At most `max_connections` sessions in all and
//!   `max_connections_per_ip` from one client address. Loopback addresses are exempt
//!   from the per-address cap unless told otherwise (a local reverse proxy would count
//!   as one address).
//! - **Client address.** The TCP peer, or with `trust_forwarded_for` and a loopback peer
//!   (a local reverse proxy), the last address of `X-Forwarded-For`: the one the proxy
//!   itself saw, which a client cannot forge.
//!
//! A session holds a [`Slot`] for as long as it lives (the slot rides in the request
//! the session keeps); dropping it frees the place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};

#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Loopback addresses are not held to the per-address limits.
    pub exempt_loopback: bool,
    pub trust_forwarded_for: bool,
    /// Origins allowed to connect, exactly as browsers send them (`https://host:port`).
    pub allowed_origins: Vec<String>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_connections: 10_000,
            max_connections_per_ip: 64,
            exempt_loopback: true,
            trust_forwarded_for: false,
            allowed_origins: Vec::new(),
        }
    }
}

/// A client's address, and whether per-address limits apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp {
    pub ip: IpAddr,
    pub counted: bool,
}

impl ClientIp {
    /// The address per-address limits count, if they apply.
    pub fn counted(self) -> Option<IpAddr> {
        self.counted.then_some(self.ip)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("origin {0} is not allowed to connect to this server")]
    Origin(String),
    #[error("the server is at its connection limit ({0}); try again later")]
    Full(usize),
    #[error("too many connections from your address (limit {0})")]
    PerAddress(usize),
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Origin(_) => StatusCode::FORBIDDEN,
            Refused::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
            Refused::PerAddress(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// For the refusal counter.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::Origin(_) => "origin",
            Refused::Full(_) => "max_connections",
            Refused::PerAddress(_) => "max_connections_per_ip",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

pub struct Admission {
    config: AdmissionConfig,
    counts: Mutex<Counts>,
}

/// A session's place in the counts, given back when it is dropped.
pub struct Slot {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("ip", &self.ip).finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Arc<Self> {
        Arc::new(Admission {
            config,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// The client behind a request from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        let mut ip = canonical(peer);
        if self.config.trust_forwarded_for
            && ip.is_loopback()
            && let Some(forwarded) = last_forwarded(headers)
        {
            ip = forwarded;
        }
        ClientIp {
            ip,
            counted: !(self.config.exempt_loopback && ip.is_loopback()),
        }
    }

    /// A request with an `Origin` must come from an allowed one.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if self.config.allowed_origins.iter().any(|o| *o == origin) {
            Ok(())
        } else {
            Err(Refused::Origin(origin.chars().take(200).collect()))
        }
    }

    /// Takes a place for a new session from `client`.
    pub fn admit(self: &Arc<Self>, client: ClientIp) -> Result<Slot, Refused> {
        let mut counts = self.counts();
        if counts.total >= self.config.max_connections {
            return Err(Refused::Full(self.config.max_connections));
        }
        let ip = client.counted();
        if let Some(ip) = ip {
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= self.config.max_connections_per_ip {
                if *n == 0 {
                    counts.per_ip.remove(&ip);
                }
                return Err(Refused::PerAddress(self.config.max_connections_per_ip));
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }

    /// Sessions holding a place.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

/// `::ffff:a.b.c.d` is the IPv4 client it stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The last address in the last `X-Forwarded-For` header: the one the proxy added.
fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    last.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admission(per_ip: usize, total: usize, exempt_loopback: bool) -> Arc<Admission> {
        Admission::new(AdmissionConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            exempt_loopback,
            ..AdmissionConfig::default()
        })
    }

    #[test]
    fn per_address_and_total_caps_and_places_come_back() {
        let a = admission(2, 3, true);
        let x = a.client_ip(ip("192.0.2.1"), &HeaderMap::new());
        let y = a.client_ip(ip("192.0.2.2"), &HeaderMap::new());
        let s1 = a.admit(x).unwrap();
        let _s2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), Refused::PerAddress(2));
        let _s3 = a.admit(y).unwrap();
        assert_eq!(a.admit(y).unwrap_err(), Refused::Full(3));
        drop(s1);
        assert_eq!(a.open(), 2);
        a.admit(x).unwrap();
    }

    #[test]
    fn loopback_is_exempt_unless_told_otherwise() {
        let exempt = admission(1, 100, true);
        let lo = exempt.client_ip(ip("127.0.0.1"), &HeaderMap::new());
        assert!(!lo.counted);
        let slots: Vec<_> = (0..5).map(|_| exempt.admit(lo).unwrap()).collect();
        assert_eq!(exempt.open(), 5);
        drop(slots);
        let strict = admission(1, 100, false);
        let lo = strict.client_ip(ip("::1"), &HeaderMap::new());
        let _s = strict.admit(lo).unwrap();
        assert_eq!(strict.admit(lo).unwrap_err(), Refused::PerAddress(1));
        assert_eq!(canonical(ip("::ffff:192.0.2.9")), ip("192.0.2.9"));
    }

    #[test]
    fn forwarded_for_only_from_a_loopback_proxy_and_only_its_last_entry() {
        let trusting = Admission::new(AdmissionConfig {
            trust_forwarded_for: true,
            ..AdmissionConfig::default()
        });
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.9.9.9, 203.0.113.5"),
        );
        let c = trusting.client_ip(ip("127.0.0.1"), &h);
        assert_eq!((c.ip, c.counted), (ip("203.0.113.5"), true));
        // From anywhere else the header is the client's own claim: ignored.
        assert_eq!(
            trusting.client_ip(ip("198.51.100.1"), &h).ip,
            ip("198.51.100.1")
        );
        // Not trusted: ignored.
        let plain = Admission::new(AdmissionConfig::default());
        assert_eq!(plain.client_ip(ip("127.0.0.1"), &h).ip, ip("127.0.0.1"));
        // Garbage: the peer.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not an address"),
        );
        assert_eq!(trusting.client_ip(ip("127.0.0.1"), &h).ip, ip("127.0.0.1"));
    }

    #[test]
    fn origins() {
        let a = Admission::new(AdmissionConfig {
            allowed_origins: vec!["https://app.example".into()],
            ..AdmissionConfig::default()
        });
        let mut h = HeaderMap::new();
        assert!(a.check_origin(&h).is_ok(), "no Origin: a native client");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example"),
        );
        assert!(a.check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(
            a.check_origin(&h).unwrap_err(),
            Refused::Origin("https://evil.example".into())
        );
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(a.check_origin(&h).is_err());
        let none = Admission::new(AdmissionConfig::default());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example"),
        );
        assert!(none.check_origin(&h).is_err(), "none allowed by default");
    }
}
