//! With no server configured, the app hosts one: the `server` crate in-process, on every
//! interface, so others on the local network can join with nothing else running.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use huddle_server::config::{ChatStorage, ServerConfig};
use huddle_server::{Server, ServerError};
use tokio::sync::oneshot;

/// The port tried first, so the address others type stays the same between runs.
pub const PREFERRED_PORT: u16 = 4100;

pub struct HostedServer {
    /// Where this app joins.
    pub url: String,
    /// Where others can reach it.
    pub share_urls: Vec<String>,
    _stop: oneshot::Sender<()>,
}

pub async fn host() -> Result<HostedServer, ServerError> {
    let mut config = ServerConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], PREFERRED_PORT)),
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
        .map(|ip| vec![format!("http://{ip}:{port}")])
        .unwrap_or_default();
    tracing::info!(port, ?share_urls, "hosting a signaling server");
    Ok(HostedServer {
        url: format!("http://127.0.0.1:{port}"),
        share_urls,
        _stop: stop,
    })
}

/// The address this machine is reached at on its network: the source address the system
/// would use for an outside destination (connecting a UDP socket sends nothing).
fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
