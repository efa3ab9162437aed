//! Meetings ending after their room stayed empty for the idle time, and meetings a
//! previous run left open taken back after a restart.

use super::meeting::Meeting;
use super::registry::{Registry, Room};
use super::{ConnId, EndedMeeting, MeetingRecord, Millis};

impl Registry {
    pub fn end_idle_meetings(&mut self, now: Millis) -> Vec<EndedMeeting> {
        let idle: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| {
                r.members.is_empty()
                    && r.meeting
                        .emptied_at
                        .is_some_and(|t| now - t >= self.idle_ms)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let mut ended = Vec::with_capacity(idle.len());
        for name in idle {
            let Some(r) = self.rooms.remove(&name) else {
                continue;
            };
            let waiting: Vec<ConnId> = r.lobby.iter().map(|m| m.id).collect();
            for id in &waiting {
                self.places.remove(id);
            }
            let mut record = r.meeting.record(&name);
            record.ended_at = Some(now);
            ended.push(EndedMeeting { record, waiting });
        }
        ended
    }

    pub fn restore(
        &mut self,
        mut open: Vec<MeetingRecord>,
        next_meeting: i64,
        stopped_at: Option<Millis>,
        now: Millis,
    ) -> Vec<MeetingRecord> {
        self.next_meeting = self.next_meeting.max(next_meeting);
        open.sort_by_key(|r| r.id);
        let mut save = Vec::new();
        for record in open {
            // Nobody is connected after a restart: the room is empty since it last
            // emptied, or, if people were in it, since the process stopped.
            let emptied = record.emptied_at.or(stopped_at).unwrap_or(now);
            if now - emptied >= self.idle_ms {
                save.push(MeetingRecord {
                    emptied_at: Some(emptied),
                    ended_at: Some(now),
                    ..record
                });
                continue;
            }
            let meeting = Meeting::restored(&record, emptied);
            if let Some(older) = self.rooms.remove(&record.room) {
                // Two open meetings for one room cannot happen; keep the newer if so.
                let mut ended = older.meeting.record(&record.room);
                ended.ended_at = Some(now);
                save.push(ended);
            }
            if record.emptied_at.is_none() {
                save.push(meeting.record(&record.room));
            }
            self.rooms.insert(record.room, Room::new(meeting));
        }
        save
    }
}
