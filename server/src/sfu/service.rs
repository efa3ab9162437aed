//! The SFU service: the signaling side's one door to the SFU path. It keeps the room mode
//! rules ([`RoomModes`]), the connection to Janus, and one task per SFU room
//! ([`super::room`]) that speaks to Janus for that room's members.
//!
//! The hub calls it synchronously under a room's sequencer for joins and leaves (so mode
//! changes are ordered with the room's other news) and asynchronously for the `sfu:*`
//! requests, which wait on Janus.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use huddle_protocol::{
    ErrorCode, MediaMode, Refusal, SessionDescription, SfuAnswer, SfuIce, SfuMode, SfuPublish,
    SfuView, event,
};
use tokio::sync::{mpsc, oneshot};

use super::janus::{JanusClient, JanusConfig, LinkStatus, VideoRoomHandle};
use super::mode::{Exit, RoomModes};
use super::room::{Command, RoomTask};
use crate::rooms::ConnId;

/// `--janus-url` and its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanusSettings {
    pub url: String,
    pub api_secret: Option<String>,
    pub admin_key: Option<String>,
}

/// The SFU path's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfuConfig {
    /// None: no SFU; every room stays mesh.
    pub janus: Option<JanusSettings>,
    /// `--sfu-threshold`: 0 never, 1 always, n at the n-th member.
    pub threshold: u32,
    /// Video bitrate cap per publisher in an SFU room (bit/s).
    pub room_bitrate: u32,
    /// Most publishers in one VideoRoom (the room size).
    pub max_publishers: u32,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            janus: None,
            threshold: 5,
            room_bitrate: 1_500_000,
            max_publishers: 50,
        }
    }
}

/// How the service reaches clients (the hub).
pub trait Outbox: Send + Sync + 'static {
    fn deliver(&self, to: ConnId, event: &'static str, payload: serde_json::Value);
}

/// What the hub must do after a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    pub media: MediaMode,
    pub epoch: Option<u64>,
    /// The room just switched: these members get `sfu:mode`.
    pub switched: Vec<ConnId>,
}

/// A request from a client to its room's SFU task.
pub enum SfuRequest {
    Publish(SfuPublish),
    Answer(SfuAnswer),
    Ice(SfuIce),
    View(SfuView),
    Restart,
}

/// What a request's ack carries.
pub enum SfuReply {
    Ok,
    Answer(SessionDescription),
}

pub struct SfuService {
    config: SfuConfig,
    modes: Mutex<RoomModes<ConnId>>,
    /// Whether each connection announced the SFU protocol in its `room:join`.
    speaks: Mutex<HashMap<ConnId, bool>>,
    janus: OnceLock<JanusClient>,
    rooms: Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>,
    outbox: OnceLock<Weak<dyn Outbox>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SfuService {
    pub fn new(config: SfuConfig) -> Arc<SfuService> {
        let threshold = if config.janus.is_some() {
            config.threshold
        } else {
            0
        };
        Arc::new(SfuService {
            modes: Mutex::new(RoomModes::new(threshold, false)),
            config,
            speaks: Mutex::new(HashMap::new()),
            janus: OnceLock::new(),
            rooms: Mutex::new(HashMap::new()),
            outbox: OnceLock::new(),
        })
    }

    /// Where `sfu:offer`, `sfu:link` and `sfu:ice` go.
    pub fn attach(&self, outbox: Weak<dyn Outbox>) {
        let _ = self.outbox.set(outbox);
    }

    pub fn enabled(&self) -> bool {
        self.config.janus.is_some()
    }

    /// Connects to Janus in the background (retrying until it answers) and follows its
    /// link: rooms switch only while it is up.
    pub fn start(self: &Arc<Self>) {
        let Some(settings) = self.config.janus.clone() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let mut config = JanusConfig::new(settings.url.clone());
            if let Some(secret) = &settings.api_secret {
                config = config.with_api_secret(secret.clone());
            }
            let client = loop {
                match JanusClient::connect(config.clone()).await {
                    Ok(client) => break client,
                    Err(err) => {
                        tracing::error!(url = %settings.url, %err, "cannot reach Janus; rooms stay mesh until it answers");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            };
            me.clear_stale_rooms(&client).await;
            let mut status = client.status();
            let _ = me.janus.set(client);
            // The connection's epoch when last up: a new one means Janus lost our sessions.
            let mut last_epoch = None;
            loop {
                let now = status.borrow_and_update().clone();
                let up = matches!(now, LinkStatus::Up { .. });
                lock(&me.modes).set_available(up);
                tracing::info!(up, "Janus link");
                if let LinkStatus::Up { epoch } = now {
                    if last_epoch.is_some_and(|e| e != epoch) {
                        me.rebuild_rooms();
                    }
                    last_epoch = Some(epoch);
                }
                if status.changed().await.is_err() {
                    lock(&me.modes).set_available(false);
                    return;
                }
            }
        });
    }

    /// Rooms a previous run created outlive it in Janus: remove ours.
    async fn clear_stale_rooms(&self, client: &JanusClient) {
        let admin_key = self.admin_key();
        let result = async {
            let session = client.create_session().await?;
            let handle = VideoRoomHandle::attach(&session).await?;
            for room in handle.list_rooms(admin_key.as_deref()).await? {
                if room.room.starts_with(super::room::ROOM_PREFIX) {
                    tracing::info!(room = %room.room, "removing a VideoRoom left by an earlier run");
                    let _ = handle.destroy_room(&room.room, None).await;
                }
            }
            session.destroy().await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(%err, "could not list Janus rooms left by an earlier run");
        }
    }

    pub(super) fn admin_key(&self) -> Option<String> {
        self.config.janus.as_ref().and_then(|j| j.admin_key.clone())
    }

    /// Remembers whether a connection speaks the SFU protocol, and says whether it may
    /// enter `room` (called before the join has any effect).
    pub fn admits(&self, id: ConnId, room: &str, speaks_sfu: bool) -> Result<(), Refusal> {
        lock(&self.speaks).insert(id, speaks_sfu);
        if lock(&self.modes).admits(room, speaks_sfu) {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::SfuRequired,
                format!("room {room} uses the SFU; this client does not speak it"),
            ))
        }
    }

    pub fn media(&self, room: &str) -> (MediaMode, Option<u64>) {
        let modes = lock(&self.modes);
        (modes.mode(room), modes.epoch(room))
    }

    /// `id` entered `room` (a join or an admission). Call under the room's sequencer.
    pub fn entered(&self, room: &str, id: ConnId) -> Entered {
        let speaks = lock(&self.speaks).get(&id).copied().unwrap_or(false);
        let entry = lock(&self.modes).joined(room, id, speaks);
        if entry.mode == MediaMode::Mesh {
            return Entered {
                media: MediaMode::Mesh,
                epoch: None,
                switched: Vec::new(),
            };
        }
        let switched = entry.switched.clone().unwrap_or_default();
        if entry.switched.is_some() {
            let mut members = switched.clone();
            members.push(id);
            self.open_room(room, entry.epoch, members);
        } else {
            self.tell(room, Command::Enter(id));
        }
        Entered {
            media: MediaMode::Sfu,
            epoch: Some(entry.epoch),
            switched,
        }
    }

    /// `id` left `room` (leave, disconnect, removal). Call under the room's sequencer.
    pub fn left(&self, room: &str, id: ConnId) {
        let exit = lock(&self.modes).left(room, &id);
        match exit {
            Exit::Mesh => {}
            Exit::Left => {
                self.tell(room, Command::Leave(id));
            }
            Exit::Emptied => {
                self.tell(room, Command::Leave(id));
                self.tell(room, Command::Close);
                lock(&self.rooms).remove(room);
            }
        }
    }

    /// The connection is gone.
    pub fn forget(&self, id: ConnId) {
        lock(&self.speaks).remove(&id);
    }

    /// An `sfu:*` request of member `id` of `room`.
    pub async fn request(
        &self,
        room: &str,
        id: ConnId,
        request: SfuRequest,
    ) -> Result<SfuReply, Refusal> {
        if lock(&self.modes).mode(room) != MediaMode::Sfu {
            return Err(Refusal::new(
                ErrorCode::SfuInactive,
                "the room does not use the SFU",
            ));
        }
        let (reply, answer) = oneshot::channel();
        if !self.tell(room, Command::Request { id, request, reply }) {
            return Err(unavailable());
        }
        answer.await.unwrap_or_else(|_| Err(unavailable()))
    }

    fn open_room(&self, room: &str, epoch: u64, members: Vec<ConnId>) {
        let Some(janus) = self.janus.get().cloned() else {
            tracing::error!(%room, "room switched to the SFU without a Janus client");
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        for id in members {
            let _ = tx.send(Command::Enter(id));
        }
        let task = RoomTask::new(
            room,
            epoch,
            janus,
            self.admin_key(),
            self.config.room_bitrate,
            self.config.max_publishers,
            self.outbox.get().cloned(),
            tx.clone(),
        );
        tokio::spawn(task.run(rx));
        lock(&self.rooms).insert(room.to_owned(), tx);
        tracing::info!(%room, "room moved to the SFU");
    }

    /// Janus came back without our sessions (it restarted, or the link broke long enough):
    /// every SFU room gets a new epoch and a new VideoRoom, and its members hear
    /// `sfu:mode` with that epoch (they publish and subscribe again on fresh connections).
    fn rebuild_rooms(&self) {
        let rooms = lock(&self.modes).sfu_rooms();
        for room in rooms {
            let Some((epoch, members)) = lock(&self.modes).rebuilt(&room) else {
                continue;
            };
            tracing::info!(%room, epoch, members = members.len(), "Janus lost the room: rebuilding it");
            self.tell(&room, Command::Close);
            lock(&self.rooms).remove(&room);
            self.open_room(&room, epoch, members.clone());
            let Some(outbox) = self.outbox.get().and_then(Weak::upgrade) else {
                continue;
            };
            let mode = SfuMode {
                mode: MediaMode::Sfu,
                epoch,
            };
            match serde_json::to_value(mode) {
                Ok(payload) => {
                    for id in members {
                        outbox.deliver(id, event::SFU_MODE, payload.clone());
                    }
                }
                Err(err) => tracing::error!(%err, "could not serialize sfu:mode"),
            }
        }
    }

    fn tell(&self, room: &str, command: Command) -> bool {
        match lock(&self.rooms).get(room) {
            Some(tx) => tx.send(command).is_ok(),
            None => false,
        }
    }
}

pub(super) fn unavailable() -> Refusal {
    Refusal::new(
        ErrorCode::SfuUnavailable,
        "the SFU is not reachable; wait for the next sfu:mode",
    )
}
