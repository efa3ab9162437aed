//! Server settings: where to listen, where chat lives, the protocol's limits, meetings,
//! who may connect, ICE servers and TLS. Every part has the defaults of the command
//! line, so `..ServerConfig::default()` fills what a caller does not care about.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::ice::IceConfig;
pub use crate::net::AdmissionConfig;
pub use crate::storage::Retention;

/// Where chat messages are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatStorage {
    /// An SQLite database file (WAL mode); survives restarts.
    File(PathBuf),
    /// An in-memory SQLite database; forgotten when the server stops.
    Memory,
}

impl ChatStorage {
    /// `:memory:` means no persistence; anything else is a file path.
    pub fn parse(value: &str) -> Self {
        if value == ":memory:" {
            ChatStorage::Memory
        } else {
            ChatStorage::File(PathBuf::from(value))
        }
    }

    /// The default database file in the platform's data directory
    /// (`~/.local/share/huddle/chat.db` on Linux).
    pub fn default_file() -> Self {
        let base = dirs::data_dir().unwrap_or_else(|| PathBuf::from("."));
        ChatStorage::File(base.join("huddle").join("chat.db"))
    }
}

impl std::fmt::Display for ChatStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatStorage::File(path) => write!(f, "{}", path.display()),
            ChatStorage::Memory => f.write_str(":memory:"),
        }
    }
}

/// The limits of PROTOCOL.md (defaults are the protocol's), from the protocol crate.
pub use huddle_protocol::Limits;

/// How long meetings and their chat last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingConfig {
    /// A meeting ends when its room has stayed empty this long.
    pub idle_ms: i64,
    pub retention: Retention,
}

impl Default for MeetingConfig {
    fn default() -> Self {
        MeetingConfig {
            idle_ms: 300_000,
            retention: Retention::default(),
        }
    }
}

/// `--tls-cert` / `--tls-key`: PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub storage: ChatStorage,
    /// When set, `GET /api/rooms` and `GET /metrics` need `Authorization: Bearer <token>`;
    /// without one, `/api/rooms` does not exist.
    pub admin_token: Option<String>,
    pub limits: Limits,
    pub meetings: MeetingConfig,
    pub admission: AdmissionConfig,
    /// Bytes queued for one client that is not reading before it is disconnected.
    pub max_outbound_bytes: usize,
    pub ice: IceConfig,
    /// HTTPS and WSS when set; plain HTTP otherwise.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4100)),
            storage: ChatStorage::Memory,
            admin_token: None,
            limits: Limits::default(),
            meetings: MeetingConfig::default(),
            admission: AdmissionConfig::default(),
            max_outbound_bytes: 4 << 20,
            ice: IceConfig::default(),
            tls: None,
        }
    }
}
