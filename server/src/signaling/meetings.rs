//! Meetings end when their room has stayed empty for the idle time: a periodic sweep
//! ends them (their lock, listing and removals go; their chat follows the retention),
//! and whoever still waits at such a room's door is let go with `lobby:denied`.

use std::sync::Arc;
use std::time::Duration;

use super::state::Rooms;
use super::{Hub, Outbox, lock, unix_ms};
use crate::protocol::{LobbyDenied, event};

/// Sweeps every tenth of the idle time, between 20 ms and a second, so a meeting ends
/// at most that late. While people are in rooms it also notes, every quarter of the
/// idle time (at most every 30 s), that the server is alive: after a crash their rooms
/// count as empty from then.
pub fn spawn_meeting_sweeper(hub: Arc<Hub>, idle_ms: i64) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis((idle_ms / 10).clamp(20, 1000) as u64);
    let beat_every = (idle_ms / 4).clamp(250, 30_000);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat = 0;
        loop {
            tick.tick().await;
            hub.end_idle_meetings().await;
            let now = unix_ms();
            if let Rooms::Memory(rooms) = &hub.rooms
                && now - last_beat >= beat_every
                && rooms.with(|r| r.counts().participants) > 0
            {
                hub.store.mark_alive(now);
                last_beat = now;
            }
        }
    })
}

impl Hub {
    async fn end_idle_meetings(&self) {
        let now = unix_ms();
        let rooms = match &self.rooms {
            Rooms::Memory(rooms) => vec![rooms.with(|r| r.end_idle_meetings(now))],
            Rooms::Redis(redis) => {
                // Each room that may be idle, under its lock (another node may be
                // ending it, or someone joining it).
                let mut ended = Vec::new();
                for room in redis.idle_rooms(now).await.unwrap_or_default() {
                    match self
                        .transact(None, Some(&room), |rooms| rooms.end_idle_meetings(now))
                        .await
                    {
                        Ok((done, sequenced)) => {
                            sequenced.release().await;
                            ended.push(done);
                        }
                        Err(refused) => {
                            tracing::warn!(%room, message = %refused.message, "could not end a meeting");
                        }
                    }
                }
                ended
            }
        };
        let mut out = Outbox::default();
        for ended in rooms.into_iter().flatten() {
            let room = ended.record.room.clone();
            for id in &ended.waiting {
                out.post_one(
                    *id,
                    event::LOBBY_DENIED,
                    &LobbyDenied { room: room.clone() },
                );
            }
            tracing::info!(%room, meeting = %ended.record.id, "meeting ended");
            self.save(ended.record);
        }
        self.deliver(out).await;
        lock(&self.passcodes).prune(now);
    }
}
