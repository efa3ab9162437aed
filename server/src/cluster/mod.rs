//! Several nodes serving one set of rooms, through Redis (`--redis URL`).
//!
//! - Events reach sockets on other nodes through socketioxide's Redis adapter
//!   (`socketioxide-redis`, fred driver): every socket is in a room named after its id.
//! - Room state lives in Redis ([`RedisRooms`]): a transition takes the room's lock
//!   (the per-room sequencer across nodes), loads the rooms it touches, applies the same
//!   rules as a single node ([`crate::rooms::Registry`]) and commits them with one Lua
//!   script that checks the lock is still held; the events go out before the lock is
//!   released, so everyone sees a room's changes in commit order.
//! - Chat lives in Redis Streams ([`RedisChat`]).
//! - Each node heartbeats; the others run the normal leave for a dead node's sockets
//!   (`signaling::nodes`).

mod chat;
mod rooms;
mod scripts;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fred::prelude::*;
use fred::types::RespVersion;
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

pub use chat::RedisChat;
pub use rooms::{Held, RedisRooms};

/// How long a command may wait (Redis away, reconnecting) before the client hears
/// `internal`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Redis URL: {0}")]
    Url(String),
    #[error("cannot reach Redis: {0}")]
    Connect(String),
}

/// Redis is away or refused a step: the client is told `internal`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

impl From<fred::error::Error> for Unavailable {
    fn from(err: fred::error::Error) -> Self {
        Unavailable(format!("Redis: {err}"))
    }
}

/// This node's connection to Redis and its name among the nodes.
pub struct Cluster {
    pub client: Client,
    /// Random per process: a restarted node is a new node.
    pub node: String,
    tokens: AtomicU64,
    /// This node hears the others (false from a lost connection until subscribed again).
    listening: Arc<AtomicBool>,
}

/// Key names, all under `huddle:`.
pub mod keys {
    pub const PLACES: &str = "huddle:places";
    pub const ROOMS: &str = "huddle:rooms";
    pub const EMPTY: &str = "huddle:empty";
    pub const SHARERS: &str = "huddle:sharers";
    pub const NEXT_MEETING: &str = "huddle:next-meeting";
    pub const NODES: &str = "huddle:nodes";

    pub fn room(name: &str) -> String {
        format!("huddle:room:{name}")
    }
    pub fn lock(name: &str) -> String {
        format!("huddle:lock:{name}")
    }
    pub fn chat_seq(room: &str) -> String {
        format!("huddle:chat-seq:{room}")
    }
    pub fn chat(meeting: i64) -> String {
        format!("huddle:chat:{meeting}")
    }
    pub fn alive(node: &str) -> String {
        format!("huddle:alive:{node}")
    }
    pub fn conns(node: &str) -> String {
        format!("huddle:conns:{node}")
    }
    pub fn wrong_passcodes(ip: &std::net::IpAddr) -> String {
        format!("huddle:wrong-passcodes:{ip}")
    }
    pub fn reaper(node: &str) -> String {
        format!("huddle:reaper:{node}")
    }
}

fn config(url: &str) -> Result<Config, ClusterError> {
    let mut config = Config::from_url(url).map_err(|e| ClusterError::Url(e.to_string()))?;
    // The adapter's driver speaks RESP3 (fred does not read it from the URL).
    config.version = RespVersion::RESP3;
    Ok(config)
}

fn builder(config: Config) -> Builder {
    let mut builder = Builder::from_config(config);
    builder
        .with_performance_config(|p| {
            p.default_command_timeout = COMMAND_TIMEOUT;
            // The subscriber hands messages to the adapter through a broadcast channel
            // that drops what a busy node has not read yet (32 by default: the
            // benchmark lost relays under load with it). Its slots are allocated up
            // front: 65,536 cost ~80 MB per node; 4,096 a few MB.
            p.broadcast_channel_capacity = 4096;
        })
        .with_connection_config(|c| {
            c.connection_timeout = COMMAND_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
        })
        // Forever, every half second: a node comes back by itself when Redis does.
        .set_policy(ReconnectPolicy::new_constant(0, 500));
    builder
}

/// Subscribes again after a reconnection (Redis restarted), or the adapter would hear
/// nothing from the other nodes from then on. (fred's own `manage_subscriptions` stops
/// at the plain channels, which the adapter does not use: it uses sharded ones.)
fn resubscribe_on_reconnect(
    subscriber: &fred::clients::SubscriberClient,
    listening: Arc<AtomicBool>,
) {
    let mut errors = subscriber.error_rx();
    let lost = listening.clone();
    tokio::spawn(async move {
        while errors.recv().await.is_ok() {
            lost.store(false, Ordering::Release);
        }
    });
    let subscriber = subscriber.clone();
    let mut reconnected = subscriber.reconnect_rx();
    tokio::spawn(async move {
        while reconnected.recv().await.is_ok() {
            let channels: Vec<String> = subscriber
                .tracked_shard_channels()
                .into_iter()
                .map(|c| c.to_string())
                .collect();
            if channels.is_empty() {
                continue;
            }
            match subscriber.ssubscribe(channels).await {
                Ok(()) => {
                    listening.store(true, Ordering::Release);
                    tracing::info!("subscribed again to the other nodes");
                }
                Err(err) => tracing::error!(%err, "could not subscribe again after reconnecting"),
            }
        }
    });
}

impl Cluster {
    /// Connects the command client and the adapter's subscriber client.
    pub async fn connect(
        url: &str,
    ) -> Result<(Arc<Cluster>, RedisAdapterCtr<FredDriver>), ClusterError> {
        let config = config(url)?;
        let connect = |e: fred::error::Error| ClusterError::Connect(e.to_string());
        let client = builder(config.clone()).build().map_err(connect)?;
        client.init().await.map_err(connect)?;
        let subscriber = builder(config).build_subscriber_client().map_err(connect)?;
        let listening = Arc::new(AtomicBool::new(true));
        resubscribe_on_reconnect(&subscriber, listening.clone());
        let adapter = RedisAdapterCtr::new_with_fred_config(
            subscriber,
            // Room for bursts: a full channel drops what does not fit.
            RedisAdapterConfig::default()
                .with_prefix("huddle")
                .with_stream_buffer(65_536),
        )
        .await
        .map_err(connect)?;
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|e| ClusterError::Connect(e.to_string()))?;
        let node: String = node.iter().map(|b| format!("{b:02x}")).collect();
        Ok((
            Arc::new(Cluster {
                client,
                node,
                tokens: AtomicU64::new(0),
                listening,
            }),
            adapter,
        ))
    }

    /// Whether events from other nodes reach this one.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Wrong passcodes from `ip` in the current minute, across nodes; `count` adds one.
    pub async fn wrong_passcodes(
        &self,
        ip: std::net::IpAddr,
        count: bool,
    ) -> Result<u32, Unavailable> {
        let n: i64 = scripts::WRONG_PASSCODES
            .evalsha_with_reload(
                &self.client,
                vec![keys::wrong_passcodes(&ip)],
                vec![
                    "60000".to_string(),
                    if count { "1" } else { "0" }.to_string(),
                ],
            )
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// A token unique across nodes, for one holding of a lock.
    pub fn token(&self) -> String {
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.node)
    }
}
