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

/// The limits of PROTOCOL.md; the defaults are the protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_email_bytes: usize,
    pub max_room_chars: usize,
    pub max_name_chars: usize,
    pub max_sdp_bytes: usize,
    pub max_candidate_bytes: usize,
    pub max_chat_chars: usize,
    pub max_client_id_chars: usize,
    pub room_size: usize,
    /// How many recent chat messages a join ack carries.
    pub history: usize,
    /// Events per second per connection; `0` turns the limit off.
    pub rate_limit: u32,
}

impl Limits {
    /// The largest whole event payload accepted; bigger ones get `payload_too_large`.
    /// An SDP plus generous room for the envelope around it.
    pub fn max_event_bytes(&self) -> usize {
        self.max_sdp_bytes + 16 * 1024
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_email_bytes: 254,
            max_room_chars: 64,
            max_name_chars: 64,
            max_sdp_bytes: 64 * 1024,
            max_candidate_bytes: 2 * 1024,
            max_chat_chars: 4000,
            max_client_id_chars: 128,
            room_size: 50,
            history: 100,
            rate_limit: 200,
        }
    }
}

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
