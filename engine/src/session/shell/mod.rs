//! The I/O around the session's rules: one task owns the signaling client, the peer
//! connections and our media senders, turns everything that happens into an
//! [`Input`] for the [`Core`], and carries out the [`Action`]s it answers with. It
//! decides nothing itself.
//!
//! - here: the task, its inputs, the actions that are not about one connection, the
//!   application's commands, leaving;
//! - [`links`]: the peer connections (creating them with our media on, offers,
//!   answers, candidates, closing) and the tracks received on them;
//! - [`sfu`]: the SFU path's publisher and subscriber connections.

mod links;
mod sfu;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_protocol::request::ListRooms;
use huddle_protocol::request::{RoomLeave, StartSharing, StopSharing};
use huddle_protocol::{
    ChatMessage, ErrorCode, JoinAck, JoinReply, ListedRoom, MediaMode, MediaState, RelayBody,
    RelayKind, RoomLock, RoomSettings, ServerEvent,
};
use tokio::sync::{mpsc, oneshot, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::core::{
    Action, Admission, ConnectionRecord, Core, CoreConfig, Input, KeyframeOf, LinkKey, LinkKind,
};
use super::event::SessionEvent;
use super::{
    ConnectionReport, DoorRequest, Identity, LocalMedia, SessionError, SessionReport, request_join,
};
use crate::capture::source::{AudioSource, VideoSource};
use crate::media::stream::StreamKind;
use crate::peer::{IceServer, PeerEvent, PeerSetup};
use crate::pipeline::bitrate::BitrateController;
use crate::pipeline::incoming::{FrameSink, ReceivedStats};
use crate::pipeline::outgoing::{AudioSender, VideoSendConfig, VideoSender};
use crate::playout::mixer::Mixer;
use crate::signaling::{SignalingClient, SignalingError, SignalingEvent};
use crate::stats::{ReceivedStreamReport, SentStreamReport};
use links::LinkIo;

/// What the application asks of a running session.
pub(super) enum Command {
    Chat {
        text: String,
        client_id: String,
        reply: oneshot::Sender<Result<ChatMessage, SignalingError>>,
    },
    SetMuted(bool),
    SetCameraOn(bool),
    SwitchCamera(Box<dyn VideoSource>),
    SwitchMicrophone(Box<dyn AudioSource>),
    StartSharing {
        source: Box<dyn VideoSource>,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    StopSharing(oneshot::Sender<Result<(), SessionError>>),
    Lock {
        lock: RoomLock,
        reply: oneshot::Sender<Result<RoomSettings, SessionError>>,
    },
    Door {
        request: DoorRequest,
        id: String,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    ListRooms(oneshot::Sender<Result<Vec<ListedRoom>, SessionError>>),
    SetCameraView(super::sfu::CameraView),
    Leave(oneshot::Sender<SessionReport>),
}

/// A peer connection's event, with which connection it is.
pub(super) struct Notice {
    key: LinkKey,
    generation: u64,
    event: PeerEvent,
}

/// Our screen, being shared.
struct ScreenShare {
    sender: VideoSender,
    bitrate: Arc<BitrateController>,
}

/// Everything the session's task owns.
pub(super) struct Shell {
    core: Core,
    identity: Identity,
    signaling: Arc<SignalingClient>,
    setup: PeerSetup,
    /// The application's own ICE servers; the server's are merged in (see `ice`).
    own_ice_servers: Vec<IceServer>,
    /// When to ask the server for fresh TURN credentials.
    ice_refresh_at: Option<tokio::time::Instant>,
    /// The selected candidate pair's (local, remote) types, by connection generation.
    pair_types: HashMap<u64, (String, String)>,
    /// What the application's `Session::connections` reads.
    connections: Arc<std::sync::Mutex<Vec<ConnectionReport>>>,
    links: HashMap<LinkKey, LinkIo>,
    notices: mpsc::UnboundedSender<Notice>,
    video: Option<VideoSender>,
    audio: Option<AudioSender>,
    /// How fast the camera may go, from what its receivers report.
    bitrate: Arc<BitrateController>,
    screen: Option<ScreenShare>,
    screen_config: VideoSendConfig,
    /// What we sent as the screen before it stopped (for the report).
    screen_reports: Vec<SentStreamReport>,
    mixer: Arc<Mixer>,
    stats: ReceivedStats,
    sink: Arc<dyn FrameSink>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// Where we stand at the door, for [`super::Session::admitted`].
    admission: watch::Sender<Admission>,
    join_rtt: Duration,
    /// The SFU path, while the room uses it.
    sfu: Option<sfu::SfuIo>,
    sfu_notices: mpsc::UnboundedSender<sfu::SfuNotice>,
    sfu_notices_rx: Option<mpsc::UnboundedReceiver<sfu::SfuNotice>>,
    /// A rejoin found the room on the SFU: start it once the rules have seen the rejoin.
    pending_sfu: Option<u64>,
    /// The cameras the application shows (SFU rooms pause the others).
    camera_view: super::sfu::CameraView,
}

/// What a shell is made of.
pub(super) struct ShellParts {
    pub identity: Identity,
    pub config: CoreConfig,
    pub signaling: Arc<SignalingClient>,
    pub setup: PeerSetup,
    pub own_ice_servers: Vec<IceServer>,
    pub connections: Arc<std::sync::Mutex<Vec<ConnectionReport>>>,
    /// When our `room:join` was sent, and how long its ack took.
    pub joined_at: Instant,
    pub join_rtt: Duration,
    pub media: LocalMedia,
    pub mixer: Arc<Mixer>,
    pub sink: Arc<dyn FrameSink>,
    pub stats: ReceivedStats,
    pub events: mpsc::UnboundedSender<SessionEvent>,
    pub notices: mpsc::UnboundedSender<Notice>,
    pub admission: watch::Sender<Admission>,
}

impl Shell {
    pub(super) fn new(parts: ShellParts) -> Self {
        let ShellParts {
            identity,
            config,
            signaling,
            setup,
            own_ice_servers,
            connections,
            joined_at,
            join_rtt,
            media,
            mixer,
            sink,
            stats,
            events,
            notices,
            admission,
        } = parts;
        let video_config = media.video;
        // The camera: a full and a low encoding, each mesh peer on the one its link
        // carries (a shared screen keeps one encoding: see `start_sharing`).
        let bitrate = Arc::new(BitrateController::layered(
            video_config.start_kbps,
            video_config.min_kbps,
            video_config.max_kbps,
        ));
        // The screen goes in the codec the camera goes in.
        let screen_config = VideoSendConfig {
            codec: video_config.codec,
            ..VideoSendConfig::screen()
        };
        let video = media
            .camera
            .map(|cam| VideoSender::start(cam, video_config));
        let audio = media
            .microphone
            .map(|mic| AudioSender::start(mic, media.capture_processor));
        let (sfu_notices, sfu_notices_rx) = mpsc::unbounded_channel();
        Shell {
            core: Core::new(config, joined_at),
            identity,
            signaling,
            setup,
            own_ice_servers,
            ice_refresh_at: None,
            pair_types: HashMap::new(),
            connections,
            links: HashMap::new(),
            notices,
            video,
            audio,
            bitrate,
            screen: None,
            screen_config,
            screen_reports: Vec::new(),
            mixer,
            stats,
            sink,
            events,
            admission,
            join_rtt,
            sfu: None,
            sfu_notices,
            sfu_notices_rx: Some(sfu_notices_rx),
            pending_sfu: None,
            camera_view: Default::default(),
        }
    }

    /// Handles inputs until the application leaves (or drops the session).
    pub(super) async fn run(
        mut self,
        mut server: mpsc::UnboundedReceiver<SignalingEvent>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
        let mut timer = tokio::time::interval(Duration::from_millis(500));
        let Some(mut sfu_notices) = self.sfu_notices_rx.take() else {
            return;
        };
        loop {
            let refresh_at = self.ice_refresh_at;
            let refresh = async move {
                match refresh_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = refresh => self.refresh_ice_servers().await,
                _ = stats_tick.tick() => {
                    self.poll_connection_stats().await;
                    self.sfu_poll_stats().await;
                    self.publish_connections();
                }
                _ = timer.tick() => {
                    self.drive(Input::Tick).await;
                    self.sfu_tick().await;
                }
                Some(notice) = sfu_notices.recv() => self.sfu_on_notice(notice).await,
                Some(event) = server.recv() => self.on_signaling(event).await,
                Some(notice) = notices.recv() => self.on_notice(notice).await,
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

    /// The server's answer to our first join: in the room (call everyone there), or
    /// in its waiting room.
    pub(super) async fn first_reply(&mut self, reply: JoinReply) {
        match reply {
            JoinReply::Joined(ack) => self.entered(Input::Joined(ack.clone()), &ack).await,
            JoinReply::Waiting { room } => self.drive(Input::Waiting { room }).await,
        }
    }

    /// In the room (joined, or let in from the waiting room): the server's ICE servers
    /// apply, the rules call everyone, and the SFU path starts if the room uses it.
    async fn entered(&mut self, input: Input, ack: &JoinAck) {
        self.use_server_ice(&ack.ice_servers);
        let sfu = (ack.media == MediaMode::Sfu).then_some(ack.sfu_epoch.unwrap_or(0));
        self.drive(input).await;
        if let Some(epoch) = sfu {
            self.sfu_start(epoch).await;
        }
    }

    async fn drive(&mut self, input: Input) {
        self.drive_with(input, None).await;
    }

    /// Feeds `input` to the rules and carries out what they say, depth first: an
    /// action's result is fed back and its consequences done before the next action,
    /// as if each step were a plain function call.
    async fn drive_with(&mut self, input: Input, mut track: Option<Arc<dyn TrackRemote>>) {
        let mut queue: VecDeque<Action> = self.core.handle(Instant::now(), input).into();
        while let Some(action) = queue.pop_front() {
            if let Some(result) = self.execute(action, &mut track).await {
                for next in self.core.handle(Instant::now(), result).into_iter().rev() {
                    queue.push_front(next);
                }
            }
        }
        self.publish_admission();
    }

    /// Tells [`super::Session`] where we stand at the door, when that changed.
    fn publish_admission(&self) {
        let now = self.core.admission();
        self.admission.send_if_modified(|seen| {
            if seen == now {
                return false;
            }
            *seen = now.clone();
            true
        });
    }

    /// Carries out one action; `Some` is its result, for the rules.
    async fn execute(
        &mut self,
        action: Action,
        track: &mut Option<Arc<dyn TrackRemote>>,
    ) -> Option<Input> {
        match action {
            Action::OpenLink { key, generation } => {
                let result = self.open_link(&key, generation).await;
                return Some(Input::LinkOpened {
                    key,
                    generation,
                    result: result.map_err(|e| e.to_string()),
                });
            }
            Action::CloseLink { key } => self.close_link(&key).await,
            Action::CreateOffer {
                key,
                generation,
                ice_restart,
            } => {
                let result = self.create_offer(&key, ice_restart).await;
                return Some(Input::OfferCreated {
                    key,
                    generation,
                    result: result.map_err(|e| e.to_string()),
                });
            }
            Action::Answer {
                key,
                generation,
                offer,
            } => {
                let result = self.answer(&key, &offer).await;
                return Some(Input::AnswerCreated {
                    key,
                    generation,
                    result: result.map_err(|e| e.to_string()),
                });
            }
            Action::ApplyAnswer {
                key,
                generation,
                answer,
            } => {
                let result = self.apply_answer(&key, &answer).await;
                return Some(Input::AnswerApplied {
                    key,
                    generation,
                    result: result.map_err(|e| e.to_string()),
                });
            }
            Action::Rollback { key } => self.rollback(&key).await,
            Action::AddRemoteCandidates { key, candidates } => {
                self.add_remote_candidates(&key, &candidates).await
            }
            Action::Relay { kind, to, body } => self.relay(kind, &to, body).await,
            Action::LinkUp { key } => {
                if let Some(link) = self.links.get(&key) {
                    link.connected.send_replace(true);
                }
            }
            Action::RequestKeyframe(KeyframeOf::Camera) => {
                if let Some(v) = &self.video {
                    v.control.request_keyframe();
                }
            }
            Action::RequestKeyframe(KeyframeOf::Screen) => {
                if let Some(s) = &self.screen {
                    s.sender.control.request_keyframe();
                }
            }
            Action::Receive {
                key,
                kind,
                since,
                joined_at,
                email,
            } => {
                if let Some(track) = track.take() {
                    self.receive(&key, track, kind, since, joined_at, &email)
                        .await;
                }
            }
            Action::AnnounceMedia { audio, video } => {
                if let Err(err) = self.signaling.request(&MediaState { audio, video }).await {
                    tracing::warn!(%err, "media state not announced");
                }
            }
            Action::Rejoin => {
                let result = request_join(&self.signaling, &self.identity).await;
                // A new connection to the server: the SFU path starts over if the room
                // uses it (after the rules have seen the rejoin).
                self.sfu_stop();
                if let Ok(JoinReply::Joined(ack)) = &result {
                    self.use_server_ice(&ack.ice_servers);
                    if ack.media == MediaMode::Sfu {
                        self.pending_sfu = Some(ack.sfu_epoch.unwrap_or(0));
                    }
                }
                return Some(Input::Rejoined(result.map_err(|e| e.to_string())));
            }
            Action::StopScreen => {
                if let Some(mut screen) = self.screen.take() {
                    screen.sender.stop();
                }
            }
            Action::Emit(event) => {
                let _ = self.events.send(event);
            }
        }
        None
    }

    /// Sends a relay through signaling.
    async fn relay(&self, kind: RelayKind, to: &str, body: RelayBody) {
        if let Err(err) = self.signaling.relay(kind, to, body).await {
            tracing::warn!(%err, event = kind.sent_as(), "relay not sent");
        }
    }

    async fn on_signaling(&mut self, event: SignalingEvent) {
        let input = match event {
            SignalingEvent::Disconnected => Input::SignalingLost,
            SignalingEvent::Connected => Input::SignalingBack,
            // The SFU path's events are the shell's own.
            SignalingEvent::Server(ServerEvent::SfuMode(m)) => {
                return self.sfu_start(m.epoch).await;
            }
            SignalingEvent::Server(ServerEvent::SfuOffer(o)) => return self.sfu_on_offer(*o).await,
            SignalingEvent::Server(ServerEvent::SfuIce(i)) => return self.sfu_on_ice(i).await,
            SignalingEvent::Server(ServerEvent::SfuLink(l)) => return self.sfu_on_link(l),
            SignalingEvent::Server(ServerEvent::LobbyAdmitted(ack)) => {
                let input = Input::Server(ServerEvent::LobbyAdmitted(ack.clone()));
                return self.entered(input, &ack).await;
            }
            SignalingEvent::Server(event) => Input::Server(event),
        };
        self.drive(input).await;
        if let Some(epoch) = self.pending_sfu.take() {
            self.sfu_start(epoch).await;
        }
    }

    async fn on_notice(&mut self, notice: Notice) {
        let Notice {
            key,
            generation,
            event,
        } = notice;
        match event {
            PeerEvent::Candidate(c) => {
                let candidate = crate::peer::from_rtc_candidate(&c);
                if candidate.candidate.contains(" typ relay")
                    && let Some(link) = self.current_link(&key, generation)
                {
                    link.relay_gathered = true;
                }
                self.drive(Input::LocalCandidate {
                    key,
                    generation,
                    candidate,
                })
                .await
            }
            PeerEvent::State(state) => {
                tracing::debug!(peer = %key.remote, kind = ?key.kind, ?state, "connection");
                match state {
                    RTCPeerConnectionState::Connected => {
                        self.drive(Input::Connected { key, generation }).await
                    }
                    RTCPeerConnectionState::Failed => {
                        self.drive(Input::Failed { key, generation }).await
                    }
                    _ => {}
                }
            }
            PeerEvent::Ice(state) => {
                tracing::debug!(peer = %key.remote, ?state, kind = ?key.kind, "ICE");
                match state {
                    RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                        self.drive(Input::IceConnected { key, generation }).await
                    }
                    RTCIceConnectionState::Failed => {
                        self.drive(Input::Failed { key, generation }).await
                    }
                    RTCIceConnectionState::Disconnected => {
                        self.drive(Input::Disconnected { key, generation }).await
                    }
                    _ => {}
                }
            }
            PeerEvent::CandidateError { url, code, text } => {
                tracing::warn!(peer = %key.remote, %url, code, %text, "ICE server error");
                if let Some(link) = self.current_link(&key, generation) {
                    link.candidate_errors.push(format!("{url}: {code} {text}"));
                }
            }
            PeerEvent::GatheringComplete => self.on_gathering_complete(key, generation).await,
            PeerEvent::Track(track) => {
                let audio =
                    track.kind().await == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio;
                let input = Input::Track {
                    key,
                    generation,
                    audio,
                };
                self.drive_with(input, Some(track)).await;
            }
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
            Command::SetCameraView(view) => self.sfu_set_view(view).await,
            Command::SetMuted(muted) => {
                if let Some(a) = &self.audio {
                    a.control.set_muted(muted);
                }
                self.drive(Input::MicMuted(muted)).await;
            }
            Command::SetCameraOn(on) => {
                if let Some(v) = &self.video {
                    v.control.set_enabled(on);
                }
                self.drive(Input::CameraOn(on)).await;
            }
            Command::SwitchCamera(cam) => match &self.video {
                Some(v) => v.control.replace_source(cam),
                None => self
                    .core
                    .note_error("no camera track to switch: join with a camera".into()),
            },
            Command::SwitchMicrophone(mic) => match &self.audio {
                Some(a) => a.control.replace_source(mic),
                None => self
                    .core
                    .note_error("no microphone track to switch: join with a microphone".into()),
            },
            Command::StartSharing { source, reply } => {
                let result = self.start_sharing(source).await;
                let _ = reply.send(result);
            }
            Command::StopSharing(reply) => {
                let result = self.stop_sharing().await;
                let _ = reply.send(result);
            }
            Command::Lock { lock, reply } => {
                let result = self.signaling.request(&lock).await;
                if let Ok(settings) = &result {
                    self.core.note_settings(*settings);
                    self.publish_admission();
                }
                let _ = reply.send(result.map_err(Into::into));
            }
            Command::Door { request, id, reply } => {
                let result = request.send(&self.signaling, id).await;
                let _ = reply.send(result.map_err(Into::into));
            }
            Command::ListRooms(reply) => {
                let result = self.signaling.request(&ListRooms {}).await;
                let _ = reply.send(result.map(|r| r.rooms).map_err(Into::into));
            }
            Command::Leave(_) => {}
        }
    }

    /// Asks the server to make us the sharer, then offers the screen to everyone.
    async fn start_sharing(&mut self, source: Box<dyn VideoSource>) -> Result<(), SessionError> {
        if let Some(screen) = &self.screen {
            // Already sharing: switch what is shared, nothing to renegotiate.
            screen.sender.control.replace_source(source);
            return Ok(());
        }
        match self.signaling.request(&StartSharing {}).await {
            Ok(_) => {}
            Err(SignalingError::Refused { refusal, .. })
                if refusal.code == ErrorCode::SharingConflict =>
            {
                return Err(SessionError::SharingConflict {
                    sharer_id: refusal.sharer_id.unwrap_or_default(),
                });
            }
            Err(err) => return Err(err.into()),
        }
        tracing::info!(source = %source.describe(), "sharing the screen");
        let config = self.screen_config.clone();
        // One encoding for the screen: text at half the size is unreadable, and its
        // ladder already gives up frames, not size, on a thin link.
        self.screen = Some(ScreenShare {
            bitrate: Arc::new(BitrateController::new(
                config.start_kbps,
                config.min_kbps,
                config.max_kbps,
            )),
            sender: VideoSender::start(source, config),
        });
        self.drive(Input::SharingStarted).await;
        if self.sfu.is_some()
            && let Err(err) = self.sfu_publish().await
        {
            self.core.note_error(format!("SFU screen: {err}"));
        }
        Ok(())
    }

    async fn stop_sharing(&mut self) -> Result<(), SessionError> {
        let Some(mut screen) = self.screen.take() else {
            return Ok(());
        };
        let result = self.signaling.request(&StopSharing {}).await;
        self.drive(Input::SharingStopped).await;
        if self.sfu.is_some()
            && let Err(err) = self.sfu_publish().await
        {
            self.core.note_error(format!("SFU screen off: {err}"));
        }
        screen.sender.stop();
        if let Ok(s) = screen.sender.stats.lock() {
            let codec = screen.sender.config.codec.name;
            self.screen_reports
                .push(s.report(StreamKind::Screen, codec, Instant::now()));
        }
        result.map(|_| ()).map_err(Into::into)
    }

    /// Ends every call, leaves the room and reports what was measured.
    async fn leave(&mut self) -> SessionReport {
        let ended = Instant::now();
        self.drive(Input::Leaving).await;
        self.poll_connection_stats().await;
        let connections = self.connection_reports();
        let mut received: Vec<ReceivedStreamReport> = self
            .stats
            .lock()
            .map(|m| m.values().map(|s| s.report(ended)).collect())
            .unwrap_or_default();
        if self.screen.is_some() {
            let _ = self.stop_sharing().await;
        }
        self.drive(Input::CloseAll).await;
        self.sfu_stop();
        let mut sent = Vec::new();
        if let Some(v) = self.video.as_mut() {
            v.stop();
            if let Ok(s) = v.stats.lock() {
                let codec = v.config.codec.name;
                let mut report = s.report(StreamKind::Video, codec, ended);
                report.low = v
                    .low_stats
                    .lock()
                    .ok()
                    .filter(|l| l.frames_encoded > 0)
                    .map(|l| Box::new(l.report(StreamKind::Video, codec, ended)));
                let emails: BTreeMap<String, String> = connections
                    .iter()
                    .map(|c| (c.remote_id.clone(), c.remote_email.clone()))
                    .collect();
                report.peers = crate::stats::peer_reports(&v.control.sent(), &emails);
                sent.push(report);
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
            id: self.core.my_id().to_string(),
            room: self.identity.room.clone(),
            join_ack_ms: self.join_rtt.as_secs_f64() * 1000.0,
            received,
            sent,
            peers_met: self.core.peers_met(),
            peers_connected: self.core.peers_connected(),
            connections,
            errors: self.core.errors().to_vec(),
        }
    }

    /// Takes the server's ICE servers (join ack, rejoin ack, `ice:servers`) into the
    /// setup of the connections made from now on, and plans their renewal.
    fn use_server_ice(&mut self, servers: &[huddle_protocol::IceServer]) {
        let from_server = super::ice::from_wire(servers);
        self.setup.ice_servers = super::ice::merge(&self.own_ice_servers, &from_server);
        self.ice_refresh_at = super::ice::expiry(&from_server).map(|expiry| {
            let delay = super::ice::refresh_delay(expiry, unix_now());
            tracing::info!(secs = delay.as_secs(), "TURN credentials renewed in");
            tokio::time::Instant::now() + delay
        });
    }

    /// Fresh TURN credentials from the server, given to every connection, then an ICE
    /// restart so they are used (webrtc-rs 0.21: `set_configuration` + `restart_ice`).
    async fn refresh_ice_servers(&mut self) {
        use huddle_protocol::request::RefreshIceServers;
        match self.signaling.request(&RefreshIceServers {}).await {
            Ok(ack) => {
                self.use_server_ice(&ack.ice_servers);
                self.reconfigure_links().await;
                self.drive(Input::IceServersChanged).await;
            }
            Err(err) => {
                self.core
                    .note_error(format!("could not renew the TURN credentials: {err}"));
                self.ice_refresh_at = Some(tokio::time::Instant::now() + Duration::from_secs(10));
            }
        }
    }

    /// Gathering is over: when a TURN server was configured and no relay candidate came
    /// of it, say so (and give up a relay-only connection, which cannot work without).
    async fn on_gathering_complete(&mut self, key: LinkKey, generation: u64) {
        if !self.setup.has_turn() {
            return;
        }
        let relay_only = self.setup.relay_only;
        let turn_urls: Vec<String> = self
            .setup
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.iter())
            .filter(|u| u.starts_with("turn"))
            .cloned()
            .collect();
        let Some(link) = self.current_link(&key, generation) else {
            return;
        };
        if link.relay_gathered {
            return;
        }
        let why = if link.candidate_errors.is_empty() {
            "no answer or a refusal (wrong credentials?)".to_string()
        } else {
            link.candidate_errors.join("; ")
        };
        let reason = format!(
            "no relay candidate from {} ({why}); webrtc-rs relays over UDP TURN only",
            turn_urls.join(", ")
        );
        if relay_only {
            self.drive(Input::NoRelay {
                key,
                generation,
                reason,
            })
            .await;
        } else {
            let who = self.core.email_of(&key.remote);
            self.core
                .note_error(format!("connection to {who}: {reason}"));
        }
    }

    /// The connection for `key` if it is still `generation`'s.
    fn current_link(&mut self, key: &LinkKey, generation: u64) -> Option<&mut LinkIo> {
        self.links
            .get_mut(key)
            .filter(|l| l.generation == generation)
    }

    /// Every connection so far, with its selected pair's candidate types.
    fn connection_reports(&self) -> Vec<ConnectionReport> {
        self.core
            .connections()
            .into_iter()
            .map(|r: ConnectionRecord| {
                let types = self.pair_types.get(&r.generation);
                ConnectionReport {
                    remote_id: r.remote_id,
                    remote_email: r.remote_email,
                    purpose: match r.kind {
                        LinkKind::Call => "call",
                        LinkKind::ShareOut | LinkKind::ShareIn => "share",
                    },
                    local_candidate_type: types.map(|t| t.0.clone()),
                    remote_candidate_type: types.map(|t| t.1.clone()),
                    connect_ms: r.connect_ms,
                    ice_restarts: r.ice_restarts,
                }
            })
            .chain(self.sfu_connection_reports())
            .collect()
    }

    fn publish_connections(&self) {
        let reports = self.connection_reports();
        if let Ok(mut c) = self.connections.lock() {
            *c = reports;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
