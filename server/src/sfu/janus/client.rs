//! The client: one connection to Janus, shared by every session the server opens.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::connection::{self, Command, JanusConfig, LinkStatus, Track};
use super::dispatch::Reply;
use super::error::JanusError;
use super::message::{Request, ServerInfo};
use super::session::Session;

/// A connection to Janus's WebSocket API. Cheap to clone; every clone shares the connection,
/// which ends with [`JanusClient::close`] or when the last clone and session are dropped.
#[derive(Clone)]
pub struct JanusClient {
    shared: Arc<Shared>,
}

struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<LinkStatus>,
    info: ServerInfo,
    config: JanusConfig,
}

impl JanusClient {
    /// Connects and checks that Janus answers `info` with the required plugins. Fails at once
    /// when Janus is not there; later drops are reconnected in the background.
    pub async fn connect(config: JanusConfig) -> Result<JanusClient, JanusError> {
        if !config.url.starts_with("ws://") {
            return Err(JanusError::BadUrl {
                url: config.url.clone(),
                reason: "expected ws://HOST:PORT (Janus's WebSocket API on a private network; \
                         TLS is not built in)"
                    .into(),
            });
        }
        let (socket, info) = connection::open(&config).await?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(LinkStatus::Up { epoch: 1 });
        tokio::spawn(connection::run(
            config.clone(),
            socket,
            info.clone(),
            commands_rx,
            status_tx,
        ));
        Ok(JanusClient {
            shared: Arc::new(Shared {
                commands,
                status,
                info,
                config,
            }),
        })
    }

    /// What Janus said about itself at the first connect.
    pub fn server_info(&self) -> &ServerInfo {
        &self.shared.info
    }

    pub fn config(&self) -> &JanusConfig {
        &self.shared.config
    }

    /// The connection's state, to watch for drops and reconnects.
    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.shared.status.clone()
    }

    /// Opens a Janus session (kept alive by the connection until destroyed or dropped).
    pub async fn create_session(&self) -> Result<Session, JanusError> {
        let (lost_tx, lost_rx) = watch::channel(None);
        match self
            .call(Request::Create, Track::NewSession(lost_tx))
            .await?
        {
            Reply::Success { id: Some(id) } => Ok(Session::new(self.clone(), id, lost_rx)),
            other => Err(JanusError::UnexpectedReply {
                request: "create",
                detail: format!("{other:?}"),
            }),
        }
    }

    /// Asks Janus for its `info` again.
    pub async fn info(&self) -> Result<ServerInfo, JanusError> {
        match self.call(Request::Info, Track::Nothing).await? {
            Reply::ServerInfo(info) => Ok(info),
            other => Err(JanusError::UnexpectedReply {
                request: "info",
                detail: format!("{other:?}"),
            }),
        }
    }

    /// Closes the connection (Janus then destroys every session of it).
    pub async fn close(&self) {
        let _ = self.shared.commands.send(Command::Close);
        let mut status = self.status();
        let _ = status.wait_for(|s| *s == LinkStatus::Closed).await;
    }

    pub(super) async fn call(&self, request: Request, track: Track) -> Result<Reply, JanusError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .commands
            .send(Command::Call {
                request,
                reply,
                track,
            })
            .map_err(|_| JanusError::Closed)?;
        answer.await.map_err(|_| JanusError::Closed)?
    }

    pub(super) fn forget(&self, session_id: u64, handle_id: Option<u64>) {
        let _ = self.shared.commands.send(Command::Forget {
            session_id,
            handle_id,
        });
    }
}
