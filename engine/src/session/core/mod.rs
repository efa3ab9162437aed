//! The rules of a participant in a room, without any I/O (sans-IO): a state machine fed
//! [`Input`]s — the server's events, what the peer connections report, the results of
//! earlier actions, the application's requests, the time — that answers with
//! [`Action`]s for the I/O shell (`super::shell`) to carry out. No socket, clock or
//! webrtc-rs type appears here, so every rule is tested as plain function calls
//! (`tests.rs`).
//!
//! The rules, by file:
//! - here: joining and rejoining, the server's events, who is in the room, timers;
//! - [`negotiation`]: opening and closing connections, offers and answers, trickle ICE,
//!   offer collisions, the DTLS role on renegotiation, ICE restarts;
//! - [`sharing`]: screen sharing, as sharer and as viewer;
//! - [`door`]: the waiting room, being let in or removed, the host and room settings.
//!
//! Mesh rule (PROTOCOL.md): the newcomer calls everyone in its join ack; nobody calls a
//! newcomer.

mod connectivity;
mod door;
mod link;
mod negotiation;
pub mod sdp;
mod sharing;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use huddle_protocol::{
    IceCandidate, JoinAck, JoinReply, MediaMode, RelayBody, RelayKind, ServerEvent,
    SessionDescription,
};

pub use connectivity::ConnectionRecord;
pub use door::Admission;
use link::{Link, Purpose};
pub use link::{LinkKey, LinkKind};

use super::event::SessionEvent;
use crate::media::stream::StreamKind;

/// Whose keyframe is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeOf {
    Camera,
    Screen,
}

/// What happens to the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Our first `room:join` was acknowledged.
    Joined(JoinAck),
    /// Our first `room:join` was answered with the waiting room.
    Waiting { room: String },
    /// The answer to [`Action::Rejoin`].
    Rejoined(Result<JoinReply, String>),
    /// The signaling connection dropped; the client reconnects by itself.
    SignalingLost,
    /// The signaling connection is back: the server sees a new connection.
    SignalingBack,
    /// An event from the server.
    Server(ServerEvent),
    /// A local ICE candidate of a connection.
    LocalCandidate {
        key: LinkKey,
        generation: u64,
        candidate: IceCandidate,
    },
    /// A connection's ICE transport connected (DTLS starts).
    IceConnected { key: LinkKey, generation: u64 },
    /// A connection is up (ICE and DTLS).
    Connected { key: LinkKey, generation: u64 },
    /// A connection (or its ICE transport) failed.
    Failed { key: LinkKey, generation: u64 },
    /// A connection's ICE transport lost its path (consent checks unanswered).
    Disconnected { key: LinkKey, generation: u64 },
    /// A relay-only connection gathered no relay candidate: it cannot ever connect.
    NoRelay {
        key: LinkKey,
        generation: u64,
        reason: String,
    },
    /// The ICE servers changed (renewed TURN credentials): restart ICE on every
    /// connection we may offer on, so the new servers are used.
    IceServersChanged,
    /// A remote track arrived on a connection.
    Track {
        key: LinkKey,
        generation: u64,
        audio: bool,
    },
    /// The result of [`Action::OpenLink`].
    LinkOpened {
        key: LinkKey,
        generation: u64,
        result: Result<(), String>,
    },
    /// The result of [`Action::CreateOffer`]: our offer, already our local description.
    OfferCreated {
        key: LinkKey,
        generation: u64,
        result: Result<SessionDescription, String>,
    },
    /// The result of [`Action::Answer`]: our answer, already our local description.
    AnswerCreated {
        key: LinkKey,
        generation: u64,
        result: Result<SessionDescription, String>,
    },
    /// The result of [`Action::ApplyAnswer`].
    AnswerApplied {
        key: LinkKey,
        generation: u64,
        result: Result<(), String>,
    },
    /// The application muted or unmuted our microphone.
    MicMuted(bool),
    /// The application turned our camera on or off.
    CameraOn(bool),
    /// The server made us the room's sharer and our screen is being encoded.
    SharingStarted,
    /// We stopped sharing.
    SharingStopped,
    /// We are leaving: tell every call.
    Leaving,
    /// Every connection ends.
    CloseAll,
    /// Time passes (for the connect timeout).
    Tick,
    /// The room uses the SFU (`sfu:mode`): no new calls; media goes through the shell's
    /// SFU connections.
    SfuMode,
    /// The SFU delivers this member's media: end our mesh call with it (make before break).
    SfuCarries(String),
    /// An SFU connection came up: media has a path (no "never connected" timeout).
    SfuConnected,
}

/// What the I/O shell is asked to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create a peer connection for `key` with our media on it (answer with
    /// [`Input::LinkOpened`]).
    OpenLink { key: LinkKey, generation: u64 },
    /// End the connection for `key`.
    CloseLink { key: LinkKey },
    /// Create an offer, with new ICE credentials when `ice_restart`, and make it our
    /// local description (answer with [`Input::OfferCreated`]).
    CreateOffer {
        key: LinkKey,
        generation: u64,
        ice_restart: bool,
    },
    /// Apply this remote offer, create an answer and make it our local description
    /// (answer with [`Input::AnswerCreated`]).
    Answer {
        key: LinkKey,
        generation: u64,
        offer: SessionDescription,
    },
    /// Apply the remote answer to our offer (answer with [`Input::AnswerApplied`]).
    ApplyAnswer {
        key: LinkKey,
        generation: u64,
        answer: SessionDescription,
    },
    /// Drop our unanswered offer (we lost an offer collision).
    Rollback { key: LinkKey },
    /// Give the connection these remote candidates.
    AddRemoteCandidates {
        key: LinkKey,
        candidates: Vec<IceCandidate>,
    },
    /// Send a relay through the server.
    Relay {
        kind: RelayKind,
        to: String,
        body: RelayBody,
    },
    /// The connection is up: our media may flow on it.
    LinkUp { key: LinkKey },
    /// Ask the encoder for a keyframe.
    RequestKeyframe(KeyframeOf),
    /// Receive the track that just arrived: decode it, measure it (first frame timed
    /// from `since`, a newcomer's also from `joined_at`).
    Receive {
        key: LinkKey,
        kind: StreamKind,
        since: Instant,
        joined_at: Instant,
        email: String,
    },
    /// Tell the room our microphone and camera state.
    AnnounceMedia { audio: bool, video: bool },
    /// Join the room again (answer with [`Input::Rejoined`]).
    Rejoin,
    /// Our share ended with the old signaling connection: stop encoding the screen.
    StopScreen,
    /// Tell the application.
    Emit(SessionEvent),
}

/// Settings of the rules.
#[derive(Debug, Clone, Default)]
pub struct CoreConfig {
    /// Emit [`SessionEvent::NoMediaConnection`] when no call is up this long after
    /// someone was met.
    pub connect_timeout: Option<Duration>,
}

/// Someone else's screen, being viewed.
#[derive(Debug)]
struct Viewing {
    sharer: String,
    /// When we learned of the share (`sharerStarted` or `sharerAvailable`).
    announced_at: Instant,
}

/// The state of a participant in a room.
pub struct Core {
    config: CoreConfig,
    my_id: String,
    /// Everyone else in the room: id → email.
    participants: HashMap<String, String>,
    links: HashMap<LinkKey, Link>,
    /// Remote candidates that arrived before their connection existed.
    early_candidates: HashMap<LinkKey, Vec<IceCandidate>>,
    generation: u64,
    /// We are the room's sharer.
    sharing: bool,
    /// The room uses the SFU: no calls, no per-viewer screen connections.
    sfu: bool,
    viewing: Option<Viewing>,
    /// When our current `room:join` was sent (time to first frame for a newcomer).
    joined_at: Instant,
    peers_met: usize,
    peers_connected: HashSet<String>,
    errors: Vec<String>,
    /// The signaling connection is believed lost.
    disconnected: bool,
    /// Waiting, inside, or shown the door.
    admission: Admission,
    /// (audio, video) as last announced.
    media_on: (bool, bool),
    /// For the connect timeout: when someone was first met, whether a call came up.
    first_met: Option<Instant>,
    connected_any: bool,
    timed_out: bool,
    /// What became of the connections that ended (for the report).
    closed_connections: Vec<ConnectionRecord>,
    /// The actions of the input being handled.
    out: Vec<Action>,
}

impl Core {
    /// A participant whose `room:join` was sent at `joined_at`.
    pub fn new(config: CoreConfig, joined_at: Instant) -> Self {
        Core {
            config,
            my_id: String::new(),
            participants: HashMap::new(),
            links: HashMap::new(),
            early_candidates: HashMap::new(),
            generation: 0,
            sharing: false,
            sfu: false,
            viewing: None,
            joined_at,
            peers_met: 0,
            peers_connected: HashSet::new(),
            errors: Vec::new(),
            disconnected: false,
            admission: Admission::Waiting {
                room: String::new(),
            },
            media_on: (true, true),
            first_met: None,
            connected_any: false,
            timed_out: false,
            closed_connections: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Applies one input at `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        match input {
            Input::Joined(ack) => self.on_joined(now, &ack, true),
            Input::Waiting { room } => self.on_waiting(room),
            Input::Rejoined(Ok(JoinReply::Waiting { room })) => self.on_waiting(room),
            Input::Rejoined(Ok(JoinReply::Joined(ack))) => {
                tracing::info!(id = %ack.id, "rejoined");
                self.emit(SessionEvent::Rejoined {
                    id: ack.id.clone(),
                    participants: ack.participants.clone(),
                    sharer_id: ack.sharer_id.clone(),
                    history: ack.history.clone(),
                });
                self.on_joined(now, &ack, false);
            }
            Input::Rejoined(Err(err)) => self.note_error(format!("could not rejoin: {err}")),
            Input::SignalingLost => {
                if !self.disconnected {
                    tracing::warn!("signaling connection lost; reconnecting");
                    self.disconnected = true;
                    self.emit(SessionEvent::Reconnecting);
                }
            }
            Input::SignalingBack => {
                // The server sees a new connection, whether or not we noticed the old
                // one drop.
                if !self.disconnected {
                    self.emit(SessionEvent::Reconnecting);
                }
                self.disconnected = false;
                // Turned away or removed: there is nothing to go back to.
                if !self.admission.is_out() {
                    self.start_rejoin(now);
                }
            }
            Input::Server(event) => {
                // An event while we thought the connection lost: it was a transient
                // transport error and the connection held.
                if self.disconnected {
                    tracing::info!("signaling connection held after a transport error");
                    self.disconnected = false;
                    self.emit(SessionEvent::ConnectionHeld);
                }
                self.on_server_event(now, event);
            }
            Input::LocalCandidate {
                key,
                generation,
                candidate,
            } if self.is_current(&key, generation) => self.on_local_candidate(&key, candidate),
            Input::Connected { key, generation } if self.is_current(&key, generation) => {
                self.on_connected(now, &key)
            }
            Input::IceConnected { key, generation } if self.is_current(&key, generation) => {
                self.on_ice_connected(now, &key)
            }
            Input::Disconnected { key, generation } if self.is_current(&key, generation) => {
                self.on_disconnected(now, &key)
            }
            Input::NoRelay {
                key,
                generation,
                reason,
            } if self.is_current(&key, generation) => self.on_no_relay(&key, &reason),
            Input::IceServersChanged => self.on_ice_servers_changed(),
            Input::Failed { key, generation } if self.is_current(&key, generation) => {
                self.on_failed(&key)
            }
            Input::Track {
                key,
                generation,
                audio,
            } if self.is_current(&key, generation) => self.on_track(now, &key, audio),
            Input::LinkOpened {
                key,
                generation,
                result,
            } => self.on_link_opened(&key, generation, result),
            Input::OfferCreated {
                key,
                generation,
                result,
            } => self.on_offer_created(&key, generation, result),
            Input::AnswerCreated {
                key,
                generation,
                result,
            } => self.on_answer_created(&key, generation, result),
            Input::AnswerApplied {
                key,
                generation,
                result,
            } => self.on_answer_applied(&key, generation, result),
            // Events of a connection that has been replaced or closed.
            Input::LocalCandidate { .. }
            | Input::IceConnected { .. }
            | Input::Connected { .. }
            | Input::Failed { .. }
            | Input::Disconnected { .. }
            | Input::NoRelay { .. }
            | Input::Track { .. } => {}
            Input::MicMuted(muted) => {
                self.media_on.0 = !muted;
                self.announce_media();
            }
            Input::CameraOn(on) => {
                self.media_on.1 = on;
                self.announce_media();
            }
            Input::SharingStarted => self.on_sharing_started(now),
            Input::SharingStopped => self.on_sharing_stopped(),
            Input::Leaving => {
                for key in self.keys(|k| k.kind == LinkKind::Call) {
                    self.relay(RelayKind::CallEnd, &key.remote, RelayBody::Nothing);
                }
            }
            Input::CloseAll => {
                for key in self.keys(|_| true) {
                    self.close(&key);
                }
            }
            Input::Tick => {
                self.check_connect_timeout(now);
                self.check_disconnected(now);
                self.check_handshakes(now);
            }
            Input::SfuMode => self.sfu = true,
            Input::SfuConnected => self.connected_any = true,
            Input::SfuCarries(id) => {
                let key = LinkKey::call(&id);
                if self.links.contains_key(&key) {
                    tracing::info!(peer = %self.email_of(&id), "the SFU carries it: mesh call ends");
                    self.relay(RelayKind::CallEnd, &id, RelayBody::Nothing);
                    self.close(&key);
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// A member's email, for reports (its id when unknown).
    pub fn email_of_member(&self, id: &str) -> String {
        self.email_of(id)
    }

    /// The members we have a mesh call with.
    pub fn call_peers(&self) -> Vec<String> {
        self.keys(|k| k.kind == LinkKind::Call)
            .into_iter()
            .map(|k| k.remote)
            .collect()
    }

    /// Whether the room uses the SFU.
    #[cfg(test)]
    pub fn uses_sfu(&self) -> bool {
        self.sfu
    }

    /// Our id in the room (it changes when we rejoin).
    pub fn my_id(&self) -> &str {
        &self.my_id
    }

    pub fn peers_met(&self) -> usize {
        self.peers_met
    }

    /// How many participants a call came up with.
    pub fn peers_connected(&self) -> usize {
        self.peers_connected.len()
    }

    /// What went wrong, for the report.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    pub fn note_error(&mut self, error: String) {
        tracing::warn!("{error}");
        self.errors.push(error);
    }

    /// Whether `generation` is that of the current connection for `key`.
    pub fn is_current(&self, key: &LinkKey, generation: u64) -> bool {
        self.links
            .get(key)
            .is_some_and(|l| l.generation == generation)
    }

    fn emit(&mut self, event: SessionEvent) {
        self.out.push(Action::Emit(event));
    }

    fn act(&mut self, action: Action) {
        self.out.push(action);
    }

    fn relay(&mut self, kind: RelayKind, to: &str, body: RelayBody) {
        self.act(Action::Relay {
            kind,
            to: to.to_string(),
            body,
        });
    }

    /// The email of participant `id` (the id itself when unknown).
    pub fn email_of(&self, id: &str) -> String {
        self.participants
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The keys of the connections `pick` chooses, in a stable order.
    fn keys(&self, pick: impl Fn(&LinkKey) -> bool) -> Vec<LinkKey> {
        let mut keys: Vec<LinkKey> = self.links.keys().filter(|k| pick(k)).cloned().collect();
        keys.sort_by(|a, b| (&a.remote, a.kind as u8).cmp(&(&b.remote, b.kind as u8)));
        keys
    }

    fn announce_media(&mut self) {
        let (audio, video) = self.media_on;
        self.act(Action::AnnounceMedia { audio, video });
    }

    /// After a join: remember who is here and call each of them (we are the newcomer).
    fn on_joined(&mut self, now: Instant, ack: &JoinAck, first: bool) {
        self.my_id = ack.id.clone();
        self.admission = Admission::Inside(Box::new(ack.clone()));
        for p in &ack.participants {
            self.participants.insert(p.id.clone(), p.email.clone());
        }
        self.emit(SessionEvent::Joined {
            id: ack.id.clone(),
            room: ack.room.clone(),
            participants: ack.participants.clone(),
            sharer_id: ack.sharer_id.clone(),
            history: ack.history.clone(),
            host_id: ack.host_id.clone(),
            locked: ack.locked,
            waiting_room: ack.waiting_room,
        });
        if self.media_on != (true, true) {
            self.announce_media();
        }
        if let Some(sharer) = &ack.sharer_id {
            self.on_share_announced(now, sharer);
        }
        if first && !ack.participants.is_empty() {
            self.first_met.get_or_insert(now);
        }
        self.sfu = ack.media == MediaMode::Sfu;
        for p in &ack.participants {
            self.peers_met += 1;
            if !self.sfu {
                self.open(now, LinkKey::call(&p.id), true, Purpose::Call, None);
            }
        }
    }

    /// After a reconnect we are a new connection to the server: everyone saw us leave,
    /// so calls start over as a newcomer's, and a share we sent or viewed has ended.
    fn start_rejoin(&mut self, now: Instant) {
        for key in self.keys(|_| true) {
            self.close(&key);
        }
        if self.sharing {
            self.sharing = false;
            self.act(Action::StopScreen);
        }
        self.viewing = None;
        self.participants.clear();
        self.joined_at = now;
        self.act(Action::Rejoin);
    }

    fn on_server_event(&mut self, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::Relay { kind, from, body } => self.on_relay(now, kind, &from, body),
            ServerEvent::UserJoined(u) => {
                tracing::info!(id = %u.id, count = u.count, "joined the room");
                self.participants.insert(u.id.clone(), u.email.clone());
                self.first_met.get_or_insert(now);
                self.emit(SessionEvent::ParticipantJoined {
                    id: u.id,
                    email: u.email,
                    name: u.name,
                });
            }
            ServerEvent::UserLeft(u) => {
                tracing::info!(id = %u.id, count = u.count, "left the room");
                self.on_participant_gone(&u.id);
                self.participants.remove(&u.id);
                self.emit(SessionEvent::ParticipantLeft {
                    id: u.id,
                    email: u.email,
                });
            }
            ServerEvent::MediaState(m) => self.emit(SessionEvent::MediaState {
                id: m.id,
                audio: m.audio,
                video: m.video,
            }),
            ServerEvent::Chat(m) => self.emit(SessionEvent::Chat(m)),
            ServerEvent::SharerStarted(id) | ServerEvent::SharerAvailable(id) => {
                self.on_share_announced(now, &id)
            }
            ServerEvent::SharerStopped(id) => self.on_share_stopped(&id),
            ServerEvent::ViewerJoined(id) => self.on_viewer_joined(now, &id),
            ServerEvent::SharingConflict(id) => tracing::debug!(sharer = %id, "sharing refused"),
            ServerEvent::LobbyAdmitted(ack) => self.on_admitted(now, *ack),
            ServerEvent::LobbyDenied(d) => self.on_denied(d.room),
            ServerEvent::RoomRemoved(r) => self.on_removed(r),
            ServerEvent::HostChanged(h) => self.on_host_changed(h.host_id),
            ServerEvent::RoomSettings(s) => self.on_room_settings(s),
            ServerEvent::LobbyKnock(k) => self.on_knock(k),
            ServerEvent::LobbyLeft(l) => self.on_knock_withdrawn(l.id),
            ServerEvent::Error(e) => {
                tracing::debug!(code = %e.code, message = %e.message, event = ?e.event, "server error");
                self.emit(SessionEvent::ServerError {
                    code: e.code.to_string(),
                    message: e.message,
                });
            }
            other => tracing::debug!(event = ?other, "not handled"),
        }
    }

    /// A relay from another member: offers, answers and candidates of our connections.
    fn on_relay(&mut self, now: Instant, kind: RelayKind, from: &str, body: RelayBody) {
        match (kind, body) {
            (RelayKind::UserCall, RelayBody::Offer(offer)) => {
                self.on_incoming_call(now, from, offer)
            }
            (RelayKind::CallAccepted | RelayKind::NegoDone, RelayBody::Ans(ans)) => {
                self.on_remote_answer(LinkKey::call(from), ans)
            }
            (RelayKind::NegoNeeded, RelayBody::Offer(offer)) => {
                self.on_renegotiation(now, from, offer)
            }
            (RelayKind::IceCandidate, RelayBody::Candidate(candidate)) => {
                self.on_remote_candidate(LinkKey::call(from), candidate)
            }
            (RelayKind::CallEnd, _) => {
                tracing::info!(peer = %from, "call ended by peer");
                self.close(&LinkKey::call(from));
            }
            (RelayKind::ShareOffer, RelayBody::Offer(offer)) => {
                self.on_share_offer(now, from, offer)
            }
            (RelayKind::ShareAnswer, RelayBody::Ans(ans)) => {
                self.on_remote_answer(LinkKey::share_out(from), ans)
            }
            (RelayKind::ShareIce, RelayBody::Candidate(candidate)) => {
                // The sharer's candidates belong to the screen we view; a viewer's to
                // the screen we send.
                let key = if self.sharing {
                    LinkKey::share_out(from)
                } else {
                    LinkKey::share_in(from)
                };
                self.on_remote_candidate(key, candidate)
            }
            (kind, _) => tracing::debug!(event = kind.delivered_as(), "relay without its field"),
        }
    }

    /// Someone left or vanished: end every connection with them.
    fn on_participant_gone(&mut self, id: &str) {
        self.close(&LinkKey::call(id));
        self.close(&LinkKey::share_out(id));
        if self.viewing.as_ref().is_some_and(|v| v.sharer == id) {
            self.on_share_stopped(id);
        }
    }

    /// A track arrived: receive it as a camera, a microphone or a screen.
    fn on_track(&mut self, now: Instant, key: &LinkKey, audio: bool) {
        let email = self.email_of(&key.remote);
        let kind = match (key.kind, audio) {
            (LinkKind::ShareIn, _) => StreamKind::Screen,
            (_, true) => StreamKind::Audio,
            _ => StreamKind::Video,
        };
        // A screen's first frame is timed from its announcement, a camera's from the
        // connection being made.
        let since = match (kind, &self.viewing) {
            (StreamKind::Screen, Some(v)) => v.announced_at,
            _ => self.links.get(key).map_or(now, |l| l.created),
        };
        tracing::info!(peer = %key.remote, ?kind, "receiving");
        self.act(Action::Receive {
            key: key.clone(),
            kind,
            since,
            joined_at: self.joined_at,
            email: email.clone(),
        });
        self.emit(SessionEvent::MediaFlowing {
            id: key.remote.clone(),
            email,
            kind,
        });
    }

    /// Someone was met, and no call has come up within the connect timeout.
    fn check_connect_timeout(&mut self, now: Instant) {
        let Some(timeout) = self.config.connect_timeout else {
            return;
        };
        let waited = self.first_met.map(|t| now.saturating_duration_since(t));
        if !self.timed_out && !self.connected_any && waited.is_some_and(|w| w > timeout) {
            self.timed_out = true;
            self.emit(SessionEvent::NoMediaConnection { waited: timeout });
        }
    }
}
