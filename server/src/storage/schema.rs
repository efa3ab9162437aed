//! The database's tables, created or brought up to date when it is opened.

use rusqlite::Connection;

/// Creates what is missing. A database written before meetings existed gets its chat
/// table a `meeting` column: its old messages belong to no meeting, so no join ever
/// shows them, and the retention deletes them by age; their rooms' ids go on.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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
    let before_meetings = !has_column(conn, "chat_messages", "meeting")?;
    if before_meetings {
        conn.execute_batch("ALTER TABLE chat_messages ADD COLUMN meeting INTEGER;")?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS chat_by_meeting ON chat_messages (meeting, seq);
        -- The last id given per room, so ids keep increasing after old chat is deleted.
        CREATE TABLE IF NOT EXISTS chat_rooms (
            room     TEXT    PRIMARY KEY,
            last_seq INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO chat_rooms (room, last_seq)
            SELECT room, MAX(seq) FROM chat_messages GROUP BY room;
        -- AUTOINCREMENT: ids of deleted meetings are never given again.
        CREATE TABLE IF NOT EXISTS meetings (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            room         TEXT    NOT NULL,
            started_at   INTEGER NOT NULL,
            emptied_at   INTEGER,
            ended_at     INTEGER,
            passcode     TEXT,
            waiting_room INTEGER NOT NULL DEFAULT 0,
            listed       INTEGER NOT NULL DEFAULT 0,
            removed      TEXT    NOT NULL DEFAULT '[]'
        );
        CREATE INDEX IF NOT EXISTS meetings_by_end ON meetings (ended_at);
        -- Written by the health check to see whether writes work again.
        CREATE TABLE IF NOT EXISTS health (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL
        );",
    )
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}
