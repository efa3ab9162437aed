//! Server settings: where to listen, where chat lives, and the protocol's limits.

use std::net::SocketAddr;
use std::path::PathBuf;

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

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub storage: ChatStorage,
    /// When set, `GET /api/rooms` needs `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4100)),
            storage: ChatStorage::Memory,
            admin_token: None,
            limits: Limits::default(),
        }
    }
}
