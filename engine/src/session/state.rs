//! The session's state and its event loop: one task owns everything, so no locks are
//! needed around the peer connections.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_protocol::request::RoomLeave;
use huddle_protocol::{JoinAck, MediaState, RelayBody, RelayKind, ServerEvent};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use tokio::sync::mpsc;

use super::links::{Link, LinkKey};
use super::{Command, Identity, LocalMedia, SessionEvent, SessionReport};
use crate::media::stream::StreamKind;
use crate::peer::{LinkKind, PeerEvent, PeerNotice, PeerSetup};
use crate::pipeline::bitrate::BitrateController;
use crate::pipeline::incoming::{FrameSink, ReceivedStats};
use crate::pipeline::outgoing::{AudioSender, VideoSender};
use crate::playout::mixer::Mixer;
use crate::signaling::{SignalingClient, SignalingEvent};
use crate::stats::ReceivedStreamReport;

pub(super) struct ParticipantInfo {
    pub email: String,
}

/// Our screen, being shared.
pub(super) struct ScreenShare {
    pub sender: VideoSender,
    pub bitrate: Arc<BitrateController>,
}

/// Someone else's screen, being viewed.
pub(super) struct Viewing {
    pub sharer: String,
    /// When we learned of the share (`sharerStarted` or `sharerAvailable`).
    pub announced_at: Instant,
}

pub(super) struct State {
    pub identity: Identity,
    pub signaling: Arc<SignalingClient>,
    pub my_id: String,
    pub participants: HashMap<String, ParticipantInfo>,
    pub links: HashMap<LinkKey, Link>,
    /// Candidates that arrived before their connection existed.
    pub early_candidates: HashMap<LinkKey, Vec<RTCIceCandidateInit>>,
    pub generation: u64,
    pub setup: PeerSetup,
    pub video: Option<VideoSender>,
    pub audio: Option<AudioSender>,
    pub bitrate: Arc<BitrateController>,
    pub screen: Option<ScreenShare>,
    pub screen_config: crate::pipeline::outgoing::VideoSendConfig,
    pub viewing: Option<Viewing>,
    pub mixer: Arc<Mixer>,
    pub stats: ReceivedStats,
    pub sink: Arc<dyn FrameSink>,
    pub notices: mpsc::UnboundedSender<PeerNotice>,
    notices_rx: Option<mpsc::UnboundedReceiver<PeerNotice>>,
    pub events: mpsc::UnboundedSender<SessionEvent>,
    /// When our current `room:join` was sent (time to first frame for a newcomer).
    pub joined_at: Instant,
    pub join_rtt: Duration,
    pub peers_met: usize,
    pub peers_connected: HashSet<String>,
    pub errors: Vec<String>,
    pub disconnected: bool,
    /// (audio, video) as last announced.
    pub media_on: (bool, bool),
    /// What we sent as the screen before it stopped (for the report).
    pub screen_reports: Vec<crate::stats::SentStreamReport>,
}

impl State {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        identity: Identity,
        signaling: Arc<SignalingClient>,
        joined: &JoinAck,
        joined_at: Instant,
        join_rtt: Duration,
        media: LocalMedia,
        mixer: Arc<Mixer>,
        sink: Arc<dyn FrameSink>,
        setup: PeerSetup,
        stats: ReceivedStats,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Self {
        let (notices, notices_rx) = mpsc::unbounded_channel();
        let bitrate = Arc::new(BitrateController::new(
            media.video.start_kbps,
            media.video.min_kbps,
            media.video.max_kbps,
        ));
        let video = media
            .camera
            .map(|cam| VideoSender::start(cam, media.video.clone()));
        let audio = media
            .microphone
            .map(|mic| AudioSender::start(mic, media.capture_processor));
        State {
            identity,
            signaling,
            my_id: joined.id.clone(),
            participants: HashMap::new(),
            links: HashMap::new(),
            early_candidates: HashMap::new(),
            generation: 0,
            setup,
            video,
            audio,
            bitrate,
            screen: None,
            // The screen goes in the codec the camera goes in.
            screen_config: crate::pipeline::outgoing::VideoSendConfig {
                codec: media.video.codec,
                ..crate::pipeline::outgoing::VideoSendConfig::screen()
            },
            viewing: None,
            mixer,
            stats,
            sink,
            notices,
            notices_rx: Some(notices_rx),
            events,
            joined_at,
            join_rtt,
            peers_met: 0,
            peers_connected: HashSet::new(),
            errors: Vec::new(),
            disconnected: false,
            media_on: (true, true),
            screen_reports: Vec::new(),
        }
    }

    pub fn take_notices(&mut self) -> mpsc::UnboundedReceiver<PeerNotice> {
        self.notices_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1)
    }

    pub fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    pub fn note_error(&mut self, error: String) {
        tracing::warn!("{error}");
        self.errors.push(error);
    }

    pub fn email_of(&self, id: &str) -> String {
        self.participants
            .get(id)
            .map(|p| p.email.clone())
            .unwrap_or_else(|| id.to_string())
    }

    pub async fn run(
        mut self,
        mut server: mpsc::UnboundedReceiver<SignalingEvent>,
        mut notices: mpsc::UnboundedReceiver<PeerNotice>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stats_tick.tick() => self.poll_connection_stats().await,
                Some(event) = server.recv() => self.on_server_event(event).await,
                Some(notice) = notices.recv() => self.on_peer_notice(notice).await,
                command = commands.recv() => match command {
                    Some(Command::Leave(reply)) => {
                        let report = self.leave().await;
                        let _ = reply.send(report);
                        return;
                    }
                    Some(command) => self.on_command(command).await,
                    None => {
                        self.leave().await;
                        return;
                    }
                },
            }
        }
    }

    async fn on_server_event(&mut self, event: SignalingEvent) {
        let event = match event {
            SignalingEvent::Disconnected => {
                if !self.disconnected {
                    tracing::warn!("signaling connection lost; reconnecting");
                    self.disconnected = true;
                    self.emit(SessionEvent::Reconnecting);
                }
                return;
            }
            SignalingEvent::Connected => {
                // A reconnect: the server sees a new connection, whether or not we
                // noticed the old one drop.
                if !self.disconnected {
                    self.emit(SessionEvent::Reconnecting);
                }
                self.disconnected = false;
                self.rejoin().await;
                return;
            }
            SignalingEvent::Server(event) => event,
        };
        // An event from the server while we thought the connection lost: it was a transient
        // transport error and the connection held.
        if self.disconnected {
            tracing::info!("signaling connection held after a transport error");
            self.disconnected = false;
            self.emit(SessionEvent::ConnectionHeld);
        }
        match event {
            ServerEvent::Relay { kind, from, body } => self.on_relay(kind, &from, body).await,
            ServerEvent::UserJoined(u) => {
                tracing::info!(email = %u.email, count = u.count, "joined the room");
                self.participants.insert(
                    u.id.clone(),
                    ParticipantInfo {
                        email: u.email.clone(),
                    },
                );
                self.emit(SessionEvent::ParticipantJoined {
                    id: u.id,
                    email: u.email,
                    name: u.name,
                });
            }
            ServerEvent::UserLeft(u) => {
                tracing::info!(email = %u.email, count = u.count, "left the room");
                self.on_participant_gone(&u.id).await;
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
                self.on_share_announced(&id)
            }
            ServerEvent::SharerStopped(id) => self.on_share_stopped(&id).await,
            ServerEvent::ViewerJoined(id) => self.on_viewer_joined(&id).await,
            ServerEvent::SharingConflict(id) => tracing::debug!(sharer = %id, "sharing refused"),
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
    async fn on_relay(&mut self, kind: RelayKind, from: &str, body: RelayBody) {
        match (kind, body) {
            (RelayKind::UserCall, RelayBody::Offer(offer)) => {
                self.on_incoming_call(from, &offer).await
            }
            (RelayKind::CallAccepted | RelayKind::NegoDone, RelayBody::Ans(ans)) => {
                self.on_answer(LinkKey::call(from), &ans).await
            }
            (RelayKind::NegoNeeded, RelayBody::Offer(offer)) => {
                self.on_renegotiation(from, &offer).await
            }
            (RelayKind::IceCandidate, RelayBody::Candidate(candidate)) => {
                self.add_candidate(LinkKey::call(from), &candidate).await
            }
            (RelayKind::CallEnd, _) => {
                tracing::info!(peer = %self.email_of(from), "call ended by peer");
                self.close_link(&LinkKey::call(from)).await;
            }
            (RelayKind::ShareOffer, RelayBody::Offer(offer)) => {
                self.on_share_offer(from, &offer).await
            }
            (RelayKind::ShareAnswer, RelayBody::Ans(ans)) => {
                self.on_answer(LinkKey::share_out(from), &ans).await
            }
            (RelayKind::ShareIce, RelayBody::Candidate(candidate)) => {
                // The sharer's candidates belong to the screen we view; a viewer's to
                // the screen we send.
                let key = if self.screen.is_some() {
                    LinkKey::share_out(from)
                } else {
                    LinkKey::share_in(from)
                };
                self.add_candidate(key, &candidate).await
            }
            (kind, _) => tracing::debug!(event = kind.delivered_as(), "relay without its field"),
        }
    }

    /// RTT (the nominated ICE pair) and jitter (inbound RTP) of every connection, into
    /// the figures of the streams it carries.
    async fn poll_connection_stats(&mut self) {
        use rtc::statistics::report::RTCStatsReportEntry as Entry;
        for (key, link) in &self.links {
            let report = link
                .pc
                .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
                .await;
            let mut rtt = None;
            let mut jitter = Vec::new();
            for entry in report.iter() {
                match entry {
                    Entry::IceCandidatePair(pair)
                        if pair.nominated && pair.current_round_trip_time > 0.0 =>
                    {
                        rtt = Some(pair.current_round_trip_time * 1000.0);
                    }
                    Entry::InboundRtp(inbound) => {
                        let r = &inbound.received_rtp_stream_stats;
                        jitter.push((r.rtp_stream_stats.kind, r.jitter * 1000.0));
                    }
                    _ => {}
                }
            }
            let Ok(mut map) = self.stats.lock() else {
                continue;
            };
            for (id, stream) in map.iter_mut().filter(|(id, _)| id.remote_id == key.remote) {
                let matches_link =
                    (id.kind == StreamKind::Screen) == (key.kind == LinkKind::ShareIn);
                if !matches_link {
                    continue;
                }
                stream.rtt_ms = rtt.or(stream.rtt_ms);
                let kind = if id.kind == StreamKind::Audio {
                    rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio
                } else {
                    rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video
                };
                if let Some((_, j)) = jitter.iter().find(|(k, _)| *k == kind) {
                    stream.jitter_ms = Some(*j);
                }
            }
        }
    }

    /// Someone left or vanished: end every connection with them.
    async fn on_participant_gone(&mut self, id: &str) {
        self.close_link(&LinkKey::call(id)).await;
        self.close_link(&LinkKey::share_out(id)).await;
        if self.viewing.as_ref().is_some_and(|v| v.sharer == id) {
            self.on_share_stopped(id).await;
        }
    }

    async fn on_peer_notice(&mut self, notice: PeerNotice) {
        let key = LinkKey {
            kind: notice.kind,
            remote: notice.remote_id.clone(),
        };
        let current = self
            .links
            .get(&key)
            .is_some_and(|l| l.generation == notice.generation);
        if !current {
            return;
        }
        match notice.event {
            PeerEvent::Candidate(c) => self.send_candidate(&key, &c).await,
            PeerEvent::State(state) => self.on_connection_state(&key, state).await,
            PeerEvent::Ice(state) => {
                tracing::debug!(peer = %self.email_of(&key.remote), ?state, kind = ?key.kind, "ICE");
                if state == webrtc::peer_connection::RTCIceConnectionState::Failed {
                    self.on_ice_failed(&key).await;
                }
            }
            PeerEvent::Track(track) => self.on_remote_track(&key, track).await,
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Chat {
                text,
                client_id,
                reply,
            } => {
                let result = super::send_chat(&self.signaling, text, client_id).await;
                let _ = reply.send(result);
            }
            Command::SetMuted(muted) => {
                if let Some(a) = &self.audio {
                    a.control.set_muted(muted);
                }
                self.media_on.0 = !muted;
                self.announce_media().await;
            }
            Command::SetCameraOn(on) => {
                if let Some(v) = &self.video {
                    v.control.set_enabled(on);
                }
                self.media_on.1 = on;
                self.announce_media().await;
            }
            Command::SwitchCamera(cam) => match &self.video {
                Some(v) => v.control.replace_source(cam),
                None => self.note_error("no camera track to switch: join with a camera".into()),
            },
            Command::SwitchMicrophone(mic) => match &self.audio {
                Some(a) => a.control.replace_source(mic),
                None => {
                    self.note_error("no microphone track to switch: join with a microphone".into())
                }
            },
            Command::StartSharing { source, reply } => {
                let result = self.start_sharing(source).await;
                let _ = reply.send(result);
            }
            Command::StopSharing(reply) => {
                let result = self.stop_sharing().await;
                let _ = reply.send(result);
            }
            Command::Leave(_) => {}
        }
    }

    pub async fn announce_media(&self) {
        let (audio, video) = self.media_on;
        if let Err(err) = self.signaling.request(&MediaState { audio, video }).await {
            tracing::warn!(%err, "media state not announced");
        }
    }

    async fn leave(&mut self) -> SessionReport {
        let ended = Instant::now();
        let calls: Vec<String> = self
            .links
            .keys()
            .filter(|k| k.kind == LinkKind::Call)
            .map(|k| k.remote.clone())
            .collect();
        for remote in &calls {
            self.relay(RelayKind::CallEnd, remote, RelayBody::Nothing)
                .await;
        }
        let mut received: Vec<ReceivedStreamReport> = self
            .stats
            .lock()
            .map(|m| m.values().map(|s| s.report(ended)).collect())
            .unwrap_or_default();
        if self.screen.is_some() {
            let _ = self.stop_sharing().await;
        }
        let keys: Vec<LinkKey> = self.links.keys().cloned().collect();
        for key in keys {
            self.close_link(&key).await;
        }
        let mut sent = Vec::new();
        if let Some(v) = self.video.as_mut() {
            v.stop();
            if let Ok(s) = v.stats.lock() {
                sent.push(s.report(StreamKind::Video, v.config.codec.name, ended));
            }
        }
        if let Some(a) = self.audio.as_mut() {
            a.stop();
            if let Ok(s) = a.stats.lock() {
                sent.push(s.report(StreamKind::Audio, "opus", ended));
            }
        }
        sent.append(&mut self.screen_reports);
        if let Err(err) = self.signaling.request(&RoomLeave {}).await {
            tracing::debug!(%err, "room:leave");
        }
        self.signaling.disconnect().await;
        received
            .sort_by(|a, b| (&a.remote_email, a.kind as u8).cmp(&(&b.remote_email, b.kind as u8)));
        SessionReport {
            id: self.my_id.clone(),
            room: self.identity.room.clone(),
            join_ack_ms: self.join_rtt.as_secs_f64() * 1000.0,
            received,
            sent,
            peers_met: self.peers_met,
            peers_connected: self.peers_connected.len(),
            errors: self.errors.clone(),
        }
    }
}
