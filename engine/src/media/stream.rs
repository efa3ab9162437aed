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

/// Which encoding of a camera a peer gets: the full one, or the low one (half the size)
/// for a peer whose link cannot carry the full one (`congestion::encodings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Full,
    Low,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Full => "full",
            Layer::Low => "low",
        }
    }
}
