//! A room as a document, so that rooms can live outside this process (in Redis, for
//! several nodes): [`Registry`] loads the rooms a transition touches, applies the same
//! rules as in memory, and hands the changed rooms back as documents.

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::meeting::{Lock, Meeting};
use super::registry::{Registry, Room};
use super::{ConnId, MeetingId, Member, Millis, Place};
use crate::access::PasscodeHash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDoc {
    pub id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub audio: bool,
    pub video: bool,
}

/// Everything a room holds, passcode hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDoc {
    pub members: Vec<MemberDoc>,
    pub sharer: Option<String>,
    pub host: Option<String>,
    pub lobby: Vec<MemberDoc>,
    pub meeting: i64,
    pub started_at: Millis,
    pub emptied_at: Option<Millis>,
    pub passcode: Option<String>,
    pub waiting_room: bool,
    pub listed: bool,
    pub lock_version: u64,
    pub removed_emails: Vec<String>,
    pub removed_conns: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("a stored room is unreadable: {0}")]
pub struct SnapshotError(pub String);

fn conn(text: &str) -> Result<ConnId, SnapshotError> {
    ConnId::from_str(text).map_err(|_| SnapshotError(format!("bad socket id `{text}`")))
}

fn member_doc(m: &Member) -> MemberDoc {
    MemberDoc {
        id: m.id.to_string(),
        email: m.email.clone(),
        name: m.name.clone(),
        audio: m.audio,
        video: m.video,
    }
}

fn member(d: &MemberDoc) -> Result<Member, SnapshotError> {
    Ok(Member {
        id: conn(&d.id)?,
        email: d.email.clone(),
        name: d.name.clone(),
        audio: d.audio,
        video: d.video,
    })
}

impl RoomDoc {
    fn of(r: &Room) -> RoomDoc {
        let m = &r.meeting;
        let mut removed_conns: Vec<String> =
            m.removed_conns.iter().map(ToString::to_string).collect();
        removed_conns.sort();
        RoomDoc {
            members: r.members.iter().map(member_doc).collect(),
            sharer: r.sharer.map(|s| s.to_string()),
            host: r.host.map(|s| s.to_string()),
            lobby: r.lobby.iter().map(member_doc).collect(),
            meeting: m.id.0,
            started_at: m.started_at,
            emptied_at: m.emptied_at,
            passcode: m.lock.passcode.as_ref().map(PasscodeHash::encode),
            waiting_room: m.lock.waiting_room,
            listed: m.lock.listed,
            lock_version: m.lock_version,
            removed_emails: m.removed_emails.iter().cloned().collect(),
            removed_conns,
        }
    }

    fn room(&self) -> Result<Room, SnapshotError> {
        let passcode = match &self.passcode {
            Some(text) => Some(
                PasscodeHash::decode(text)
                    .ok_or_else(|| SnapshotError("bad passcode hash".into()))?,
            ),
            None => None,
        };
        let meeting = Meeting {
            id: MeetingId(self.meeting),
            started_at: self.started_at,
            emptied_at: self.emptied_at,
            lock: Lock {
                passcode,
                waiting_room: self.waiting_room,
                listed: self.listed,
            },
            lock_version: self.lock_version,
            removed_emails: self.removed_emails.iter().cloned().collect::<BTreeSet<_>>(),
            removed_conns: self
                .removed_conns
                .iter()
                .map(|c| conn(c))
                .collect::<Result<HashSet<_>, _>>()?,
        };
        let opt = |s: &Option<String>| s.as_deref().map(conn).transpose();
        Ok(Room {
            members: self.members.iter().map(member).collect::<Result<_, _>>()?,
            sharer: opt(&self.sharer)?,
            host: opt(&self.host)?,
            lobby: self.lobby.iter().map(member).collect::<Result<_, _>>()?,
            meeting,
        })
    }

    /// Participants (not those waiting).
    pub fn count(&self) -> usize {
        self.members.len()
    }
}

impl Registry {
    /// Adds a stored room, and the places of everyone in it or at its door.
    pub fn load_room(&mut self, name: &str, doc: &RoomDoc) -> Result<(), SnapshotError> {
        let room = doc.room()?;
        for (list, waiting) in [(&room.members, false), (&room.lobby, true)] {
            for m in list {
                self.places.insert(
                    m.id,
                    Place {
                        room: name.to_string(),
                        waiting,
                    },
                );
            }
        }
        self.rooms.insert(name.to_string(), room);
        Ok(())
    }

    /// A room as a document; `None` if it does not exist (its meeting ended).
    pub fn room_doc(&self, name: &str) -> Option<RoomDoc> {
        self.rooms.get(name).map(RoomDoc::of)
    }

    /// Everyone's place, as the loaded rooms say.
    pub fn places(&self) -> impl Iterator<Item = (&ConnId, &Place)> {
        self.places.iter()
    }

    /// The id the next meeting takes.
    pub fn next_meeting(&self) -> i64 {
        self.next_meeting
    }

    pub fn set_next_meeting(&mut self, next: i64) {
        self.next_meeting = next;
    }
}
