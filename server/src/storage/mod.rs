//! Durable state: chat messages, which belong to a meeting, and the meetings themselves
//! (so that a restart inside a meeting's idle time carries on the same meeting, lock
//! and all).
//!
//! [`Store`] is the seam; [`SqliteStore`] the implementation: one thread owns the
//! database and writes in the order requests arrive.

mod schema;
mod sqlite;

use std::future::Future;
use std::pin::Pin;

pub use sqlite::{Recovered, SqliteStore};

use crate::protocol::ChatMessage;
use crate::rooms::{MeetingId, MeetingRecord};

/// A message before the store has given it an id.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    pub room: String,
    pub meeting: MeetingId,
    pub from: String,
    pub email: String,
    pub name: Option<String>,
    pub text: String,
    pub ts: i64,
    pub client_id: Option<String>,
}

/// How long the chat of an ended meeting is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// 0: deleted when the meeting ends.
    pub days: u32,
}

impl Retention {
    pub fn millis(self) -> i64 {
        i64::from(self.days) * 86_400_000
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention { days: 30 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Open(String),
    #[error("could not write to the database: {0}")]
    WriteFailed(String),
    #[error("the storage thread has stopped")]
    Stopped,
}

pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

pub trait Store: Send + Sync + 'static {
    /// Stores a message and gives it the room's next id; resolves once it is durable.
    fn append(&self, message: NewChatMessage) -> StoreFuture<ChatMessage>;
    /// The meeting's latest `limit` messages, oldest first.
    fn history(&self, meeting: MeetingId, limit: usize) -> StoreFuture<Vec<ChatMessage>>;
    /// Saves a meeting's state (each record replaces the last), in order with the chat;
    /// resolves once written. A failed write is tried again with the next one. An
    /// ended meeting's chat follows the retention. Callers that need not wait drop it.
    fn save_meeting(&self, record: MeetingRecord) -> StoreFuture<()>;
    /// Notes that the server was alive at `at` (ms): after a crash, rooms that had
    /// people in them count as empty since then.
    fn mark_alive(&self, at: i64);
    /// Resolves once everything asked before is done.
    fn flush(&self) -> StoreFuture<()>;
    /// Whether the database takes writes (after a failed write it tries one).
    fn health(&self) -> StoreFuture<()>;
}
