//! The session's rules, tested as plain calls: no socket, clock or webrtc-rs. A small
//! stand-in for the I/O ([`Io`]) answers the actions the way the shell does (depth
//! first), succeeding unless told otherwise; time is an explicit instant.

use std::time::{Duration, Instant};

use huddle_protocol::{
    IceCandidate, JoinAck, RelayBody, RelayKind, ServerEvent, SessionDescription, UserJoined,
    UserLeft,
};
use serde_json::json;

use super::negotiation::MAX_ICE_RESTARTS;
use super::{Action, Core, CoreConfig, Input, KeyframeOf, LinkKey, LinkKind};
use crate::media::stream::StreamKind;
use crate::session::event::SessionEvent;

/// An offer as webrtc-rs makes one: bundled, `actpass`.
const OFFER_SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=setup:actpass\r\n";

fn sdp_with_setup(role: &str) -> String {
    format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\na=setup:{role}\r\n")
}

fn offer() -> SessionDescription {
    SessionDescription::offer(OFFER_SDP)
}

fn answer(role: &str) -> SessionDescription {
    SessionDescription::answer(sdp_with_setup(role))
}

fn candidate(n: u8) -> IceCandidate {
    IceCandidate {
        candidate: format!(
            "candidate:{n} 1 udp 1 127.0.0.1 {} typ host",
            5000 + u16::from(n)
        ),
        sdp_mid: Some(String::new()),
        sdp_m_line_index: None,
        username_fragment: None,
    }
}

fn ack(id: &str, others: &[(&str, &str)], sharer: Option<&str>) -> JoinAck {
    let participants: Vec<_> = others
        .iter()
        .map(|(id, email)| json!({ "id": id, "email": email, "name": null }))
        .collect();
    serde_json::from_value(json!({
        "id": id,
        "room": "1234",
        "participants": participants,
        "sharerId": sharer,
        "history": [],
    }))
    .expect("a join ack")
}

fn joined(id: &str, email: &str) -> Input {
    Input::Server(ServerEvent::UserJoined(UserJoined {
        email: email.into(),
        id: id.into(),
        name: None,
        count: 2,
    }))
}

fn left(id: &str, email: &str) -> Input {
    Input::Server(ServerEvent::UserLeft(UserLeft {
        id: id.into(),
        email: email.into(),
        count: 1,
    }))
}

fn relay(kind: RelayKind, from: &str, body: RelayBody) -> Input {
    Input::Server(ServerEvent::Relay {
        kind,
        from: from.into(),
        body,
    })
}

/// The I/O as the rules see it: every operation succeeds, with webrtc-rs's answers,
/// unless a failure is set up.
struct Io {
    core: Core,
    now: Instant,
    /// Our answers' `a=setup:` (webrtc-rs always says `active`).
    answer_role: &'static str,
    fail_open: bool,
    fail_offer: bool,
    fail_answer: bool,
    fail_apply: bool,
}

impl Io {
    fn new() -> Self {
        Io::with(CoreConfig::default())
    }

    fn with(config: CoreConfig) -> Self {
        let now = Instant::now();
        Io {
            core: Core::new(config, now),
            now,
            answer_role: "active",
            fail_open: false,
            fail_offer: false,
            fail_answer: false,
            fail_apply: false,
        }
    }

    fn later(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    /// Handles `input` and every result of the actions it leads to; returns all the
    /// actions, in the order the shell would carry them out.
    fn feed(&mut self, input: Input) -> Vec<Action> {
        let mut done = Vec::new();
        let mut queue: std::collections::VecDeque<Action> =
            self.core.handle(self.now, input).into();
        while let Some(action) = queue.pop_front() {
            let result = self.result_of(&action);
            done.push(action);
            if let Some(result) = result {
                for next in self.core.handle(self.now, result).into_iter().rev() {
                    queue.push_front(next);
                }
            }
        }
        done
    }

    fn result_of(&self, action: &Action) -> Option<Input> {
        let outcome = |fail: bool| {
            if fail {
                Err("it broke".to_string())
            } else {
                Ok(())
            }
        };
        Some(match action.clone() {
            Action::OpenLink { key, generation } => Input::LinkOpened {
                key,
                generation,
                result: outcome(self.fail_open),
            },
            Action::CreateOffer {
                key, generation, ..
            } => Input::OfferCreated {
                key,
                generation,
                result: outcome(self.fail_offer).map(|()| offer()),
            },
            Action::Answer {
                key, generation, ..
            } => Input::AnswerCreated {
                key,
                generation,
                result: outcome(self.fail_answer).map(|()| answer(self.answer_role)),
            },
            Action::ApplyAnswer {
                key, generation, ..
            } => Input::AnswerApplied {
                key,
                generation,
                result: outcome(self.fail_apply),
            },
            _ => return None,
        })
    }

    /// We joined as `me`, with these others already there.
    fn join(&mut self, me: &str, others: &[(&str, &str)]) -> Vec<Action> {
        self.feed(Input::Joined(ack(me, others, None)))
    }

    fn generation(&self, key: &LinkKey) -> u64 {
        self.core.links.get(key).expect("a connection").generation
    }

    fn is_open(&self, key: &LinkKey) -> bool {
        self.core.links.contains_key(key)
    }
}

fn relays(actions: &[Action]) -> Vec<(RelayKind, String, RelayBody)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Relay { kind, to, body } => Some((*kind, to.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

fn relay_kinds(actions: &[Action]) -> Vec<(RelayKind, String)> {
    relays(actions)
        .into_iter()
        .map(|(k, to, _)| (k, to))
        .collect()
}

fn events(actions: &[Action]) -> Vec<SessionEvent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn opened(actions: &[Action]) -> Vec<LinkKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::OpenLink { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

fn closed(actions: &[Action]) -> Vec<LinkKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CloseLink { key } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

fn added_candidates(actions: &[Action]) -> Vec<IceCandidate> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::AddRemoteCandidates { candidates, .. } => Some(candidates.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn relayed_answer(actions: &[Action]) -> SessionDescription {
    relays(actions)
        .into_iter()
        .find_map(|(_, _, body)| match body {
            RelayBody::Ans(a) => Some(a),
            _ => None,
        })
        .expect("an answer was relayed")
}

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
    let done = io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
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
    let done = io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
    assert_eq!(closed(&done), [LinkKey::call("b")]);
    assert!(relays(&done).is_empty());
    assert_eq!(io.core.errors(), ["cannot answer b@x.io: it broke"]);
    // A connection that cannot be made is dropped too, and said so.
    io.fail_answer = false;
    io.fail_open = true;
    let done = io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
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
    let done = io.feed(relay(RelayKind::CallEnd, "a", RelayBody::Nothing));
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
    let done = io.feed(relay(
        RelayKind::IceCandidate,
        "a",
        RelayBody::Candidate(candidate(1)),
    ));
    assert!(
        added_candidates(&done).is_empty(),
        "no remote description yet"
    );
    let done = io.feed(relay(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    ));
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
    let done = io.feed(relay(
        RelayKind::IceCandidate,
        "a",
        RelayBody::Candidate(candidate(2)),
    ));
    assert_eq!(added_candidates(&done), [candidate(2)]);
}

#[test]
fn candidates_before_their_connection_exists_are_kept_for_it() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    // The newcomer's candidates overtake its offer.
    for n in [1, 2] {
        let done = io.feed(relay(
            RelayKind::IceCandidate,
            "b",
            RelayBody::Candidate(candidate(n)),
        ));
        assert!(done.is_empty());
    }
    let done = io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
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
    let generation = io.generation(&key);
    for n in [1, 2] {
        let done = io.feed(Input::LocalCandidate {
            key: key.clone(),
            generation,
            candidate: candidate(n),
        });
        assert!(
            relays(&done).is_empty(),
            "held while our offer is unanswered"
        );
    }
    let done = io.feed(relay(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    ));
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
    let done = io.feed(Input::LocalCandidate {
        key,
        generation,
        candidate: candidate(3),
    });
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "a".into())]);
}

#[test]
fn held_candidates_go_out_even_when_the_answer_is_bad() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    let generation = io.generation(&key);
    io.feed(Input::LocalCandidate {
        key,
        generation,
        candidate: candidate(1),
    });
    io.fail_apply = true;
    let done = io.feed(relay(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    ));
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "a".into())]);
    assert_eq!(io.core.errors(), ["bad answer from a@x.io: it broke"]);
}

#[test]
fn an_answerer_trickles_at_once() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
    let key = LinkKey::call("b");
    let generation = io.generation(&key);
    let done = io.feed(Input::LocalCandidate {
        key,
        generation,
        candidate: candidate(1),
    });
    assert_eq!(relay_kinds(&done), [(RelayKind::IceCandidate, "b".into())]);
}

// --- Generations ----------------------------------------------------------------------

#[test]
fn events_of_a_replaced_connection_are_ignored() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
    let key = LinkKey::call("b");
    let old = io.generation(&key);
    // b calls again (it rejoined): the old connection is replaced.
    let done = io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
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
    io.feed(relay(
        RelayKind::CallAccepted,
        other,
        RelayBody::Ans(answer("active")),
    ));
    let key = LinkKey::call(other);
    let generation = io.generation(&key);
    io.feed(Input::Failed { key, generation });
    let done = io.feed(relay(
        RelayKind::NegoNeeded,
        other,
        RelayBody::Offer(offer()),
    ));
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
    let done = io.feed(relay(RelayKind::UserCall, "a", RelayBody::Offer(offer())));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));
    let done = io.feed(relay(RelayKind::NegoNeeded, "a", RelayBody::Offer(offer())));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));

    // We offered first and they answered `active`: we are the DTLS server (passive).
    // webrtc-rs answers their re-offer with `active`, which would flip the roles of the
    // running association: the answer we send says `passive`.
    let mut io = Io::new();
    io.join("a", &[("b", "b@x.io")]);
    io.feed(relay(
        RelayKind::CallAccepted,
        "b",
        RelayBody::Ans(answer("active")),
    ));
    let done = io.feed(relay(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer())));
    let sent = relayed_answer(&done);
    assert!(sent.sdp.contains("a=setup:passive"), "{}", sent.sdp);
    assert!(!sent.sdp.contains("a=setup:active"));

    // Had they answered `passive`, we would stay `active`.
    let mut io = Io::new();
    io.join("a", &[("b", "b@x.io")]);
    io.feed(relay(
        RelayKind::CallAccepted,
        "b",
        RelayBody::Ans(answer("passive")),
    ));
    io.answer_role = "passive";
    let done = io.feed(relay(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer())));
    assert!(relayed_answer(&done).sdp.contains("a=setup:active"));
}

#[test]
fn a_renegotiation_for_a_call_we_lost_is_answered_as_a_new_call() {
    let mut io = Io::new();
    io.join("a", &[]);
    io.feed(joined("b", "b@x.io"));
    let done = io.feed(relay(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer())));
    assert_eq!(opened(&done), [LinkKey::call("b")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoDone, "b".into())]);
    assert_eq!(io.core.peers_met(), 0, "not a new participant");
}

// --- ICE restarts ---------------------------------------------------------------------

#[test]
fn the_offerer_restarts_ice_at_most_twice_then_drops_that_call_only() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    io.feed(relay(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    ));
    let key = LinkKey::call("a");
    let generation = io.generation(&key);
    for attempt in 0..MAX_ICE_RESTARTS {
        let done = io.feed(Input::Failed {
            key: key.clone(),
            generation,
        });
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
        io.feed(relay(
            RelayKind::NegoDone,
            "a",
            RelayBody::Ans(answer("active")),
        ));
    }
    let done = io.feed(Input::Failed {
        key: key.clone(),
        generation,
    });
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
    io.feed(relay(RelayKind::UserCall, "b", RelayBody::Offer(offer())));
    let key = LinkKey::call("b");
    let generation = io.generation(&key);
    for _ in 0..MAX_ICE_RESTARTS {
        let done = io.feed(Input::Failed {
            key: key.clone(),
            generation,
        });
        assert!(done.is_empty(), "{done:?}");
    }
    // Its restart offer is answered on the same connection.
    let done = io.feed(relay(RelayKind::NegoNeeded, "b", RelayBody::Offer(offer())));
    assert!(opened(&done).is_empty());
    assert_eq!(relay_kinds(&done), [(RelayKind::NegoDone, "b".into())]);
    let done = io.feed(Input::Failed { key, generation });
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::PeerFailed { .. }]
    ));
}

#[test]
fn a_share_restarts_ice_with_a_share_offer() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.feed(Input::SharingStarted);
    let key = LinkKey::share_out("a");
    io.feed(relay(
        RelayKind::ShareAnswer,
        "a",
        RelayBody::Ans(answer("active")),
    ));
    let generation = io.generation(&key);
    let done = io.feed(Input::Failed { key, generation });
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareOffer, "a".into())]);
}

// --- Connecting -----------------------------------------------------------------------

#[test]
fn a_call_that_comes_up_lets_media_flow_from_a_keyframe() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let key = LinkKey::call("a");
    let generation = io.generation(&key);
    let done = io.feed(Input::Connected {
        key: key.clone(),
        generation,
    });
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
    let generation = io.generation(&key);
    io.later(1_000);
    io.feed(Input::Connected { key, generation });
    io.later(60_000);
    assert!(io.feed(Input::Tick).is_empty());
}

// --- Screen sharing -------------------------------------------------------------------

#[test]
fn the_sharer_offers_its_screen_to_everyone_and_to_a_late_viewer() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    let done = io.feed(Input::SharingStarted);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::SharerStarted { id }] if id == "me"
    ));
    assert_eq!(
        relay_kinds(&done),
        [
            (RelayKind::ShareOffer, "a".into()),
            (RelayKind::ShareOffer, "b".into())
        ]
    );
    // Someone joins while we share: the server says `viewerJoined`; we offer.
    io.feed(joined("c", "c@x.io"));
    let done = io.feed(Input::Server(ServerEvent::ViewerJoined("c".into())));
    assert_eq!(opened(&done), [LinkKey::share_out("c")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareOffer, "c".into())]);
    // Their candidates go to the screen we send.
    let generation = io.generation(&LinkKey::share_out("c"));
    io.feed(relay(
        RelayKind::ShareAnswer,
        "c",
        RelayBody::Ans(answer("active")),
    ));
    let done = io.feed(relay(
        RelayKind::ShareIce,
        "c",
        RelayBody::Candidate(candidate(1)),
    ));
    assert!(matches!(
        &done[..],
        [Action::AddRemoteCandidates { key, .. }] if *key == LinkKey::share_out("c")
    ));
    let done = io.feed(Input::Connected {
        key: LinkKey::share_out("c"),
        generation,
    });
    assert!(done.contains(&Action::RequestKeyframe(KeyframeOf::Screen)));
    // Stopping closes every viewer's connection, and the calls stay.
    let done = io.feed(Input::SharingStopped);
    assert_eq!(
        closed(&done),
        [
            LinkKey::share_out("a"),
            LinkKey::share_out("b"),
            LinkKey::share_out("c")
        ]
    );
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::SharerStopped { id }] if id == "me"
    ));
    assert!(io.is_open(&LinkKey::call("a")));
    // Not sharing any more: nobody is offered the screen.
    assert!(
        io.feed(Input::Server(ServerEvent::ViewerJoined("c".into())))
            .is_empty()
    );
}

#[test]
fn a_late_viewer_hears_of_the_share_in_its_ack_and_answers_the_offer() {
    let mut io = Io::new();
    let done = io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    assert!(events(&done).contains(&SessionEvent::SharerStarted { id: "s".into() }));
    // `sharerAvailable` repeats what the ack said: nothing new.
    let done = io.feed(Input::Server(ServerEvent::SharerAvailable("s".into())));
    assert!(done.is_empty());
    let done = io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    assert_eq!(opened(&done), [LinkKey::share_in("s")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
    // Its candidates belong to the screen we view; its tracks are a screen, timed from
    // when the share was announced.
    let done = io.feed(relay(
        RelayKind::ShareIce,
        "s",
        RelayBody::Candidate(candidate(1)),
    ));
    assert!(matches!(
        &done[..],
        [Action::AddRemoteCandidates { key, .. }] if *key == LinkKey::share_in("s")
    ));
    let key = LinkKey::share_in("s");
    let generation = io.generation(&key);
    let announced = io.now;
    io.later(500);
    let done = io.feed(Input::Track {
        key,
        generation,
        audio: false,
    });
    assert!(matches!(
        &done[0],
        Action::Receive { kind: StreamKind::Screen, since, .. } if *since == announced
    ));
}

#[test]
fn a_share_offer_from_an_unannounced_sharer_announces_it() {
    let mut io = Io::new();
    io.join("me", &[("s", "s@x.io")]);
    let done = io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    assert!(events(&done).contains(&SessionEvent::SharerStarted { id: "s".into() }));
    // A second offer on the open share renegotiates it.
    let done = io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    assert!(opened(&done).is_empty());
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
}

#[test]
fn when_the_sharer_leaves_its_screen_closes_and_the_share_stops() {
    let mut io = Io::new();
    io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    let done = io.feed(left("s", "s@x.io"));
    assert_eq!(closed(&done), [LinkKey::call("s"), LinkKey::share_in("s")]);
    assert_eq!(
        events(&done),
        [
            SessionEvent::SharerStopped { id: "s".into() },
            SessionEvent::ParticipantLeft {
                id: "s".into(),
                email: "s@x.io".into()
            }
        ]
    );
    // `sharerStopped` on its own closes the screen too.
    let mut io = Io::new();
    io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    let done = io.feed(Input::Server(ServerEvent::SharerStopped("s".into())));
    assert_eq!(closed(&done), [LinkKey::share_in("s")]);
    assert!(io.is_open(&LinkKey::call("s")));
}

#[test]
fn a_screen_we_cannot_view_is_dropped_and_said() {
    let mut io = Io::new();
    io.join("me", &[("s", "s@x.io")]);
    io.fail_answer = true;
    let done = io.feed(relay(RelayKind::ShareOffer, "s", RelayBody::Offer(offer())));
    assert_eq!(closed(&done), [LinkKey::share_in("s")]);
    assert_eq!(io.core.errors(), ["cannot view s@x.io's screen: it broke"]);
}

// --- The signaling connection ---------------------------------------------------------

#[test]
fn after_a_reconnect_we_rejoin_as_a_newcomer_with_a_new_id() {
    let mut io = Io::new();
    io.join("old", &[("a", "a@x.io")]);
    io.feed(Input::SharingStarted);
    let done = io.feed(Input::SignalingLost);
    assert_eq!(events(&done), [SessionEvent::Reconnecting]);
    assert!(io.feed(Input::SignalingLost).is_empty(), "said once");
    io.later(3_000);
    let done = io.feed(Input::SignalingBack);
    // Everything of the old connection ends; our share with it.
    assert_eq!(closed(&done), [LinkKey::call("a"), LinkKey::share_out("a")]);
    assert!(done.contains(&Action::StopScreen));
    assert_eq!(done.last(), Some(&Action::Rejoin));
    // The server answers with our new id; a is still there (under its own new id).
    let rejoined_at = io.now;
    let done = io.feed(Input::Rejoined(Ok(ack("new", &[("a2", "a@x.io")], None))));
    let evs = events(&done);
    assert!(matches!(&evs[0], SessionEvent::Rejoined { id, .. } if id == "new"));
    assert!(matches!(&evs[1], SessionEvent::Joined { id, .. } if id == "new"));
    assert_eq!(io.core.my_id(), "new");
    assert_eq!(opened(&done), [LinkKey::call("a2")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::UserCall, "a2".into())]);
    // Streams of the new calls time a newcomer's first frame from the rejoin.
    let key = LinkKey::call("a2");
    let generation = io.generation(&key);
    let done = io.feed(Input::Track {
        key,
        generation,
        audio: false,
    });
    assert!(matches!(
        &done[0],
        Action::Receive { joined_at, .. } if *joined_at == rejoined_at
    ));
    // Not sharing any more.
    assert!(
        io.feed(Input::Server(ServerEvent::ViewerJoined("a2".into())))
            .is_empty()
    );
}

#[test]
fn a_reconnect_we_did_not_notice_is_still_a_rejoin_and_a_failed_one_is_reported() {
    let mut io = Io::new();
    io.join("me", &[]);
    let done = io.feed(Input::SignalingBack);
    assert_eq!(events(&done), [SessionEvent::Reconnecting]);
    io.feed(Input::Rejoined(Err("room_full".into())));
    assert_eq!(io.core.errors(), ["could not rejoin: room_full"]);
}

#[test]
fn a_connection_that_held_is_said_so_and_its_event_handled() {
    let mut io = Io::new();
    io.join("me", &[]);
    io.feed(Input::SignalingLost);
    let done = io.feed(joined("a", "a@x.io"));
    assert!(matches!(
        &events(&done)[..],
        [
            SessionEvent::ConnectionHeld,
            SessionEvent::ParticipantJoined { .. }
        ]
    ));
}

#[test]
fn muting_is_announced_and_remembered_across_a_rejoin() {
    let mut io = Io::new();
    io.join("me", &[]);
    let done = io.feed(Input::MicMuted(true));
    assert_eq!(
        done,
        [Action::AnnounceMedia {
            audio: false,
            video: true
        }]
    );
    io.feed(Input::CameraOn(false));
    io.feed(Input::SignalingBack);
    let done = io.feed(Input::Rejoined(Ok(ack("new", &[], None))));
    assert!(done.contains(&Action::AnnounceMedia {
        audio: false,
        video: false
    }));
}

#[test]
fn server_errors_and_room_events_reach_the_application() {
    let mut io = Io::new();
    io.join("me", &[]);
    let error: huddle_protocol::ErrorEvent = serde_json::from_value(json!({
        "code": "rate_limited", "message": "slow down"
    }))
    .unwrap();
    let done = io.feed(Input::Server(ServerEvent::Error(error)));
    assert_eq!(
        events(&done),
        [SessionEvent::ServerError {
            code: "rate_limited".into(),
            message: "slow down".into()
        }]
    );
    // A relay whose field does not fit its kind changes nothing.
    assert!(
        io.feed(relay(RelayKind::UserCall, "a", RelayBody::Nothing))
            .is_empty()
    );
    let key = LinkKey {
        kind: LinkKind::ShareIn,
        remote: "nobody".into(),
    };
    assert!(io.feed(Input::Connected { key, generation: 1 }).is_empty());
}
