//! `huddle-server`: the signaling server's command line.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use huddle_server::Server;
use huddle_server::config::{ChatStorage, Limits, ServerConfig};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Huddle's signaling server: rooms, call relays, screen-share arbitration and durable chat over Socket.IO v4"
)]
struct Args {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "HUDDLE_LISTEN", default_value = "127.0.0.1:4100")]
    listen: SocketAddr,

    /// Chat database file, or `:memory:` to keep no history across restarts.
    /// Default: huddle/chat.db in the platform's data directory.
    #[arg(long, env = "HUDDLE_DB")]
    db: Option<String>,

    /// Require `Authorization: Bearer TOKEN` for GET /api/rooms.
    #[arg(long, env = "HUDDLE_ADMIN_TOKEN")]
    admin_token: Option<String>,

    /// Most participants in one room.
    #[arg(long, env = "HUDDLE_ROOM_SIZE", default_value_t = Limits::default().room_size as u32, value_parser = clap::value_parser!(u32).range(1..))]
    room_size: u32,

    /// Chat messages sent to a joiner (the room's latest).
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

async fn serve(args: Args) -> anyhow::Result<()> {
    let storage = args
        .db
        .as_deref()
        .map(ChatStorage::parse)
        .unwrap_or_else(ChatStorage::default_file);
    let limits = Limits {
        room_size: args.room_size as usize,
        history: args.history as usize,
        max_sdp_bytes: args.max_sdp_bytes as usize,
        max_chat_chars: args.max_chat_chars as usize,
        rate_limit: args.rate_limit,
        ..Limits::default()
    };
    let config = ServerConfig {
        listen: args.listen,
        storage: storage.clone(),
        admin_token: args.admin_token.filter(|t| !t.is_empty()),
        limits,
    };
    let server = Server::bind(config)
        .await
        .context("huddle-server could not start")?;
    let shutdown = shutdown_signal()?;
    tracing::info!(database = %storage, "chat storage ready");
    tracing::info!(threads = args.threads, "runtime ready");
    // Scripts and tests read the address from this line: keep it plain.
    tracing::info!("listening on http://{}", server.local_addr());
    server.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
