//! Huddle's signaling server: PROTOCOL.md over Socket.IO v4 (socketioxide on axum).
//! `docs/protocol.md` says how this server implements it.
//!
//! Layout, from the wire inwards:
//! - [`net`]: the listener (TCP or TLS), metered connections, who may connect;
//! - [`http`]: `/healthz`, `/metrics`, `/api/rooms`, and the layer in front of Socket.IO;
//! - [`signaling`]: the Socket.IO events, their ordering and who hears about what;
//! - [`protocol`]: payload shapes, validation and error codes;
//! - [`rooms`]: the room rules (members, host, lock, waiting room, sharer, meetings) as
//!   a state machine;
//! - [`access`]: passcode hashes and the wrong-passcode limit;
//! - [`storage`]: chat and meetings in SQLite;
//! - [`ice`]: STUN/TURN servers and TURN credentials;
//! - [`config`], [`metrics`], [`rate_limit`]: settings and bookkeeping.

pub mod access;
pub mod config;
pub mod http;
pub mod ice;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod rate_limit;
pub mod rooms;
pub mod sfu;
pub mod signaling;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::ServerConfig;
use crate::ice::{IceConfigError, IceServers};
use crate::metrics::Metrics;
use crate::net::tls::TlsError;
use crate::net::{Admission, HuddleListener, Peer};
use crate::rooms::{MemoryRooms, RoomRegistry};
use crate::signaling::{Hub, HubSettings};
use crate::storage::{SqliteStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open chat storage at {path}: {source}")]
    Storage { path: String, source: StoreError },
    #[error("ICE servers: {0}")]
    Ice(#[from] IceConfigError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound, ready server. [`Server::run`] serves until the shutdown future resolves.
pub struct Server {
    listener: HuddleListener,
    app: axum::Router,
    io: SocketIo,
    hub: Arc<Hub>,
    meeting_idle_ms: i64,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let ice = IceServers::new(&config.ice)?;
        let tls = match &config.tls {
            Some(tls) => Some(net::tls::acceptor(&tls.cert, &tls.key)?),
            None => None,
        };
        let (store, recovered) = SqliteStore::open(&config.storage, config.meetings.retention)
            .map_err(|source| ServerError::Storage {
                path: config.storage.to_string(),
                source,
            })?;
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;

        // Hard ceiling for one Engine.IO message: above it the connection is closed.
        // Below it, oversize events are refused politely (`payload_too_large`).
        let frame_limit = (config.limits.max_event_bytes() * 2).max(1 << 20);
        let (layer, io) = SocketIo::builder()
            .max_payload(frame_limit as u64)
            .ws_max_message_size(frame_limit)
            .ws_max_frame_size(frame_limit)
            // Clients send small events (a candidate is ~250 bytes); a larger one grows
            // the buffer as needed. Each connection holds this much while idle.
            .ws_read_buffer_size(1024)
            // Packets queued per client; the byte budget usually cuts a non-reader first.
            .max_buffer_size(1024)
            // A session that never joins the namespace gives its place back soon.
            .connect_timeout(Duration::from_secs(10))
            .build_layer();

        let rooms = Arc::new(MemoryRooms::new(config.meetings.idle_ms));
        let store: Arc<dyn Store> = Arc::new(store);
        let carried = recovered.open_meetings.len();
        for record in rooms.restore(
            recovered.open_meetings,
            recovered.next_meeting,
            recovered.last_alive,
            signaling::unix_ms(),
        ) {
            drop(store.save_meeting(record));
        }
        if carried > 0 {
            tracing::info!(
                meetings = rooms.counts().meetings,
                "carried on meetings from before the restart"
            );
        }
        let allowed_origins = config.admission.allowed_origins.clone();
        let hub = Hub::new(
            HubSettings {
                limits: config.limits.clone(),
                max_outbound_bytes: config.max_outbound_bytes,
                ice,
            },
            rooms,
            store,
            Arc::new(Metrics::default()),
            Admission::new(config.admission),
        );
        // Wired in a connect middleware, which runs before the client is told it is
        // connected: a handler added later would miss events sent right away.
        let on_connect = hub.clone();
        io.ns(
            "/",
            (async || {}).with(async move |socket: SocketRef| {
                on_connect.on_connect(&socket);
                Ok::<(), std::convert::Infallible>(())
            }),
        );

        let mut app = http::routes(http::HttpState {
            hub: hub.clone(),
            admin_token: config.admin_token.clone(),
        })
        .layer(layer)
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            http::sessions,
        ))
        .layer(axum::middleware::map_request(http::detach_from_read_buffer));
        if !allowed_origins.is_empty() {
            let origins: Vec<HeaderValue> = allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            app = app.layer(
                CorsLayer::new()
                    .allow_origin(AllowOrigin::list(origins))
                    .allow_methods([Method::GET, Method::POST])
                    .allow_headers([header::CONTENT_TYPE]),
            );
        }
        Ok(Server {
            listener: HuddleListener::new(tcp, tls),
            app,
            io,
            hub,
            meeting_idle_ms: config.meetings.idle_ms,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        axum::serve::Listener::local_addr(&self.listener)
            .expect("a bound TCP listener has an address")
    }

    /// `https` with TLS, `http` without.
    pub fn scheme(&self) -> &'static str {
        if self.listener.is_tls() {
            "https"
        } else {
            "http"
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Serves until `shutdown` resolves, then disconnects every client and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let sweeper = signaling::spawn_meeting_sweeper(self.hub.clone(), self.meeting_idle_ms);
        let io = self.io.clone();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting clients");
            // Closing the sockets lets the HTTP server's graceful shutdown finish.
            if tokio::time::timeout(Duration::from_secs(5), io.close())
                .await
                .is_err()
            {
                tracing::warn!("clients did not disconnect within 5 s");
            }
        };
        let served = axum::serve(
            self.listener,
            self.app.into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(graceful)
        .await
        .map_err(ServerError::Serve);
        sweeper.abort();
        // Let the last disconnects settle, then make sure storage has it all: rooms
        // that still had people count as empty from now, if this run is restarted.
        tokio::task::yield_now().await;
        self.hub.store.mark_alive(signaling::unix_ms());
        if tokio::time::timeout(Duration::from_secs(5), self.hub.store.flush())
            .await
            .is_err()
        {
            tracing::warn!("storage did not finish writing within 5 s");
        }
        served
    }
}
