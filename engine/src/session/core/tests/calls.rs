//! The mesh: calls, candidates, replaced connections, offer collisions and the DTLS
//! role, ICE restarts, connecting.

use std::time::Duration;

use huddle_protocol::{RelayBody, RelayKind};

use super::*;
use crate::media::stream::StreamKind;
use crate::session::core::negotiation::MAX_ICE_RESTARTS;
use crate::session::core::{Action, CoreConfig, Input, KeyframeOf, LinkKey};
use crate::session::event::SessionEvent;

// --- The mesh -------------------------------------------------------------------------

#[test]
fn the_newcomer_calls_everyone_in_its_join_ack() {
    let mut io = Io::new();
    let done = io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    assert_eq!(opened(&done), [LinkKey::call("a"), LinkKey::call("b")]);
    assert_eq!(
        relay_kinds(&done),
        [
            (RelayKind::UserCall, "a".into()),
            (RelayKind::UserCall, "b".into())
        ]
    );
    // Each call is set up completely before the next one starts.
    let first_offer = done
        .iter()
        .position(|a| matches!(a, Action::Relay { to, .. } if to == "a"))
        .unwrap();
    let second_open = done
        .iter()
        .position(|a| matches!(a, Action::OpenLink { key, .. } if key.remote == "b"))
        .unwrap();
    assert!(first_offer < second_open);
    assert!(matches!(&events(&done)[0], SessionEvent::Joined { id, .. } if id == "me"));
    assert_eq!(io.core.peers_met(), 2);
    assert_eq!(io.core.my_id(), "me");
}

#[test]
fn nobody_calls_a_newcomer_it_calls_us_and_we_answer() {
    let mut io = Io::new();
    io.join("a", &[]);
    let done = io.feed(joined("b", "b@x.io"));
    assert!(opened(&done).is_empty(), "we wait for the newcomer's call");
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::ParticipantJoined { id, .. }] if id == "b"
    ));
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    assert_eq!(opened(&done), [LinkKey::call("b")]);
    assert!(done.iter().any(|a| matches!(a, Action::Answer { .. })));
    assert_eq!(relay_kinds(&done), [(RelayKind::CallAccepted, "b".into())]);
    assert_eq!(io.core.peers_met(), 1);
}

#[test]
fn an_answer_we_cannot_give_ends_that_call_only() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.fail_answer = true;
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    assert_eq!(closed(&done), [LinkKey::call("b")]);
    assert!(relays(&done).is_empty());
    assert_eq!(io.core.errors(), ["cannot answer b@x.io: it broke"]);
    // A connection that cannot be made is dropped too, and said so.
    io.fail_answer = false;
    io.fail_open = true;
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    assert_eq!(closed(&done), [LinkKey::call("b")]);
    assert_eq!(io.core.errors().len(), 2);
}

#[test]
fn a_call_we_cannot_offer_is_reported_and_the_others_go_on() {
    let mut io = Io::new();
    io.fail_offer = true;
    let done = io.join("me", &[("a", "a@x.io")]);
    assert!(relays(&done).is_empty());
    assert_eq!(io.core.errors(), ["cannot call a@x.io: it broke"]);
    // Our own offer can be retried: the connection stays.
    assert!(io.is_open(&LinkKey::call("a")));
}

#[test]
fn call_end_and_leaving_close_the_calls() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    let done = io.relayed(RelayKind::CallEnd, "a", RelayBody::Nothing);
    assert_eq!(closed(&done), [LinkKey::call("a")]);
    let done = io.feed(Input::Leaving);
    assert_eq!(relay_kinds(&done), [(RelayKind::CallEnd, "b".into())]);
    let done = io.feed(Input::CloseAll);
    assert_eq!(closed(&done), [LinkKey::call("b")]);
}

#[test]
fn someone_leaving_ends_every_connection_with_them() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.feed(Input::SharingStarted);
    assert!(io.is_open(&LinkKey::share_out("a")));
    let done = io.feed(left("a", "a@x.io"));
    assert_eq!(closed(&done), [LinkKey::call("a"), LinkKey::share_out("a")]);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::ParticipantLeft { id, .. }] if id == "a"
    ));
}

// --- Candidates -----------------------------------------------------------------------

#[test]
fn remote_candidates_wait_for_the_remote_description() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    // Our offer is out; their candidates arrive before their answer.
    let done = io.relayed(
        RelayKind::IceCandidate,
        "a",
        RelayBody::Candidate(candidate(1)),
    );
    assert!(
        added_candidates(&done).is_empty(),
        "no remote description yet"
    );
    let done = io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    let apply = done
        .iter()
        .position(|a| matches!(a, Action::ApplyAnswer { .. }))
        .unwrap();
    let add = done
        .iter()
        .position(|a| matches!(a, Action::AddRemoteCandidates { .. }))
        .unwrap();
    assert!(apply < add, "the answer first, then its candidates");
    assert_eq!(added_candidates(&done), [candidate(1)]);
    // From now on they go in at once.
    let done = io.relayed(
        RelayKind::IceCandidate,
        "a",
        RelayBody::Candidate(candidate(2)),
    );
    assert_eq!(added_candidates(&done), [candidate(2)]);
}

#[test]
fn candidates_before_their_connection_exists_are_kept_for_it() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    // The newcomer's candidates overtake its offer.
    for n in [1, 2] {
        let done = io.relayed(
            RelayKind::IceCandidate,
            "b",
            RelayBody::Candidate(candidate(n)),
        );
        assert!(done.is_empty());
    }
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let answered = done
        .iter()
        .position(|a| matches!(a, Action::Answer { .. }))
        .unwrap();
    let added = done
        .iter()
        .position(|a| matches!(a, Action::AddRemoteCandidates { .. }))
        .unwrap();
    assert!(answered < added);
    assert_eq!(added_candidates(&done), [candidate(1), candidate(2)]);
}

#[test]
fn our_candidates_are_held_until_our_offer_is_answered() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    for n in [1, 2] {
        let done = io.local_candidate(&key, n);
        assert!(
            relays(&done).is_empty(),
            "held while our offer is unanswered"
        );
    }
    let done = io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    let sent = relays(&done);
    assert_eq!(sent.len(), 2);
    for (kind, to, body) in sent {
        assert_eq!((kind, to.as_str()), (RelayKind::IceCandidate, "a"));
        let RelayBody::Candidate(c) = body else {
            panic!("a candidate")
        };
        // webrtc-rs's empty mid becomes our offer's first one.
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.sdp_m_line_index, Some(0));
    }
    // Later ones trickle at once.
    let done = io.local_candidate(&key, 3);
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "a".into())]);
}

#[test]
fn held_candidates_go_out_even_when_the_answer_is_bad() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    io.local_candidate(&key, 1);
    io.fail_apply = true;
    let done = io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "a".into())]);
    assert_eq!(io.core.errors(), ["bad answer from a@x.io: it broke"]);
}

#[test]
fn an_answerer_trickles_at_once() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let key = LinkKey::call("b");
    let done = io.local_candidate(&key, 1);
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "b".into())]);
}

// --- Generations ----------------------------------------------------------------------

#[test]
fn events_of_a_replaced_connection_are_ignored() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let key = LinkKey::call("b");
    let old = io.generation(&key);
    // b calls again (it rejoined): the old connection is replaced.
    let done = io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    assert_eq!(closed(&done), std::slice::from_ref(&key));
    let new = io.generation(&key);
    assert!(new > old);
    for input in [
        Input::Connected {
            key: key.clone(),
            generation: old,
        },
        Input::Failed {
            key: key.clone(),
            generation: old,
        },
        Input::Track {
            key: key.clone(),
            generation: old,
            audio: true,
        },
        Input::LocalCandidate {
            key: key.clone(),
            generation: old,
            candidate: candidate(1),
        },
    ] {
        assert!(io.feed(input).is_empty(), "stale events change nothing");
    }
    assert!(
        !io.feed(Input::Connected {
            key,
            generation: new
        })
        .is_empty()
    );
}

// --- Offer collisions and the DTLS role -----------------------------------------------

/// A call where both sides are about to renegotiate: `me` offers again (an ICE
/// restart), and the other side's offer crosses ours.
fn colliding(me: &str, other: &str) -> (Io, Vec<Action>) {
    let mut io = Io::new();
    io.join(me, &[(other, "other@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        other,
        RelayBody::Ans(answer("active")),
    );
    let key = LinkKey::call(other);
    io.failed(&key);
    let done = io.relayed(RelayKind::NegoNeeded, other, RelayBody::Offer(offer()));
    (io, done)
}

#[test]
fn in_an_offer_collision_the_smaller_id_yields() {
    // "a" < "b": a is polite, rolls its offer back and answers b's.
    let (io, done) = colliding("a", "b");
    assert!(matches!(done[0], Action::Rollback { .. }));
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoDone, "b".into())]);
    assert!(!io.core.links[&LinkKey::call("b")].making_offer);

    // "b" > "a": b keeps its offer and ignores a's.
    let (io, done) = colliding("b", "a");
    assert!(done.is_empty(), "{done:?}");
    assert!(io.core.links[&LinkKey::call("a")].making_offer);
}

#[test]
fn a_renegotiation_keeps_the_dtls_role_the_first_negotiation_settled() {
    // We answered first: webrtc-rs chose `active` and will say `active` again.
    let mut io = Io::new();
    io.join("b", &[]);
    io.feed(joined("a", "a@x.io"));
    let done = io.relayed(RelayKind::UserCall, "a", RelayBody::Offer(offer()));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));
    let done = io.relayed(RelayKind::NegoNeeded, "a", RelayBody::Offer(offer()));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));

    // We offered first and they answered `active`: we are the DTLS server (passive).
    // webrtc-rs answers their re-offer with `active`, which would flip the roles of the
    // running association: the answer we send says `passive`.
    let mut io = Io::new();
    io.join("a", &[("b", "b@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        "b",
        RelayBody::Ans(answer("active")),
    );
    let done = io.relayed(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer()));
    let sent = relayed_answer(&done);
    assert!(sent.sdp.contains("a=setup:passive"), "{}", sent.sdp);
    assert!(!sent.sdp.contains("a=setup:active"));

    // Had they answered `passive`, we would stay `active`.
    let mut io = Io::new();
    io.join("a", &[("b", "b@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        "b",
        RelayBody::Ans(answer("passive")),
    );
    io.answer_role = "passive";
    let done = io.relayed(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer()));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));
}

#[test]
fn a_renegotiation_for_a_call_we_lost_is_answered_as_a_new_call() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    let done = io.relayed(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer()));
    assert_eq!(opened(&done), [LinkKey::call("b")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoDone, "b".into())]);
    assert_eq!(io.core.peers_met(), 0, "not a new participant");
}

// --- ICE restarts ---------------------------------------------------------------------

#[test]
fn the_offerer_restarts_ice_at_most_twice_then_drops_that_call_only() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    let key = LinkKey::call("a");
    for attempt in 0..MAX_ICE_RESTARTS {
        let done = io.failed(&key);
        assert!(
            done.iter().any(|a| matches!(
                a,
                Action::CreateOffer {
                    ice_restart: true,
                    ..
                }
            )),
            "attempt {attempt}: {done:?}"
        );
        assert_eq!(relay_kinds(&done), [(RelayKind::NegoNeeded, "a".into())]);
        io.relayed(RelayKind::NegoDone, "a", RelayBody::Ans(answer("active")));
    }
    let done = io.failed(&key);
    assert_eq!(closed(&done), [key]);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::PeerFailed { id, .. }] if id == "a"
    ));
    assert_eq!(io.core.errors(), ["connection to a@x.io failed"]);
    assert!(
        io.is_open(&LinkKey::call("b")),
        "the other call is left alone"
    );
}

#[test]
fn the_answerer_waits_for_the_offerers_restart() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.relayed(RelayKind::UserCall, "b", RelayBody::Offer(offer()));
    let key = LinkKey::call("b");
    for _ in 0..MAX_ICE_RESTARTS {
        let done = io.failed(&key);
        assert!(done.is_empty(), "{done:?}");
    }
    // Its restart offer is answered on the same connection.
    let done = io.relayed(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer()));
    assert!(opened(&done).is_empty());
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoDone, "b".into())]);
    let done = io.failed(&key);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::PeerFailed { .. }]
    ));
}

#[test]
fn a_share_restarts_ice_with_a_share_offer() {
    let (mut io, key) = answered_share();
    let done = io.failed(&key);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareOffer, "a".into())]);
}

// --- Connecting -----------------------------------------------------------------------

#[test]
fn a_call_that_comes_up_lets_media_flow_from_a_keyframe() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    let generation = io.generation(&key);
    let done = io.connected(&key);
    assert_eq!(
        done,
        [
            Action::LinkUp { key: key.clone() },
            Action::RequestKeyframe(KeyframeOf::Camera),
            Action::Emit(SessionEvent::Connected { id: "a".into() }),
        ]
    );
    assert_eq!(io.core.peers_connected(), 1);
    let done = io.feed(Input::Track {
        key: key.clone(),
        generation,
        audio: true,
    });
    assert!(matches!(
        &done[0],
        Action::Receive { kind: StreamKind::Audio, email, .. } if email == "a@x.io"
    ));
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::MediaFlowing {
            kind: StreamKind::Audio,
            ..
        }]
    ));
}

#[test]
fn no_call_within_the_connect_timeout_is_said_once() {
    let mut io = Io::with(CoreConfig {
        connect_timeout: Some(Duration::from_secs(20)),
    });
    io.join("me", &[]);
    io.later(60_000);
    assert!(
        io.feed(Input::Tick).is_empty(),
        "nobody met, nothing to wait for"
    );
    io.feed(joined("a", "a@x.io"));
    io.later(19_000);
    assert!(io.feed(Input::Tick).is_empty());
    io.later(2_000);
    let done = io.feed(Input::Tick);
    assert_eq!(
        events(&done),
        [SessionEvent::NoMediaConnection {
            waited: Duration::from_secs(20)
        }]
    );
    io.later(1_000);
    assert!(io.feed(Input::Tick).is_empty(), "said once");

    // A call that came up in time keeps it quiet.
    let mut io = Io::with(CoreConfig {
        connect_timeout: Some(Duration::from_secs(20)),
    });
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    io.later(1_000);
    io.connected(&key);
    io.later(60_000);
    assert!(io.feed(Input::Tick).is_empty());
}

#[test]
fn early_candidates_are_held_up_to_a_bound() {
    let mut io = Io::new();
    io.join("me", &[]);
    for n in 0..200u8 {
        io.relayed(
            RelayKind::IceCandidate,
            "x",
            RelayBody::Candidate(candidate(n)),
        );
    }
    // x's call arrives: only the first candidates kept are handed over.
    io.feed(joined("x", "x@x.io"));
    let done = io.relayed(RelayKind::UserCall, "x", RelayBody::Offer(offer()));
    assert_eq!(
        added_candidates(&done).len(),
        crate::session::core::negotiation::MAX_HELD_CANDIDATES
    );
}
