//! Meetings end when their room has stayed empty for the idle time: a periodic sweep
//! ends them (their lock, listing and removals go; their chat follows the retention),
//! and whoever still waits at such a room's door is let go with `lobby:denied`.

use std::sync::Arc;
use std::time::Duration;

use super::{Hub, lock, unix_ms};
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
            hub.end_idle_meetings();
            let now = unix_ms();
            if now - last_beat >= beat_every && hub.rooms.counts().participants > 0 {
                hub.store.mark_alive(now);
                last_beat = now;
            }
        }
    })
}

impl Hub {
    fn end_idle_meetings(&self) {
        let now = unix_ms();
        for ended in self.rooms.end_idle_meetings(now) {
            let room = ended.record.room.clone();
            for id in &ended.waiting {
                self.send(
                    *id,
                    event::LOBBY_DENIED,
                    &LobbyDenied { room: room.clone() },
                );
            }
            tracing::info!(%room, meeting = %ended.record.id, "meeting ended");
            self.save(ended.record);
        }
        lock(&self.passcodes).prune(now);
    }
}
