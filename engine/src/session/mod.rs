//! A participant in a room: joins through signaling, keeps one peer connection per
//! other participant (a mesh), sends local media to all of them and receives theirs;
//! shares its screen, or views someone else's.
//!
//! - [`core`]: the rules, as a state machine without I/O (events in, actions out);
//! - [`shell`]: the one task that owns the I/O and carries out the rules' actions;
//! - [`sfu`]: the SFU path's routing of received streams (without I/O);
//! - here: [`Session`], the application's handle on that task.

mod core;
mod event;
mod ice;
mod sfu;
mod shell;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_protocol::request::{Admit, Deny, ListRooms, Remove};
use huddle_protocol::{
    ChatAck, ChatMessage, ChatSend, ErrorCode, JoinAck, JoinReply, JoinRequest, ListedRoom,
    LobbyTarget, RoomLock, RoomSettings,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use core::Admission;
pub use event::SessionEvent;
pub use sfu::CameraView;

use crate::capture::echo::CaptureProcessor;
use crate::capture::source::{AudioSource, VideoSource};
use crate::peer::PeerSetup;
use crate::pipeline::incoming::{FrameSink, ReceivedStats};
use crate::pipeline::outgoing::VideoSendConfig;
use crate::playout::mixer::Mixer;
use crate::signaling::{SignalingClient, SignalingError};
use crate::stats::{ReceivedStream, ReceivedStreamReport, SentStreamReport};
use shell::{Command, Shell, ShellParts};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("the host of room {room} did not let you in")]
    Denied { room: String },
    #[error("the host removed you from room {room}")]
    Removed { room: String },
    #[error("{sharer_id} is already sharing in this room")]
    SharingConflict { sharer_id: String },
    #[error("the session has ended")]
    Ended,
}

impl SessionError {
    /// The protocol's error code, when the server refused (e.g. `passcode_required`,
    /// `bad_passcode`, `removed`, `not_host`).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SessionError::Signaling(s) => s.code(),
            _ => None,
        }
    }
}

/// Who joins where.
#[derive(Debug, Clone)]
pub struct Identity {
    pub server_url: String,
    pub email: String,
    pub room: String,
    pub name: Option<String>,
    /// The room's passcode, when it is locked (kept for rejoining after a reconnect).
    pub passcode: Option<String>,
}

/// How a session joins and runs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub identity: Identity,
    /// How peer connections are made (ICE servers, local addresses).
    pub peers: PeerSetup,
    /// When set, [`SessionEvent::NoMediaConnection`] says that no call came up this
    /// long after someone was met.
    pub connect_timeout: Option<Duration>,
    /// A CA certificate (PEM) to trust for an `https://` server, besides the system's
    /// (a private or test CA).
    pub ca_cert_pem: Option<Vec<u8>>,
}

impl SessionConfig {
    /// `identity` with the default peer setup and no connect timeout.
    pub fn new(identity: Identity) -> Self {
        SessionConfig {
            identity,
            peers: PeerSetup::default(),
            connect_timeout: None,
            ca_cert_pem: None,
        }
    }
}

/// Local media for a session, already opened.
pub struct LocalMedia {
    pub camera: Option<Box<dyn VideoSource>>,
    pub microphone: Option<Box<dyn AudioSource>>,
    pub capture_processor: Option<Box<dyn CaptureProcessor>>,
    pub video: VideoSendConfig,
}

/// The application's handle on a running session. Every method takes `&self`, so a
/// handle can be shared; once the session has ended they answer
/// [`SessionError::Ended`].
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
    admission: watch::Receiver<Admission>,
    join_rtt: Duration,
    stats: ReceivedStats,
    connections: Arc<Mutex<Vec<ConnectionReport>>>,
    /// The session's task, until someone waits for it to end.
    task: Mutex<Option<JoinHandle<()>>>,
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
    /// One entry per peer connection made, open or ended.
    pub connections: Vec<ConnectionReport>,
    pub errors: Vec<String>,
}

/// What one peer connection became: how it connected (the selected candidate pair's
/// types, as WebRTC stats name them: host, srflx, prflx, relay), how fast, and how
/// often ICE was restarted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionReport {
    pub remote_id: String,
    pub remote_email: String,
    /// `call` (camera and microphone), `share` (a screen), or in an SFU room the SFU leg:
    /// `sfu-publisher` and `sfu-subscriber` (remote email `SFU`, no remote id).
    pub purpose: &'static str,
    pub local_candidate_type: Option<String>,
    pub remote_candidate_type: Option<String>,
    /// From creating the connection to ICE connected.
    pub connect_ms: Option<f64>,
    pub ice_restarts: u32,
}

impl ConnectionReport {
    /// Whether the media goes through a TURN relay (either end's candidate is one).
    pub fn relayed(&self) -> bool {
        self.local_candidate_type.as_deref() == Some("relay")
            || self.remote_candidate_type.as_deref() == Some("relay")
    }
}

impl Session {
    /// Connects to the server, joins the room and starts calling everyone in it; in a
    /// room with a waiting room, waits (connected) until the host lets us in, and is
    /// refused with [`SessionError::Denied`] if the host does not. Dropping the future
    /// while it waits leaves the waiting room. Remote audio goes into `speaker_mixer`,
    /// remote video to `sink`.
    pub async fn join(
        config: SessionConfig,
        media: LocalMedia,
        speaker_mixer: Arc<Mixer>,
        sink: Arc<dyn FrameSink>,
    ) -> Result<Session, SessionError> {
        let session = Session::connect(config, media, speaker_mixer, sink).await?;
        session.admitted().await?;
        Ok(session)
    }

    /// Like [`Session::join`], but answers as soon as the server has: in the room, or
    /// waiting in its waiting room ([`SessionEvent::Waiting`] first among the events,
    /// then [`SessionEvent::Admitted`] and [`SessionEvent::Joined`], or
    /// [`SessionEvent::Denied`]). Refusals (`passcode_required`, `bad_passcode`,
    /// `removed`, `room_full`, …) are errors with [`SessionError::code`].
    pub async fn connect(
        config: SessionConfig,
        media: LocalMedia,
        speaker_mixer: Arc<Mixer>,
        sink: Arc<dyn FrameSink>,
    ) -> Result<Session, SessionError> {
        let SessionConfig {
            identity,
            peers: setup,
            connect_timeout,
            ca_cert_pem,
        } = config;
        let (signaling, server_events) =
            SignalingClient::connect(&identity.server_url, ca_cert_pem.as_deref()).await?;
        let started = Instant::now();
        let reply = request_join(&signaling, &identity).await?;
        let join_rtt = started.elapsed();
        match &reply {
            JoinReply::Joined(joined) => tracing::info!(
                room = %joined.room, id = %joined.id, others = joined.participants.len(),
                ms = join_rtt.as_secs_f64() * 1000.0, "joined"
            ),
            JoinReply::Waiting { room } => tracing::info!(
                %room, ms = join_rtt.as_secs_f64() * 1000.0, "waiting to be let in"
            ),
        }
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (notices, notices_rx) = mpsc::unbounded_channel();
        let (admission_tx, admission) = watch::channel(Admission::Waiting {
            room: identity.room.clone(),
        });
        let stats: ReceivedStats = Arc::new(Mutex::new(HashMap::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let own_ice_servers = setup.ice_servers.clone();
        let mut shell = Shell::new(ShellParts {
            identity,
            config: core::CoreConfig { connect_timeout },
            signaling,
            setup,
            own_ice_servers,
            connections: connections.clone(),
            joined_at: started,
            join_rtt,
            media,
            mixer: speaker_mixer,
            sink,
            stats: stats.clone(),
            events: events_tx,
            notices,
            admission: admission_tx,
        });
        shell.first_reply(reply).await;
        let task = tokio::spawn(shell.run(server_events, notices_rx, command_rx));
        Ok(Session {
            commands,
            events: Some(events),
            admission,
            join_rtt,
            stats,
            connections,
            task: Mutex::new(Some(task)),
        })
    }

    /// Resolves once we are in the room (at once if we are), with the server's answer;
    /// [`SessionError::Denied`] or [`SessionError::Removed`] if the host turned us
    /// away.
    pub async fn admitted(&self) -> Result<JoinAck, SessionError> {
        let mut admission = self.admission.clone();
        let settled = admission
            .wait_for(|a| !matches!(a, Admission::Waiting { .. }))
            .await
            .map_err(|_| SessionError::Ended)?;
        match &*settled {
            Admission::Inside(ack) => Ok((**ack).clone()),
            Admission::Denied { room } => Err(SessionError::Denied { room: room.clone() }),
            Admission::Removed { room, .. } => Err(SessionError::Removed { room: room.clone() }),
            Admission::Waiting { .. } => Err(SessionError::Ended),
        }
    }

    /// Where we stand at the room's door now.
    pub fn admission(&self) -> Admission {
        self.admission.borrow().clone()
    }

    /// The server's answer to our latest join (or admission): our id, who was there,
    /// the chat history, the host; `None` while waiting or once turned away.
    pub fn joined(&self) -> Option<JoinAck> {
        match &*self.admission.borrow() {
            Admission::Inside(ack) => Some((**ack).clone()),
            _ => None,
        }
    }

    /// How long the join took to be acknowledged.
    pub fn join_rtt(&self) -> Duration {
        self.join_rtt
    }

    /// The next event; `None` once the session has ended (or the events were taken).
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.as_mut()?.recv().await
    }

    /// The session's events, for a task of their own; [`Session::next_event`] answers
    /// `None` from then on.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<SessionEvent>> {
        self.events.take()
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

    /// Which cameras are on screen: in an SFU room the others are paused at the SFU
    /// (audio and screens always flow). Kept across SFU epochs; no effect on mesh calls.
    pub fn set_camera_view(&self, view: CameraView) {
        let _ = self.commands.send(Command::SetCameraView(view));
    }

    /// Switches the camera without renegotiating any call.
    pub fn switch_camera(&self, camera: Box<dyn VideoSource>) {
        let _ = self.commands.send(Command::SwitchCamera(camera));
    }

    pub fn switch_microphone(&self, mic: Box<dyn AudioSource>) {
        let _ = self.commands.send(Command::SwitchMicrophone(mic));
    }

    /// Asks the server to make us the room's sharer and sends `source` to every
    /// viewer. Refused with [`SessionError::SharingConflict`] naming the sharer.
    pub async fn start_sharing(&self, source: Box<dyn VideoSource>) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::StartSharing { source, reply })
            .map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)?
    }

    pub async fn stop_sharing(&self) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::StopSharing(reply))
            .map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)?
    }

    /// (Host) locks the room: sets or clears the passcode (`Some(None)` clears it),
    /// turns the waiting room and the listing on or off; fields left `None` keep their
    /// value. Answers the room's settings.
    pub async fn lock(&self, lock: RoomLock) -> Result<RoomSettings, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Lock { lock, reply })
            .map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)?
    }

    /// (Host) lets someone in from the waiting room.
    pub async fn admit(&self, id: &str) -> Result<(), SessionError> {
        self.door(DoorRequest::Admit, id).await
    }

    /// (Host) turns away someone in the waiting room.
    pub async fn deny(&self, id: &str) -> Result<(), SessionError> {
        self.door(DoorRequest::Deny, id).await
    }

    /// (Host) removes a participant from the room for the rest of the meeting.
    pub async fn remove(&self, id: &str) -> Result<(), SessionError> {
        self.door(DoorRequest::Remove, id).await
    }

    async fn door(&self, request: DoorRequest, id: &str) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Door {
                request,
                id: id.to_string(),
                reply,
            })
            .map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)?
    }

    /// The server's listed rooms (`rooms:list`).
    pub async fn list_rooms(&self) -> Result<Vec<ListedRoom>, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::ListRooms(reply))
            .map_err(|_| SessionError::Ended)?;
        rx.await.map_err(|_| SessionError::Ended)?
    }

    /// A snapshot of every received stream's figures.
    pub fn received(&self) -> Vec<ReceivedStream> {
        self.stats
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every peer connection so far and how it connected (updated every second).
    pub fn connections(&self) -> Vec<ConnectionReport> {
        self.connections
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Ends every call, leaves the room and returns what was measured; resolves once
    /// the session's task has ended.
    pub async fn leave(&self) -> Result<SessionReport, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(reply))
            .map_err(|_| SessionError::Ended)?;
        let report = rx.await.map_err(|_| SessionError::Ended)?;
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        Ok(report)
    }
}

/// The listed rooms of the server at `server_url`, without joining any (`rooms:list`),
/// for a lobby or `huddle rooms`; `ca_cert_pem` as in [`SessionConfig`].
pub async fn list_rooms(
    server_url: &str,
    ca_cert_pem: Option<&[u8]>,
) -> Result<Vec<ListedRoom>, SessionError> {
    let (signaling, _events) = SignalingClient::connect(server_url, ca_cert_pem).await?;
    let result = signaling.request(&ListRooms {}).await;
    signaling.disconnect().await;
    Ok(result?.rooms)
}

/// What a host asks about one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DoorRequest {
    Admit,
    Deny,
    Remove,
}

impl DoorRequest {
    async fn send(self, signaling: &SignalingClient, id: String) -> Result<(), SignalingError> {
        let target = LobbyTarget { id };
        match self {
            DoorRequest::Admit => signaling.request(&Admit(target)).await.map(drop),
            DoorRequest::Deny => signaling.request(&Deny(target)).await.map(drop),
            DoorRequest::Remove => signaling.request(&Remove(target)).await.map(drop),
        }
    }
}

async fn request_join(
    signaling: &SignalingClient,
    identity: &Identity,
) -> Result<JoinReply, SessionError> {
    let request = JoinRequest {
        email: identity.email.clone(),
        room: identity.room.clone(),
        name: identity.name.clone(),
        passcode: identity.passcode.clone(),
        sfu: Some(huddle_protocol::sfu::SFU_VERSION),
    };
    Ok(signaling.request(&request).await?)
}

/// Sends a chat message; the ack carries the stored copy.
async fn send_chat(
    signaling: &SignalingClient,
    text: String,
    client_id: String,
) -> Result<ChatMessage, SignalingError> {
    let send = ChatSend {
        text,
        client_id: Some(client_id),
    };
    signaling
        .request(&send)
        .await
        .map(|ChatAck { message }| message)
}
