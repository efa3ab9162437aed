//! The store against real SQLite databases: ids, meetings, retention, migration.
use super::*;

fn message(meeting: i64, room: &str, text: &str) -> NewChatMessage {
    NewChatMessage {
        room: room.into(),
        meeting: MeetingId(meeting),
        from: "sid".into(),
        email: "a@b.c".into(),
        name: Some("Ada".into()),
        text: text.into(),
        ts: 1,
        client_id: Some(format!("c-{text}")),
    }
}

fn meeting(id: i64, room: &str) -> MeetingRecord {
    MeetingRecord {
        id: MeetingId(id),
        room: room.into(),
        started_at: 1_000,
        emptied_at: None,
        ended_at: None,
        passcode: Some(
            "pbkdf2-sha256$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                .into(),
        ),
        waiting_room: true,
        listed: false,
        removed: vec!["bob@x.y".into()],
    }
}

fn open(storage: &ChatStorage, days: u32) -> (SqliteStore, Recovered) {
    SqliteStore::open(storage, Retention { days }).unwrap()
}

#[tokio::test]
async fn ids_increase_per_room_and_history_is_the_meetings_oldest_first() {
    let (store, recovered) = open(&ChatStorage::Memory, 30);
    assert!(recovered.open_meetings.is_empty());
    assert_eq!(recovered.next_meeting, 1);
    for i in 0..5 {
        let m = store.append(message(1, "a", &i.to_string())).await.unwrap();
        assert_eq!(m.id, chat_id(i + 1));
    }
    assert_eq!(
        store.append(message(2, "b", "x")).await.unwrap().id,
        chat_id(1)
    );
    // A later meeting of room a: ids go on, history starts afresh.
    let m = store.append(message(3, "a", "new")).await.unwrap();
    assert_eq!(m.id, chat_id(6));
    let h = store.history(MeetingId(1), 3).await.unwrap();
    let texts: Vec<_> = h.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["2", "3", "4"]);
    assert_eq!(h[0].client_id.as_deref(), Some("c-2"));
    assert_eq!(h[0].room, "a");
    let h = store.history(MeetingId(3), 100).await.unwrap();
    assert_eq!(h.len(), 1);
    assert!(store.history(MeetingId(99), 10).await.unwrap().is_empty());
    store.health().await.unwrap();
}

#[tokio::test]
async fn messages_ids_and_open_meetings_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = ChatStorage::File(dir.path().join("nested/chat.db"));
    {
        let (store, _) = open(&path, 30);
        store.save_meeting(meeting(7, "r")).await.unwrap();
        let mut ended = meeting(8, "s");
        ended.ended_at = Some(now_ms());
        drop(store.save_meeting(ended));
        store.mark_alive(12_345);
        let pending: Vec<_> = (0..100)
            .map(|i| store.append(message(7, "r", &i.to_string())))
            .collect();
        for p in pending {
            p.await.unwrap();
        }
        // The note that the server is alive is not awaited by anyone: wait for it here.
        store.flush().await.unwrap();
    }
    let (store, recovered) = open(&path, 30);
    assert_eq!(recovered.open_meetings, vec![meeting(7, "r")]);
    assert_eq!(recovered.next_meeting, 9);
    assert_eq!(recovered.last_alive, Some(12_345));
    assert_eq!(store.history(MeetingId(7), 1000).await.unwrap().len(), 100);
    assert_eq!(
        store.append(message(7, "r", "after")).await.unwrap().id,
        chat_id(101)
    );
}

#[tokio::test]
async fn retention_zero_deletes_a_meetings_chat_when_it_ends_and_ids_still_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = ChatStorage::File(dir.path().join("chat.db"));
    {
        let (store, _) = open(&path, 0);
        drop(store.save_meeting(meeting(1, "r")));
        store.append(message(1, "r", "secret")).await.unwrap();
        store.append(message(2, "other", "kept")).await.unwrap();
        let mut ended = meeting(1, "r");
        ended.ended_at = Some(now_ms());
        store.save_meeting(ended).await.unwrap();
        assert!(store.history(MeetingId(1), 10).await.unwrap().is_empty());
        assert_eq!(store.history(MeetingId(2), 10).await.unwrap().len(), 1);
    }
    let (store, recovered) = open(&path, 0);
    assert!(recovered.open_meetings.is_empty());
    assert_eq!(recovered.next_meeting, 3, "meeting ids are never reused");
    assert_eq!(
        store.append(message(3, "r", "next")).await.unwrap().id,
        chat_id(2),
        "chat ids are never reused either"
    );
}

#[test]
fn the_prune_deletes_only_what_is_past_the_retention() {
    let conn = Connection::open_in_memory().unwrap();
    schema::migrate(&conn).unwrap();
    let mut w = Writer::new(conn, Retention { days: 1 });
    let day = 86_400_000;
    let now = 10 * day;
    let mut old = meeting(1, "a");
    old.ended_at = Some(now - day - 1);
    let mut recent = meeting(2, "b");
    recent.ended_at = Some(now - day + 1);
    let open_meeting = meeting(3, "c");
    for m in [&old, &recent, &open_meeting] {
        w.unsaved.insert(m.id, m.clone());
    }
    w.save_meetings();
    let (tx1, _rx1) = oneshot::channel();
    let (tx2, _rx2) = oneshot::channel();
    let (tx3, _rx3) = oneshot::channel();
    w.commit(vec![
        (message(1, "a", "old"), tx1),
        (message(2, "b", "recent"), tx2),
        (message(3, "c", "open"), tx3),
    ]);
    // And a message from before meetings existed.
    w.conn
        .execute(
            "INSERT INTO chat_messages (room, seq, sender, email, text, ts) VALUES ('z', 1, 's', 'e@x.y', 'legacy', ?1)",
            [now - 2 * day],
        )
        .unwrap();
    w.prune(now).unwrap();
    let left: Vec<String> = w
        .conn
        .prepare("SELECT text FROM chat_messages ORDER BY text")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, ["open", "recent"]);
    let meetings: i64 = w
        .conn
        .query_row("SELECT COUNT(*) FROM meetings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(meetings, 2);
    // An ended meeting keeps neither its passcode nor its removals.
    let (passcode, removed): (Option<String>, String) = w
        .conn
        .query_row(
            "SELECT passcode, removed FROM meetings WHERE id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((passcode, removed.as_str()), (None, "[]"));
}

#[test]
fn a_database_written_before_meetings_is_migrated_and_its_chat_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db");
    {
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(
            "CREATE TABLE chat_messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL,
                email TEXT NOT NULL, name TEXT, text TEXT NOT NULL, ts INTEGER NOT NULL, client_id TEXT,
                PRIMARY KEY (room, seq)) WITHOUT ROWID;
             INSERT INTO chat_messages VALUES ('1234', 41, 's', 'e@x.y', NULL, 'from 1.0', 1, NULL);",
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (store, recovered) = open(&ChatStorage::File(file.clone()), 30);
        assert_eq!(recovered.next_meeting, 1);
        assert_eq!(recovered.last_alive, None);
        store.flush().await.unwrap();
        let m = store.append(message(1, "1234", "new")).await.unwrap();
        assert_eq!(m.id, chat_id(42), "ids continue");
        let h = store.history(MeetingId(1), 100).await.unwrap();
        assert_eq!(h.len(), 1);
    });
}

#[test]
fn an_unwritable_location_is_a_clear_error() {
    let err = SqliteStore::open(
        &ChatStorage::File("/proc/huddle/chat.db".into()),
        Retention::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("/proc/huddle"), "{err}");
}
