//! One peer connection as the rules see it: which one it is, where its negotiation
//! stands, and the candidates held on either side.

use std::time::Instant;

use huddle_protocol::{IceCandidate, RelayKind, SessionDescription};

/// Which of a participant's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// The camera/microphone call with a participant.
    Call,
    /// Our screen, sent to a viewer.
    ShareOut,
    /// A sharer's screen, received.
    ShareIn,
}

/// Which connection: its kind and the participant at the other end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    pub kind: LinkKind,
    pub remote: String,
}

impl LinkKey {
    pub fn call(remote: &str) -> Self {
        LinkKey {
            kind: LinkKind::Call,
            remote: remote.to_string(),
        }
    }

    pub fn share_out(viewer: &str) -> Self {
        LinkKey {
            kind: LinkKind::ShareOut,
            remote: viewer.to_string(),
        }
    }

    pub fn share_in(sharer: &str) -> Self {
        LinkKey {
            kind: LinkKind::ShareIn,
            remote: sharer.to_string(),
        }
    }

    /// The relay that carries this connection's ICE candidates.
    pub fn candidate_relay(&self) -> RelayKind {
        match self.kind {
            LinkKind::Call => RelayKind::IceCandidate,
            LinkKind::ShareOut | LinkKind::ShareIn => RelayKind::ShareIce,
        }
    }
}

/// Why a negotiation step runs: it decides the relay its result goes out in, and what a
/// failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// We are the newcomer and call someone (`user:call`).
    Call,
    /// Someone calls us (`call:accepted`).
    AnswerCall,
    /// An offer on a call we have (`peer:nego:final`).
    Renegotiation,
    /// An offer on a call we no longer have (it failed here): answered as a new call.
    RenegotiationNewCall,
    /// Our offer with new ICE credentials after a failure.
    IceRestart,
    /// Our screen, offered to a viewer (`share:offer`).
    ShareScreen,
    /// A sharer's screen, answered (`share:answer`).
    ViewScreen,
}

impl Purpose {
    /// The relay that carries the offer or answer made for this purpose.
    pub fn relay(self, kind: LinkKind) -> RelayKind {
        match self {
            Purpose::Call => RelayKind::UserCall,
            Purpose::AnswerCall => RelayKind::CallAccepted,
            Purpose::Renegotiation | Purpose::RenegotiationNewCall => RelayKind::NegoDone,
            Purpose::IceRestart if kind == LinkKind::Call => RelayKind::NegoNeeded,
            Purpose::IceRestart | Purpose::ShareScreen => RelayKind::ShareOffer,
            Purpose::ViewScreen => RelayKind::ShareAnswer,
        }
    }

    /// What a failure is noted as (`None`: not at all), about `who`.
    pub fn failure(self, who: &str, err: &str) -> Option<String> {
        let what = match self {
            Purpose::Call => format!("cannot call {who}"),
            Purpose::AnswerCall => format!("cannot answer {who}"),
            Purpose::Renegotiation => format!("renegotiation with {who} failed"),
            // The peer will try again or give up; nothing of ours broke.
            Purpose::RenegotiationNewCall => return None,
            Purpose::IceRestart => format!("ICE restart with {who} failed"),
            Purpose::ShareScreen => format!("cannot share the screen with {who}"),
            Purpose::ViewScreen => format!("cannot view {who}'s screen"),
        };
        Some(format!("{what}: {err}"))
    }

    /// Whether a failed offer or answer also ends the connection: an answer we could
    /// not give leaves nothing worth keeping; our own offers can be retried.
    pub fn closes_on_failure(self) -> bool {
        matches!(self, Purpose::AnswerCall | Purpose::ViewScreen)
    }
}

/// What a connection waits for from the I/O.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    Nothing,
    /// To be created; then an offer, or an answer to this offer.
    Open {
        purpose: Purpose,
        offer: Option<SessionDescription>,
    },
    /// Our offer.
    Offer(Purpose),
    /// Our answer.
    Answer(Purpose),
    /// The remote answer to our offer to be applied; `our_role` is the DTLS role it
    /// leaves us.
    Applying {
        our_role: Option<String>,
    },
}

/// One peer connection.
#[derive(Debug)]
pub struct Link {
    /// Tells this connection's events from those of one it replaced.
    pub generation: u64,
    /// We sent the first offer (and so restart ICE when it fails).
    pub offerer: bool,
    pub waiting: Waiting,
    pub remote_description_set: bool,
    /// Remote candidates waiting for the remote description.
    pub pending_candidates: Vec<IceCandidate>,
    /// Our candidates held back until the answer to our offer is applied (see
    /// `Core::on_local_candidate`).
    pub held_local_candidates: Vec<IceCandidate>,
    /// The mid of our description's first m-line: local candidates without one get it.
    pub first_mid: Option<String>,
    pub created: Instant,
    pub making_offer: bool,
    /// Our DTLS role (`active`/`passive`) once negotiated: later answers must keep it.
    pub dtls_setup: Option<String>,
    /// Restarts after a failure (limited by `MAX_ICE_RESTARTS`).
    pub ice_restarts: u32,
    /// Every ICE restart of this connection, whoever started it (for the report).
    pub restarts_done: u32,
    /// The ICE username fragment of the remote description (a new one is a restart).
    pub remote_ufrag: Option<String>,
    /// When the connection first came up (ICE connected and DTLS done).
    pub connected_at: Option<Instant>,
    /// When ICE first connected: DTLS starts then (see `Core::check_handshakes`).
    pub ice_connected_at: Option<Instant>,
    /// The remote description's DTLS certificate fingerprint: an offer with another one
    /// comes from a new connection.
    pub remote_fingerprint: Option<String>,
    /// How many connections before this one were given up on a stalled DTLS handshake.
    pub redials: u32,
    /// Since when ICE has been disconnected; `None` while connected.
    pub disconnected_since: Option<Instant>,
    /// A restart was already made for the current disconnection.
    pub restarted_for_disconnect: bool,
}

impl Link {
    pub fn new(generation: u64, offerer: bool, created: Instant, early: Vec<IceCandidate>) -> Self {
        Link {
            generation,
            offerer,
            waiting: Waiting::Nothing,
            remote_description_set: false,
            pending_candidates: early,
            held_local_candidates: Vec::new(),
            first_mid: None,
            created,
            making_offer: false,
            dtls_setup: None,
            ice_restarts: 0,
            restarts_done: 0,
            remote_ufrag: None,
            connected_at: None,
            ice_connected_at: None,
            remote_fingerprint: None,
            redials: 0,
            disconnected_since: None,
            restarted_for_disconnect: false,
        }
    }
}
