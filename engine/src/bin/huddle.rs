//! `huddle`: a full participant from the command line, for tests, benchmarks, bots and
//! people on servers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use huddle_engine::devices::{self, CameraChoice, MicChoice, OpenedMedia, SpeakerChoice};
use huddle_engine::share::{ShareChoice, list_screens, list_windows, open_share};
use huddle_engine::{
    DiscardFrames, IceServer, Identity, PeerSetup, Session, SessionConfig, SessionError,
    SessionEvent, SessionReport, StreamKind,
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
    /// `test` (synthetic 640x480@30 with a timestamp barcode), `default`, a camera id, or `none`.
    #[arg(long, default_value = "default")]
    camera: String,
    /// `sine` (440 Hz), `default`, a microphone id, or `none`.
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
    /// STUN/TURN server: `stun:host:port` or `turn:user:password@host:port` (repeatable).
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
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
        let (user, password) = credentials
            .split_once(':')
            .context("TURN credentials are user:password")?;
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
    };
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let config = SessionConfig {
        identity,
        peers: setup,
        connect_timeout: Some(connect_timeout),
    };
    out!("speaker: {}", playback.describe());
    let mut session = Session::join(
        config,
        local,
        playback.mixer.clone(),
        Arc::new(DiscardFrames),
    )
    .await
    .context("cannot join")?;
    let mut events = session
        .take_events()
        .context("the session's events are gone")?;
    let joined = session.joined();
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
            event = events.recv() => match event {
                // Someone was met and no call came up in time.
                Some(SessionEvent::NoMediaConnection { .. }) => {
                    never_connected = true;
                    break;
                }
                Some(event) => print_event(&event),
                None => break,
            },
        }
    }
    let report = session.leave().await.context("leaving")?;
    print_summary(&report);
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    anyhow::ensure!(
        !never_connected,
        "media never connected: no peer connection came up within {:.0} s",
        connect_timeout.as_secs_f64()
    );
    Ok(())
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
    }
    for e in &report.errors {
        out!("error: {e}");
    }
}
