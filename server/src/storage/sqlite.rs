//! [`SqliteStore`]: one thread owns the SQLite connection and handles requests in the
//! order they arrive. Appends that arrive together are committed in one transaction
//! (group commit) and only then answered, so an acked message is on disk: WAL mode with
//! `synchronous=NORMAL` survives a killed process (not a power cut).
//!
//! A write that fails (a full disk) fails only what it carried: its senders hear of it,
//! what was committed before stays, meetings not saved are tried again with the next
//! write, and [`Store::health`] reports the trouble until a write succeeds.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{NewChatMessage, Retention, Store, StoreError, StoreFuture, schema};
use crate::config::ChatStorage;
use crate::protocol::{ChatMessage, chat_id};
use crate::rooms::{MeetingId, MeetingRecord};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Request {
    Append(NewChatMessage, Reply<ChatMessage>),
    History(MeetingId, usize, Reply<Vec<ChatMessage>>),
    SaveMeeting(Box<MeetingRecord>, Reply<()>),
    Alive(i64),
    Flush(Reply<()>),
    Health(Reply<()>),
}

/// What a previous run left: the meetings still open, the next free meeting id, and
/// when the server was last known alive.
#[derive(Debug, Default)]
pub struct Recovered {
    pub open_meetings: Vec<MeetingRecord>,
    pub next_meeting: i64,
    pub last_alive: Option<i64>,
}

/// Rows of the `health` table.
const PROBE_ROW: i64 = 1;
const ALIVE_ROW: i64 = 2;

pub struct SqliteStore {
    requests: mpsc::Sender<Request>,
}

/// At most this many appends share one transaction.
const MAX_BATCH: usize = 512;
/// How often ended meetings past the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqliteStore {
    /// Opens (or creates) the database, checks it can be written, and starts its thread.
    pub fn open(
        storage: &ChatStorage,
        retention: Retention,
    ) -> Result<(Self, Recovered), StoreError> {
        Self::open_inner(storage, retention).map_err(explain)
    }

    fn open_inner(
        storage: &ChatStorage,
        retention: Retention,
    ) -> Result<(Self, Recovered), StoreError> {
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
        conn.busy_timeout(Duration::from_secs(5))?;
        schema::migrate(&conn)?;
        let mut writer = Writer::new(conn, retention);
        // A database we cannot write to is refused now, not at the first message.
        writer.probe()?;
        writer.prune(now_ms())?;
        let recovered = writer.recover()?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("huddle-db".into())
            .spawn(move || writer.run(rx))
            .map_err(|_| StoreError::Stopped)?;
        Ok((SqliteStore { requests: tx }, recovered))
    }

    fn ask<T: Send + 'static>(&self, make: impl FnOnce(Reply<T>) -> Request) -> StoreFuture<T> {
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

impl Store for SqliteStore {
    fn append(&self, message: NewChatMessage) -> StoreFuture<ChatMessage> {
        self.ask(|tx| Request::Append(message, tx))
    }

    fn history(&self, meeting: MeetingId, limit: usize) -> StoreFuture<Vec<ChatMessage>> {
        self.ask(move |tx| Request::History(meeting, limit, tx))
    }

    fn save_meeting(&self, record: MeetingRecord) -> StoreFuture<()> {
        self.ask(|tx| Request::SaveMeeting(Box::new(record), tx))
    }

    fn mark_alive(&self, at: i64) {
        let _ = self.requests.send(Request::Alive(at));
    }

    fn flush(&self) -> StoreFuture<()> {
        self.ask(Request::Flush)
    }

    fn health(&self) -> StoreFuture<()> {
        self.ask(Request::Health)
    }
}

/// The thread that owns the connection.
struct Writer {
    conn: Connection,
    retention: Retention,
    /// Last sequence number used per room, so ids continue after a restart.
    last_seq: HashMap<String, i64>,
    /// Meetings to write (the latest record of each), kept until a write succeeds.
    unsaved: BTreeMap<MeetingId, MeetingRecord>,
    /// Why the last write failed, until one succeeds.
    trouble: Option<String>,
    next_prune: Instant,
}

impl Writer {
    fn new(conn: Connection, retention: Retention) -> Self {
        Writer {
            conn,
            retention,
            last_seq: HashMap::new(),
            unsaved: BTreeMap::new(),
            trouble: None,
            next_prune: Instant::now() + PRUNE_EVERY,
        }
    }

    fn run(mut self, requests: mpsc::Receiver<Request>) {
        loop {
            let wait = self.next_prune.saturating_duration_since(Instant::now());
            let first = match requests.recv_timeout(wait) {
                Ok(request) => request,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.next_prune = Instant::now() + PRUNE_EVERY;
                    if let Err(e) = self.prune(now_ms()) {
                        tracing::error!(error = %e, "deleting old chat failed");
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut appends = Vec::new();
            let mut reads = Vec::new();
            let mut health = Vec::new();
            let mut saved = Vec::new();
            let mut done = Vec::new();
            let mut alive = None;
            let mut next = Some(first);
            while let Some(request) = next {
                match request {
                    Request::Append(m, tx) => appends.push((m, tx)),
                    Request::History(meeting, limit, tx) => reads.push((meeting, limit, tx)),
                    Request::SaveMeeting(record, tx) => {
                        self.unsaved.insert(record.id, *record);
                        saved.push(tx);
                    }
                    Request::Alive(at) => alive = Some(at),
                    Request::Flush(tx) => done.push(tx),
                    Request::Health(tx) => health.push(tx),
                }
                next = if appends.len() < MAX_BATCH {
                    requests.try_recv().ok()
                } else {
                    None
                };
            }
            self.save_meetings();
            for tx in saved {
                let _ = tx.send(Ok(()));
            }
            if !appends.is_empty() {
                self.commit(appends);
            }
            if let Some(at) = alive
                && let Err(e) = self.mark_alive(at)
            {
                self.failed("noting the server alive", &e);
            }
            for (meeting, limit, tx) in reads {
                let _ = tx.send(self.read_history(meeting, limit));
            }
            if !health.is_empty() {
                let status = self.check_health();
                for tx in health {
                    let _ = tx.send(status.clone().map_err(StoreError::WriteFailed));
                }
            }
            for tx in done {
                let _ = tx.send(Ok(()));
            }
        }
    }

    fn failed(&mut self, what: &str, e: &StoreError) {
        tracing::error!(error = %e, "{what} failed");
        self.trouble = Some(e.to_string());
    }

    fn check_health(&mut self) -> Result<(), String> {
        if self.trouble.is_some() {
            self.save_meetings();
            if let Err(e) = self.probe() {
                self.failed("storage health check", &e);
            }
        }
        match &self.trouble {
            None => Ok(()),
            Some(why) => Err(why.clone()),
        }
    }

    /// A small write, to learn whether writes work.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.write_health_row(PROBE_ROW, now_ms())?;
        self.trouble = None;
        Ok(())
    }

    fn mark_alive(&mut self, at: i64) -> Result<(), StoreError> {
        self.write_health_row(ALIVE_ROW, at)
    }

    fn write_health_row(&self, row: i64, at: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO health (id, at) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET at = ?2",
            [row, at],
        )?;
        Ok(())
    }

    fn save_meetings(&mut self) {
        if self.unsaved.is_empty() {
            return;
        }
        let result = (|| -> Result<(), StoreError> {
            let tx = self.conn.transaction()?;
            for record in self.unsaved.values() {
                write_meeting(&tx, record, self.retention)?;
            }
            tx.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.unsaved.clear();
                self.trouble = None;
            }
            Err(e) => self.failed("saving meetings", &e),
        }
    }

    fn commit(&mut self, appends: Vec<(NewChatMessage, Reply<ChatMessage>)>) {
        let mut done = Vec::with_capacity(appends.len());
        let result = (|| -> Result<(), StoreError> {
            let tx = self.conn.transaction()?;
            let mut touched: HashMap<String, i64> = HashMap::new();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO chat_messages (room, seq, meeting, sender, email, name, text, ts, client_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for (m, reply) in appends {
                    let seq = match touched.get(&m.room).or(self.last_seq.get(&m.room)) {
                        Some(seq) => seq + 1,
                        None => last_seq(&tx, &m.room)? + 1,
                    };
                    insert.execute(params![
                        m.room,
                        seq,
                        m.meeting.0,
                        m.from,
                        m.email,
                        m.name,
                        m.text,
                        m.ts,
                        m.client_id
                    ])?;
                    touched.insert(m.room.clone(), seq);
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
                let mut last = tx.prepare_cached(
                    "INSERT INTO chat_rooms (room, last_seq) VALUES (?1, ?2)
                     ON CONFLICT(room) DO UPDATE SET last_seq = ?2",
                )?;
                for (room, seq) in &touched {
                    last.execute(params![room, seq])?;
                }
            }
            tx.commit()?;
            self.last_seq.extend(touched);
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.trouble = None;
                for (message, reply) in done {
                    let _ = reply.send(Ok(message));
                }
            }
            Err(e) => {
                // The transaction rolled back: nothing of it was stored.
                self.failed("storing chat", &e);
                let text = e.to_string();
                for (_, reply) in done {
                    let _ = reply.send(Err(StoreError::WriteFailed(text.clone())));
                }
            }
        }
    }

    fn read_history(
        &self,
        meeting: MeetingId,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, room, sender, email, name, text, ts, client_id FROM chat_messages
             WHERE meeting = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let mut out = stmt
            .query_map(params![meeting.0, limit as i64], |r| {
                Ok(ChatMessage {
                    id: chat_id(r.get(0)?),
                    room: r.get(1)?,
                    from: r.get(2)?,
                    email: r.get(3)?,
                    name: r.get(4)?,
                    text: r.get(5)?,
                    ts: r.get(6)?,
                    client_id: r.get(7)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// Deletes ended meetings older than the retention, with their chat, and chat from
    /// before meetings existed that is as old.
    fn prune(&mut self, now: i64) -> Result<(), StoreError> {
        let cutoff = now - self.retention.millis();
        let tx = self.conn.transaction()?;
        let messages = tx.execute(
            "DELETE FROM chat_messages WHERE meeting IN
                (SELECT id FROM meetings WHERE ended_at IS NOT NULL AND ended_at <= ?1)",
            [cutoff],
        )? + tx.execute(
            "DELETE FROM chat_messages WHERE meeting IS NULL AND ts <= ?1",
            [cutoff],
        )?;
        let meetings = tx.execute(
            "DELETE FROM meetings WHERE ended_at IS NOT NULL AND ended_at <= ?1",
            [cutoff],
        )?;
        tx.commit()?;
        if messages + meetings > 0 {
            tracing::info!(messages, meetings, "deleted chat past its retention");
        }
        Ok(())
    }

    fn recover(&self) -> Result<Recovered, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, room, started_at, emptied_at, passcode, waiting_room, listed, removed
             FROM meetings WHERE ended_at IS NULL ORDER BY id",
        )?;
        let open_meetings = stmt
            .query_map([], |r| {
                let removed: String = r.get(7)?;
                Ok(MeetingRecord {
                    id: MeetingId(r.get(0)?),
                    room: r.get(1)?,
                    started_at: r.get(2)?,
                    emptied_at: r.get(3)?,
                    ended_at: None,
                    passcode: r.get(4)?,
                    waiting_room: r.get(5)?,
                    listed: r.get(6)?,
                    removed: serde_json::from_str(&removed).unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // sqlite_sequence remembers ids of deleted meetings too.
        let used: i64 = self.conn.query_row(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'meetings'), 0),
                        COALESCE((SELECT MAX(id) FROM meetings), 0),
                        COALESCE((SELECT MAX(meeting) FROM chat_messages), 0))",
            [],
            |r| r.get(0),
        )?;
        let last_alive: Option<i64> = self
            .conn
            .query_row("SELECT at FROM health WHERE id = ?1", [ALIVE_ROW], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(Recovered {
            open_meetings,
            next_meeting: used + 1,
            last_alive,
        })
    }
}

/// Says what SQLite's most common refusals to open mean for the person starting us.
fn explain(e: StoreError) -> StoreError {
    let StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, detail)) = &e else {
        return e;
    };
    let what = match failure.code {
        rusqlite::ErrorCode::CannotOpen => {
            "unable to open the database file; check that it and its folder exist and are writable"
        }
        rusqlite::ErrorCode::ReadOnly => {
            "the database is read-only; check that the file and its folder are writable"
        }
        rusqlite::ErrorCode::NotADatabase => "the file is not an SQLite database",
        rusqlite::ErrorCode::DiskFull => "the disk is full",
        rusqlite::ErrorCode::PermissionDenied => "permission denied",
        _ => return e,
    };
    let detail = detail.as_deref().unwrap_or("");
    StoreError::Open(format!("{what} ({detail})"))
}

fn last_seq(tx: &rusqlite::Transaction<'_>, room: &str) -> Result<i64, StoreError> {
    let recorded: Option<i64> = tx
        .query_row(
            "SELECT last_seq FROM chat_rooms WHERE room = ?1",
            [room],
            |r| r.get(0),
        )
        .optional()?;
    let stored: Option<i64> = tx
        .query_row(
            "SELECT MAX(seq) FROM chat_messages WHERE room = ?1",
            [room],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(recorded.unwrap_or(0).max(stored.unwrap_or(0)))
}

/// Writes a meeting's record. An ended meeting keeps no passcode or removals, and with
/// a retention of 0 it is deleted at once, with its chat.
fn write_meeting(
    tx: &rusqlite::Transaction<'_>,
    m: &MeetingRecord,
    retention: Retention,
) -> Result<(), StoreError> {
    if m.ended_at.is_some() && retention.days == 0 {
        tx.execute("DELETE FROM chat_messages WHERE meeting = ?1", [m.id.0])?;
    }
    let ended = m.ended_at.is_some();
    let removed = if ended {
        "[]".to_string()
    } else {
        serde_json::to_string(&m.removed).unwrap_or_else(|_| "[]".into())
    };
    tx.execute(
        "INSERT INTO meetings (id, room, started_at, emptied_at, ended_at, passcode, waiting_room, listed, removed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(id) DO UPDATE SET emptied_at = ?4, ended_at = ?5, passcode = ?6,
             waiting_room = ?7, listed = ?8, removed = ?9",
        params![
            m.id.0,
            m.room,
            m.started_at,
            m.emptied_at,
            m.ended_at,
            if ended { None } else { m.passcode.as_deref() },
            m.waiting_room,
            m.listed,
            removed
        ],
    )?;
    if ended && retention.days == 0 {
        // Written first all the same, so that sqlite_sequence remembers the id.
        tx.execute("DELETE FROM meetings WHERE id = ?1", [m.id.0])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
