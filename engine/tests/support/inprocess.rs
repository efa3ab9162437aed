//! A signaling server inside the test process, and peer settings for loopback.

use huddle_engine::{Identity, PeerSetup, SessionConfig};
use huddle_server::Server;
use huddle_server::config::ServerConfig;

/// Starts a server on a free loopback port; returns its URL.
pub async fn start_server() -> String {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.expect("bind");
    let url = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    url
}

/// A session's settings for `identity`, with ICE on loopback only.
pub fn loopback_config(identity: Identity) -> SessionConfig {
    SessionConfig {
        peers: loopback(),
        ..SessionConfig::new(identity)
    }
}

/// ICE candidates on loopback only.
pub fn loopback() -> PeerSetup {
    PeerSetup {
        udp_addrs: vec!["127.0.0.1:0".into()],
        ..PeerSetup::default()
    }
}
