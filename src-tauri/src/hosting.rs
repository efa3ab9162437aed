//! With no server configured, the app hosts one: the `server` crate in-process. It
//! listens on 127.0.0.1 only, unless the user lets others on the network join: then on
//! every interface, and the rooms we host are locked with a passcode generated here
//! (a room number alone must not let a neighbour in).

use std::net::{IpAddr, SocketAddr, UdpSocket};

use huddle_server::config::{ChatStorage, ServerConfig};
use huddle_server::{Server, ServerError};
use tokio::sync::oneshot;

/// The port tried first, so the address others type stays the same between runs.
pub const PREFERRED_PORT: u16 = 4100;

pub struct HostedServer {
    /// Where this app joins.
    pub url: String,
    /// Where others can reach it (none when it listens on loopback only).
    pub share_urls: Vec<String>,
    /// Whether others on the network may join (it listens on every interface).
    pub lan: bool,
    /// The passcode the rooms we host are locked with (LAN hosting only).
    pub passcode: Option<String>,
    _stop: oneshot::Sender<()>,
}

/// Hosts a server: on 127.0.0.1, or for the whole network when `lan`.
pub async fn host(lan: bool) -> Result<HostedServer, ServerError> {
    let ip = if lan { [0, 0, 0, 0] } else { [127, 0, 0, 1] };
    let mut config = ServerConfig {
        listen: SocketAddr::from((ip, PREFERRED_PORT)),
        storage: ChatStorage::default_file(),
        ..ServerConfig::default()
    };
    let server = match Server::bind(config.clone()).await {
        Ok(server) => server,
        Err(ServerError::Bind { .. }) => {
            config.listen.set_port(0);
            Server::bind(config).await?
        }
        Err(e) => return Err(e),
    };
    let port = server.local_addr().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = server.run(shutdown).await {
            tracing::error!(error = %e, "the hosted server stopped");
        }
    });
    let share_urls = lan_address()
        .filter(|_| lan)
        .map(|ip| vec![format!("http://{ip}:{port}")])
        .unwrap_or_default();
    tracing::info!(port, lan, ?share_urls, "hosting a signaling server");
    Ok(HostedServer {
        url: format!("http://127.0.0.1:{port}"),
        share_urls,
        lan,
        passcode: lan.then(generate_passcode),
        _stop: stop,
    })
}

/// Ten characters others can read aloud and type (no 0/O, 1/l), from a generator
/// seeded by the system's random source.
pub fn generate_passcode() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// A `huddle://join` link to `room` on a LAN-hosted server: only room, passcode and
/// server, which is all a link may carry.
pub fn join_link(server: &str, room: &str, passcode: Option<&str>) -> String {
    let mut url = url::Url::parse("huddle://join").expect("a valid base");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("room", room);
        if let Some(p) = passcode {
            q.append_pair("passcode", p);
        }
        q.append_pair("server", server);
    }
    url.to_string()
}

/// The address this machine is reached at on its network: the source address the system
/// would use for an outside destination (connecting a UDP socket sends nothing).
fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcodes_are_long_readable_and_differ() {
        let (a, b) = (generate_passcode(), generate_passcode());
        assert_eq!(a.len(), 10);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"01lo".contains(c))
        );
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_hosted_server_listens_on_loopback_unless_the_network_may_join() {
        let local = host(false).await.expect("hosted");
        assert!(local.share_urls.is_empty() && local.passcode.is_none());
        let port = url::Url::parse(&local.url).unwrap().port().unwrap();
        // Reachable on 127.0.0.1, not on the machine's network address.
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        if let Some(ip) = lan_address() {
            assert!(std::net::TcpStream::connect((ip, port)).is_err());
        }
        let lan = host(true).await.expect("hosted");
        assert!(lan.passcode.is_some());
    }

    #[test]
    fn a_join_link_carries_room_passcode_and_server_only() {
        let link = join_link("http://10.0.0.2:4100", "42", Some("abc def"));
        assert_eq!(
            link,
            "huddle://join?room=42&passcode=abc+def&server=http%3A%2F%2F10.0.0.2%3A4100"
        );
    }
}
