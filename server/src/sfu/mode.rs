//! When a room uses the SFU: the room mode rules as a state machine, without sockets or
//! clocks (the shell in [`super::service`] feeds it joins, leaves and Janus's link state).
//!
//! A room switches to the SFU when all hold: the SFU is available (Janus configured and
//! up), `--sfu-threshold N` ≥ 1 and the room has ≥ N members, every member speaks the SFU
//! protocol. It stays SFU until it empties (no flapping back to mesh). A member without the
//! SFU protocol cannot enter a room that already uses it (`sfu_required`); one in a mesh
//! room keeps that room on the mesh, as before.

use std::collections::HashMap;
use std::hash::Hash;

use huddle_protocol::MediaMode;

/// The room's mode after a join, and who must be told about a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<K> {
    pub mode: MediaMode,
    pub epoch: u64,
    /// The room switched to the SFU with this join: everyone before the joiner (who
    /// learns it from its join ack) gets `sfu:mode`.
    pub switched: Option<Vec<K>>,
}

/// What a leave did to the room's SFU state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The room is mesh (or unknown): nothing to do at the SFU.
    Mesh,
    /// An SFU room lost a member; others remain.
    Left,
    /// The last member of an SFU room left: its SFU state goes.
    Emptied,
}

#[derive(Debug)]
struct Room<K> {
    /// Members in join order, with whether each speaks the SFU protocol.
    members: Vec<(K, bool)>,
    mode: MediaMode,
    epoch: u64,
}

/// Every room's mode.
#[derive(Debug)]
pub struct RoomModes<K> {
    /// `0`: never; `1`: always; `n`: at the n-th member.
    threshold: u32,
    available: bool,
    rooms: HashMap<String, Room<K>>,
    /// Epochs only grow, across rooms, so a client can never mistake an old one.
    next_epoch: u64,
}

impl<K: Clone + Eq + Hash> RoomModes<K> {
    pub fn new(threshold: u32, available: bool) -> Self {
        RoomModes {
            threshold,
            available,
            rooms: HashMap::new(),
            next_epoch: 1,
        }
    }

    pub fn mode(&self, room: &str) -> MediaMode {
        self.rooms.get(room).map_or(MediaMode::Mesh, |r| r.mode)
    }

    pub fn epoch(&self, room: &str) -> Option<u64> {
        self.rooms
            .get(room)
            .filter(|r| r.mode == MediaMode::Sfu)
            .map(|r| r.epoch)
    }

    /// Whether a client may enter `room` (checked before the join has any effect).
    pub fn admits(&self, room: &str, speaks_sfu: bool) -> bool {
        speaks_sfu || self.mode(room) == MediaMode::Mesh
    }

    /// Janus came up or went down. Rooms already on the SFU stay there (a big room cannot
    /// fall back to a mesh); mesh rooms only switch while it is up.
    pub fn set_available(&mut self, available: bool) {
        self.available = available;
    }

    /// `id` entered `room`.
    pub fn joined(&mut self, room: &str, id: K, speaks_sfu: bool) -> Entry<K> {
        let r = self.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            members: Vec::new(),
            mode: MediaMode::Mesh,
            epoch: 0,
        });
        if !r.members.iter().any(|(m, _)| *m == id) {
            r.members.push((id.clone(), speaks_sfu));
        }
        let mut switched = None;
        let count = r.members.len() as u64;
        if r.mode == MediaMode::Mesh
            && self.available
            && self.threshold >= 1
            && count >= u64::from(self.threshold)
            && r.members.iter().all(|(_, sfu)| *sfu)
        {
            r.mode = MediaMode::Sfu;
            r.epoch = self.next_epoch;
            self.next_epoch += 1;
            switched = Some(
                r.members
                    .iter()
                    .filter(|(m, _)| *m != id)
                    .map(|(m, _)| m.clone())
                    .collect(),
            );
        }
        Entry {
            mode: r.mode,
            epoch: r.epoch,
            switched,
        }
    }

    /// `id` left `room`.
    pub fn left(&mut self, room: &str, id: &K) -> Exit {
        let Some(r) = self.rooms.get_mut(room) else {
            return Exit::Mesh;
        };
        r.members.retain(|(m, _)| m != id);
        let sfu = r.mode == MediaMode::Sfu;
        if r.members.is_empty() {
            self.rooms.remove(room);
            return if sfu { Exit::Emptied } else { Exit::Mesh };
        }
        if sfu { Exit::Left } else { Exit::Mesh }
    }

    /// The SFU lost the room's state (Janus restarted): a new epoch for it.
    pub fn rebuilt(&mut self, room: &str) -> Option<(u64, Vec<K>)> {
        let r = self
            .rooms
            .get_mut(room)
            .filter(|r| r.mode == MediaMode::Sfu)?;
        r.epoch = self.next_epoch;
        self.next_epoch += 1;
        Some((r.epoch, r.members.iter().map(|(m, _)| m.clone()).collect()))
    }

    /// Rooms on the SFU.
    pub fn sfu_rooms(&self) -> Vec<String> {
        self.rooms
            .iter()
            .filter(|(_, r)| r.mode == MediaMode::Sfu)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_switches_at_the_threshold_and_tells_those_before() {
        let mut m = RoomModes::new(3, true);
        assert_eq!(m.joined("r", 'a', true).mode, MediaMode::Mesh);
        assert_eq!(m.joined("r", 'b', true).switched, None);
        let e = m.joined("r", 'c', true);
        assert_eq!(e.mode, MediaMode::Sfu);
        assert_eq!(e.switched, Some(vec!['a', 'b']));
        assert_eq!(m.epoch("r"), Some(e.epoch));
        // The next joiner enters an SFU room: no second switch.
        let d = m.joined("r", 'd', true);
        assert_eq!(
            (d.mode, d.switched, d.epoch),
            (MediaMode::Sfu, None, e.epoch)
        );
        // Shrinking keeps it on the SFU until it empties.
        for id in ['a', 'b', 'c'] {
            assert_eq!(m.left("r", &id), Exit::Left);
        }
        assert_eq!(m.mode("r"), MediaMode::Sfu);
        assert_eq!(m.left("r", &'d'), Exit::Emptied);
        assert_eq!(m.mode("r"), MediaMode::Mesh);
        assert_eq!(m.left("r", &'d'), Exit::Mesh, "leaving twice is harmless");
    }

    #[test]
    fn threshold_one_is_always_and_zero_is_never() {
        let mut always = RoomModes::new(1, true);
        let e = always.joined("r", 1, true);
        assert_eq!((e.mode, e.switched), (MediaMode::Sfu, Some(vec![])));
        let mut never = RoomModes::new(0, true);
        for id in 0..10 {
            assert_eq!(never.joined("r", id, true).mode, MediaMode::Mesh);
        }
    }

    #[test]
    fn a_member_without_the_sfu_keeps_the_mesh_and_is_refused_by_an_sfu_room() {
        let mut m = RoomModes::new(2, true);
        m.joined("mesh", 'a', false);
        assert_eq!(m.joined("mesh", 'b', true).mode, MediaMode::Mesh);
        assert_eq!(m.joined("mesh", 'c', true).mode, MediaMode::Mesh);
        assert!(m.admits("mesh", false));
        // Once the legacy member is gone, the next join switches.
        m.left("mesh", &'a');
        assert_eq!(m.joined("mesh", 'd', true).switched, Some(vec!['b', 'c']));
        assert!(!m.admits("mesh", false));
        assert!(m.admits("mesh", true));
    }

    #[test]
    fn without_janus_rooms_stay_mesh_and_sfu_rooms_stay_sfu() {
        let mut m = RoomModes::new(2, false);
        m.joined("r", 'a', true);
        assert_eq!(m.joined("r", 'b', true).mode, MediaMode::Mesh);
        m.set_available(true);
        let e = m.joined("r", 'c', true);
        assert_eq!(e.switched, Some(vec!['a', 'b']));
        m.set_available(false);
        assert_eq!(m.joined("r", 'd', true).mode, MediaMode::Sfu);
        let (epoch, members) = m.rebuilt("r").unwrap();
        assert!(epoch > e.epoch);
        assert_eq!(members, vec!['a', 'b', 'c', 'd']);
        assert_eq!(m.sfu_rooms(), vec!["r".to_string()]);
    }

    #[test]
    fn epochs_never_repeat_across_rooms() {
        let mut m = RoomModes::new(1, true);
        let a = m.joined("a", 1, true).epoch;
        m.left("a", &1);
        let b = m.joined("a", 2, true).epoch;
        let c = m.joined("c", 3, true).epoch;
        assert!(a < b && b < c);
    }
}
