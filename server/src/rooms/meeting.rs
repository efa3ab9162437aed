//! A room's meeting: from the first join into an empty room until the room has stayed
//! empty for the idle time. The lock (passcode, waiting room, listing) and the
//! removals belong to the meeting and end with it; chat history is per meeting.

use std::collections::{BTreeSet, HashSet};

use super::ConnId;
use crate::access::PasscodeHash;
use crate::protocol::RoomSettings;

/// Milliseconds since the Unix epoch (meetings outlive a restart, so wall-clock time).
pub type Millis = i64;

/// A meeting's id: unique across rooms and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeetingId(pub i64);

impl std::fmt::Display for MeetingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The host's settings of a room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub passcode: Option<PasscodeHash>,
    pub waiting_room: bool,
    pub listed: bool,
}

impl Lock {
    pub fn settings(&self) -> RoomSettings {
        RoomSettings {
            locked: self.passcode.is_some(),
            waiting_room: self.waiting_room,
            listed: self.listed,
        }
    }
}

/// A `room:lock` request, its passcode already hashed. `None` keeps a setting.
#[derive(Debug, Clone, Default)]
pub struct LockChange {
    /// `Some(None)` clears the passcode.
    pub passcode: Option<Option<PasscodeHash>>,
    pub waiting_room: Option<bool>,
    pub listed: Option<bool>,
}

/// A meeting as it is persisted (what a restart needs to carry on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    pub id: MeetingId,
    pub room: String,
    pub started_at: Millis,
    /// When the room last became empty; `None` while someone is in it.
    pub emptied_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// The passcode's salted hash (`PasscodeHash::encode`).
    pub passcode: Option<String>,
    pub waiting_room: bool,
    pub listed: bool,
    /// Emails the host removed.
    pub removed: Vec<String>,
}

/// A meeting in memory.
#[derive(Debug, Clone)]
pub(super) struct Meeting {
    pub id: MeetingId,
    pub started_at: Millis,
    pub emptied_at: Option<Millis>,
    pub lock: Lock,
    /// Bumped whenever the passcode changes, so a check against an older one is stale.
    pub lock_version: u64,
    pub removed_emails: BTreeSet<String>,
    /// Removed connections (a connection keeps its ban even under another email).
    pub removed_conns: HashSet<ConnId>,
}

impl Meeting {
    pub fn new(id: MeetingId, now: Millis) -> Self {
        Meeting {
            id,
            started_at: now,
            emptied_at: None,
            lock: Lock::default(),
            lock_version: 0,
            removed_emails: BTreeSet::new(),
            removed_conns: HashSet::new(),
        }
    }

    pub fn is_removed(&self, id: ConnId, email: &str) -> bool {
        self.removed_conns.contains(&id) || self.removed_emails.contains(email)
    }

    pub fn record(&self, room: &str) -> MeetingRecord {
        MeetingRecord {
            id: self.id,
            room: room.to_string(),
            started_at: self.started_at,
            emptied_at: self.emptied_at,
            ended_at: None,
            passcode: self.lock.passcode.as_ref().map(PasscodeHash::encode),
            waiting_room: self.lock.waiting_room,
            listed: self.lock.listed,
            removed: self.removed_emails.iter().cloned().collect(),
        }
    }

    /// A meeting a previous run left open, as this run takes it back. A passcode that
    /// cannot be read keeps the room locked to everyone rather than open it.
    pub fn restored(record: &MeetingRecord, emptied_at: Millis) -> Self {
        let passcode = record.passcode.as_deref().map(|text| {
            PasscodeHash::decode(text).unwrap_or_else(|| {
                tracing::error!(meeting = %record.id, "unreadable passcode hash; nobody can join until the meeting ends");
                PasscodeHash::unmatchable()
            })
        });
        Meeting {
            id: record.id,
            started_at: record.started_at,
            emptied_at: Some(emptied_at),
            lock: Lock {
                passcode,
                waiting_room: record.waiting_room,
                listed: record.listed,
            },
            lock_version: 0,
            removed_emails: record.removed.iter().cloned().collect(),
            removed_conns: HashSet::new(),
        }
    }
}
