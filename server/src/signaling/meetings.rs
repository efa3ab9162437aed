//! Meetings end when their room has stayed empty for the idle time: a periodic sweep
//! ends them (their lock, listing and removals go; their chat follows the retention),
//! and whoever still waits at such a room's door is let go with `lobby:denied`.

use std::sync::Arc;
use std::time::Duration;

use super::{Hub, lock, unix_ms};
use crate::protocol::{LobbyDenied, event};

/// Sweeps every tenth of the idle time, between 20 ms and a second, so a meeting ends
/// at most that late.
pub fn spawn_meeting_sweeper(hub: Arc<Hub>, idle_ms: i64) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis((idle_ms / 10).clamp(20, 1000) as u64);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            hub.end_idle_meetings();
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
            self.store.save_meeting(ended.record);
        }
        lock(&self.passcodes).prune(now);
    }
}
