//! Huddle's signaling server: PROTOCOL.md over Socket.IO v4 (socketioxide on axum).
//!
//! Layout, from the wire inwards:
//! - [`signaling`]: the Socket.IO events, their ordering and who hears about what;
//! - [`protocol`]: payload shapes, validation and error codes;
//! - [`rooms`]: room membership and screen-share arbitration (in memory);
//! - [`chat`]: durable chat history (SQLite);
//! - [`http`]: `/healthz`, `/metrics`, `/api/rooms`;
//! - [`config`], [`metrics`], [`rate_limit`]: settings and bookkeeping.

pub mod chat;
pub mod config;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod rate_limit;
pub mod rooms;
pub mod sfu;
pub mod signaling;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use tokio::net::TcpListener;
use tower_http::cors::CorsLayer;

use crate::chat::{SqliteChatStore, StoreError};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::rooms::MemoryRooms;
use crate::signaling::Hub;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open chat storage at {path}: {source}")]
    Storage { path: String, source: StoreError },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound, ready server. [`Server::run`] serves until the shutdown future resolves.
pub struct Server {
    listener: TcpListener,
    app: axum::Router,
    io: SocketIo,
    hub: Arc<Hub>,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let chat =
            SqliteChatStore::open(&config.storage).map_err(|source| ServerError::Storage {
                path: config.storage.to_string(),
                source,
            })?;
        let listener =
            TcpListener::bind(config.listen)
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
            // Room for a burst of acks and events per client before anything is dropped.
            .max_buffer_size(1024)
            .build_layer();
        let hub = Hub::new(
            io.clone(),
            config.limits.clone(),
            Arc::new(MemoryRooms::new()),
            Arc::new(chat),
            Arc::new(Metrics::default()),
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

        let app = http::routes(http::HttpState {
            hub: hub.clone(),
            admin_token: config.admin_token.clone(),
        })
        .layer(layer)
        .layer(axum::middleware::map_request(http::detach_from_read_buffer))
        .layer(CorsLayer::very_permissive());
        Ok(Server {
            listener,
            app,
            io,
            hub,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Serves until `shutdown` resolves, then disconnects every client and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
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
        // Signaling messages are small and latency-bound: no Nagle delay.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "TCP_NODELAY not set");
            }
        });
        axum::serve(listener, self.app)
            .with_graceful_shutdown(graceful)
            .await
            .map_err(ServerError::Serve)
    }
}
