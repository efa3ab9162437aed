//! A participant in a room: joins through signaling, keeps one peer connection per
//! other participant (a mesh), sends local media to all of them and receives theirs.
//!
//! Mesh rule (PROTOCOL.md): the newcomer calls everyone in its join ack; nobody calls a
//! newcomer. Everything runs in one task that owns the state, fed by the server's
//! events, the peer connections' events and the application's commands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use webrtc::peer_connection::{PeerConnection, RTCIceConnectionState, RTCPeerConnectionState};

use crate::media::source::{AudioSource, VideoSource};
use crate::peer::connection::{opus_codec, vp8_codec};
use crate::peer::sending::{self, BitrateController};
use crate::peer::{
    LinkKind, PeerError, PeerEvent, PeerNotice, PeerSetup, first_mid, from_rtc_candidate,
    from_rtc_description, to_rtc_candidate, to_rtc_description,
};
use crate::pipeline::incoming::{self, FrameSink, Mixer, ReceivedStats, StreamId};
use crate::pipeline::outgoing::{AudioSender, CaptureProcessor, VideoSendConfig, VideoSender};
use crate::signaling::messages::{
    ChatMessage, IceCandidate, Joined, Participant, SessionDescription,
};
use crate::signaling::{ServerEvent, SignalingClient, SignalingError};
use crate::stats::{ReceivedStream, ReceivedStreamReport, SentStreamReport, StreamKind};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("the join answer was not understood: {0}")]
    BadJoinAnswer(String),
    #[error("the session has ended")]
    Ended,
}

/// Who joins where.
#[derive(Debug, Clone)]
pub struct Identity {
    pub server_url: String,
    pub email: String,
    pub room: String,
    pub name: Option<String>,
}

/// Local media for a session, already opened.
pub struct LocalMedia {
    pub camera: Option<Box<dyn VideoSource>>,
    pub microphone: Option<Box<dyn AudioSource>>,
    pub capture_processor: Option<Box<dyn CaptureProcessor>>,
    pub video: VideoSendConfig,
}

/// What the application hears from the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    Joined {
        id: String,
        room: String,
        participants: Vec<Participant>,
        sharer_id: Option<String>,
        history: Vec<ChatMessage>,
    },
    ParticipantJoined {
        id: String,
        email: String,
        name: Option<String>,
    },
    ParticipantLeft {
        id: String,
        email: String,
    },
    MediaState {
        id: String,
        audio: bool,
        video: bool,
    },
    Chat(ChatMessage),
    /// The first decoded frame (video) or packet (audio) from someone.
    MediaFlowing {
        id: String,
        email: String,
        kind: StreamKind,
    },
    Connected {
        id: String,
    },
    PeerFailed {
        id: String,
        reason: String,
    },
    Reconnecting,
    Rejoined,
    ServerError {
        code: String,
        message: String,
    },
}

enum Command {
    Chat {
        text: String,
        client_id: String,
        reply: oneshot::Sender<Result<ChatMessage, SignalingError>>,
    },
    SetMuted(bool),
    SetCameraOn(bool),
    SwitchCamera(Box<dyn VideoSource>),
    SwitchMicrophone(Box<dyn AudioSource>),
    Leave(oneshot::Sender<SessionReport>),
}

/// The application's handle on a running session.
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<SessionEvent>,
    pub joined: Joined,
    pub join_rtt: Duration,
    stats: ReceivedStats,
    task: JoinHandle<()>,
}

/// Everything measured during a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub id: String,
    pub room: String,
    pub join_ack_ms: f64,
    pub received: Vec<ReceivedStreamReport>,
    pub sent: Vec<SentStreamReport>,
    pub peers_met: usize,
    pub peers_connected: usize,
    pub errors: Vec<String>,
}

impl Session {
    /// Connects to the server, joins the room and starts calling everyone in it.
    pub async fn join(
        identity: Identity,
        media: LocalMedia,
        speaker_mixer: Arc<Mixer>,
        sink: Arc<dyn FrameSink>,
        setup: PeerSetup,
    ) -> Result<Session, SessionError> {
        let (signaling, server_events) = SignalingClient::connect(&identity.server_url).await?;
        let started = Instant::now();
        let joined = request_join(&signaling, &identity).await?;
        let join_rtt = started.elapsed();
        tracing::info!(
            room = %joined.room, id = %joined.id, others = joined.participants.len(),
            ms = join_rtt.as_secs_f64() * 1000.0, "joined"
        );

        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        let stats: ReceivedStats = Arc::new(Mutex::new(HashMap::new()));
        let video = media
            .camera
            .map(|cam| VideoSender::start(cam, media.video.clone()));
        let audio = media
            .microphone
            .map(|mic| AudioSender::start(mic, media.capture_processor));
        let bitrate = Arc::new(BitrateController::new(
            media.video.start_kbps,
            media.video.min_kbps,
            media.video.max_kbps,
        ));
        let mut state = State {
            identity,
            signaling,
            my_id: joined.id.clone(),
            participants: HashMap::new(),
            calls: HashMap::new(),
            early_candidates: HashMap::new(),
            generation: 0,
            setup,
            video,
            audio,
            bitrate,
            mixer: speaker_mixer,
            stats: stats.clone(),
            sink,
            notices: notices_tx,
            events: events_tx,
            join_rtt,
            peers_met: 0,
            peers_connected: std::collections::HashSet::new(),
            errors: Vec::new(),
            disconnected: false,
            media_on: (true, true),
        };
        state.on_joined(&joined).await;
        let task = tokio::spawn(state.run(server_events, notices_rx, command_rx));
        Ok(Session {
            commands,
            events,
            joined,
            join_rtt,
            stats,
            task,
        })
    }

    /// Sends a chat message; resolves with the server's stored copy.
    pub async fn chat(&self, text: &str) -> Result<ChatMessage, SessionError> {
        let (reply, rx) = oneshot::channel();
        let client_id = format!(
            "huddle-{}-{}",
            std::process::id(),
            crate::media::testsignal::now_ms()
        );
        self.commands
            .send(Command::Chat {
                text: text.to_string(),
                client_id,
                reply,
            })
            .map_err(|_| SessionError::Ended)?;
        Ok(rx.await.map_err(|_| SessionError::Ended)??)
    }

    pub fn set_muted(&self, muted: bool) {
        let _ = self.commands.send(Command::SetMuted(muted));
    }

    pub fn set_camera_on(&self, on: bool) {
        let _ = self.commands.send(Command::SetCameraOn(on));
    }

    pub fn switch_camera(&self, camera: Box<dyn VideoSource>) {
        let _ = self.commands.send(Command::SwitchCamera(camera));
    }

    pub fn switch_microphone(&self, mic: Box<dyn AudioSource>) {
        let _ = self.commands.send(Command::SwitchMicrophone(mic));
    }

    /// A snapshot of every received stream's figures.
    pub fn received(&self) -> Vec<ReceivedStream> {
        self.stats
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Ends every call, leaves the room and returns what was measured.
    pub async fn leave(self) -> Result<SessionReport, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(reply))
            .map_err(|_| SessionError::Ended)?;
        let report = rx.await.map_err(|_| SessionError::Ended)?;
        let _ = self.task.await;
        Ok(report)
    }
}

async fn request_join(
    signaling: &SignalingClient,
    identity: &Identity,
) -> Result<Joined, SessionError> {
    let mut payload = json!({ "email": identity.email, "room": identity.room });
    if let Some(name) = &identity.name {
        payload["name"] = json!(name);
    }
    let ack = signaling.request("room:join", payload).await?;
    serde_json::from_value(ack).map_err(|e| SessionError::BadJoinAnswer(e.to_string()))
}

/// One peer connection with one participant.
struct Call {
    pc: Arc<dyn PeerConnection>,
    generation: u64,
    /// We sent the first offer (and so restart ICE when it fails).
    caller: bool,
    remote_description_set: bool,
    pending_candidates: Vec<RTCIceCandidateInit>,
    first_mid: Option<String>,
    created: Instant,
    making_offer: bool,
    ice_restarts: u32,
    tasks: Vec<JoinHandle<()>>,
    /// Flips to true when the connection is up; the media writers wait for it.
    connected: tokio::sync::watch::Sender<bool>,
}

struct ParticipantInfo {
    email: String,
}

struct State {
    identity: Identity,
    signaling: Arc<SignalingClient>,
    my_id: String,
    participants: HashMap<String, ParticipantInfo>,
    calls: HashMap<String, Call>,
    /// Candidates that arrived before their call existed.
    early_candidates: HashMap<String, Vec<RTCIceCandidateInit>>,
    generation: u64,
    setup: PeerSetup,
    video: Option<VideoSender>,
    audio: Option<AudioSender>,
    bitrate: Arc<BitrateController>,
    mixer: Arc<Mixer>,
    stats: ReceivedStats,
    sink: Arc<dyn FrameSink>,
    notices: mpsc::UnboundedSender<PeerNotice>,
    events: mpsc::UnboundedSender<SessionEvent>,
    join_rtt: Duration,
    peers_met: usize,
    peers_connected: std::collections::HashSet<String>,
    errors: Vec<String>,
    disconnected: bool,
    /// (audio, video) as last announced.
    media_on: (bool, bool),
}

/// Most ICE restarts tried before a connection is given up.
const MAX_ICE_RESTARTS: u32 = 2;

impl State {
    fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    fn note_error(&mut self, error: String) {
        tracing::warn!("{error}");
        self.errors.push(error);
    }

    async fn run(
        mut self,
        mut server: mpsc::UnboundedReceiver<ServerEvent>,
        mut notices: mpsc::UnboundedReceiver<PeerNotice>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            tokio::select! {
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

    async fn on_joined(&mut self, joined: &Joined) {
        self.my_id = joined.id.clone();
        for p in &joined.participants {
            self.participants.insert(
                p.id.clone(),
                ParticipantInfo {
                    email: p.email.clone(),
                },
            );
        }
        self.emit(SessionEvent::Joined {
            id: joined.id.clone(),
            room: joined.room.clone(),
            participants: joined.participants.clone(),
            sharer_id: joined.sharer_id.clone(),
            history: joined.history.clone(),
        });
        if self.media_on != (true, true) {
            let (audio, video) = self.media_on;
            let _ = self
                .signaling
                .request("media:state", json!({ "audio": audio, "video": video }))
                .await;
        }
        for p in &joined.participants {
            self.peers_met += 1;
            if let Err(err) = self.call(&p.id).await {
                self.note_error(format!("cannot call {}: {err}", p.email));
            }
        }
    }

    fn email_of(&self, id: &str) -> String {
        self.participants
            .get(id)
            .map(|p| p.email.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// A new connection to `remote` with our tracks on it.
    async fn new_call(&mut self, remote: &str, caller: bool) -> Result<(), PeerError> {
        self.close_call(remote).await;
        self.generation += 1;
        let pc = crate::peer::connection::connect(
            &self.setup,
            remote,
            LinkKind::Call,
            self.generation,
            self.notices.clone(),
        )
        .await?;
        let stream_id = format!("huddle-{}", self.my_id);
        let mut tasks = Vec::new();
        let (connected, connected_rx) = tokio::sync::watch::channel(false);
        let audio = sending::add_local_track(
            &pc,
            RtpCodecKind::Audio,
            opus_codec(),
            &stream_id,
            self.audio.is_some(),
        )
        .await?;
        if let (Some(local), Some(sender)) = (&audio, &self.audio) {
            tasks.push(sending::spawn_audio_writer(
                local,
                sender.packets.subscribe(),
                connected_rx.clone(),
            ));
        }
        let video = sending::add_local_track(
            &pc,
            RtpCodecKind::Video,
            vp8_codec(),
            &stream_id,
            self.video.is_some(),
        )
        .await?;
        if let (Some(local), Some(sender)) = (&video, &self.video) {
            tasks.push(sending::spawn_video_writer(
                local,
                sender.frames.subscribe(),
                sender.control.clone(),
                connected_rx.clone(),
            ));
            tasks.push(sending::spawn_feedback_reader(
                local,
                sender.control.clone(),
                self.bitrate.clone(),
                remote.to_string(),
            ));
        }
        self.calls.insert(
            remote.to_string(),
            Call {
                pc,
                generation: self.generation,
                caller,
                remote_description_set: false,
                pending_candidates: self.early_candidates.remove(remote).unwrap_or_default(),
                first_mid: None,
                created: Instant::now(),
                making_offer: false,
                ice_restarts: 0,
                tasks,
                connected,
            },
        );
        Ok(())
    }

    async fn call(&mut self, remote: &str) -> Result<(), PeerError> {
        self.new_call(remote, true).await?;
        let offer = self.make_offer(remote, false).await?;
        self.relay("user:call", remote, "offer", json!(offer)).await;
        Ok(())
    }

    async fn make_offer(
        &mut self,
        remote: &str,
        ice_restart: bool,
    ) -> Result<SessionDescription, PeerError> {
        let call = self
            .calls
            .get_mut(remote)
            .ok_or_else(|| PeerError::WebRtc("no call".into()))?;
        if ice_restart {
            call.pc.restart_ice().await?;
        }
        call.making_offer = true;
        let offer = call.pc.create_offer(None).await?;
        call.pc.set_local_description(offer.clone()).await?;
        call.first_mid = first_mid(&offer.sdp);
        Ok(from_rtc_description(&offer))
    }

    async fn relay(&self, event: &str, to: &str, field: &str, value: serde_json::Value) {
        let mut payload = json!({ "to": to });
        if !field.is_empty() {
            payload[field] = value;
        }
        if let Err(err) = self.signaling.send(event, payload).await {
            tracing::warn!(%err, event, "relay not sent");
        }
    }

    /// Applies a remote offer and answers it.
    async fn answer(
        &mut self,
        remote: &str,
        offer: &SessionDescription,
    ) -> Result<SessionDescription, PeerError> {
        let description = to_rtc_description(offer)?;
        let call = self
            .calls
            .get_mut(remote)
            .ok_or_else(|| PeerError::WebRtc("no call".into()))?;
        call.pc.set_remote_description(description).await?;
        call.remote_description_set = true;
        let answer = call.pc.create_answer(None).await?;
        call.pc.set_local_description(answer.clone()).await?;
        call.first_mid = first_mid(&answer.sdp);
        call.making_offer = false;
        Self::flush_candidates(call).await;
        Ok(from_rtc_description(&answer))
    }

    async fn apply_answer(
        &mut self,
        remote: &str,
        ans: &SessionDescription,
    ) -> Result<(), PeerError> {
        let description = to_rtc_description(ans)?;
        let Some(call) = self.calls.get_mut(remote) else {
            return Ok(());
        };
        call.pc.set_remote_description(description).await?;
        call.remote_description_set = true;
        call.making_offer = false;
        Self::flush_candidates(call).await;
        Ok(())
    }

    async fn flush_candidates(call: &mut Call) {
        for c in call.pending_candidates.drain(..) {
            if let Err(err) = call.pc.add_ice_candidate(c).await {
                tracing::debug!(%err, "remote candidate refused");
            }
        }
    }

    async fn add_candidate(&mut self, remote: &str, candidate: &IceCandidate) {
        let c = to_rtc_candidate(candidate);
        match self.calls.get_mut(remote) {
            Some(call) if call.remote_description_set => {
                if let Err(err) = call.pc.add_ice_candidate(c).await {
                    tracing::debug!(%err, "remote candidate refused");
                }
            }
            Some(call) => call.pending_candidates.push(c),
            None => self
                .early_candidates
                .entry(remote.to_string())
                .or_default()
                .push(c),
        }
    }

    async fn close_call(&mut self, remote: &str) {
        if let Some(call) = self.calls.remove(remote) {
            for t in &call.tasks {
                t.abort();
            }
            if let Err(err) = call.pc.close().await {
                tracing::debug!(%err, "close");
            }
            self.bitrate.forget(remote);
        }
    }

    async fn on_server_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::IncomingCall { from, offer } => {
                self.peers_met += 1;
                let result = async {
                    self.new_call(&from, false).await?;
                    self.answer(&from, &offer).await
                }
                .await;
                match result {
                    Ok(ans) => self.relay("call:accepted", &from, "ans", json!(ans)).await,
                    Err(err) => {
                        let who = self.email_of(&from);
                        self.note_error(format!("cannot answer {who}: {err}"));
                        self.close_call(&from).await;
                    }
                }
            }
            ServerEvent::CallAccepted { from, ans } | ServerEvent::NegoFinal { from, ans } => {
                if let Err(err) = self.apply_answer(&from, &ans).await {
                    let who = self.email_of(&from);
                    self.note_error(format!("bad answer from {who}: {err}"));
                }
            }
            ServerEvent::NegoNeeded { from, offer } => self.on_renegotiation(&from, &offer).await,
            ServerEvent::IceCandidate { from, candidate } => {
                self.add_candidate(&from, &candidate).await
            }
            ServerEvent::CallEnded { from } => {
                tracing::info!(peer = %self.email_of(&from), "call ended by peer");
                self.close_call(&from).await;
            }
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
                self.close_call(&u.id).await;
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
            ServerEvent::Disconnected => {
                if !self.disconnected {
                    tracing::warn!("signaling connection lost; reconnecting");
                    self.disconnected = true;
                    self.emit(SessionEvent::Reconnecting);
                }
            }
            ServerEvent::Connected => {
                if self.disconnected {
                    self.disconnected = false;
                    self.rejoin().await;
                }
            }
            ServerEvent::Error(e) => {
                tracing::debug!(code = %e.code, message = %e.message, event = ?e.event, "server error");
                self.emit(SessionEvent::ServerError {
                    code: e.code,
                    message: e.message,
                });
            }
            other => tracing::debug!(?other, "not handled by the call session"),
        }
    }

    /// After a reconnect we are a new connection to the server: everyone saw us leave,
    /// so calls start over as a newcomer's.
    async fn rejoin(&mut self) {
        let remotes: Vec<String> = self.calls.keys().cloned().collect();
        for r in remotes {
            self.close_call(&r).await;
        }
        self.participants.clear();
        match request_join(&self.signaling, &self.identity).await {
            Ok(joined) => {
                tracing::info!(id = %joined.id, "rejoined");
                self.emit(SessionEvent::Rejoined);
                self.on_joined(&joined).await;
            }
            Err(err) => self.note_error(format!("could not rejoin: {err}")),
        }
    }

    /// `peer:nego:needed`: an offer on an existing call (ICE restart or new tracks).
    /// When both sides offered at once, the peer with the smaller id yields.
    async fn on_renegotiation(&mut self, from: &str, offer: &SessionDescription) {
        let polite = self.my_id.as_str() < from;
        let Some(call) = self.calls.get_mut(from) else {
            // We have no call with them (it failed here): treat it as a new call.
            let result = async {
                self.new_call(from, false).await?;
                self.answer(from, offer).await
            }
            .await;
            if let Ok(ans) = result {
                self.relay("peer:nego:done", from, "ans", json!(ans)).await;
            }
            return;
        };
        if call.making_offer {
            if !polite {
                tracing::debug!("offer collision: ours wins");
                return;
            }
            let rollback = SessionDescription {
                kind: "rollback".into(),
                sdp: String::new(),
            };
            if let Ok(d) = to_rtc_description(&rollback)
                && let Err(err) = call.pc.set_local_description(d).await
            {
                tracing::debug!(%err, "rollback failed");
            }
            call.making_offer = false;
        }
        match self.answer(from, offer).await {
            Ok(ans) => self.relay("peer:nego:done", from, "ans", json!(ans)).await,
            Err(err) => {
                let who = self.email_of(from);
                self.note_error(format!("renegotiation with {who} failed: {err}"));
            }
        }
    }

    async fn on_peer_notice(&mut self, notice: PeerNotice) {
        if notice.kind != LinkKind::Call {
            return;
        }
        let remote = notice.remote_id.clone();
        let current = self
            .calls
            .get(&remote)
            .is_some_and(|c| c.generation == notice.generation);
        if !current {
            return;
        }
        match notice.event {
            PeerEvent::Candidate(c) => {
                let mid = self.calls.get(&remote).and_then(|c| c.first_mid.clone());
                let candidate = from_rtc_candidate(&c, mid.as_deref());
                self.relay("ice:candidate", &remote, "candidate", json!(candidate))
                    .await;
            }
            PeerEvent::State(state) => self.on_connection_state(&remote, state).await,
            PeerEvent::Ice(state) => {
                tracing::debug!(peer = %self.email_of(&remote), ?state, "ICE");
                if state == RTCIceConnectionState::Failed {
                    self.on_ice_failed(&remote).await;
                }
            }
            PeerEvent::Track(track) => self.on_remote_track(&remote, track).await,
        }
    }

    async fn on_connection_state(&mut self, remote: &str, state: RTCPeerConnectionState) {
        let who = self.email_of(remote);
        tracing::debug!(peer = %who, ?state, "connection");
        match state {
            RTCPeerConnectionState::Connected => {
                tracing::info!(peer = %who, "media connected");
                self.peers_connected.insert(remote.to_string());
                if let Some(call) = self.calls.get(remote) {
                    call.connected.send_replace(true);
                }
                if let Some(v) = &self.video {
                    v.control.request_keyframe();
                }
                self.emit(SessionEvent::Connected {
                    id: remote.to_string(),
                });
            }
            RTCPeerConnectionState::Failed => self.on_ice_failed(remote).await,
            _ => {}
        }
    }

    /// Restarts ICE (the caller offers again with new credentials); gives up after a
    /// few tries and drops the connection, leaving the others alone.
    async fn on_ice_failed(&mut self, remote: &str) {
        let who = self.email_of(remote);
        let Some(call) = self.calls.get_mut(remote) else {
            return;
        };
        if call.ice_restarts >= MAX_ICE_RESTARTS {
            self.close_call(remote).await;
            self.note_error(format!("connection to {who} failed"));
            self.emit(SessionEvent::PeerFailed {
                id: remote.to_string(),
                reason: "ICE failed".into(),
            });
            return;
        }
        call.ice_restarts += 1;
        if !call.caller {
            return; // The caller restarts; we answer its new offer.
        }
        tracing::info!(peer = %who, "connection failed; restarting ICE");
        match self.make_offer(remote, true).await {
            Ok(offer) => {
                self.relay("peer:nego:needed", remote, "offer", json!(offer))
                    .await
            }
            Err(err) => self.note_error(format!("ICE restart with {who} failed: {err}")),
        }
    }

    async fn on_remote_track(
        &mut self,
        remote: &str,
        track: Arc<dyn webrtc::media_stream::track_remote::TrackRemote>,
    ) {
        let kind = track.kind().await;
        let email = self.email_of(remote);
        let since = self
            .calls
            .get(remote)
            .map_or_else(Instant::now, |c| c.created);
        let (stream_kind, codec) = match kind {
            RtpCodecKind::Audio => (StreamKind::Audio, "opus"),
            _ => (StreamKind::Video, "VP8"),
        };
        let id = StreamId {
            remote_id: remote.to_string(),
            kind: stream_kind,
        };
        if let Ok(mut map) = self.stats.lock() {
            map.insert(
                id.clone(),
                ReceivedStream::new(remote, &email, stream_kind, codec, since),
            );
        }
        tracing::info!(peer = %email, kind = ?stream_kind, "receiving");
        let task = match stream_kind {
            StreamKind::Audio => tokio::spawn(incoming::receive_audio(
                track,
                id,
                self.stats.clone(),
                self.mixer.clone(),
            )),
            _ => tokio::spawn(incoming::receive_video(
                track,
                id,
                self.stats.clone(),
                self.sink.clone(),
            )),
        };
        if let Some(call) = self.calls.get_mut(remote) {
            call.tasks.push(task);
        }
        self.emit(SessionEvent::MediaFlowing {
            id: remote.to_string(),
            email,
            kind: stream_kind,
        });
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Chat {
                text,
                client_id,
                reply,
            } => {
                let result = self
                    .signaling
                    .request("chat:send", json!({ "text": text, "clientId": client_id }))
                    .await
                    .and_then(|ack| {
                        serde_json::from_value::<ChatMessage>(ack["message"].clone()).map_err(|e| {
                            SignalingError::BadAnswer {
                                event: "chat:send".into(),
                                answer: e.to_string(),
                            }
                        })
                    });
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
            Command::Leave(_) => {}
        }
    }

    async fn announce_media(&self) {
        let (audio, video) = self.media_on;
        if let Err(err) = self
            .signaling
            .request("media:state", json!({ "audio": audio, "video": video }))
            .await
        {
            tracing::warn!(%err, "media state not announced");
        }
    }

    async fn leave(&mut self) -> SessionReport {
        let ended = Instant::now();
        let remotes: Vec<String> = self.calls.keys().cloned().collect();
        for r in &remotes {
            self.relay("call:end", r, "", serde_json::Value::Null).await;
        }
        let received: Vec<ReceivedStreamReport> = self
            .stats
            .lock()
            .map(|m| m.values().map(|s| s.report(ended)).collect())
            .unwrap_or_default();
        for r in remotes {
            self.close_call(&r).await;
        }
        let mut sent = Vec::new();
        if let Some(v) = self.video.as_mut() {
            v.stop();
            if let Ok(s) = v.stats.lock() {
                sent.push(s.report(StreamKind::Video, "VP8", ended));
            }
        }
        if let Some(a) = self.audio.as_mut() {
            a.stop();
            if let Ok(s) = a.stats.lock() {
                sent.push(s.report(StreamKind::Audio, "opus", ended));
            }
        }
        if let Err(err) = self.signaling.request("room:leave", json!({})).await {
            tracing::debug!(%err, "room:leave");
        }
        self.signaling.disconnect().await;
        let mut received = received;
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
