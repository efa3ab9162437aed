//! `huddle-server`: the signaling server's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use huddle_server::Server;
use huddle_server::config::{
    AdmissionConfig, ChatStorage, IceConfig, Limits, MeetingConfig, Retention, ServerConfig,
    TlsConfig,
};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Huddle's signaling server: rooms with hosts, passcodes and waiting rooms, call relays, screen-share arbitration, durable chat and ICE servers over Socket.IO v4"
)]
struct Args {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "HUDDLE_LISTEN", default_value = "127.0.0.1:4100")]
    listen: SocketAddr,

    /// Chat database file, or `:memory:` to keep no history across restarts.
    /// Default: huddle/chat.db in the platform's data directory.
    #[arg(long, env = "HUDDLE_DB")]
    db: Option<String>,

    /// Enables GET /api/rooms and protects it and GET /metrics with
    /// `Authorization: Bearer TOKEN`.
    #[arg(long, env = "HUDDLE_ADMIN_TOKEN")]
    admin_token: Option<String>,

    /// Most participants in one room (and most waiting at its door).
    #[arg(long, env = "HUDDLE_ROOM_SIZE", default_value_t = Limits::default().room_size as u32, value_parser = clap::value_parser!(u32).range(1..))]
    room_size: u32,

    /// Chat messages sent to a joiner (the meeting's latest).
    #[arg(long, env = "HUDDLE_HISTORY", default_value_t = Limits::default().history as u32)]
    history: u32,

    /// Largest SDP accepted in an offer or answer, in bytes.
    #[arg(long, env = "HUDDLE_MAX_SDP_BYTES", default_value_t = Limits::default().max_sdp_bytes as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_sdp_bytes: u32,

    /// Longest chat message, in characters.
    #[arg(long, env = "HUDDLE_MAX_CHAT_CHARS", default_value_t = Limits::default().max_chat_chars as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_chat_chars: u32,

    /// Events per second one connection may send (bursts up to twice that); 0 = no limit.
    #[arg(long, env = "HUDDLE_RATE_LIMIT", default_value_t = Limits::default().rate_limit)]
    rate_limit: u32,

    /// A meeting ends when its room has stayed empty this long (milliseconds); its
    /// chat history, lock and listing end with it.
    #[arg(long, env = "HUDDLE_MEETING_IDLE_MS", default_value_t = 300_000)]
    meeting_idle_ms: u32,

    /// Days the chat of an ended meeting is kept; 0 deletes it when the meeting ends.
    #[arg(long, env = "HUDDLE_CHAT_RETENTION_DAYS", default_value_t = 30)]
    chat_retention_days: u32,

    /// Most Socket.IO connections at once; more are refused at the handshake.
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Most connections from one client address (loopback is exempt by default).
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS_PER_IP", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,

    /// Hold loopback addresses to the per-address limits too (for tests).
    #[arg(long, env = "HUDDLE_NO_LOOPBACK_EXEMPTION")]
    no_loopback_exemption: bool,

    /// Behind a local reverse proxy: take the client's address from the last entry of
    /// X-Forwarded-For (only for connections from loopback).
    #[arg(long, env = "HUDDLE_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,

    /// A web origin allowed to connect, e.g. https://meet.example.org (repeatable).
    /// Requests with any other Origin header are refused; clients that send none
    /// (native apps, Node) are not affected.
    #[arg(
        long = "allow-origin",
        env = "HUDDLE_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    allow_origin: Vec<String>,

    /// Bytes that may wait to be sent to one client; a client that does not read is
    /// disconnected past this.
    #[arg(long, env = "HUDDLE_MAX_OUTBOUND_BYTES", default_value_t = 4 << 20, value_parser = clap::value_parser!(u32).range(65536..))]
    max_outbound_bytes: u32,

    /// A STUN server handed to clients, e.g. stun:turn.example.org:3478 (repeatable).
    #[arg(long, env = "HUDDLE_STUN", value_delimiter = ',')]
    stun: Vec<String>,

    /// A TURN server handed to clients with fresh credentials, e.g.
    /// turn:turn.example.org:3478 (repeatable; needs --turn-secret or --turn-secret-file).
    #[arg(long, env = "HUDDLE_TURN_URL", value_delimiter = ',')]
    turn_url: Vec<String>,

    /// coturn's static-auth-secret (use-auth-secret).
    #[arg(long, env = "HUDDLE_TURN_SECRET", conflicts_with = "turn_secret_file")]
    turn_secret: Option<String>,

    /// A file holding coturn's static-auth-secret.
    #[arg(long, env = "HUDDLE_TURN_SECRET_FILE")]
    turn_secret_file: Option<PathBuf>,

    /// Seconds TURN credentials stay valid.
    #[arg(long, env = "HUDDLE_TURN_TTL", default_value_t = 43_200, value_parser = clap::value_parser!(u32).range(1..))]
    turn_ttl: u32,

    /// PEM certificate chain: serve HTTPS and WSS (with --tls-key).
    #[arg(long, env = "HUDDLE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "HUDDLE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Worker threads. 1 (the default) runs everything on one thread, which costs the
    /// least CPU per message: no hand-offs between threads. More spread the load over
    /// cores.
    #[arg(long, env = "HUDDLE_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,

    /// Log format.
    #[arg(long, env = "HUDDLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Registers for SIGTERM and SIGINT now, before the server says it is listening: a
/// signal that arrives right after must already stop it cleanly.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);
    let runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.into())
            .enable_all()
            .build(),
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

fn config(args: &Args) -> anyhow::Result<ServerConfig> {
    let storage = args
        .db
        .as_deref()
        .map(ChatStorage::parse)
        .unwrap_or_else(ChatStorage::default_file);
    let turn_secret = match (&args.turn_secret, &args.turn_secret_file) {
        (Some(secret), _) => Some(secret.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the TURN secret file {}", path.display()))?;
            Some(text.trim_end_matches(['\n', '\r']).to_string())
        }
        (None, None) => None,
    };
    Ok(ServerConfig {
        listen: args.listen,
        storage,
        admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
        limits: Limits {
            room_size: args.room_size as usize,
            history: args.history as usize,
            max_sdp_bytes: args.max_sdp_bytes as usize,
            max_chat_chars: args.max_chat_chars as usize,
            rate_limit: args.rate_limit,
            ..Limits::default()
        },
        meetings: MeetingConfig {
            idle_ms: i64::from(args.meeting_idle_ms),
            retention: Retention {
                days: args.chat_retention_days,
            },
        },
        admission: AdmissionConfig {
            max_connections: args.max_connections as usize,
            max_connections_per_ip: args.max_connections_per_ip as usize,
            exempt_loopback: !args.no_loopback_exemption,
            trust_forwarded_for: args.trust_forwarded_for,
            allowed_origins: args
                .allow_origin
                .iter()
                .filter(|o| !o.is_empty())
                .cloned()
                .collect(),
        },
        max_outbound_bytes: args.max_outbound_bytes as usize,
        ice: IceConfig {
            stun: args
                .stun
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            turn_urls: args
                .turn_url
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            turn_secret,
            turn_ttl: Duration::from_secs(args.turn_ttl.into()),
        },
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
    })
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = config(&args).context("huddle-server could not start")?;
    let storage = config.storage.clone();
    let ice = (config.ice.stun.len(), config.ice.turn_urls.len());
    let server = Server::bind(config)
        .await
        .context("huddle-server could not start")?;
    let shutdown = shutdown_signal()?;
    tracing::info!(database = %storage, "chat storage ready");
    tracing::info!(threads = args.threads, "runtime ready");
    if ice != (0, 0) {
        tracing::info!(stun = ice.0, turn = ice.1, "ICE servers configured");
    }
    // Scripts and tests read the address from this line: keep it plain.
    tracing::info!("listening on {}://{}", server.scheme(), server.local_addr());
    server.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
