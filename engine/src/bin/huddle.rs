//! `huddle`: a full participant from the command line, for tests, benchmarks, bots and
//! people on servers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use huddle_engine::devices::{self, CameraChoice, MicChoice, OpenedMedia, SpeakerChoice};
use huddle_engine::protocol::RoomLock;
use huddle_engine::share::{ShareChoice, list_screens, list_windows, open_share};
use huddle_engine::{
    Admission, CameraView, DiscardFrames, IceServer, Identity, PeerSetup, Session, SessionConfig,
    SessionError, SessionEvent, SessionReport, StreamKind,
};

/// Prints a line to stdout. A closed stdout (`huddle join … | head -1`) is not a reason
/// to end the call or lose its `--report`: output errors are ignored.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    version,
    about = "Huddle from the command line: join a room as a full participant, list devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List cameras, microphones and speakers with the ids to pass to `join`.
    Devices,
    /// Join a room and take part: send and receive audio and video, chat.
    Join(Box<JoinArgs>),
    /// List the server's open (listed) rooms and how many are in each.
    Rooms {
        /// Signaling server, e.g. http://127.0.0.1:4100
        #[arg(long, env = "HUDDLE_SERVER")]
        server: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cover an X11 screen with the live timestamp barcode, for measuring screen
    /// sharing end to end (capture included).
    ShowBarcode {
        /// X display, e.g. :99 (default: $DISPLAY).
        #[arg(long)]
        display: Option<String>,
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// Stop after this many seconds (default: until killed).
        #[arg(long)]
        duration: Option<f64>,
    },
}

#[derive(Args)]
struct JoinArgs {
    /// Signaling server, e.g. http://127.0.0.1:4100
    #[arg(long, env = "HUDDLE_SERVER")]
    server: String,
    #[arg(long)]
    email: String,
    /// Room number (letters, digits, '_' and '-').
    #[arg(long)]
    room: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// The room's passcode, when its host locked it.
    #[arg(long, env = "HUDDLE_PASSCODE")]
    passcode: Option<String>,
    /// As the room's host: lock it with this passcode (4–64 characters) once joined.
    #[arg(long)]
    lock_passcode: Option<String>,
    /// As the room's host: turn the waiting room on once joined.
    #[arg(long)]
    waiting_room: bool,
    /// As the room's host: list the room in `rooms:list` once joined.
    #[arg(long)]
    listed: bool,
    /// As the room's host: let in everyone who knocks at the waiting room.
    #[arg(long)]
    admit_all: bool,
    /// As the room's host: turn away everyone who knocks at the waiting room.
    #[arg(long, conflicts_with = "admit_all")]
    deny_all: bool,
    /// As the room's host: let in each one who knocks this many seconds after the knock
    /// (for tests of what a waiting guest sees).
    #[arg(long, conflicts_with_all = ["admit_all", "deny_all"])]
    admit_after: Option<f64>,
    /// As the room's host: remove each participant this many seconds after they joined.
    #[arg(long)]
    remove_after: Option<f64>,
    /// `test` (synthetic 640x480@30 with a timestamp barcode; `test:WxH` at another size),
    /// `default`, a camera id, or `none`.
    #[arg(long, default_value = "default")]
    camera: String,
    /// `sine` (440 Hz), `voice` (the tone in syllables), `default`, a microphone id,
    /// or `none`.
    #[arg(long, default_value = "default")]
    mic: String,
    /// `default`, a speaker id, or `none`.
    #[arg(long, default_value = "default")]
    speaker: String,
    /// Leave after this many seconds (default: stay until Ctrl-C or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Write what was measured to this JSON file on leaving.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Send a chat message once joined (repeatable).
    #[arg(long = "chat")]
    chat: Vec<String>,
    /// STUN/TURN server: `stun:host:port` or `turn:user:password@host:port` (repeatable),
    /// used besides the ones the server hands out. The password is what follows the
    /// last `:` of the credentials, so REST usernames (`<expiry>:<id>`) work.
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
    /// Only relayed connections (ICE transport policy `relay`): peers never learn our
    /// addresses; needs a TURN server (the server's or `--ice-server`).
    #[arg(long)]
    relay_only: bool,
    /// A CA certificate (PEM) to trust for an `https://` server, e.g. a private CA.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Local UDP address for ICE candidates (repeatable); default: every interface and loopback.
    #[arg(long = "udp-addr")]
    udp_addrs: Vec<String>,
    /// Share a screen: `test` (synthetic 1280x720), `test1080`, `screen`, `screen:ID`,
    /// `window:ID` (ids from `huddle devices`), or `none`.
    #[arg(long, default_value = "none")]
    share: String,
    /// Start sharing this many seconds after joining.
    #[arg(long, default_value_t = 0.0)]
    share_at: f64,
    /// In a room on the SFU: the cameras "on screen", by email, comma-separated (`none`:
    /// no camera); the SFU pauses the others. Default: every camera (a CLI has no screen
    /// to run out of). Audio and shared screens always flow.
    #[arg(long)]
    sfu_view: Option<String>,
    /// Show every camera again this many seconds after joining (with `--sfu-view`).
    #[arg(long)]
    sfu_view_until: Option<f64>,
    /// Stop sharing after this many seconds of sharing.
    #[arg(long)]
    share_for: Option<f64>,
    /// Largest size a shared screen is sent at (it is scaled down to fit), WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080")]
    share_max: String,
    /// Frames per second of a shared screen.
    #[arg(long, default_value_t = 30)]
    share_fps: u32,
    /// The codec our camera and screen are sent in: `vp8` (every WebRTC peer has it) or
    /// `h264` (constrained baseline). We receive either, whatever is chosen here.
    #[arg(long, default_value = "vp8")]
    video_codec: String,
    /// Leave with an error when no media connection is up this many seconds after
    /// someone was met.
    #[arg(long, default_value_t = 20.0)]
    connect_timeout: f64,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            // webrtc-rs warns about routine ICE and DTLS events: only its errors matter here.
            "warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_srtp=error,rtc_sctp=error,webrtc=error,huddle_engine=info,huddle=info",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices => list_devices(),
        Command::Join(args) => join(*args).await,
        Command::Rooms { server, json } => list_rooms(&server, json).await,
        Command::ShowBarcode {
            display,
            fps,
            duration,
        } => huddle_engine::share::show_barcode(
            display.as_deref(),
            fps,
            duration.map(Duration::from_secs_f64),
        )
        .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("huddle: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn list_devices() -> anyhow::Result<()> {
    let listing = devices::list();
    let section = |title: &str, items: &Result<Vec<devices::DeviceInfo>, String>, none: &str| {
        out!("{title}:");
        match items {
            Ok(list) if list.is_empty() => out!("  ({none})"),
            Ok(list) => {
                for d in list {
                    let default = if d.is_default { "  [default]" } else { "" };
                    out!("  {:<24} {}{default}", d.id, d.name);
                }
            }
            Err(why) => out!("  (unavailable: {why})"),
        }
    };
    section(
        "cameras",
        &listing.cameras,
        "none found; use --camera test for the synthetic one",
    );
    section(
        "microphones",
        &listing.microphones,
        "none found; use --mic sine for the synthetic one",
    );
    section(
        "speakers",
        &listing.speakers,
        "none found; use --speaker none",
    );
    out!("screens (--share screen:ID):");
    match list_screens() {
        Ok(list) if list.is_empty() => {
            out!("  (none found; use --share test for the synthetic one)")
        }
        Ok(list) => {
            for d in list {
                out!("  {:<24} {} ({}x{})", d.id, d.name, d.width, d.height);
            }
        }
        Err(why) => out!("  (unavailable: {why}; use --share test for the synthetic one)"),
    }
    out!("windows (--share window:ID):");
    match list_windows() {
        Ok(list) if list.is_empty() => out!("  (none found)"),
        Ok(list) => {
            for w in list {
                out!("  {:<24} {} ({}x{})", w.id, w.title, w.width, w.height);
            }
        }
        Err(why) => out!("  (unavailable: {why})"),
    }
    Ok(())
}

async fn list_rooms(server: &str, json: bool) -> anyhow::Result<()> {
    let rooms = huddle_engine::list_rooms(server, None)
        .await
        .context("cannot list rooms")?;
    if json {
        out!("{}", serde_json::to_string(&rooms)?);
        return Ok(());
    }
    if rooms.is_empty() {
        out!("(no listed rooms)");
    }
    for r in &rooms {
        let lock = if r.locked { "  [locked]" } else { "" };
        out!("{:<24} {} in the room{lock}", r.room, r.count);
    }
    Ok(())
}

fn parse_ice_server(spec: &str) -> anyhow::Result<IceServer> {
    // turn:user:password@host:port
    if let Some(rest) = spec
        .strip_prefix("turn:")
        .or_else(|| spec.strip_prefix("turns:"))
        && let Some((credentials, host)) = rest.rsplit_once('@')
    {
        let scheme = if spec.starts_with("turns:") {
            "turns"
        } else {
            "turn"
        };
        // REST usernames hold a colon (`<expiry>:<id>`); passwords never do.
        let (user, password) = credentials
            .rsplit_once(':')
            .context("TURN credentials are user:password")?;
        anyhow::ensure!(
            !user.is_empty(),
            "TURN credentials are user:password ({spec})"
        );
        return Ok(IceServer {
            urls: vec![format!("{scheme}:{host}")],
            username: user.to_string(),
            credential: password.to_string(),
        });
    }
    anyhow::ensure!(
        spec.starts_with("stun:") || spec.starts_with("turn:") || spec.starts_with("turns:"),
        "an ICE server starts with stun:, turn: or turns: ({spec})"
    );
    Ok(IceServer {
        urls: vec![spec.to_string()],
        username: String::new(),
        credential: String::new(),
    })
}

async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let mut setup = PeerSetup::default();
    if !args.udp_addrs.is_empty() {
        setup.udp_addrs = args.udp_addrs.clone();
    }
    setup.ice_servers = args
        .ice_servers
        .iter()
        .map(|s| parse_ice_server(s))
        .collect::<anyhow::Result<_>>()?;
    setup.relay_only = args.relay_only;
    let ca_cert_pem = match &args.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("--ca-cert: cannot read {}", path.display()))?,
        ),
        None => None,
    };
    if huddle_engine::server_transport(&args.server) == huddle_engine::ServerTransport::PlainRemote
    {
        tracing::warn!(
            server = %args.server,
            "plain http:// to a public address: emails, chat and the calls' DTLS fingerprints \
             can be read and changed on the way; use an https:// server"
        );
    }

    let codec = huddle_engine::video_codec_named(&args.video_codec).with_context(|| {
        let known: Vec<String> = huddle_engine::VIDEO_CODECS
            .iter()
            .map(|c| c.name.to_lowercase())
            .collect();
        format!(
            "--video-codec {}: expected one of {}",
            args.video_codec,
            known.join(", ")
        )
    })?;
    let OpenedMedia {
        mut local,
        playback,
    } = devices::open(
        &CameraChoice::parse(&args.camera),
        &MicChoice::parse(&args.mic),
        &SpeakerChoice::parse(&args.speaker),
    )
    .context("cannot open local media")?;
    local.video.codec = codec;
    if let Some(cam) = &local.camera {
        out!("camera: {}", cam.describe());
    }
    if let Some(mic) = &local.microphone {
        out!("microphone: {}", mic.describe());
    }

    let share = ShareChoice::parse(&args.share).map_err(|e| anyhow::anyhow!("--share: {e}"))?;
    let (share_max_w, share_max_h) = args
        .share_max
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
        .filter(|(w, h)| *w >= 16 && *h >= 16)
        .context("--share-max is WIDTHxHEIGHT, e.g. 1920x1080")?;

    let identity = Identity {
        server_url: args.server.clone(),
        email: args.email.clone(),
        room: args.room.clone(),
        name: args.name.clone(),
        passcode: args.passcode.clone(),
    };
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let config = SessionConfig {
        identity,
        peers: setup,
        connect_timeout: Some(connect_timeout),
        ca_cert_pem,
    };
    out!("speaker: {}", playback.describe());
    let mut session = Session::connect(
        config,
        local,
        playback.mixer.clone(),
        Arc::new(DiscardFrames),
    )
    .await
    .map_err(explain_refusal)
    .context("cannot join")?;
    let mut events = session
        .take_events()
        .context("the session's events are gone")?;
    if let Admission::Waiting { room } = session.admission() {
        out!("waiting in room {room}'s waiting room for the host to let us in");
    }
    let joined = match session.admitted().await {
        Ok(joined) => joined,
        Err(err @ (SessionError::Denied { .. } | SessionError::Removed { .. })) => {
            out!("{err}");
            let report = session.leave().await.context("leaving")?;
            write_report(args.report.as_deref(), &report, Some(&err))?;
            return Err(err.into());
        }
        Err(err) => return Err(err).context("cannot join"),
    };
    // The events that led here (waiting, admitted, joined) are printed below.
    let others: Vec<String> = joined
        .participants
        .iter()
        .map(|p| p.email.clone())
        .collect();
    out!(
        "joined room {} as {} in {:.0} ms ({} other{}{}{})",
        joined.room,
        joined.id,
        session.join_rtt().as_secs_f64() * 1000.0,
        others.len(),
        if others.len() == 1 { "" } else { "s" },
        if others.is_empty() { "" } else { ": " },
        others.join(", ")
    );
    if let Some(view) = &args.sfu_view {
        let names = view
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != "none")
            .map(str::to_owned)
            .collect();
        session.set_camera_view(CameraView::Only(names));
    }
    let host = HostPolicy::from_args(&args);
    if let Some(lock) = host.lock(&args) {
        let settings = session.lock(lock).await.context("cannot lock the room")?;
        out!(
            "room settings: locked {}, waiting room {}, listed {}",
            on_off(settings.locked),
            on_off(settings.waiting_room),
            on_off(settings.listed)
        );
    }
    for m in &joined.history {
        out!("chat (history) {}: {}", m.email, m.text);
    }
    for text in &args.chat {
        let m = session.chat(text).await.context("chat message not sent")?;
        out!("chat sent #{}: {}", m.id, m.text);
    }

    let deadline = args.duration.map(Duration::from_secs_f64);
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let mut never_connected = false;
    let mut removed: Option<SessionError> = None;
    // Those to admit or remove (`--admit-after`, `--remove-after`), when their time comes.
    let (later_tx, mut later) = tokio::sync::mpsc::unbounded_channel::<Later>();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    // Sharing: when to start, and when to stop once started.
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    let share_start = tokio::time::sleep(if share == ShareChoice::None {
        far
    } else {
        Duration::from_secs_f64(args.share_at.max(0.0))
    });
    tokio::pin!(share_start);
    let share_stop = tokio::time::sleep(far);
    tokio::pin!(share_stop);
    let view_all = tokio::time::sleep(match (&args.sfu_view, args.sfu_view_until) {
        (Some(_), Some(secs)) => Duration::from_secs_f64(secs.max(0.0)),
        _ => far,
    });
    tokio::pin!(view_all);
    loop {
        tokio::select! {
            _ = &mut sleep => break,
            _ = tokio::signal::ctrl_c() => { out!("interrupted: leaving"); break; }
            _ = term.recv() => { out!("terminated: leaving"); break; }
            _ = &mut share_start => {
                share_start.as_mut().reset(tokio::time::Instant::now() + far);
                if start_sharing(&session, &share, share_max_w, share_max_h, args.share_fps).await
                    && let Some(secs) = args.share_for
                {
                    share_stop.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs_f64(secs));
                }
            }
            _ = &mut share_stop => {
                share_stop.as_mut().reset(tokio::time::Instant::now() + far);
                match session.stop_sharing().await {
                    Ok(()) => out!("stopped sharing"),
                    Err(err) => out!("could not stop sharing: {err}"),
                }
            }
            _ = &mut view_all => {
                view_all.as_mut().reset(tokio::time::Instant::now() + far);
                session.set_camera_view(CameraView::All);
                out!("showing every camera");
            }
            Some(action) = later.recv() => match action {
                Later::Admit(id) => match session.admit(&id).await {
                    Ok(()) => out!("admitted {id}"),
                    Err(err) => out!("could not admit {id}: {err}"),
                },
                Later::Remove(id) => match session.remove(&id).await {
                    Ok(()) => out!("removed {id}"),
                    Err(err) => out!("could not remove {id}: {err}"),
                },
            },
            event = events.recv() => match event {
                // Someone was met and no call came up in time.
                Some(SessionEvent::NoMediaConnection { .. }) => {
                    never_connected = true;
                    break;
                }
                Some(event) => {
                    print_event(&event);
                    if let SessionEvent::Removed { room, .. } = event {
                        removed = Some(SessionError::Removed { room });
                        break;
                    }
                    host.on_event(&session, &event, &later_tx).await;
                }
                None => break,
            },
        }
    }
    let report = session.leave().await.context("leaving")?;
    print_summary(&report);
    write_report(args.report.as_deref(), &report, removed.as_ref())?;
    if let Some(err) = removed {
        return Err(err.into());
    }
    anyhow::ensure!(
        !never_connected,
        "media never connected: no peer connection came up within {:.0} s",
        connect_timeout.as_secs_f64()
    );
    Ok(())
}

/// What the report file holds: what was measured, and how the door treated us.
fn write_report(
    path: Option<&std::path::Path>,
    report: &SessionReport,
    refused: Option<&SessionError>,
) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let mut value = serde_json::to_value(report)?;
    let admission = match refused {
        None => "admitted",
        Some(SessionError::Denied { .. }) => "denied",
        Some(SessionError::Removed { .. }) => "removed",
        Some(_) => "refused",
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("admission".into(), admission.into());
    }
    let json = serde_json::to_string_pretty(&value)?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// A refusal at the door says what to do about it.
fn explain_refusal(err: SessionError) -> anyhow::Error {
    use huddle_engine::protocol::ErrorCode;
    let hint = match err.code() {
        Some(ErrorCode::PasscodeRequired) => {
            "the room is locked: pass its passcode with --passcode"
        }
        Some(ErrorCode::BadPasscode) => "wrong passcode (--passcode)",
        Some(ErrorCode::Removed) => "the host removed you from this room for this meeting",
        _ => return err.into(),
    };
    anyhow::Error::new(err).context(hint)
}

/// What the CLI does as a room's host, for scripted tests and bots.
struct HostPolicy {
    admit_all: bool,
    deny_all: bool,
    admit_after: Option<Duration>,
    remove_after: Option<Duration>,
}

/// What the host does later, when its time comes (`--admit-after`, `--remove-after`).
enum Later {
    Admit(String),
    Remove(String),
}

impl HostPolicy {
    fn from_args(args: &JoinArgs) -> Self {
        HostPolicy {
            admit_all: args.admit_all,
            deny_all: args.deny_all,
            admit_after: args.admit_after.map(Duration::from_secs_f64),
            remove_after: args.remove_after.map(Duration::from_secs_f64),
        }
    }

    /// The `room:lock` the flags ask for, if any.
    fn lock(&self, args: &JoinArgs) -> Option<RoomLock> {
        let wanted = args.lock_passcode.is_some() || args.waiting_room || args.listed;
        wanted.then(|| RoomLock {
            passcode: args.lock_passcode.clone().map(Some),
            waiting_room: args.waiting_room.then_some(true),
            listed: args.listed.then_some(true),
        })
    }

    async fn on_event(
        &self,
        session: &Session,
        event: &SessionEvent,
        later: &tokio::sync::mpsc::UnboundedSender<Later>,
    ) {
        match event {
            SessionEvent::Knock { id, .. } if self.admit_all => match session.admit(id).await {
                Ok(()) => out!("admitted {id}"),
                Err(err) => out!("could not admit {id}: {err}"),
            },
            SessionEvent::Knock { id, .. } if self.deny_all => match session.deny(id).await {
                Ok(()) => out!("denied {id}"),
                Err(err) => out!("could not deny {id}: {err}"),
            },
            SessionEvent::Knock { id, .. } if self.admit_after.is_some() => {
                let after = self.admit_after.unwrap_or_default();
                let (id, later) = (id.clone(), later.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = later.send(Later::Admit(id));
                });
            }
            SessionEvent::ParticipantJoined { id, .. } => {
                if let Some(after) = self.remove_after {
                    let (id, later) = (id.clone(), later.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = later.send(Later::Remove(id));
                    });
                }
            }
            _ => {}
        }
    }
}

/// Opens the share source and asks to share; a refusal is reported, not fatal.
async fn start_sharing(
    session: &Session,
    share: &ShareChoice,
    max_w: usize,
    max_h: usize,
    fps: u32,
) -> bool {
    let source = match open_share(share, max_w, max_h, fps) {
        Ok(Some(source)) => source,
        Ok(None) => return false,
        Err(err) => {
            out!("cannot share: {err}");
            return false;
        }
    };
    let what = source.describe();
    match session.start_sharing(source).await {
        Ok(()) => {
            out!("sharing {what}");
            true
        }
        Err(SessionError::SharingConflict { sharer_id }) => {
            out!("cannot share: {sharer_id} is already sharing");
            false
        }
        Err(err) => {
            out!("cannot share: {err}");
            false
        }
    }
}

fn kind_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Audio => "audio",
        StreamKind::Video => "video",
        StreamKind::Screen => "screen",
    }
}

fn print_event(event: &SessionEvent) {
    match event {
        SessionEvent::ParticipantJoined { email, name, .. } => match name {
            Some(n) => out!("+ {n} <{email}> joined"),
            None => out!("+ {email} joined"),
        },
        SessionEvent::ParticipantLeft { email, .. } => out!("- {email} left"),
        SessionEvent::MediaState { id, audio, video } => {
            out!(
                "{id}: microphone {}, camera {}",
                on_off(*audio),
                on_off(*video)
            )
        }
        SessionEvent::Chat(m) => out!("chat {}: {}", m.email, m.text),
        SessionEvent::MediaFlowing { email, kind, .. } => {
            out!("receiving {} from {email}", kind_name(*kind))
        }
        SessionEvent::Connected { id } => out!("connected to {id}"),
        SessionEvent::PeerFailed { id, reason } => out!("connection to {id} failed: {reason}"),
        SessionEvent::SharerStarted { id } => out!("screen share started by {id}"),
        SessionEvent::SharerStopped { id } => out!("screen share stopped by {id}"),
        SessionEvent::Reconnecting => out!("signaling lost: reconnecting"),
        SessionEvent::Rejoined { id, .. } => out!("signaling back: rejoined as {id}"),
        SessionEvent::ConnectionHeld => out!("signaling connection held"),
        SessionEvent::ServerError { code, message } => out!("server: {message} ({code})"),
        SessionEvent::Waiting { room } => out!("waiting to be let into room {room}"),
        SessionEvent::Admitted { room } => out!("admitted into room {room}"),
        SessionEvent::Denied { room } => {
            out!("denied: the host did not let us into room {room}")
        }
        SessionEvent::Removed { room, by } => out!("removed from room {room} by {by}"),
        SessionEvent::HostChanged { host_id } => out!("host is now {host_id}"),
        SessionEvent::RoomSettings(s) => out!(
            "room settings: locked {}, waiting room {}, listed {}",
            on_off(s.locked),
            on_off(s.waiting_room),
            on_off(s.listed)
        ),
        SessionEvent::Knock { id, email, .. } => out!("knock: {email} ({id}) is waiting"),
        SessionEvent::KnockWithdrawn { id } => out!("{id} stopped waiting"),
        SessionEvent::Joined { .. } | SessionEvent::NoMediaConnection { .. } => {}
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn print_summary(report: &SessionReport) {
    for s in &report.received {
        let lat = &s.latency_ms;
        out!(
            "received {} from {}: {} frames, {} barcodes, latency p50 {} ms p95 {} ms, {:.1} fps, {:.0} kbps, {} lost, rtt {} ms, jitter {} ms",
            kind_name(s.kind),
            s.remote_email,
            s.frames_decoded,
            s.barcodes_read,
            lat.p50.map_or("-".into(), |v| v.to_string()),
            lat.p95.map_or("-".into(), |v| v.to_string()),
            s.fps,
            s.kbps,
            s.packets_lost,
            s.rtt_ms.map_or("-".into(), |v| format!("{v:.1}")),
            s.jitter_ms.map_or("-".into(), |v| format!("{v:.1}")),
        );
    }
    for s in &report.sent {
        out!(
            "sent {}: {} frames, {:.1} fps, {:.0} kbps, {:.2} ms/frame encode",
            kind_name(s.kind),
            s.frames_encoded,
            s.fps,
            s.kbps,
            s.encode_ms_per_frame
        );
        if let Some(low) = &s.low {
            out!(
                "  low encoding: {} frames, {:.1} fps, {:.0} kbps, last {}x{}",
                low.frames_encoded,
                low.fps,
                low.kbps,
                low.width.unwrap_or(0),
                low.height.unwrap_or(0)
            );
        }
        for p in &s.peers {
            out!(
                "  to {}: {} at the end, {:.0} kbps, {} full / {} low frames, {} switches",
                p.remote_email.as_deref().unwrap_or(&p.remote_id),
                p.layer.unwrap_or("-"),
                p.kbps,
                p.frames_full,
                p.frames_low,
                p.switches
            );
        }
    }
    for c in &report.connections {
        out!(
            "connection ({}) with {}: {} → {}, connected in {}, {} ICE restart{}",
            c.purpose,
            c.remote_email,
            c.local_candidate_type.as_deref().unwrap_or("-"),
            c.remote_candidate_type.as_deref().unwrap_or("-"),
            c.connect_ms.map_or("-".into(), |v| format!("{v:.0} ms")),
            c.ice_restarts,
            if c.ice_restarts == 1 { "" } else { "s" },
        );
    }
    for e in &report.errors {
        out!("error: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ice_server;

    #[test]
    fn turn_credentials_split_at_the_last_colon() {
        let s = parse_ice_server("turn:1767225600:abc-123:c2VjcmV0K/8=@10.0.0.1:3478").unwrap();
        assert_eq!(s.urls, vec!["turn:10.0.0.1:3478"]);
        assert_eq!(s.username, "1767225600:abc-123");
        assert_eq!(s.credential, "c2VjcmV0K/8=");
    }

    #[test]
    fn plain_turn_user_and_transport_parameter() {
        let s = parse_ice_server("turn:alice:pw@turn.example.com:3478?transport=udp").unwrap();
        assert_eq!(s.urls, vec!["turn:turn.example.com:3478?transport=udp"]);
        assert_eq!(s.username, "alice");
        assert_eq!(s.credential, "pw");
    }

    #[test]
    fn stun_has_no_credentials() {
        let s = parse_ice_server("stun:10.0.0.1:3478").unwrap();
        assert_eq!(s.urls, vec!["stun:10.0.0.1:3478"]);
        assert!(s.username.is_empty() && s.credential.is_empty());
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(parse_ice_server("turn:nopassword@10.0.0.1:3478").is_err());
        assert!(parse_ice_server("turn::pw@10.0.0.1:3478").is_err());
        assert!(parse_ice_server("http://10.0.0.1").is_err());
    }
}
