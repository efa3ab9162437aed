//! Connections and their negotiation: opening and closing, offers and answers, trickle
//! ICE, offer collisions, the DTLS role on renegotiation, ICE restarts.

use std::time::Instant;

use huddle_protocol::{IceCandidate, RelayBody, SessionDescription};

use super::link::{Link, LinkKind, Purpose, Waiting};
use super::sdp::{
    dtls_fingerprint, dtls_setup, first_mid, ice_ufrag, our_role_after, with_dtls_setup, with_mid,
};
use super::{Action, Core, KeyframeOf, LinkKey};
use crate::session::event::SessionEvent;

/// Remote candidates kept for one connection before it can use them: a real peer sends
/// a handful; a hostile one must not grow our memory without bound.
pub(super) const MAX_HELD_CANDIDATES: usize = 64;

/// Most ICE restarts tried before a connection is given up.
pub const MAX_ICE_RESTARTS: u32 = 2;

impl Core {
    /// A new, empty connection for `key` (replacing any older one); once it exists, an
    /// offer for `purpose`, or the answer to `offer`.
    pub(super) fn open(
        &mut self,
        now: Instant,
        key: LinkKey,
        offerer: bool,
        purpose: Purpose,
        offer: Option<SessionDescription>,
    ) {
        self.close(&key);
        self.generation += 1;
        let early = self.early_candidates.remove(&key).unwrap_or_default();
        let mut link = Link::new(self.generation, offerer, now, early);
        link.waiting = Waiting::Open { purpose, offer };
        self.links.insert(key.clone(), link);
        self.act(Action::OpenLink {
            key,
            generation: self.generation,
        });
    }

    pub(super) fn close(&mut self, key: &LinkKey) {
        if let Some(link) = self.links.remove(key) {
            let record = self.record(key, &link);
            self.closed_connections.push(record);
            self.act(Action::CloseLink { key: key.clone() });
        }
    }

    /// The link for `key` if `generation` is its own.
    fn current_mut(&mut self, key: &LinkKey, generation: u64) -> Option<&mut Link> {
        self.links
            .get_mut(key)
            .filter(|l| l.generation == generation)
    }

    /// What the link was waiting for, if it was `generation`'s.
    fn take_waiting(&mut self, key: &LinkKey, generation: u64) -> Option<Waiting> {
        self.current_mut(key, generation)
            .map(|l| std::mem::replace(&mut l.waiting, Waiting::Nothing))
    }

    pub(super) fn on_link_opened(
        &mut self,
        key: &LinkKey,
        generation: u64,
        result: Result<(), String>,
    ) {
        let Some(Waiting::Open { purpose, offer }) = self.take_waiting(key, generation) else {
            return;
        };
        match (result, offer) {
            // Nothing usable was made: drop whatever half of it exists.
            (Err(err), _) => self.fail(key, purpose, &err, true),
            (Ok(()), None) => self.offer(key, purpose, false),
            (Ok(()), Some(offer)) => self.answer(key, purpose, offer),
        }
    }

    pub(super) fn offer(&mut self, key: &LinkKey, purpose: Purpose, ice_restart: bool) {
        let Some(link) = self.links.get_mut(key) else {
            return;
        };
        if ice_restart {
            link.restarts_done += 1;
        }
        link.making_offer = true;
        link.waiting = Waiting::Offer(purpose);
        let generation = link.generation;
        self.act(Action::CreateOffer {
            key: key.clone(),
            generation,
            ice_restart,
        });
    }

    pub(super) fn on_offer_created(
        &mut self,
        key: &LinkKey,
        generation: u64,
        result: Result<SessionDescription, String>,
    ) {
        let Some(Waiting::Offer(purpose)) = self.take_waiting(key, generation) else {
            return;
        };
        match result {
            Ok(offer) => {
                if let Some(link) = self.links.get_mut(key) {
                    link.first_mid = first_mid(&offer.sdp);
                }
                self.relay(
                    purpose.relay(key.kind),
                    &key.remote,
                    RelayBody::Offer(offer),
                );
            }
            Err(err) => self.fail(key, purpose, &err, purpose.closes_on_failure()),
        }
    }

    /// Applies a remote offer to an existing connection and answers it.
    pub(super) fn answer(&mut self, key: &LinkKey, purpose: Purpose, offer: SessionDescription) {
        let Some(link) = self.links.get_mut(key) else {
            return;
        };
        // New ICE credentials in an offer on a running connection: the peer restarts ICE.
        let ufrag = ice_ufrag(&offer.sdp);
        if link.remote_ufrag.is_some() && ufrag.is_some() && link.remote_ufrag != ufrag {
            link.restarts_done += 1;
        }
        link.remote_ufrag = ufrag;
        link.remote_fingerprint = dtls_fingerprint(&offer.sdp);
        link.waiting = Waiting::Answer(purpose);
        let generation = link.generation;
        self.act(Action::Answer {
            key: key.clone(),
            generation,
            offer,
        });
    }

    pub(super) fn on_answer_created(
        &mut self,
        key: &LinkKey,
        generation: u64,
        result: Result<SessionDescription, String>,
    ) {
        let Some(Waiting::Answer(purpose)) = self.take_waiting(key, generation) else {
            return;
        };
        let mut answer = match result {
            Ok(answer) => answer,
            Err(err) => return self.fail(key, purpose, &err, purpose.closes_on_failure()),
        };
        let Some(link) = self.links.get_mut(key) else {
            return;
        };
        link.remote_description_set = true;
        link.first_mid = first_mid(&answer.sdp);
        link.making_offer = false;
        let pending = std::mem::take(&mut link.pending_candidates);
        // webrtc-rs answers a re-offer with `setup:active` even when it is the DTLS
        // server of the running association; browsers then refuse the answer. Keep the
        // role the first negotiation settled (RFC 8842 §5.5).
        match &link.dtls_setup {
            Some(role) => answer.sdp = with_dtls_setup(&answer.sdp, role),
            None => link.dtls_setup = dtls_setup(&answer.sdp),
        }
        self.add_remote_candidates(key, pending);
        self.relay(purpose.relay(key.kind), &key.remote, RelayBody::Ans(answer));
    }

    /// An answer to our offer (`call:accepted`, `peer:nego:final`, `share:answer`).
    pub(super) fn on_remote_answer(&mut self, key: LinkKey, answer: SessionDescription) {
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        link.remote_ufrag = ice_ufrag(&answer.sdp);
        link.remote_fingerprint = dtls_fingerprint(&answer.sdp);
        // We offered `actpass`; the answerer's choice decides ours.
        link.waiting = Waiting::Applying {
            our_role: our_role_after(&answer.sdp),
        };
        let generation = link.generation;
        self.act(Action::ApplyAnswer {
            key,
            generation,
            answer,
        });
    }

    pub(super) fn on_answer_applied(
        &mut self,
        key: &LinkKey,
        generation: u64,
        result: Result<(), String>,
    ) {
        let Some(Waiting::Applying { our_role }) = self.take_waiting(key, generation) else {
            return;
        };
        match result {
            Ok(()) => {
                if let Some(link) = self.links.get_mut(key) {
                    link.remote_description_set = true;
                    link.making_offer = false;
                    if link.dtls_setup.is_none() {
                        link.dtls_setup = our_role;
                    }
                    let pending = std::mem::take(&mut link.pending_candidates);
                    self.add_remote_candidates(key, pending);
                }
            }
            Err(err) => {
                let who = self.email_of(&key.remote);
                self.note_error(format!("bad answer from {who}: {err}"));
            }
        }
        // Whatever became of the answer, our candidates are no use held back any longer.
        let held = self
            .links
            .get_mut(key)
            .map(|l| std::mem::take(&mut l.held_local_candidates))
            .unwrap_or_default();
        for candidate in held {
            self.relay_candidate(key, candidate);
        }
    }

    /// `peer:nego:needed`: an offer on an existing call (ICE restart or new tracks).
    /// When both sides offered at once, the peer with the smaller id yields.
    pub(super) fn on_renegotiation(&mut self, now: Instant, from: &str, offer: SessionDescription) {
        let key = LinkKey::call(from);
        let polite = self.my_id.as_str() < from;
        let Some(link) = self.links.get_mut(&key) else {
            // We have no call with them (it failed here): answer it as a new call.
            self.open(now, key, false, Purpose::RenegotiationNewCall, Some(offer));
            return;
        };
        if link.making_offer {
            if !polite {
                tracing::debug!("offer collision: ours wins");
                return;
            }
            link.making_offer = false;
            self.act(Action::Rollback { key: key.clone() });
        }
        self.answer(&key, Purpose::Renegotiation, offer);
    }

    /// `user:call`: someone calls us, or calls again on a connection that never came up
    /// (see `Core::check_handshakes`); either way a new connection answers it.
    pub(super) fn on_incoming_call(&mut self, now: Instant, from: &str, offer: SessionDescription) {
        if !self.links.contains_key(&LinkKey::call(from)) {
            self.peers_met += 1;
        }
        self.open(
            now,
            LinkKey::call(from),
            false,
            Purpose::AnswerCall,
            Some(offer),
        );
    }

    /// A remote candidate: used at once, or kept until its connection exists and has
    /// the remote description (before that, ICE could not check it).
    pub(super) fn on_remote_candidate(&mut self, key: LinkKey, candidate: IceCandidate) {
        match self.links.get_mut(&key) {
            Some(link) if link.remote_description_set => {
                self.add_remote_candidates(&key, vec![candidate])
            }
            Some(link) => hold(&mut link.pending_candidates, candidate),
            None => hold(self.early_candidates.entry(key).or_default(), candidate),
        }
    }

    fn add_remote_candidates(&mut self, key: &LinkKey, candidates: Vec<IceCandidate>) {
        if !candidates.is_empty() {
            self.act(Action::AddRemoteCandidates {
                key: key.clone(),
                candidates,
            });
        }
    }

    /// Trickles a local candidate, except while our offer is unanswered: a peer that
    /// learns our address before we know its ICE credentials sends checks we must drop
    /// ("password is empty"), and a browser then backs off for ~1.6 s before trying
    /// again. Held candidates go out as soon as the answer is applied.
    pub(super) fn on_local_candidate(&mut self, key: &LinkKey, candidate: IceCandidate) {
        if let Some(link) = self.links.get_mut(key)
            && link.offerer
            && !link.remote_description_set
        {
            link.held_local_candidates.push(candidate);
            return;
        }
        self.relay_candidate(key, candidate);
    }

    fn relay_candidate(&mut self, key: &LinkKey, candidate: IceCandidate) {
        let mid = self.links.get(key).and_then(|l| l.first_mid.clone());
        let candidate = with_mid(candidate, mid.as_deref());
        self.relay(
            key.candidate_relay(),
            &key.remote,
            RelayBody::Candidate(candidate),
        );
    }

    pub(super) fn on_connected(&mut self, now: Instant, key: &LinkKey) {
        // Ids, not emails, in info-level logs.
        let who = key.remote.clone();
        if let Some(link) = self.links.get_mut(key) {
            link.connected_at.get_or_insert(now);
            link.disconnected_since = None;
            link.restarted_for_disconnect = false;
        }
        self.act(Action::LinkUp { key: key.clone() });
        match key.kind {
            LinkKind::Call => {
                tracing::info!(peer = %who, "media connected");
                self.peers_connected.insert(key.remote.clone());
                self.connected_any = true;
                self.act(Action::RequestKeyframe(KeyframeOf::Camera));
                self.emit(SessionEvent::Connected {
                    id: key.remote.clone(),
                });
            }
            LinkKind::ShareOut => {
                tracing::info!(viewer = %who, "screen connected");
                self.act(Action::RequestKeyframe(KeyframeOf::Screen));
            }
            LinkKind::ShareIn => tracing::info!(sharer = %who, "viewing screen"),
        }
    }

    /// Restarts ICE (the offerer offers again with new credentials); gives up after a
    /// few tries and drops the connection, leaving the others alone.
    pub(super) fn on_failed(&mut self, key: &LinkKey) {
        let who = self.email_of(&key.remote);
        let Some(link) = self.links.get_mut(key) else {
            return;
        };
        if link.ice_restarts >= MAX_ICE_RESTARTS {
            self.close(key);
            self.note_error(format!("connection to {who} failed"));
            self.emit(SessionEvent::PeerFailed {
                id: key.remote.clone(),
                reason: "ICE failed".into(),
            });
            return;
        }
        link.ice_restarts += 1;
        if !link.offerer {
            return; // The offerer restarts; we answer its new offer.
        }
        tracing::info!(peer = %key.remote, "connection failed; restarting ICE");
        self.offer(key, Purpose::IceRestart, true);
    }

    /// A step for `purpose` failed: say so (when it matters) and maybe end the connection.
    fn fail(&mut self, key: &LinkKey, purpose: Purpose, err: &str, close: bool) {
        let who = self.email_of(&key.remote);
        if let Some(note) = purpose.failure(&who, err) {
            self.note_error(note);
        }
        if close {
            self.close(key);
        }
    }
}

/// Keeps `candidate` for later, unless `held` is full (then it is dropped).
fn hold(held: &mut Vec<IceCandidate>, candidate: IceCandidate) {
    if held.len() < MAX_HELD_CANDIDATES {
        held.push(candidate);
    } else {
        tracing::debug!("too many early ICE candidates: one dropped");
    }
}
