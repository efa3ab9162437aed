//! Keeping connections alive: restarts after a lost path and after new ICE servers,
//! a relay-only connection without a relay, and what each connection became.

use huddle_protocol::{RelayBody, RelayKind, SessionDescription};

use super::*;
use crate::session::core::{Action, Input, LinkKey, LinkKind};
use crate::session::event::SessionEvent;

/// We called `a` and the call is up.
fn connected_call() -> (Io, LinkKey) {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    let key = LinkKey::call("a");
    io.later(150);
    io.connected(&key);
    (io, key)
}

fn restart_offers(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::CreateOffer {
                    ice_restart: true,
                    ..
                }
            )
        })
        .count()
}

fn disconnected(io: &mut Io, key: &LinkKey) -> Vec<Action> {
    let generation = io.generation(key);
    io.feed(Input::Disconnected {
        key: key.clone(),
        generation,
    })
}

#[test]
fn a_path_lost_for_two_seconds_is_restarted_once_by_the_offerer() {
    let (mut io, key) = connected_call();
    assert!(disconnected(&mut io, &key).is_empty());
    io.later(1000);
    assert_eq!(restart_offers(&io.feed(Input::Tick)), 0, "too early");
    io.later(1000);
    let done = io.feed(Input::Tick);
    assert_eq!(restart_offers(&done), 1);
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoNeeded, "a".into())]);
    io.relayed(RelayKind::NegoDone, "a", RelayBody::Ans(answer("active")));
    io.later(3000);
    assert_eq!(restart_offers(&io.feed(Input::Tick)), 0, "once per loss");
    // Back up: a later loss is restarted again.
    io.connected(&key);
    disconnected(&mut io, &key);
    io.later(2000);
    assert_eq!(restart_offers(&io.feed(Input::Tick)), 1);
    assert_eq!(io.core.connections()[0].ice_restarts, 2);
}

#[test]
fn the_answerer_of_a_lost_path_waits_for_the_offerer() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let key = LinkKey::call("b");
    io.connected(&key);
    disconnected(&mut io, &key);
    io.later(5000);
    assert_eq!(restart_offers(&io.feed(Input::Tick)), 0);
}

#[test]
fn new_ice_servers_restart_calls_from_either_side_and_screens_from_the_sharer() {
    // The callee of a call restarts it too (its own TURN allocation needs the new
    // credentials).
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let done = io.feed(Input::IceServersChanged);
    assert_eq!(restart_offers(&done), 1);
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoNeeded, "b".into())]);

    let (mut io, _) = connected_call();
    io.feed(Input::SharingStarted);
    io.relayed(
        RelayKind::ShareAnswer,
        "a",
        RelayBody::Ans(answer("active")),
    );
    let done = io.feed(Input::IceServersChanged);
    let mut kinds = relay_kinds(&done);
    kinds.sort_by_key(|(k, _)| k.sent_as());
    assert_eq!(
        kinds,
        [
            (RelayKind::NegoNeeded, "a".into()),
            (RelayKind::ShareOffer, "a".into())
        ]
    );
}

#[test]
fn a_connection_still_negotiating_is_not_restarted() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    // Our offer is unanswered.
    assert_eq!(restart_offers(&io.feed(Input::IceServersChanged)), 0);
}

#[test]
fn a_relay_only_connection_without_relay_fails_at_once_with_the_reason() {
    let (mut io, key) = connected_call();
    let generation = io.generation(&key);
    let done = io.feed(Input::NoRelay {
        key: key.clone(),
        generation,
        reason: "turn:10.0.0.1:3478: 401 Unauthorized".into(),
    });
    assert_eq!(closed(&done), [key]);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::PeerFailed { id, reason }] if id == "a" && reason.contains("401")
    ));
    assert_eq!(
        io.core.errors(),
        ["connection to a@x.io cannot relay: turn:10.0.0.1:3478: 401 Unauthorized"]
    );
}

#[test]
fn connections_say_how_long_connecting_took_and_count_restarts_both_ways() {
    let (mut io, key) = connected_call();
    let records = io.core.connections();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].remote_email, "a@x.io");
    assert_eq!(records[0].kind, LinkKind::Call);
    assert_eq!(records[0].connect_ms, Some(150.0));
    assert_eq!(records[0].ice_restarts, 0);

    // The peer restarts: its offer carries a new ufrag (an offer with the same one is
    // a plain renegotiation).
    let with_ufrag = |u: &str| SessionDescription::offer(format!("{OFFER_SDP}a=ice-ufrag:{u}\r\n"));
    let answer_with = |u: &str| {
        SessionDescription::answer(format!("{}a=ice-ufrag:{u}\r\n", sdp_with_setup("active")))
    };
    io.relayed(RelayKind::NegoDone, "a", RelayBody::Ans(answer_with("one")));
    io.relayed(
        RelayKind::NegoNeeded,
        "a",
        RelayBody::Offer(with_ufrag("one")),
    );
    assert_eq!(io.core.connections()[0].ice_restarts, 0);
    io.relayed(
        RelayKind::NegoNeeded,
        "a",
        RelayBody::Offer(with_ufrag("two")),
    );
    assert_eq!(io.core.connections()[0].ice_restarts, 1);

    // An ended connection stays in the record.
    io.relayed(RelayKind::CallEnd, "a", RelayBody::Nothing);
    assert!(!io.is_open(&key));
    let records = io.core.connections();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ice_restarts, 1);
}
