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

use huddle_protocol::request::RoomLeave;
use huddle_protocol::{ChatAck, ChatMessage, ChatSend, JoinAck, JoinReply, JoinRequest};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use event::SessionEvent;

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
    #[error("room {room} has a waiting room: the host has to let you in")]
    Waiting { room: String },
    #[error("{sharer_id} is already sharing in this room")]
    SharingConflict { sharer_id: String },
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
    joined: JoinAck,
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
    /// `call` (camera and microphone) or `share` (a screen).
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
    /// Connects to the server, joins the room and starts calling everyone in it.
    /// Remote audio goes into `speaker_mixer`, remote video to `sink`.
    pub async fn join(
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
        let joined = request_join(&signaling, &identity).await?;
        let join_rtt = started.elapsed();
        tracing::info!(
            room = %joined.room, id = %joined.id, others = joined.participants.len(),
            ms = join_rtt.as_secs_f64() * 1000.0, "joined"
        );
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (notices, notices_rx) = mpsc::unbounded_channel();
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
        });
        shell.joined(joined.clone()).await;
        let task = tokio::spawn(shell.run(server_events, notices_rx, command_rx));
        Ok(Session {
            commands,
            events: Some(events),
            joined,
            join_rtt,
            stats,
            connections,
            task: Mutex::new(Some(task)),
        })
    }

    /// The server's answer to our join: our id, who was there, the chat history.
    pub fn joined(&self) -> &JoinAck {
        &self.joined
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

async fn request_join(
    signaling: &SignalingClient,
    identity: &Identity,
) -> Result<JoinAck, SessionError> {
    let request = JoinRequest {
        email: identity.email.clone(),
        room: identity.room.clone(),
        name: identity.name.clone(),
        passcode: None,
        sfu: Some(huddle_protocol::sfu::SFU_VERSION),
    };
    match signaling.request(&request).await? {
        JoinReply::Joined(ack) => Ok(ack),
        JoinReply::Waiting { room } => {
            // Nobody will admit a participant that cannot wait: leave the queue.
            let _ = signaling.request(&RoomLeave {}).await;
            Err(SessionError::Waiting { room })
        }
    }
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
