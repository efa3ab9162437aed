//! Node liveness in a cluster: each node renews a key with a short expiry; every node
//! looks for nodes whose key expired and runs the normal leave (`sharerStopped`,
//! `user:left`, host hand-over) for their sockets, so a crashed node leaves no ghosts.
//!
//! After an outage of Redis every key may have expired: a node reaps others only once
//! its own link has been healthy longer than the expiry, so that live nodes have
//! renewed theirs by then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::{Expiration, SetOptions};

use super::Hub;
use super::state::Rooms;
use crate::cluster::{Cluster, keys};

/// How often a node renews its key and looks for dead nodes.
pub const BEAT: Duration = Duration::from_secs(1);
/// A node silent this long is dead.
pub const EXPIRY: Duration = Duration::from_secs(3);
/// Every this many beats a node ends the sessions Redis still has for it but it does
/// not (a leave that failed while Redis was away).
const OWN_SWEEP_BEATS: u64 = 10;

pub fn spawn_liveness(hub: Arc<Hub>) -> Option<tokio::task::JoinHandle<()>> {
    let Rooms::Redis(rooms) = &hub.rooms else {
        return None;
    };
    let cluster = rooms.cluster().clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut healthy_since = Instant::now();
        let mut was_down = false;
        let mut beats: u64 = 0;
        loop {
            tick.tick().await;
            beats += 1;
            if let Err(err) = beat(&cluster).await {
                if !was_down {
                    tracing::warn!(%err, "Redis does not answer; retrying");
                }
                was_down = true;
                healthy_since = Instant::now();
                continue;
            }
            if was_down {
                tracing::info!("Redis answers again");
                was_down = false;
            }
            if healthy_since.elapsed() > EXPIRY * 2
                && let Err(err) = reap_dead(&hub, &cluster).await
            {
                tracing::warn!(%err, "could not look for dead nodes");
            }
            if beats.is_multiple_of(OWN_SWEEP_BEATS)
                && let Err(err) = sweep_own(&hub, &cluster).await
            {
                tracing::warn!(%err, "could not check this node's sessions");
            }
        }
    }))
}

async fn beat(cluster: &Cluster) -> Result<(), fred::error::Error> {
    let _: Option<String> = cluster
        .client
        .set(
            keys::alive(&cluster.node),
            "1",
            Some(Expiration::PX(EXPIRY.as_millis() as i64)),
            None,
            false,
        )
        .await?;
    let _: i64 = cluster
        .client
        .sadd(keys::NODES, cluster.node.clone())
        .await?;
    Ok(())
}

async fn reap_dead(hub: &Hub, cluster: &Cluster) -> Result<(), fred::error::Error> {
    let nodes: Vec<String> = cluster.client.smembers(keys::NODES).await?;
    for node in nodes {
        if node == cluster.node {
            continue;
        }
        let alive: i64 = cluster.client.exists(keys::alive(&node)).await?;
        if alive > 0 {
            continue;
        }
        // One node reaps a dead one.
        let claimed: Option<String> = cluster
            .client
            .set(
                keys::reaper(&node),
                cluster.node.clone(),
                Some(Expiration::PX(30_000)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        if claimed.is_none() {
            continue;
        }
        let conns: Vec<String> = cluster.client.smembers(keys::conns(&node)).await?;
        tracing::warn!(%node, connections = conns.len(), "a node stopped answering; ending its sessions");
        for conn in &conns {
            let Ok(id) = conn.parse() else { continue };
            if let Err(refused) = hub.leave(id).await {
                tracing::warn!(socket = %conn, message = %refused.message, "could not end a dead node's session");
                // Left for the next pass.
                return Ok(());
            }
            let _: i64 = cluster
                .client
                .srem(keys::conns(&node), conn.clone())
                .await?;
        }
        let _: i64 = cluster.client.del(keys::conns(&node)).await?;
        let _: i64 = cluster.client.srem(keys::NODES, node.clone()).await?;
    }
    Ok(())
}

async fn sweep_own(hub: &Hub, cluster: &Cluster) -> Result<(), fred::error::Error> {
    let conns: Vec<String> = cluster.client.smembers(keys::conns(&cluster.node)).await?;
    for conn in conns {
        let Ok(id) = conn.parse() else { continue };
        if hub.is_connected_here(id) {
            continue;
        }
        if hub.leave(id).await.is_ok() {
            let _: i64 = cluster
                .client
                .srem(keys::conns(&cluster.node), conn)
                .await?;
        }
    }
    Ok(())
}
