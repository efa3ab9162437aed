//! The room rules without sockets: membership, sharing, the host, the lock, the
//! waiting room, removals and meetings.

use std::sync::Arc;

use super::*;
use crate::access::PasscodeHash;

const CAP: usize = 50;
const IDLE: Millis = 300_000;

fn member(id: ConnId) -> Member {
    Member::new(id, format!("{id}@example.com"), None)
}

fn with_email(id: ConnId, email: &str) -> Member {
    Member::new(id, email.into(), None)
}

fn entered(outcome: Result<JoinOutcome, RoomError>) -> Joined {
    match outcome {
        Ok(JoinOutcome::Entered(j)) => j,
        other => panic!("expected to enter, got {other:?}"),
    }
}

fn waiting(outcome: Result<JoinOutcome, RoomError>) -> Waiting {
    match outcome {
        Ok(JoinOutcome::Waiting(w)) => w,
        other => panic!("expected to wait, got {other:?}"),
    }
}

fn left(departure: Option<Departure>) -> Left {
    match departure {
        Some(Departure::Left(l)) => *l,
        other => panic!("expected a member to leave, got {other:?}"),
    }
}

fn join(r: &mut Registry, m: Member, room: &str) -> Result<JoinOutcome, RoomError> {
    r.join(m, room, Pass::Nothing, CAP, 0)
}

fn ids<const N: usize>() -> [ConnId; N] {
    std::array::from_fn(|_| ConnId::new())
}

fn lock_with(r: &mut Registry, host: ConnId, change: LockChange) -> Locked {
    r.lock(host, change).expect("the host locks")
}

fn passcode(p: &str) -> LockChange {
    LockChange {
        passcode: Some(Some(PasscodeHash::new(p).unwrap())),
        ..LockChange::default()
    }
}

fn waiting_room(on: bool) -> LockChange {
    LockChange {
        waiting_room: Some(on),
        ..LockChange::default()
    }
}

fn version(r: &Registry, id: ConnId, room: &str) -> u64 {
    match r.door(id, room) {
        Door::Passcode { version, .. } => version,
        Door::Open => panic!("the door is open"),
    }
}

// -- membership and sharing (1.0) ---------------------------------------------------

#[test]
fn join_leave_and_rooms_without_members_are_not_listed_as_rooms() {
    let mut r = Registry::new(IDLE);
    let [a, b] = ids();
    let ja = entered(join(&mut r, member(a), "1"));
    assert!(ja.others.is_empty());
    assert_eq!(ja.count, 1);
    let jb = entered(join(&mut r, member(b), "1"));
    assert_eq!(jb.others.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(jb.count, 2);
    assert!(r.check_relay(a, b, RelayKind::CallEnd).is_ok());

    let again = entered(join(&mut r, member(b), "1"));
    assert!(again.already_member);
    assert_eq!(again.others.len(), 1);
    assert_eq!(r.counts().participants, 2);

    let la = left(r.leave(a, 0));
    assert_eq!(la.remaining, vec![b]);
    assert!(r.leave(a, 0).is_none());
    left(r.leave(b, 0));
    let counts = r.counts();
    assert_eq!((counts.rooms, counts.participants), (0, 0));
    assert_eq!(
        counts.meetings, 1,
        "the meeting outlives the last member for a while"
    );
    assert!(r.summaries().is_empty());
}

#[test]
fn switching_rooms_leaves_the_old_one_and_a_full_room_keeps_you_where_you_are() {
    let mut r = Registry::new(IDLE);
    let [a, b, c] = ids();
    r.join(member(a), "x", Pass::Nothing, 2, 0).unwrap();
    r.join(member(b), "x", Pass::Nothing, 2, 0).unwrap();
    r.join(member(c), "y", Pass::Nothing, 2, 0).unwrap();
    r.start_sharing(a).unwrap();
    let moved = entered(r.join(member(a), "y", Pass::Nothing, 2, 0));
    let Some(Departure::Left(old)) = moved.departed else {
        panic!("a left x")
    };
    assert_eq!(old.room, "x");
    assert!(old.was_sharer);
    assert_eq!(old.remaining, vec![b]);
    assert_eq!(
        r.join(member(b), "y", Pass::Nothing, 2, 0).unwrap_err(),
        RoomError::RoomFull { capacity: 2 }
    );
    assert_eq!(r.place_of(b).unwrap().room, "x");
}

#[test]
fn sharing_rules() {
    let mut r = Registry::new(IDLE);
    let [a, b, c] = ids();
    assert_eq!(r.start_sharing(a).unwrap_err(), RoomError::NotJoined);
    join(&mut r, member(a), "1").unwrap();
    join(&mut r, member(b), "1").unwrap();
    assert_eq!(r.start_sharing(a).unwrap(), vec![b]);
    assert_eq!(
        r.start_sharing(a).unwrap(),
        vec![b],
        "the sharer may ask again"
    );
    assert_eq!(
        r.start_sharing(b).unwrap_err(),
        RoomError::SharingConflict { sharer: a }
    );
    assert_eq!(r.stop_sharing(b).unwrap_err(), RoomError::NotSharer);
    assert_eq!(r.stop_sharing(a).unwrap(), vec![b]);
    assert_eq!(r.start_sharing(b).unwrap(), vec![a]);
    let joined = entered(join(&mut r, member(c), "1"));
    assert_eq!(joined.sharer, Some(b));
}

#[test]
fn share_relays_go_only_between_the_sharer_and_a_viewer() {
    use RelayKind::{ShareAnswer, ShareIce, ShareOffer, UserCall};
    let mut r = Registry::new(IDLE);
    let [s, v, w, stranger] = ids();
    for id in [s, v, w] {
        join(&mut r, member(id), "1").unwrap();
    }
    join(&mut r, member(stranger), "2").unwrap();
    // No sharer: no share relay at all, calls as usual.
    assert_eq!(r.check_relay(v, w, ShareOffer), Err(RoomError::NotSharer));
    assert_eq!(r.check_relay(v, w, UserCall), Ok(()));
    r.start_sharing(s).unwrap();
    assert_eq!(r.check_relay(s, v, ShareOffer), Ok(()));
    assert_eq!(r.check_relay(v, s, ShareOffer), Err(RoomError::NotSharer));
    assert_eq!(r.check_relay(v, w, ShareOffer), Err(RoomError::NotSharer));
    assert_eq!(r.check_relay(v, s, ShareAnswer), Ok(()));
    assert_eq!(r.check_relay(s, v, ShareAnswer), Err(RoomError::NotSharer));
    assert_eq!(r.check_relay(v, w, ShareAnswer), Err(RoomError::NotSharer));
    assert_eq!(r.check_relay(s, v, ShareIce), Ok(()));
    assert_eq!(r.check_relay(v, s, ShareIce), Ok(()));
    assert_eq!(r.check_relay(v, w, ShareIce), Err(RoomError::NotSharer));
    // Membership comes before permission.
    assert_eq!(
        r.check_relay(s, stranger, ShareOffer),
        Err(RoomError::NotInRoom)
    );
    assert_eq!(
        r.check_relay(stranger, s, ShareAnswer),
        Err(RoomError::NotInRoom)
    );
    assert_eq!(r.check_relay(s, s, ShareIce), Err(RoomError::NotInRoom));
}

#[test]
fn exactly_one_of_many_simultaneous_sharers_wins() {
    for _ in 0..50 {
        let rooms = Arc::new(MemoryRooms::new(IDLE));
        let ids: Vec<ConnId> = (0..20).map(|_| ConnId::new()).collect();
        for id in &ids {
            rooms.join(member(*id), "r", Pass::Nothing, CAP, 0).unwrap();
        }
        let barrier = Arc::new(std::sync::Barrier::new(ids.len()));
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (rooms, barrier, id) = (rooms.clone(), barrier.clone(), *id);
                std::thread::spawn(move || {
                    barrier.wait();
                    rooms.start_sharing(id)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        let sharer = rooms.summaries()[0].sharer.unwrap();
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(*r, RoomError::SharingConflict { sharer });
        }
    }
}

#[test]
fn media_state_is_kept_for_later_joiners() {
    let mut r = Registry::new(IDLE);
    let [a, b] = ids();
    join(&mut r, member(a), "1").unwrap();
    r.set_media(a, false, true).unwrap();
    let joined = entered(join(&mut r, member(b), "1"));
    assert!(!joined.others[0].audio);
    assert!(joined.others[0].video);
}

// -- the host -------------------------------------------------------------------------

#[test]
fn the_first_joiner_is_host_and_the_longest_present_takes_over() {
    let mut r = Registry::new(IDLE);
    let [a, b, c] = ids();
    assert_eq!(entered(join(&mut r, member(a), "1")).host, a);
    assert_eq!(entered(join(&mut r, member(b), "1")).host, a);
    assert_eq!(entered(join(&mut r, member(c), "1")).host, a);
    // A non-host leaving changes nothing.
    let lc = left(r.leave(c, 0));
    assert!(lc.new_host.is_none());
    join(&mut r, member(c), "1").unwrap();
    // The host leaves: b has been here longer than c.
    let la = left(r.leave(a, 0));
    assert_eq!(la.new_host.unwrap().id, b);
    assert_eq!(r.hosted_room(b).unwrap(), "1");
    assert_eq!(r.hosted_room(c).unwrap_err(), RoomError::NotHost);
    assert_eq!(r.hosted_room(a).unwrap_err(), RoomError::NotJoined);
    // The last one leaves: nobody is host; the next joiner is.
    left(r.leave(b, 0));
    let lc = left(r.leave(c, 0));
    assert!(lc.new_host.is_none());
    assert_eq!(entered(join(&mut r, member(a), "1")).host, a);
}

#[test]
fn a_host_switching_rooms_hands_over_the_old_one() {
    let mut r = Registry::new(IDLE);
    let [a, b] = ids();
    join(&mut r, member(a), "1").unwrap();
    join(&mut r, member(b), "1").unwrap();
    let moved = entered(join(&mut r, member(a), "2"));
    assert_eq!(moved.host, a, "host of the new, empty room");
    let Some(Departure::Left(old)) = moved.departed else {
        panic!("left room 1")
    };
    assert_eq!(old.new_host.unwrap().id, b);
}

// -- the lock -------------------------------------------------------------------------

#[test]
fn only_the_host_locks_and_settings_never_carry_the_passcode() {
    let mut r = Registry::new(IDLE);
    let [a, b, outsider] = ids();
    join(&mut r, member(a), "1").unwrap();
    join(&mut r, member(b), "1").unwrap();
    assert_eq!(r.lock(b, passcode("1234")).unwrap_err(), RoomError::NotHost);
    assert_eq!(
        r.lock(outsider, passcode("1234")).unwrap_err(),
        RoomError::NotJoined
    );
    let locked = lock_with(&mut r, a, passcode("1234"));
    assert!(locked.settings.locked && !locked.settings.waiting_room && !locked.settings.listed);
    assert_eq!(locked.others, vec![b]);
    assert!(
        locked
            .save
            .passcode
            .as_deref()
            .unwrap()
            .starts_with("pbkdf2-sha256$")
    );
    // Fields left out keep their value; null clears.
    let l = lock_with(&mut r, a, waiting_room(true));
    assert!(l.settings.locked && l.settings.waiting_room);
    let l = lock_with(
        &mut r,
        a,
        LockChange {
            passcode: Some(None),
            listed: Some(true),
            ..LockChange::default()
        },
    );
    assert!(!l.settings.locked && l.settings.waiting_room && l.settings.listed);
    assert_eq!(r.door(outsider, "1"), Door::Open);
}

#[test]
fn a_locked_room_needs_a_pass_for_its_current_passcode() {
    let mut r = Registry::new(IDLE);
    let [a, b, c] = ids();
    join(&mut r, member(a), "1").unwrap();
    lock_with(&mut r, a, passcode("1234"));
    let Door::Passcode { hash, version } = r.door(b, "1") else {
        panic!("locked")
    };
    assert!(hash.verify("1234"));
    assert_eq!(r.door(a, "1"), Door::Open, "members are already in");
    assert_eq!(
        join(&mut r, member(b), "1").unwrap_err(),
        RoomError::PasscodeChanged,
        "no pass"
    );
    // The host changes the passcode between b's check and b's join.
    lock_with(&mut r, a, passcode("5678"));
    assert_eq!(
        r.join(member(b), "1", Pass::Passcode(version), CAP, 0)
            .unwrap_err(),
        RoomError::PasscodeChanged
    );
    let now = version_of(&r, b);
    entered(r.join(member(b), "1", Pass::Passcode(now), CAP, 0));
    // Rejoining one's own room needs nothing.
    entered(join(&mut r, member(b), "1"));
    // Other rooms are not locked.
    entered(join(&mut r, member(c), "2"));
}

fn version_of(r: &Registry, id: ConnId) -> u64 {
    version(r, id, "1")
}

// -- the waiting room -----------------------------------------------------------------

#[test]
fn the_waiting_room_queues_knocks_and_the_host_admits_or_denies() {
    let mut r = Registry::new(IDLE);
    let [host, w1, w2, w3, member_b] = ids();
    join(&mut r, member(host), "1").unwrap();
    join(&mut r, member(member_b), "1").unwrap();
    lock_with(&mut r, host, waiting_room(true));

    let k1 = waiting(join(&mut r, member(w1), "1"));
    assert_eq!((k1.host, k1.already_waiting), (Some(host), false));
    let again = waiting(join(&mut r, member(w1), "1"));
    assert!(again.already_waiting, "asking again knocks no twice");
    waiting(join(&mut r, member(w2), "1"));
    waiting(join(&mut r, member(w3), "1"));
    assert_eq!(r.counts().waiting, 3);
    assert_eq!(
        r.place_of(w1),
        Some(Place {
            room: "1".into(),
            waiting: true
        })
    );
    assert!(r.seat(w1).is_none(), "a waiting connection is in no room");
    assert_eq!(
        r.check_relay(w1, host, RelayKind::CallEnd),
        Err(RoomError::NotInRoom)
    );

    // Only the host admits, and only someone waiting.
    assert_eq!(r.admit(member_b, w1, CAP).unwrap_err(), RoomError::NotHost);
    assert_eq!(
        r.admit(host, member_b, CAP).unwrap_err(),
        RoomError::NotWaiting
    );
    assert_eq!(r.admit(w2, w1, CAP).unwrap_err(), RoomError::NotJoined);
    let admitted = r.admit(host, w1, CAP).unwrap();
    assert_eq!(admitted.count, 3);
    assert_eq!(
        admitted.others.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![host, member_b]
    );
    assert_eq!(admitted.host, host);
    assert!(admitted.settings.waiting_room);
    assert_eq!(r.admit(host, w1, CAP).unwrap_err(), RoomError::NotWaiting);

    let denied = r.deny(host, w2).unwrap();
    assert_eq!((denied.room.as_str(), denied.id), ("1", w2));
    assert!(r.place_of(w2).is_none());

    // A full room admits nobody: the knock stays.
    assert_eq!(
        r.admit(host, w3, 3).unwrap_err(),
        RoomError::RoomFull { capacity: 3 }
    );
    assert_eq!(r.counts().waiting, 1);

    // Leaving the queue (disconnect, room:leave, joining elsewhere) tells the host.
    match r.leave(w3, 0) {
        Some(Departure::Unqueued { room, id, host: h }) => {
            assert_eq!((room.as_str(), id, h), ("1", w3, Some(host)))
        }
        other => panic!("{other:?}"),
    }
    waiting(join(&mut r, member(w3), "1"));
    let elsewhere = entered(join(&mut r, member(w3), "2"));
    assert!(matches!(
        elsewhere.departed,
        Some(Departure::Unqueued { .. })
    ));
    assert_eq!(r.counts().waiting, 0);
}

#[test]
fn a_new_host_inherits_the_knocks_and_an_empty_room_lets_the_next_joiner_in_as_host() {
    let mut r = Registry::new(IDLE);
    let [host, b, w, newcomer] = ids();
    join(&mut r, member(host), "1").unwrap();
    join(&mut r, member(b), "1").unwrap();
    lock_with(&mut r, host, passcode("1234"));
    lock_with(&mut r, host, waiting_room(true));
    let pass = Pass::Passcode(version(&r, w, "1"));
    let knock = waiting(r.join(member(w), "1", pass, CAP, 0));
    assert_eq!(knock.host, Some(host));
    let handed = left(r.leave(host, 0)).new_host.unwrap();
    assert_eq!(handed.id, b);
    assert_eq!(
        handed.waiting.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![w]
    );
    assert_eq!(r.admit(b, w, CAP).unwrap().host, b);
    // Everyone leaves; the meeting (and its lock) goes on.
    left(r.leave(b, 10));
    left(r.leave(w, 20));
    assert_eq!(
        join(&mut r, member(newcomer), "1").unwrap_err(),
        RoomError::PasscodeChanged,
        "still locked"
    );
    let pass = Pass::Passcode(version(&r, newcomer, "1"));
    let joined = entered(r.join(member(newcomer), "1", pass, CAP, 30));
    assert_eq!(joined.host, newcomer, "nobody to admit: in, and host");
    assert!(joined.settings.locked && joined.settings.waiting_room);
    assert!(joined.save.is_some(), "the room is no longer empty");
}

#[test]
fn a_room_left_empty_lets_its_longest_waiting_joiner_in_as_host_but_not_a_removed_one() {
    let mut r = Registry::new(IDLE);
    let [host, banned, w1, w2] = ids();
    join(&mut r, with_email(host, "h@x.y"), "1").unwrap();
    join(&mut r, with_email(banned, "b@x.y"), "1").unwrap();
    lock_with(&mut r, host, waiting_room(true));
    r.remove(host, banned, 0).unwrap();
    waiting(join(&mut r, with_email(banned, "b@x.y"), "1"));
    waiting(join(&mut r, with_email(w1, "w1@x.y"), "1"));
    waiting(join(&mut r, with_email(w2, "w2@x.y"), "1"));

    let gone = left(r.leave(host, 50));
    assert!(gone.remaining.is_empty());
    assert!(
        gone.save.is_none(),
        "the room did not empty: its meeting goes on"
    );
    let p = gone
        .promoted
        .expect("nobody left to admit: the first waiter comes in");
    assert_eq!(p.member.id, w1, "the removed one, first in line, stays out");
    assert_eq!((p.joined.host, p.joined.count), (w1, 1));
    assert!(
        p.joined.settings.waiting_room,
        "the lock stays with the meeting"
    );
    assert_eq!(
        p.joined.knocks.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![banned, w2],
        "the others knock on the new host's door"
    );
    assert_eq!(r.place_of(w1).map(|p| p.waiting), Some(false));
    assert_eq!(r.hosted_room(w1).unwrap(), "1");
    assert_eq!(r.counts().waiting, 2);

    // The new host leaves too: the next one in line (still not the removed one).
    let p = left(r.leave(w1, 60)).promoted.unwrap();
    assert_eq!(p.member.id, w2);
    assert_eq!(
        p.joined.knocks.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![banned]
    );
    // Only the removed one waits: the room empties, and it keeps waiting.
    let last = left(r.leave(w2, 70));
    assert!(last.promoted.is_none());
    assert!(last.save.is_some(), "empty now");
    assert_eq!(r.place_of(banned).map(|p| p.waiting), Some(true));
}

#[test]
fn whoever_becomes_host_of_an_empty_room_gets_the_knocks_of_those_still_waiting() {
    let mut r = Registry::new(IDLE);
    let [host, gone, later] = ids();
    join(&mut r, with_email(host, "h@x.y"), "1").unwrap();
    join(&mut r, with_email(gone, "g@x.y"), "1").unwrap();
    lock_with(&mut r, host, waiting_room(true));
    r.remove(host, gone, 0).unwrap();
    // Removed, but the waiting room is on: it may knock, even into an empty room.
    left(r.leave(host, 0));
    let knock = waiting(join(&mut r, with_email(gone, "g@x.y"), "1"));
    assert_eq!(knock.host, None, "nobody to knock on yet");
    let joined = entered(join(&mut r, with_email(later, "l@x.y"), "1"));
    assert_eq!(joined.host, later);
    assert_eq!(
        joined.knocks.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![gone]
    );
}

// -- removal --------------------------------------------------------------------------

#[test]
fn removal_bans_the_connection_and_the_email_for_the_meeting_unless_admitted() {
    let mut r = Registry::new(IDLE);
    let [host, bob, bob_again, carol, outsider] = ids();
    join(&mut r, with_email(host, "host@x.y"), "1").unwrap();
    join(&mut r, with_email(bob, "bob@x.y"), "1").unwrap();
    join(&mut r, with_email(carol, "carol@x.y"), "1").unwrap();
    join(&mut r, with_email(outsider, "o@x.y"), "2").unwrap();

    assert_eq!(r.remove(carol, bob, 0).unwrap_err(), RoomError::NotHost);
    assert_eq!(
        r.remove(carol, outsider, 0).unwrap_err(),
        RoomError::NotInRoom
    );
    assert_eq!(
        r.remove(outsider, bob, 0).unwrap_err(),
        RoomError::NotInRoom
    );
    assert_eq!(r.remove(host, host, 0).unwrap_err(), RoomError::RemoveSelf);
    let [nobody] = ids();
    assert_eq!(r.remove(nobody, bob, 0).unwrap_err(), RoomError::NotJoined);

    r.start_sharing(bob).unwrap();
    let removal = r.remove(host, bob, 0).unwrap();
    assert_eq!(removal.by, host);
    assert!(removal.left.was_sharer);
    assert_eq!(removal.left.remaining, vec![host, carol]);
    assert_eq!(
        removal.left.save.unwrap().removed,
        vec!["bob@x.y".to_string()]
    );

    // Neither that connection (under any email) nor that email can come back...
    assert_eq!(
        join(&mut r, with_email(bob, "other@x.y"), "1").unwrap_err(),
        RoomError::Removed
    );
    assert_eq!(
        join(&mut r, with_email(bob_again, "bob@x.y"), "1").unwrap_err(),
        RoomError::Removed
    );
    // ...except through the waiting room, by an admission.
    lock_with(&mut r, host, waiting_room(true));
    waiting(join(&mut r, with_email(bob_again, "bob@x.y"), "1"));
    let admitted = r.admit(host, bob_again, CAP).unwrap();
    assert_eq!(admitted.save.unwrap().removed, Vec::<String>::new());
    lock_with(&mut r, host, waiting_room(false));
    left(r.leave(bob_again, 0));
    entered(join(&mut r, with_email(bob_again, "bob@x.y"), "1"));
}

// -- meetings -------------------------------------------------------------------------

#[test]
fn a_meeting_ends_after_the_room_stayed_empty_for_the_idle_time() {
    let mut r = Registry::new(1000);
    let [a, b, w] = ids();
    let first = entered(r.join(member(a), "1", Pass::Nothing, CAP, 0));
    let started = first.save.clone().unwrap();
    assert_eq!((started.started_at, started.emptied_at), (0, None));
    lock_with(&mut r, a, passcode("1234"));
    lock_with(&mut r, a, waiting_room(true));
    let emptied = left(r.leave(a, 100)).save.unwrap();
    assert_eq!(emptied.emptied_at, Some(100));
    assert!(r.end_idle_meetings(1099).is_empty(), "not yet");

    // Back within the idle time: the same meeting, still locked.
    let pass = Pass::Passcode(version(&r, b, "1"));
    let back = entered(r.join(member(b), "1", pass, CAP, 1000));
    assert_eq!(back.meeting, first.meeting);
    assert!(back.save.unwrap().emptied_at.is_none());
    // Someone the host removed knocks again: nobody lets it in once the room empties.
    let pass = Pass::Passcode(version(&r, w, "1"));
    waiting(r.join(member(w), "1", pass, CAP, 1000));
    r.admit(b, w, CAP).unwrap();
    r.remove(b, w, 1000).unwrap();
    let pass = Pass::Passcode(version(&r, w, "1"));
    waiting(r.join(member(w), "1", pass, CAP, 1000));
    assert!(left(r.leave(b, 2000)).promoted.is_none());
    assert!(r.end_idle_meetings(2999).is_empty());
    let ended = r.end_idle_meetings(3000);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].record.ended_at, Some(3000));
    assert_eq!(ended[0].waiting, vec![w], "those still waiting are let go");
    assert!(r.place_of(w).is_none());
    assert_eq!(r.counts().meetings, 0);

    // A new meeting: unlocked, a new id.
    let next = entered(r.join(member(a), "1", Pass::Nothing, CAP, 4000));
    assert!(next.meeting > first.meeting);
    assert!(!next.settings.locked && !next.settings.waiting_room);
}

#[test]
fn listed_rooms_show_counts_until_their_meeting_ends() {
    let mut r = Registry::new(1000);
    let [a, b] = ids();
    join(&mut r, member(a), "open").unwrap();
    join(&mut r, member(b), "hidden").unwrap();
    assert!(r.listed().is_empty(), "unlisted by default");
    lock_with(
        &mut r,
        a,
        LockChange {
            listed: Some(true),
            ..LockChange::default()
        },
    );
    assert_eq!(
        r.listed(),
        vec![ListedRoom {
            room: "open".into(),
            count: 1,
            locked: false
        }]
    );
    lock_with(&mut r, a, passcode("1234"));
    left(r.leave(a, 0));
    assert_eq!(r.listed()[0].count, 0);
    assert!(r.listed()[0].locked);
    r.end_idle_meetings(1000);
    assert!(r.listed().is_empty());
}

#[test]
fn restored_meetings_carry_on_and_stale_ones_end() {
    let hash = PasscodeHash::new("1234").unwrap();
    let record = |id: i64, room: &str, emptied_at: Option<Millis>| MeetingRecord {
        id: MeetingId(id),
        room: room.into(),
        started_at: 0,
        emptied_at,
        ended_at: None,
        passcode: Some(hash.encode()),
        waiting_room: true,
        listed: true,
        removed: vec!["bob@x.y".into()],
    };
    let mut r = Registry::new(1000);
    let save = r.restore(
        vec![
            record(3, "busy", None),
            record(4, "idle", Some(9_500)),
            record(5, "stale", Some(8_000)),
        ],
        7,
        None,
        10_000,
    );
    let by_room = |room: &str| save.iter().find(|m| m.room == room).cloned();
    assert_eq!(
        by_room("busy").unwrap().emptied_at,
        Some(10_000),
        "empty since the restart"
    );
    assert!(by_room("idle").is_none(), "unchanged");
    assert_eq!(by_room("stale").unwrap().ended_at, Some(10_000));
    assert_eq!(r.counts().meetings, 2);

    // The lock and the removals came back.
    let [bob, carol, dave] = ids();
    assert!(
        matches!(r.door(carol, "idle"), Door::Passcode { ref hash, .. } if hash.verify("1234"))
    );
    let pass = Pass::Passcode(version(&r, carol, "idle"));
    let j = entered(r.join(with_email(carol, "c@x.y"), "idle", pass, CAP, 10_100));
    assert!(j.settings.locked && j.settings.waiting_room && j.settings.listed);
    assert_eq!(j.host, carol);
    let pass = Pass::Passcode(version(&r, bob, "idle"));
    waiting(r.join(with_email(bob, "bob@x.y"), "idle", pass, CAP, 10_100));
    // New meetings get ids after the stored ones.
    let fresh = entered(r.join(member(dave), "new", Pass::Nothing, CAP, 10_100));
    assert_eq!(fresh.meeting, MeetingId(7));
    // "busy" has been empty since the restart; "idle" is in use.
    assert!(r.end_idle_meetings(10_999).is_empty());
    let ended = r.end_idle_meetings(11_000);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].record.room, "busy");
}

#[test]
fn after_a_crash_rooms_count_as_empty_since_the_server_was_last_alive() {
    let record = |id: i64, emptied_at: Option<Millis>| MeetingRecord {
        id: MeetingId(id),
        room: format!("r{id}"),
        started_at: 0,
        emptied_at,
        ended_at: None,
        passcode: None,
        waiting_room: false,
        listed: false,
        removed: Vec::new(),
    };
    let mut r = Registry::new(1000);
    // Last alive at 9 000, restarted at 10 000: a room full at the crash has been empty
    // for the idle time, so its meeting ended.
    let save = r.restore(
        vec![record(1, None), record(2, Some(9_500))],
        3,
        Some(9_000),
        10_000,
    );
    assert_eq!(save.len(), 1);
    assert_eq!((save[0].id, save[0].ended_at), (MeetingId(1), Some(10_000)));
    assert_eq!(save[0].emptied_at, Some(9_000));
    assert_eq!(r.counts().meetings, 1);
    // Back soon enough: the meeting carries on.
    let mut r = Registry::new(1000);
    let save = r.restore(vec![record(1, None)], 3, Some(9_800), 10_000);
    assert_eq!(save[0].emptied_at, Some(9_800));
    assert_eq!(save[0].ended_at, None);
    assert_eq!(r.counts().meetings, 1);
}

/// A room stored as a document (a cluster keeps rooms in Redis) and loaded back is the
/// same room: members in order, sharer, host, lock, waiting room, removals, meeting.
#[test]
fn a_room_survives_its_document_and_the_rules_carry_on() {
    let [a, b, c, d] = ids();
    let mut r = Registry::new(IDLE);
    entered(join(&mut r, member(a), "r"));
    entered(join(&mut r, member(b), "r"));
    entered(join(&mut r, member(d), "r"));
    r.set_media(b, false, true).unwrap();
    r.start_sharing(b).unwrap();
    r.remove(a, d, 5).unwrap();
    lock_with(&mut r, a, passcode("secret"));
    lock_with(&mut r, a, waiting_room(true));
    let version = match r.door(c, "r") {
        Door::Passcode { version, .. } => version,
        Door::Open => panic!("the room is locked"),
    };
    waiting(r.join(member(c), "r", Pass::Passcode(version), CAP, 6));

    let doc = r.room_doc("r").expect("the room exists");
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        !text.contains("secret"),
        "only the passcode's hash is stored"
    );
    let mut loaded = Registry::new(IDLE);
    loaded
        .load_room("r", &serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(loaded.room_doc("r"), Some(doc));
    assert_eq!(loaded.members_of("r"), vec![a, b]);
    assert_eq!(
        loaded.place_of(c),
        Some(Place {
            room: "r".into(),
            waiting: true
        })
    );
    // The same rules on the loaded copy: the sharer holds, d stays removed, the
    // passcode still checks, and the host hands over in join order.
    assert_eq!(
        loaded.start_sharing(a),
        Err(RoomError::SharingConflict { sharer: b })
    );
    let Door::Passcode { hash, .. } = loaded.door(ConnId::new(), "r") else {
        panic!("still locked");
    };
    assert!(hash.verify("secret"));
    assert!(matches!(
        loaded.join(member(d), "r", Pass::Passcode(version), CAP, 7),
        Ok(JoinOutcome::Waiting(_))
    ));
    let gone = left(loaded.leave(a, 8));
    assert_eq!(gone.new_host.map(|h| h.id), Some(b));
}
