//! Chat shared by every node, in Redis Streams: one stream per meeting, ids from a
//! per-room counter, appended by one Lua script. With Redis's append-only file written
//! before each reply (`appendfsync always`), an acked message survives the loss of any
//! node, and of Redis itself.

use std::sync::Arc;

use fred::prelude::*;
use fred::types::streams::XReadValue;

use super::scripts::CHAT_APPEND;
use super::{Cluster, keys};
use crate::protocol::ChatMessage;
use crate::rooms::{MeetingId, MeetingRecord};
use crate::storage::{NewChatMessage, Retention, Store, StoreError, StoreFuture};

/// Messages a meeting's stream keeps (history shows the latest 100 by default).
const STREAM_MAX: usize = 10_000;

pub struct RedisChat {
    cluster: Arc<Cluster>,
    retention: Retention,
}

impl RedisChat {
    pub fn new(cluster: Arc<Cluster>, retention: Retention) -> Self {
        RedisChat { cluster, retention }
    }
}

fn shared(err: impl std::fmt::Display) -> StoreError {
    StoreError::Shared(err.to_string())
}

impl Store for RedisChat {
    fn append(&self, message: NewChatMessage) -> StoreFuture<ChatMessage> {
        let cluster = self.cluster.clone();
        Box::pin(async move {
            let mut chat = ChatMessage {
                id: String::new(),
                room: message.room,
                from: message.from,
                email: message.email,
                name: message.name,
                text: message.text,
                ts: message.ts,
                client_id: message.client_id,
            };
            let json = serde_json::to_string(&chat).map_err(shared)?;
            let id: String = CHAT_APPEND
                .evalsha_with_reload(
                    &cluster.client,
                    vec![keys::chat_seq(&chat.room), keys::chat(message.meeting.0)],
                    vec![json, STREAM_MAX.to_string()],
                )
                .await
                .map_err(shared)?;
            chat.id = id;
            Ok(chat)
        })
    }

    fn history(&self, meeting: MeetingId, limit: usize) -> StoreFuture<Vec<ChatMessage>> {
        let cluster = self.cluster.clone();
        Box::pin(async move {
            let entries: Vec<XReadValue<String, String, String>> = cluster
                .client
                .xrevrange_values(keys::chat(meeting.0), "+", "-", Some(limit as u64))
                .await
                .map_err(shared)?;
            let mut out = Vec::with_capacity(entries.len());
            for (_, fields) in entries.into_iter().rev() {
                if let Some(json) = fields.get("m") {
                    out.push(serde_json::from_str(json).map_err(shared)?);
                }
            }
            Ok(out)
        })
    }

    /// Meetings live in the room documents; only an ended meeting's chat needs care:
    /// it expires after the retention.
    fn save_meeting(&self, record: MeetingRecord) -> StoreFuture<()> {
        let cluster = self.cluster.clone();
        let retention = self.retention;
        Box::pin(async move {
            if record.ended_at.is_none() {
                return Ok(());
            }
            let key = keys::chat(record.id.0);
            if retention.days == 0 {
                let _: i64 = cluster.client.del(key).await.map_err(shared)?;
            } else {
                let _: i64 = cluster
                    .client
                    .pexpire(key, retention.millis(), None)
                    .await
                    .map_err(shared)?;
            }
            Ok(())
        })
    }

    /// Node liveness is the heartbeat's job in a cluster.
    fn mark_alive(&self, _at: i64) {}

    fn flush(&self) -> StoreFuture<()> {
        Box::pin(async { Ok(()) })
    }

    fn health(&self) -> StoreFuture<()> {
        let cluster = self.cluster.clone();
        Box::pin(async move {
            let _: String = cluster.client.ping(None).await.map_err(shared)?;
            if !cluster.listening() {
                return Err(shared("not subscribed to the other nodes yet"));
            }
            Ok(())
        })
    }
}
