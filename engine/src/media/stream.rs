//! Which remote stream something is about.

use serde::Serialize;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Audio,
    Video,
    Screen,
}

/// Identifies a remote stream: whose, and which kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId {
    pub remote_id: String,
    pub kind: StreamKind,
}
