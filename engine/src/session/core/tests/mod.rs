//! The session's rules, tested as plain calls: no socket, clock or webrtc-rs. A small
//! stand-in for the I/O ([`Io`]) answers the actions the way the shell does (depth
//! first), succeeding unless told otherwise; time is an explicit instant.
//!
//! - [`calls`]: the mesh, candidates, replaced connections, offer collisions and the
//!   DTLS role, ICE restarts, connecting and the connect timeout;
//! - [`sharing`]: sharer and viewer;
//! - [`sfu`]: the SFU path (no calls, make before break);
//! - [`door`]: the waiting room, admission, removal, host events;
//! - [`signaling`]: losing and regaining the server, media state, server errors.

mod calls;
mod connectivity;
mod door;
mod sfu;
mod sharing;
mod signaling;

use std::time::{Duration, Instant};

use huddle_protocol::{
    IceCandidate, JoinAck, RelayBody, RelayKind, ServerEvent, SessionDescription, UserJoined,
    UserLeft,
};
use serde_json::json;

use super::{Action, Core, CoreConfig, Input, LinkKey};
use crate::session::event::SessionEvent;

/// An offer as webrtc-rs makes one: bundled, `actpass`.
pub(super) const OFFER_SDP: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=setup:actpass\r\n";

pub(super) fn sdp_with_setup(role: &str) -> String {
    format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\na=setup:{role}\r\n")
}

pub(super) fn offer() -> SessionDescription {
    SessionDescription::offer(OFFER_SDP)
}

pub(super) fn answer(role: &str) -> SessionDescription {
    SessionDescription::answer(sdp_with_setup(role))
}

pub(super) fn candidate(n: u8) -> IceCandidate {
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

pub(super) fn ack(id: &str, others: &[(&str, &str)], sharer: Option<&str>) -> JoinAck {
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

pub(super) fn joined(id: &str, email: &str) -> Input {
    Input::Server(ServerEvent::UserJoined(UserJoined {
        email: email.into(),
        id: id.into(),
        name: None,
        count: 2,
    }))
}

pub(super) fn left(id: &str, email: &str) -> Input {
    Input::Server(ServerEvent::UserLeft(UserLeft {
        id: id.into(),
        email: email.into(),
        count: 1,
    }))
}

pub(super) fn relay(kind: RelayKind, from: &str, body: RelayBody) -> Input {
    Input::Server(ServerEvent::Relay {
        kind,
        from: from.into(),
        body,
    })
}

/// The I/O as the rules see it: every operation succeeds, with webrtc-rs's answers,
/// unless a failure is set up.
pub(super) struct Io {
    pub core: Core,
    pub now: Instant,
    /// Our answers' `a=setup:` (webrtc-rs always says `active`).
    pub answer_role: &'static str,
    pub fail_open: bool,
    pub fail_offer: bool,
    pub fail_answer: bool,
    pub fail_apply: bool,
}

impl Io {
    pub(super) fn new() -> Self {
        Io::with(CoreConfig::default())
    }

    pub(super) fn with(config: CoreConfig) -> Self {
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

    pub(super) fn later(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    /// Handles `input` and every result of the actions it leads to; returns all the
    /// actions, in the order the shell would carry them out.
    pub(super) fn feed(&mut self, input: Input) -> Vec<Action> {
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
    pub(super) fn join(&mut self, me: &str, others: &[(&str, &str)]) -> Vec<Action> {
        self.feed(Input::Joined(ack(me, others, None)))
    }

    pub(super) fn generation(&self, key: &LinkKey) -> u64 {
        self.core.links.get(key).expect("a connection").generation
    }

    /// One of our local candidates, on the current connection for `key`.
    pub(super) fn local_candidate(&mut self, key: &LinkKey, n: u8) -> Vec<Action> {
        let generation = self.generation(key);
        self.feed(Input::LocalCandidate {
            key: key.clone(),
            generation,
            candidate: candidate(n),
        })
    }

    /// The current connection for `key` is up.
    pub(super) fn connected(&mut self, key: &LinkKey) -> Vec<Action> {
        let generation = self.generation(key);
        self.feed(Input::Connected {
            key: key.clone(),
            generation,
        })
    }

    /// The current connection for `key` has ICE connected (DTLS starts).
    pub(super) fn ice_connected(&mut self, key: &LinkKey) -> Vec<Action> {
        let generation = self.generation(key);
        self.feed(Input::IceConnected {
            key: key.clone(),
            generation,
        })
    }

    /// The current connection for `key` failed.
    pub(super) fn failed(&mut self, key: &LinkKey) -> Vec<Action> {
        let generation = self.generation(key);
        self.feed(Input::Failed {
            key: key.clone(),
            generation,
        })
    }

    /// A relay from `from` arrives.
    pub(super) fn relayed(&mut self, kind: RelayKind, from: &str, body: RelayBody) -> Vec<Action> {
        self.feed(relay(kind, from, body))
    }

    pub(super) fn is_open(&self, key: &LinkKey) -> bool {
        self.core.links.contains_key(key)
    }
}

/// We joined as "me" with `a` there, called `a`, and `a` answered; not up yet.
pub(super) fn answered_call() -> (Io, LinkKey) {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.relayed(
        RelayKind::CallAccepted,
        "a",
        RelayBody::Ans(answer("active")),
    );
    (io, LinkKey::call("a"))
}

/// We joined as "me" with `a` there, share our screen, and `a` answered; not up yet.
pub(super) fn answered_share() -> (Io, LinkKey) {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.feed(Input::SharingStarted);
    io.relayed(
        RelayKind::ShareAnswer,
        "a",
        RelayBody::Ans(answer("active")),
    );
    (io, LinkKey::share_out("a"))
}

pub(super) fn relays(actions: &[Action]) -> Vec<(RelayKind, String, RelayBody)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Relay { kind, to, body } => Some((*kind, to.clone(), body.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn relay_kinds(actions: &[Action]) -> Vec<(RelayKind, String)> {
    relays(actions)
        .into_iter()
        .map(|(k, to, _)| (k, to))
        .collect()
}

pub(super) fn events(actions: &[Action]) -> Vec<SessionEvent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn opened(actions: &[Action]) -> Vec<LinkKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::OpenLink { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn closed(actions: &[Action]) -> Vec<LinkKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CloseLink { key } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn added_candidates(actions: &[Action]) -> Vec<IceCandidate> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::AddRemoteCandidates { candidates, .. } => Some(candidates.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub(super) fn relayed_answer(actions: &[Action]) -> SessionDescription {
    relays(actions)
        .into_iter()
        .find_map(|(_, _, body)| match body {
            RelayBody::Ans(a) => Some(a),
            _ => None,
        })
        .expect("an answer was relayed")
}
