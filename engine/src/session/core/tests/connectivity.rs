//! Keeping connections alive: restarts after a lost path and after new ICE servers,
//! a relay-only connection without a relay, and what each connection became.

use huddle_protocol::{RelayBody, RelayKind, SessionDescription};

use super::*;
use crate::session::core::connectivity::MAX_REDIALS;
use crate::session::core::{Action, Input, LinkKey, LinkKind};
use crate::session::event::SessionEvent;

/// We called `a` and the call is up.
fn connected_call() -> (Io, LinkKey) {
    let (mut io, key) = answered_call();
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

// --- A DTLS handshake that stalls after ICE connected -----------------------------------

/// A screen offer as a new connection makes one: its own DTLS certificate.
fn offer_with_fingerprint(fingerprint: &str) -> SessionDescription {
    SessionDescription::offer(format!(
        "{OFFER_SDP}a=fingerprint:sha-256 {fingerprint}\r\n"
    ))
}

#[test]
fn the_caller_rebuilds_a_call_whose_dtls_never_finishes_and_gives_up_after_three() {
    let (mut io, key) = answered_call();
    for redial in 1..=MAX_REDIALS {
        io.ice_connected(&key);
        io.later(3500);
        assert!(io.feed(Input::Tick).is_empty(), "a handshake gets its time");
        io.later(500);
        let done = io.feed(Input::Tick);
        assert_eq!(closed(&done), [LinkKey::call("a")], "redial {redial}");
        assert_eq!(opened(&done), [LinkKey::call("a")]);
        assert_eq!(relay_kinds(&done), [(RelayKind::UserCall, "a".into())]);
        io.relayed(
            RelayKind::CallAccepted,
            "a",
            RelayBody::Ans(answer("active")),
        );
    }
    io.ice_connected(&key);
    io.later(4000);
    let done = io.feed(Input::Tick);
    assert_eq!(closed(&done), [LinkKey::call("a")]);
    assert!(opened(&done).is_empty(), "given up");
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::PeerFailed { id, reason }] if id == "a" && reason.contains("DTLS")
    ));
    // Each try is in the report, none of them connected.
    let connections = io.core.connections();
    assert_eq!(connections.len(), 4);
    assert!(connections.iter().all(|c| c.connect_ms.is_none()));
}

#[test]
fn a_call_that_came_up_is_never_rebuilt_and_one_that_comes_up_late_enough_is_kept() {
    let (mut io, key) = connected_call();
    io.ice_connected(&key);
    io.later(10_000);
    assert!(io.feed(Input::Tick).is_empty());

    let (mut io, key) = answered_call();
    io.ice_connected(&key);
    io.later(3900);
    io.connected(&key);
    io.later(1000);
    assert!(io.feed(Input::Tick).is_empty());
}

/// We joined as "a"; "b" joined and called us; we answered, and ICE connected.
fn answered_a_call_ice_up() -> (Io, LinkKey) {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let key = LinkKey::call("b");
    io.ice_connected(&key);
    (io, key)
}

#[test]
fn the_answerer_of_a_stalled_call_leaves_it_to_the_caller_and_answers_on_a_new_connection() {
    let (mut io, key) = answered_a_call_ice_up();
    io.later(4000);
    assert!(io.feed(Input::Tick).is_empty(), "the caller rebuilds first");
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    assert_eq!(closed(&done), [LinkKey::call("b")]);
    assert_eq!(opened(&done), [LinkKey::call("b")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::CallAccepted, "b".into())]);
    assert_eq!(io.core.peers_met(), 1, "the same participant, met once");
    // The new connection's clock starts again: no call back from us at the old one's 8 s.
    io.ice_connected(&key);
    io.later(4000);
    assert!(io.feed(Input::Tick).is_empty());
}

#[test]
fn an_answerer_whose_caller_never_rebuilds_calls_back_itself() {
    let (mut io, key) = answered_a_call_ice_up();
    io.later(7900);
    assert!(io.feed(Input::Tick).is_empty());
    io.later(100);
    let done = io.feed(Input::Tick);
    assert_eq!(closed(&done), [LinkKey::call("b")]);
    assert_eq!(opened(&done), [LinkKey::call("b")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::UserCall, "b".into())]);
    // Now we are the caller of the new connection: its answer comes as `call:accepted`.
    io.relayed(
        RelayKind::CallAccepted,
        "b",
        RelayBody::Ans(answer("active")),
    );
    io.connected(&key);
    assert_eq!(io.core.peers_connected(), 1);
}

#[test]
fn a_stalled_screen_is_offered_again_and_the_viewer_answers_on_a_new_connection() {
    // The sharer's side.
    let (mut io, key) = answered_share();
    io.ice_connected(&key);
    io.later(4000);
    let done = io.feed(Input::Tick);
    assert_eq!(closed(&done), [LinkKey::share_out("a")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareOffer, "a".into())]);

    // The viewer's side: the same certificate renegotiates, another one is a new connection.
    let mut io = Io::new();
    io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    let done = io.relayed(
        RelayKind::ShareOffer,
        "s",
        RelayBody::Offer(offer_with_fingerprint("AA:01")),
    );
    assert_eq!(opened(&done), [LinkKey::share_in("s")]);
    let done = io.relayed(
        RelayKind::ShareOffer,
        "s",
        RelayBody::Offer(offer_with_fingerprint("AA:01")),
    );
    assert!(opened(&done).is_empty(), "a renegotiation");
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
    let done = io.relayed(
        RelayKind::ShareOffer,
        "s",
        RelayBody::Offer(offer_with_fingerprint("BB:02")),
    );
    assert_eq!(closed(&done), [LinkKey::share_in("s")]);
    assert_eq!(opened(&done), [LinkKey::share_in("s")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
}
