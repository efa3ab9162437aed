//! Durable chat: [`ChatStore`] is the seam, [`SqliteChatStore`] the implementation.
//!
//! One thread owns the SQLite connection. Appends that arrive together are committed
//! in one transaction (group commit) and only then answered, so an acked message is on
//! disk: WAL mode with `synchronous=NORMAL` survives a killed process (not a power cut).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::config::ChatStorage;
use crate::protocol::{ChatMessage, chat_id};

/// A message before the store has given it an id.
#[derive(Debug, Clone)]
pub struct NewChatMessage {
    pub room: String,
    pub from: String,
    pub email: String,
    pub name: Option<String>,
    pub text: String,
    pub ts: i64,
    pub client_id: Option<String>,
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
    #[error("could not store the message: {0}")]
    CommitFailed(String),
    #[error("the chat storage thread has stopped")]
    Stopped,
}

pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

pub trait ChatStore: Send + Sync + 'static {
    /// Stores a message and gives it the room's next id; resolves once it is durable.
    fn append(&self, message: NewChatMessage) -> StoreFuture<ChatMessage>;
    /// The room's latest `limit` messages, oldest first.
    fn history(&self, room: &str, limit: usize) -> StoreFuture<Vec<ChatMessage>>;
}

enum Request {
    Append(
        NewChatMessage,
        oneshot::Sender<Result<ChatMessage, StoreError>>,
    ),
    History(
        String,
        usize,
        oneshot::Sender<Result<Vec<ChatMessage>, StoreError>>,
    ),
}

pub struct SqliteChatStore {
    requests: mpsc::Sender<Request>,
}

/// At most this many appends share one transaction.
const MAX_BATCH: usize = 512;

impl SqliteChatStore {
    pub fn open(storage: &ChatStorage) -> Result<Self, StoreError> {
        let conn = match storage {
            ChatStorage::Memory => Connection::open_in_memory()?,
            ChatStorage::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                let conn = Connection::open(path)?;
                let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    tracing::warn!(mode, "SQLite did not switch to WAL mode");
                }
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS chat_messages (
                room      TEXT    NOT NULL,
                seq       INTEGER NOT NULL,
                sender    TEXT    NOT NULL,
                email     TEXT    NOT NULL,
                name      TEXT,
                text      TEXT    NOT NULL,
                ts        INTEGER NOT NULL,
                client_id TEXT,
                PRIMARY KEY (room, seq)
            ) WITHOUT ROWID;",
        )?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("huddle-chat-db".into())
            .spawn(move || Writer::new(conn).run(rx))
            .map_err(|_| StoreError::Stopped)?;
        Ok(SqliteChatStore { requests: tx })
    }

    fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> StoreFuture<T> {
        let (tx, rx) = oneshot::channel();
        let sent = self.requests.send(make(tx)).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Stopped);
            }
            rx.await.unwrap_or(Err(StoreError::Stopped))
        })
    }
}

impl ChatStore for SqliteChatStore {
    fn append(&self, message: NewChatMessage) -> StoreFuture<ChatMessage> {
        self.ask(|tx| Request::Append(message, tx))
    }

    fn history(&self, room: &str, limit: usize) -> StoreFuture<Vec<ChatMessage>> {
        let room = room.to_string();
        self.ask(move |tx| Request::History(room, limit, tx))
    }
}

/// The thread that owns the connection.
struct Writer {
    conn: Connection,
    /// Last sequence number used per room, so ids continue after a restart.
    last_seq: HashMap<String, i64>,
}

type Pending = (
    ChatMessage,
    oneshot::Sender<Result<ChatMessage, StoreError>>,
);

impl Writer {
    fn new(conn: Connection) -> Self {
        Writer {
            conn,
            last_seq: HashMap::new(),
        }
    }

    fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut appends = Vec::new();
            let mut reads = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next {
                match request {
                    Request::Append(m, tx) => appends.push((m, tx)),
                    Request::History(room, limit, tx) => reads.push((room, limit, tx)),
                }
                next = if appends.len() < MAX_BATCH {
                    requests.try_recv().ok()
                } else {
                    None
                };
            }
            if !appends.is_empty() {
                self.commit(appends);
            }
            for (room, limit, tx) in reads {
                let _ = tx.send(self.read_history(&room, limit));
            }
        }
    }

    fn commit(
        &mut self,
        appends: Vec<(
            NewChatMessage,
            oneshot::Sender<Result<ChatMessage, StoreError>>,
        )>,
    ) {
        let mut done: Vec<Pending> = Vec::with_capacity(appends.len());
        let result = (|| -> Result<(), StoreError> {
            let tx = self.conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO chat_messages (room, seq, sender, email, name, text, ts, client_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for (m, reply) in appends {
                    let seq = match self.last_seq.get(&m.room) {
                        Some(seq) => seq + 1,
                        None => {
                            let last: Option<i64> = tx
                                .query_row(
                                    "SELECT MAX(seq) FROM chat_messages WHERE room = ?1",
                                    [&m.room],
                                    |r| r.get(0),
                                )
                                .optional()?
                                .flatten();
                            last.unwrap_or(0) + 1
                        }
                    };
                    insert.execute(params![
                        m.room,
                        seq,
                        m.from,
                        m.email,
                        m.name,
                        m.text,
                        m.ts,
                        m.client_id
                    ])?;
                    self.last_seq.insert(m.room.clone(), seq);
                    let stored = ChatMessage {
                        id: chat_id(seq),
                        room: m.room,
                        from: m.from,
                        email: m.email,
                        name: m.name,
                        text: m.text,
                        ts: m.ts,
                        client_id: m.client_id,
                    };
                    done.push((stored, reply));
                }
            }
            tx.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                for (message, reply) in done {
                    let _ = reply.send(Ok(message));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "chat commit failed");
                // The transaction rolled back: forget the sequence numbers it used.
                self.last_seq.clear();
                let text = e.to_string();
                for (_, reply) in done {
                    let _ = reply.send(Err(StoreError::CommitFailed(text.clone())));
                }
            }
        }
    }

    fn read_history(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, sender, email, name, text, ts, client_id FROM chat_messages
             WHERE room = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let mut out = stmt
            .query_map(params![room, limit as i64], |r| {
                Ok(ChatMessage {
                    id: chat_id(r.get(0)?),
                    room: room.to_string(),
                    from: r.get(1)?,
                    email: r.get(2)?,
                    name: r.get(3)?,
                    text: r.get(4)?,
                    ts: r.get(5)?,
                    client_id: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: &str, text: &str) -> NewChatMessage {
        NewChatMessage {
            room: room.into(),
            from: "sid".into(),
            email: "a@b.c".into(),
            name: Some("Ada".into()),
            text: text.into(),
            ts: 1,
            client_id: Some(format!("c-{text}")),
        }
    }

    #[tokio::test]
    async fn ids_increase_per_room_and_history_is_oldest_first() {
        let store = SqliteChatStore::open(&ChatStorage::Memory).unwrap();
        for i in 0..5 {
            let m = store.append(message("a", &i.to_string())).await.unwrap();
            assert_eq!(m.id, chat_id(i + 1));
        }
        assert_eq!(
            store.append(message("b", "x")).await.unwrap().id,
            chat_id(1)
        );
        let h = store.history("a", 3).await.unwrap();
        let texts: Vec<_> = h.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["2", "3", "4"]);
        assert_eq!(h[0].client_id.as_deref(), Some("c-2"));
        assert!(store.history("none", 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn messages_and_ids_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = ChatStorage::File(dir.path().join("nested/chat.db"));
        {
            let store = SqliteChatStore::open(&path).unwrap();
            let pending: Vec<_> = (0..100)
                .map(|i| store.append(message("r", &i.to_string())))
                .collect();
            for p in pending {
                p.await.unwrap();
            }
        }
        let store = SqliteChatStore::open(&path).unwrap();
        assert_eq!(store.history("r", 1000).await.unwrap().len(), 100);
        assert_eq!(
            store.append(message("r", "after")).await.unwrap().id,
            chat_id(101)
        );
    }

    #[test]
    fn an_unwritable_location_is_a_clear_error() {
        let err = SqliteChatStore::open(&ChatStorage::File("/proc/huddle/chat.db".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/proc/huddle"), "{err}");
    }
}
