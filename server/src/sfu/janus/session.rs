//! Janus sessions and plugin handles: thin, typed wrappers over requests on the connection.

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::client::JanusClient;
use super::connection::Track;
use super::dispatch::{HandleEvent, Reply};
use super::error::{JanusError, SessionLoss};
use super::message::{Jsep, Request, TrickleCandidate};

/// A Janus session. Kept alive by the connection's keepalives; destroyed by
/// [`Session::destroy`] or, in the background, when dropped.
pub struct Session {
    client: JanusClient,
    id: u64,
    lost: watch::Receiver<Option<SessionLoss>>,
    ended: bool,
}

impl Session {
    pub(super) fn new(
        client: JanusClient,
        id: u64,
        lost: watch::Receiver<Option<SessionLoss>>,
    ) -> Session {
        Session {
            client,
            id,
            lost,
            ended: false,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Why the session is gone, if it is.
    pub fn lost(&self) -> Option<SessionLoss> {
        *self.lost.borrow()
    }

    /// Resolves when the session is lost (timed out in Janus, or the connection closed).
    pub async fn wait_lost(&self) -> SessionLoss {
        let mut lost = self.lost.clone();
        match lost.wait_for(Option::is_some).await {
            Ok(why) => why.expect("waited for Some"),
            // The connection task is gone: so is the session.
            Err(_) => SessionLoss::Disconnected,
        }
    }

    fn check(&self) -> Result<(), JanusError> {
        match self.lost() {
            Some(why) => Err(JanusError::SessionLost(why)),
            None => Ok(()),
        }
    }

    /// Attaches a handle to `plugin` (e.g. `janus.plugin.videoroom`).
    pub async fn attach(&self, plugin: &str) -> Result<Handle, JanusError> {
        self.check()?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let reply = self
            .client
            .call(
                Request::Attach {
                    session_id: self.id,
                    plugin: plugin.to_owned(),
                },
                Track::NewHandle {
                    session_id: self.id,
                    events: events_tx,
                },
            )
            .await?;
        match reply {
            Reply::Success { id: Some(id) } => Ok(Handle {
                client: self.client.clone(),
                session_id: self.id,
                id,
                events: Some(HandleEvents { rx: events }),
                ended: false,
            }),
            other => Err(JanusError::UnexpectedReply {
                request: "attach",
                detail: format!("{other:?}"),
            }),
        }
    }

    /// Destroys the session in Janus (and with it every handle).
    pub async fn destroy(mut self) -> Result<(), JanusError> {
        self.ended = true;
        if let Some(why) = self.lost() {
            return Err(JanusError::SessionLost(why));
        }
        self.client
            .call(
                Request::Destroy {
                    session_id: self.id,
                },
                Track::EndSession(self.id),
            )
            .await
            .map(|_| ())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.ended && self.lost().is_none() {
            self.client.forget(self.id, None);
        }
    }
}

/// A plugin handle: plugin messages, ICE candidates, and the events Janus sends it.
pub struct Handle {
    client: JanusClient,
    session_id: u64,
    id: u64,
    events: Option<HandleEvents>,
    ended: bool,
}

/// A handle's events, taken out of it ([`Handle::take_events`]) to be read by another task.
pub struct HandleEvents {
    rx: mpsc::UnboundedReceiver<HandleEvent>,
}

impl HandleEvents {
    /// The next event; `None` once nothing more can come.
    pub async fn next(&mut self) -> Option<HandleEvent> {
        self.rx.recv().await
    }

    /// An event already received, if any.
    pub fn try_next(&mut self) -> Option<HandleEvent> {
        self.rx.try_recv().ok()
    }
}

impl Handle {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Sends a plugin message (with a JSEP offer or answer, if any); returns the plugin's
    /// answer, whether it came at once or as the event settling an asynchronous request.
    pub async fn message(
        &self,
        body: Value,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<Jsep>), JanusError> {
        let reply = self
            .client
            .call(
                Request::Message {
                    session_id: self.session_id,
                    handle_id: self.id,
                    body,
                    jsep,
                },
                Track::Nothing,
            )
            .await?;
        match reply {
            Reply::Plugin { data, jsep } => Ok((data, jsep)),
            other => Err(JanusError::UnexpectedReply {
                request: "message",
                detail: format!("{other:?}"),
            }),
        }
    }

    /// Sends one of our ICE candidates, or the end of them.
    pub async fn trickle(&self, candidate: TrickleCandidate) -> Result<(), JanusError> {
        self.client
            .call(
                Request::Trickle {
                    session_id: self.session_id,
                    handle_id: self.id,
                    candidate,
                },
                Track::Nothing,
            )
            .await
            .map(|_| ())
    }

    /// Closes the handle's PeerConnection, keeping the handle.
    pub async fn hangup(&self) -> Result<(), JanusError> {
        self.client
            .call(
                Request::Hangup {
                    session_id: self.session_id,
                    handle_id: self.id,
                },
                Track::Nothing,
            )
            .await
            .map(|_| ())
    }

    /// Detaches the handle from its plugin.
    pub async fn detach(mut self) -> Result<(), JanusError> {
        self.ended = true;
        self.client
            .call(
                Request::Detach {
                    session_id: self.session_id,
                    handle_id: self.id,
                },
                Track::EndHandle {
                    session_id: self.session_id,
                    handle_id: self.id,
                },
            )
            .await
            .map(|_| ())
    }

    /// The next event for this handle; `None` once nothing more can come (or after
    /// [`Handle::take_events`]).
    pub async fn next_event(&mut self) -> Option<HandleEvent> {
        self.events.as_mut()?.next().await
    }

    /// An event already received, if any.
    pub fn try_next_event(&mut self) -> Option<HandleEvent> {
        self.events.as_mut()?.try_next()
    }

    /// Moves the event stream out, so that one task reads events while others send requests
    /// (which need only `&self`). Returns `None` the second time.
    pub fn take_events(&mut self) -> Option<HandleEvents> {
        self.events.take()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.ended {
            self.client.forget(self.session_id, Some(self.id));
        }
    }
}
