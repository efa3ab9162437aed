//! The room's door (PROTOCOL.md 1.1, "Room access"): waiting to be let in, being let
//! in or turned away, being removed, and what the host hears (knocks, a new host, the
//! room's settings).

use std::time::Instant;

use huddle_protocol::{JoinAck, LobbyKnock, RoomRemoved, RoomSettings};

use super::{Action, Core};
use crate::session::event::SessionEvent;

/// Where we stand at the room's door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Connected, in the waiting room: the host has to let us in.
    Waiting { room: String },
    /// In the room, with the server's answer to our (latest) join.
    Inside(Box<JoinAck>),
    /// The host turned us away from the waiting room.
    Denied { room: String },
    /// The host removed us from the room.
    Removed { room: String, by: String },
}

impl Admission {
    /// Denied or removed: nothing more happens until the application leaves.
    pub fn is_out(&self) -> bool {
        matches!(self, Admission::Denied { .. } | Admission::Removed { .. })
    }
}

impl Core {
    /// Our join (or rejoin) was answered with the waiting room.
    pub(super) fn on_waiting(&mut self, room: String) {
        tracing::info!(%room, "in the waiting room: the host has to let us in");
        self.admission = Admission::Waiting { room: room.clone() };
        self.emit(SessionEvent::Waiting { room });
    }

    /// `lobby:admitted`: the same as a join ack, and the join goes on from there.
    pub(super) fn on_admitted(&mut self, now: Instant, ack: JoinAck) {
        if !matches!(self.admission, Admission::Waiting { .. }) {
            tracing::debug!("lobby:admitted while not waiting: ignored");
            return;
        }
        tracing::info!(room = %ack.room, "the host let us in");
        self.emit(SessionEvent::Admitted {
            room: ack.room.clone(),
        });
        // First frames are timed from being let in, not from the knock.
        self.joined_at = now;
        self.on_joined(now, &ack, true);
    }

    pub(super) fn on_denied(&mut self, room: String) {
        if !matches!(self.admission, Admission::Waiting { .. }) {
            tracing::debug!("lobby:denied while not waiting: ignored");
            return;
        }
        tracing::info!(%room, "the host did not let us in");
        self.admission = Admission::Denied { room: room.clone() };
        self.emit(SessionEvent::Denied { room });
    }

    /// `room:removed`: the server has taken us out of the room; every call ends.
    pub(super) fn on_removed(&mut self, removed: RoomRemoved) {
        tracing::info!(room = %removed.room, "removed from the room by its host");
        for key in self.keys(|_| true) {
            self.close(&key);
        }
        if self.sharing {
            self.sharing = false;
            self.act(Action::StopScreen);
        }
        self.viewing = None;
        self.participants.clear();
        self.admission = Admission::Removed {
            room: removed.room.clone(),
            by: removed.by.clone(),
        };
        self.emit(SessionEvent::Removed {
            room: removed.room,
            by: removed.by,
        });
    }

    pub(super) fn on_host_changed(&mut self, host_id: String) {
        tracing::info!(host = %host_id, "the room has a new host");
        if let Admission::Inside(ack) = &mut self.admission {
            ack.host_id = Some(host_id.clone());
        }
        self.emit(SessionEvent::HostChanged { host_id });
    }

    pub(super) fn on_room_settings(&mut self, settings: RoomSettings) {
        self.note_settings(settings);
        self.emit(SessionEvent::RoomSettings(settings));
    }

    /// The room's lock and waiting room, as our `room:lock` ack or `room:settings` says.
    pub fn note_settings(&mut self, settings: RoomSettings) {
        if let Admission::Inside(ack) = &mut self.admission {
            ack.locked = settings.locked;
            ack.waiting_room = settings.waiting_room;
        }
    }

    pub(super) fn on_knock(&mut self, knock: LobbyKnock) {
        // Emails stay out of info-level logs.
        tracing::info!(id = %knock.id, "someone knocks at the waiting room");
        self.emit(SessionEvent::Knock {
            id: knock.id,
            email: knock.email,
            name: knock.name,
        });
    }

    pub(super) fn on_knock_withdrawn(&mut self, id: String) {
        tracing::debug!(%id, "stopped waiting");
        self.emit(SessionEvent::KnockWithdrawn { id });
    }

    /// Where we stand at the door.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
}
