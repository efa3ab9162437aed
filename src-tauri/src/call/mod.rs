//! The call the app is in: joining (the lobby's devices move into it), what the window
//! asks of it mid-call, and leaving. There is at most one; the commands reach it only
//! through the [`CallManager`].

pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use huddle_engine::devices::{self, Playback, SpeakerChoice};
use huddle_engine::protocol::JoinAck;
use huddle_engine::share::{self, ShareChoice};
use huddle_engine::{
    CameraView, Identity, Session, SessionConfig, SessionError, SessionEvent, StreamKind,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{CommandError, blocking};
use crate::events::{self, MicLevel, Notify, UiJoined, UiSessionEvent};
use crate::frames::FrameHub;
use crate::frames::hub::RemoteFrames;
use crate::local_media::{self, LevelListener, Preview};
use crate::state::lock;
use stats::{Seen, mark_paths, summarize};

/// How often the window gets connection figures.
const STATS_EVERY: Duration = Duration::from_millis(500);
/// The largest size a screen is shared at, and its frame rate.
const SHARE_MAX: (usize, usize) = (1920, 1080);
const SHARE_FPS: u32 = 30;

/// Our microphone's latest meter level, shared with the level listener.
#[derive(Default)]
pub struct OwnLevel(AtomicU32);

impl OwnLevel {
    pub fn set(&self, level: f32) {
        self.0.store(level.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// The level listener: remembers our level (for the active speaker) and tells the window.
pub fn level_listener(notify: Arc<dyn Notify>, own: Arc<OwnLevel>) -> LevelListener {
    Arc::new(move |level| {
        own.set(level);
        events::send(notify.as_ref(), events::MIC_LEVEL, &MicLevel { level });
    })
}

/// What the window joins with: who, where, and the devices chosen in the lobby (ids as
/// `list_devices` gives them; null for none).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct JoinRequest {
    pub email: String,
    pub room: String,
    pub name: Option<String>,
    /// The room's passcode, when its host locked it (the server says
    /// `passcode_required` / `bad_passcode`).
    #[serde(default)]
    #[cfg_attr(test, ts(optional))]
    pub passcode: Option<String>,
    pub camera: Option<String>,
    pub microphone: Option<String>,
    pub speaker: Option<String>,
}

impl JoinRequest {
    /// Who joins where, tidied; a blank email or room is refused with the server's code.
    fn identity(&self, server_url: String) -> Result<Identity, CommandError> {
        let (email, room) = (self.email.trim(), self.room.trim());
        let refuse = |code: &str, message: &str| {
            Err(CommandError::Server {
                code: code.into(),
                message: message.into(),
                sharer_id: None,
            })
        };
        if email.is_empty() {
            return refuse("invalid_email", "enter your email address");
        }
        if room.is_empty() {
            return refuse("invalid_room", "enter a room number");
        }
        Ok(Identity {
            server_url,
            email: email.to_string(),
            room: room.to_string(),
            name: self
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            passcode: self
                .passcode
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        })
    }
}

/// What the host asks of `room:lock`: `passcode` "" clears it; a field left out keeps
/// its value.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RoomLockRequest {
    #[serde(default)]
    pub passcode: Option<String>,
    #[serde(default)]
    pub waiting_room: Option<bool>,
    #[serde(default)]
    pub listed: Option<bool>,
}

/// The room's settings as the host's `room:lock` leaves them.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct RoomSettings {
    pub locked: bool,
    pub waiting_room: bool,
    pub listed: bool,
}

/// What the host does about one person.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum DoorAction {
    Admit,
    Deny,
    Remove,
}

/// A CA certificate to trust for an `https://` server besides the system's (a private
/// or test CA): the PEM file named by `HUDDLE_CA_CERT`, as the CLI's `--ca-cert`.
fn extra_ca_cert() -> Result<Option<Vec<u8>>, CommandError> {
    let Some(path) = std::env::var_os("HUDDLE_CA_CERT") else {
        return Ok(None);
    };
    std::fs::read(&path).map(Some).map_err(|e| {
        CommandError::InvalidInput(format!(
            "HUDDLE_CA_CERT: cannot read {}: {e}",
            std::path::Path::new(&path).display()
        ))
    })
}

/// A kind of device the window switches mid-call.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
}

/// A joined room: the engine's session, our speaker, and two tasks that keep the window
/// informed — one forwards the session's events, one sends connection figures.
struct Call {
    session: Session,
    playback: Mutex<Playback>,
    muted: AtomicBool,
    tasks: Vec<JoinHandle<()>>,
}

impl Call {
    fn start(
        session: Session,
        heard: Heard,
        playback: Playback,
        notify: Arc<dyn Notify>,
        own_level: Arc<OwnLevel>,
    ) -> Arc<Call> {
        let self_id = session.joined().map(|j| j.id).unwrap_or_default();
        Arc::new_cyclic(|call: &Weak<Call>| {
            let forward = tokio::spawn(forward_events(heard, notify.clone()));
            let stats = tokio::spawn(send_stats(call.clone(), self_id, notify, own_level));
            Call {
                session,
                playback: Mutex::new(playback),
                muted: AtomicBool::new(false),
                tasks: vec![forward, stats],
            }
        })
    }

    /// Stops telling the window about this call.
    fn stop_tasks(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    fn set_muted(&self, muted: bool) {
        self.session.set_muted(muted);
        self.muted.store(muted, Ordering::Relaxed);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.stop_tasks();
    }
}

/// The session's events, taken at the door: those heard there that belong to the call
/// (they came with the admission), then the rest as they come.
struct Heard {
    events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
    early: Vec<SessionEvent>,
}

impl Heard {
    /// The next event; never, once the session has no more (or none were taken).
    async fn next(&mut self) -> Option<SessionEvent> {
        match &mut self.events {
            Some(events) => events.recv().await,
            None => std::future::pending().await,
        }
    }
}

async fn forward_events(heard: Heard, notify: Arc<dyn Notify>) {
    for event in &heard.early {
        if let Some(ui) = UiSessionEvent::from_engine(event) {
            events::send(notify.as_ref(), events::SESSION, &ui);
        }
    }
    if let Some(mut events) = heard.events {
        while let Some(event) = events.recv().await {
            if let Some(ui) = UiSessionEvent::from_engine(&event) {
                events::send(notify.as_ref(), events::SESSION, &ui);
            }
        }
    }
    // The session ended without us leaving: the server is gone for good.
    let ended = UiSessionEvent::Ended {
        reason: "the connection to the server was lost".into(),
    };
    events::send(notify.as_ref(), events::SESSION, &ended);
}

async fn send_stats(
    call: Weak<Call>,
    self_id: String,
    notify: Arc<dyn Notify>,
    own_level: Arc<OwnLevel>,
) {
    let mut seen: HashMap<(String, StreamKind), Seen> = HashMap::new();
    let mut ticker = tokio::time::interval(STATS_EVERY);
    loop {
        ticker.tick().await;
        let Some(call) = call.upgrade() else { return };
        let streams = call.session.received();
        let connections = call.session.connections();
        let own = if call.muted.load(Ordering::Relaxed) {
            0.0
        } else {
            own_level.get()
        };
        drop(call);
        let mut event = summarize(&streams, &mut seen, Instant::now(), &self_id, own);
        mark_paths(&mut event, &connections);
        events::send(notify.as_ref(), events::STATS, &event);
    }
}

/// The one call, and what it needs from the rest of the app.
pub struct CallManager {
    current: tokio::sync::Mutex<Option<Arc<Call>>>,
    /// While a join waits in the room's waiting room: how to withdraw the knock. Apart
    /// from `current`, which the waiting join holds.
    knocking: Mutex<Option<oneshot::Sender<()>>>,
    hub: Arc<FrameHub>,
    notify: Arc<dyn Notify>,
    own_level: Arc<OwnLevel>,
    preview: Arc<Mutex<Preview>>,
    on_level: LevelListener,
}

impl CallManager {
    pub fn new(
        hub: Arc<FrameHub>,
        notify: Arc<dyn Notify>,
        own_level: Arc<OwnLevel>,
        preview: Arc<Mutex<Preview>>,
    ) -> Self {
        let on_level = level_listener(notify.clone(), own_level.clone());
        CallManager {
            current: tokio::sync::Mutex::new(None),
            knocking: Mutex::new(None),
            hub,
            notify,
            own_level,
            preview,
            on_level,
        }
    }

    pub async fn in_call(&self) -> bool {
        self.current.lock().await.is_some()
    }

    /// Shows `camera` and meters `microphone` in the lobby (not while in a call).
    pub async fn set_preview(
        &self,
        camera: Option<String>,
        microphone: Option<String>,
    ) -> Result<(), CommandError> {
        if self.in_call().await {
            return Err(CommandError::AlreadyJoined);
        }
        self.show_preview(camera, microphone).await
    }

    async fn show_preview(
        &self,
        camera: Option<String>,
        microphone: Option<String>,
    ) -> Result<(), CommandError> {
        let (preview, hub, on_level) = (
            self.preview.clone(),
            self.hub.clone(),
            self.on_level.clone(),
        );
        blocking(move || {
            lock(&preview).set(camera.as_deref(), microphone.as_deref(), &hub, &on_level)
        })
        .await?
    }

    /// Closes the lobby's devices (the app is quitting).
    pub fn close_preview(&self) {
        lock(&self.preview).close();
    }

    /// Joins through `server_url` with the devices the lobby shows: they move into the
    /// call; when joining fails, the lobby gets them back. In a room with a waiting room
    /// the window hears `waiting`, and the join answers once the host lets us in (or
    /// not, or [`CallManager::cancel_join`] withdraws the knock).
    pub async fn join(
        &self,
        server_url: String,
        request: JoinRequest,
    ) -> Result<UiJoined, CommandError> {
        let mut current = self.current.lock().await;
        if current.is_some() {
            return Err(CommandError::AlreadyJoined);
        }
        let mut config = SessionConfig::new(request.identity(server_url)?);
        config.ca_cert_pem = extra_ca_cert()?;
        let joined = async {
            let opened = self.take_devices(&request).await?;
            let sink = Arc::new(RemoteFrames(self.hub.clone()));
            let mixer = opened.playback.mixer.clone();
            let mut session = Session::connect(config, opened.local, mixer, sink).await?;
            let mut heard = Heard {
                events: session.take_events(),
                early: Vec::new(),
            };
            let joined = self.admission(&session, &mut heard).await?;
            Ok::<_, CommandError>((session, heard, joined, opened.playback))
        }
        .await;
        let (session, heard, joined, playback) = match joined {
            Ok(j) => j,
            Err(e) => {
                let _ = self.show_preview(request.camera, request.microphone).await;
                return Err(e);
            }
        };
        let answer = UiJoined::of(&session, &joined);
        *current = Some(Call::start(
            session,
            heard,
            playback,
            self.notify.clone(),
            self.own_level.clone(),
        ));
        Ok(answer)
    }

    /// Waits at the door, if there is one: the window shows its waiting screen (and
    /// whether the server connection holds) until the host decides, the session ends,
    /// or the person withdraws.
    async fn admission(
        &self,
        session: &Session,
        heard: &mut Heard,
    ) -> Result<JoinAck, CommandError> {
        if let Some(joined) = session.joined() {
            return Ok(joined);
        }
        let (cancel, mut cancelled) = oneshot::channel();
        *lock(&self.knocking) = Some(cancel);
        let say =
            |event: UiSessionEvent| events::send(self.notify.as_ref(), events::SESSION, &event);
        let outcome = loop {
            tokio::select! {
                // The door first: events that came with an admission belong to the call.
                biased;
                admitted = session.admitted() => break admitted.map_err(|e| match e {
                    SessionError::Ended => CommandError::Unreachable(
                        "the connection to the server was lost while waiting to be let in".into(),
                    ),
                    other => other.into(),
                }),
                _ = &mut cancelled => break Err(CommandError::Cancelled),
                Some(event) = heard.next() => match event {
                    // Knocked (again, after a reconnect).
                    SessionEvent::Waiting { room } => say(UiSessionEvent::Waiting { room }),
                    SessionEvent::Reconnecting => say(UiSessionEvent::Reconnecting),
                    SessionEvent::ConnectionHeld => say(UiSessionEvent::Reconnected),
                    other => heard.early.push(other),
                },
            }
        };
        lock(&self.knocking).take();
        if let Err(e) = &outcome {
            // Withdraw the knock now, so the host's list updates at once.
            let left = tokio::time::timeout(Duration::from_secs(3), session.leave()).await;
            if !matches!(left, Ok(Ok(_))) {
                tracing::debug!("the waiting session did not leave cleanly");
            }
            tracing::info!(code = e.code(), "stopped waiting to be let in");
        }
        outcome
    }

    /// Withdraws the knock of a join waiting in a waiting room (its `join` fails with
    /// `cancelled`); `not_joined` when no join waits.
    pub fn cancel_join(&self) -> Result<(), CommandError> {
        let cancel = lock(&self.knocking).take().ok_or(CommandError::NotJoined)?;
        let _ = cancel.send(());
        Ok(())
    }

    /// The lobby's camera and microphone (opening what is not open yet) and the speaker.
    async fn take_devices(
        &self,
        request: &JoinRequest,
    ) -> Result<devices::OpenedMedia, CommandError> {
        let (preview, hub, on_level) = (
            self.preview.clone(),
            self.hub.clone(),
            self.on_level.clone(),
        );
        let (camera, microphone) = (request.camera.clone(), request.microphone.clone());
        let speaker = SpeakerChoice::parse(request.speaker.as_deref().unwrap_or("none"));
        blocking(move || {
            let taken =
                lock(&preview).take(camera.as_deref(), microphone.as_deref(), &hub, &on_level)?;
            devices::assemble(taken.camera, taken.microphone, &speaker)
                .map_err(|e| CommandError::Device(format!("speaker: {e}")))
        })
        .await?
    }

    /// Leaves the room: every call ends, the devices close. A command still running on
    /// the call finishes with `not_joined`; nothing waits for it.
    pub async fn leave(&self) -> Result<(), CommandError> {
        let call = self
            .current
            .lock()
            .await
            .take()
            .ok_or(CommandError::NotJoined)?;
        // Leaving is not the server going away: the window hears nothing more of it.
        call.stop_tasks();
        let report = call.session.leave().await?;
        tracing::info!(room = %report.room, peers = report.peers_met, "left the room");
        Ok(())
    }

    async fn call(&self) -> Result<Arc<Call>, CommandError> {
        self.current
            .lock()
            .await
            .clone()
            .ok_or(CommandError::NotJoined)
    }

    pub async fn chat(
        &self,
        text: String,
    ) -> Result<huddle_engine::protocol::ChatMessage, CommandError> {
        if text.trim().is_empty() {
            return Err(CommandError::InvalidInput("the message is empty".into()));
        }
        Ok(self.call().await?.session.chat(&text).await?)
    }

    /// (Host) sets or clears the passcode (an empty one clears it), turns the waiting
    /// room and the listing on or off; `None` keeps a setting as it is.
    pub async fn lock_room(&self, lock: RoomLockRequest) -> Result<RoomSettings, CommandError> {
        let lock = huddle_engine::protocol::RoomLock {
            passcode: lock
                .passcode
                .map(|p| Some(p.trim().to_string()).filter(|p| !p.is_empty())),
            waiting_room: lock.waiting_room,
            listed: lock.listed,
        };
        let settings = self.call().await?.session.lock(lock).await?;
        Ok(RoomSettings {
            locked: settings.locked,
            waiting_room: settings.waiting_room,
            listed: settings.listed,
        })
    }

    /// (Host) lets in, turns away, or removes someone.
    pub async fn door(&self, action: DoorAction, id: String) -> Result<(), CommandError> {
        let call = self.call().await?;
        match action {
            DoorAction::Admit => call.session.admit(&id).await?,
            DoorAction::Deny => call.session.deny(&id).await?,
            DoorAction::Remove => call.session.remove(&id).await?,
        }
        Ok(())
    }

    pub async fn set_muted(&self, muted: bool) -> Result<(), CommandError> {
        self.call().await?.set_muted(muted);
        Ok(())
    }

    pub async fn set_camera_on(&self, on: bool) -> Result<(), CommandError> {
        self.call().await?.session.set_camera_on(on);
        Ok(())
    }

    pub async fn set_camera_view(&self, ids: Option<Vec<String>>) -> Result<(), CommandError> {
        let view = match ids {
            None => CameraView::All,
            Some(ids) => CameraView::Only(ids.into_iter().collect()),
        };
        self.call().await?.session.set_camera_view(view);
        Ok(())
    }

    /// Switches a device mid-call, without renegotiating; `None` turns it off.
    pub async fn switch_device(
        &self,
        kind: DeviceKind,
        id: Option<String>,
    ) -> Result<(), CommandError> {
        let call = self.call().await?;
        let (hub, on_level) = (self.hub.clone(), self.on_level.clone());
        match (kind, id) {
            (DeviceKind::Camera, Some(id)) => {
                let cam = blocking(move || local_media::open_camera(&id, &hub)).await??;
                call.session.switch_camera(Box::new(cam));
                call.session.set_camera_on(true);
            }
            (DeviceKind::Camera, None) => call.session.set_camera_on(false),
            (DeviceKind::Microphone, Some(id)) => {
                let mic = blocking(move || local_media::open_microphone(&id, &on_level)).await??;
                call.session.switch_microphone(Box::new(mic));
                call.set_muted(false);
            }
            (DeviceKind::Microphone, None) => call.set_muted(true),
            (DeviceKind::Speaker, id) => {
                let choice = SpeakerChoice::parse(id.as_deref().unwrap_or("none"));
                blocking(move || {
                    lock(&call.playback)
                        .switch(&choice)
                        .map_err(|e| CommandError::Device(format!("speaker: {e}")))
                })
                .await??;
            }
        }
        Ok(())
    }

    /// Shares a screen or window (`screen`, `screen:ID`, `window:ID`, or `test` with
    /// synthetic devices).
    pub async fn start_share(&self, source: String) -> Result<(), CommandError> {
        let call = self.call().await?;
        let choice = ShareChoice::parse(&source).map_err(CommandError::InvalidInput)?;
        let opened =
            blocking(move || share::open_share(&choice, SHARE_MAX.0, SHARE_MAX.1, SHARE_FPS))
                .await?
                .map_err(|e| CommandError::Device(format!("screen: {e}")))?
                .ok_or_else(|| CommandError::InvalidInput("choose a screen or a window".into()))?;
        Ok(call.session.start_sharing(opened).await?)
    }

    pub async fn stop_share(&self) -> Result<(), CommandError> {
        Ok(self.call().await?.session.stop_sharing().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_server::Server;
    use huddle_server::config::ServerConfig;

    /// Records what the window would hear.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, serde_json::Value)>>);

    impl Notify for Recorder {
        fn notify(&self, event: &str, payload: serde_json::Value) {
            lock(&self.0).push((event.to_string(), payload));
        }
    }

    async fn start_server() -> String {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            ..ServerConfig::default()
        };
        let server = Server::bind(config).await.expect("bind");
        let url = format!("http://{}", server.local_addr());
        tokio::spawn(server.run(std::future::pending()));
        url
    }

    fn request(email: &str, room: &str) -> JoinRequest {
        JoinRequest {
            email: email.into(),
            room: room.into(),
            name: Some("  Ada ".into()),
            passcode: None,
            camera: Some("test".into()),
            microphone: Some("sine".into()),
            speaker: None,
        }
    }

    #[test]
    fn a_join_request_is_tidied_and_blanks_are_refused_with_the_servers_codes() {
        let id = request(" ada@x.io ", " 42 ")
            .identity("http://h".into())
            .unwrap();
        assert_eq!((id.email.as_str(), id.room.as_str()), ("ada@x.io", "42"));
        assert_eq!(id.name.as_deref(), Some("Ada"));
        let code = |r: JoinRequest| {
            r.identity("http://h".into())
                .unwrap_err()
                .code()
                .to_string()
        };
        assert_eq!(code(request(" ", "1")), "invalid_email");
        assert_eq!(code(request("a@x.io", "")), "invalid_room");
    }

    fn manager(notify: Arc<Recorder>) -> CallManager {
        CallManager::new(
            Arc::new(FrameHub::new()),
            notify,
            Arc::new(OwnLevel::default()),
            Arc::default(),
        )
    }

    /// Waits until `notify` heard a `session` event of `kind`; returns its payload.
    async fn heard(notify: &Recorder, kind: &str) -> serde_json::Value {
        for _ in 0..200 {
            let found = lock(&notify.0)
                .iter()
                .find(|(e, p)| e == events::SESSION && p["type"] == kind)
                .map(|(_, p)| p.clone());
            if let Some(p) = found {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {kind} event: {:?}", lock(&notify.0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_join_waits_at_the_door_until_withdrawn_or_let_in() {
        let url = start_server().await;
        let (host_heard, guest_heard) =
            (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let host = manager(host_heard.clone());
        let guest = Arc::new(manager(guest_heard.clone()));
        host.join(url.clone(), request("host@x.io", "door"))
            .await
            .unwrap();
        let waiting_room = RoomLockRequest {
            passcode: None,
            waiting_room: Some(true),
            listed: None,
        };
        assert!(host.lock_room(waiting_room).await.unwrap().waiting_room);
        assert_eq!(guest.cancel_join().unwrap_err().code(), "not_joined");

        // Knock, then withdraw: the join fails with `cancelled`, the host hears it go.
        let knocking = {
            let (guest, url) = (guest.clone(), url.clone());
            tokio::spawn(async move { guest.join(url, request("guest@x.io", "door")).await })
        };
        assert_eq!(heard(&guest_heard, "waiting").await["room"], "door");
        let knock = heard(&host_heard, "knock").await;
        assert_eq!(knock["email"], "guest@x.io");
        guest.cancel_join().unwrap();
        let withdrawn = knocking.await.unwrap().unwrap_err();
        assert_eq!(withdrawn.code(), "cancelled");
        assert_eq!(
            heard(&host_heard, "knock-withdrawn").await["id"],
            knock["id"]
        );
        assert!(!guest.in_call().await);

        // Knock again; the host lets us in: the join answers, inside the room.
        lock(&host_heard.0).clear();
        let knocking = {
            let (guest, url) = (guest.clone(), url.clone());
            tokio::spawn(async move { guest.join(url, request("guest@x.io", "door")).await })
        };
        let knock = heard(&host_heard, "knock").await;
        let id = knock["id"].as_str().unwrap().to_string();
        host.door(DoorAction::Admit, id.clone()).await.unwrap();
        let joined = knocking.await.unwrap().unwrap();
        assert_eq!(
            (joined.room.as_str(), joined.self_id.as_str()),
            ("door", id.as_str())
        );
        assert!(guest.in_call().await);
        guest.leave().await.unwrap();
        host.leave().await.unwrap();
        guest.close_preview();
        host.close_preview();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn join_and_leave_without_waiting_on_commands_in_flight() {
        let url = start_server().await;
        let notify = Arc::new(Recorder::default());
        let calls = CallManager::new(
            Arc::new(FrameHub::new()),
            notify.clone(),
            Arc::new(OwnLevel::default()),
            Arc::default(),
        );
        assert_eq!(calls.leave().await.unwrap_err().code(), "not_joined");
        let joined = calls
            .join(url.clone(), request("ada@x.io", "calls"))
            .await
            .unwrap();
        assert_eq!(joined.room, "calls");
        assert!(calls.in_call().await);
        let again = calls.join(url, request("ada@x.io", "calls")).await;
        assert_eq!(again.unwrap_err().code(), "already_joined");
        assert_eq!(
            calls.set_preview(None, None).await.unwrap_err().code(),
            "already_joined"
        );
        calls.set_muted(true).await.unwrap();
        let message = calls.chat("hello".into()).await.unwrap();
        assert_eq!(message.text, "hello");
        assert_eq!(
            calls.chat(" ".into()).await.unwrap_err().code(),
            "invalid_input"
        );

        // A chat still running while we leave: leaving does not wait for it, and it
        // ends one way or the other.
        let racing = {
            let call = calls.call().await.unwrap();
            tokio::spawn(async move { call.session.chat("bye").await })
        };
        tokio::time::timeout(Duration::from_secs(10), calls.leave())
            .await
            .expect("leaving completes")
            .unwrap();
        let _ = racing.await;
        assert!(!calls.in_call().await);
        assert_eq!(
            calls.set_muted(false).await.unwrap_err().code(),
            "not_joined"
        );
        assert_eq!(calls.leave().await.unwrap_err().code(), "not_joined");

        // Leaving is not the server going away: the window is not told the session ended.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let heard = lock(&notify.0).clone();
        assert!(
            !heard
                .iter()
                .any(|(e, p)| e == events::SESSION && p["type"] == "ended"),
            "{heard:?}"
        );
        calls.close_preview();
    }
}
