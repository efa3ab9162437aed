//! Room state in Redis, behind the same rules as a single node.
//!
//! A transition: take the locks of the rooms it touches (one Lua script, all or none),
//! load those rooms into a [`Registry`], apply the rule, commit what changed with one
//! Lua script that first checks the locks are still ours. The caller sends the events
//! while it still holds the locks and releases them after ([`Held`]): the lock is the
//! room's sequencer across nodes, so its events go out in commit order.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;

use super::scripts::{COMMIT, LOCK, RELAY, UNLOCK};
use super::{Cluster, Unavailable, keys};
use crate::rooms::{ConnId, Millis, Place, Registry};

/// A lock outlives a stalled node by this much at most.
const LOCK_MS: u64 = 5_000;
/// Longest wait for a busy room.
const LOCK_WAIT: Duration = Duration::from_secs(5);

pub struct RedisRooms {
    cluster: Arc<Cluster>,
    idle_ms: Millis,
}

/// Room locks held by this node; released by [`Held::release`] (or, if forgotten, in
/// the background when dropped).
pub struct Held {
    cluster: Arc<Cluster>,
    token: String,
    locks: Vec<String>,
}

impl Held {
    pub async fn release(mut self) {
        let locks = std::mem::take(&mut self.locks);
        unlock(&self.cluster, &self.token, locks).await;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.locks.is_empty() {
            return;
        }
        let locks = std::mem::take(&mut self.locks);
        let (cluster, token) = (self.cluster.clone(), self.token.clone());
        tokio::spawn(async move { unlock(&cluster, &token, locks).await });
    }
}

async fn unlock(cluster: &Cluster, token: &str, locks: Vec<String>) {
    if let Err(err) = UNLOCK
        .evalsha_with_reload::<i64, _, _>(&cluster.client, locks, vec![token.to_string()])
        .await
    {
        // It expires by itself.
        tracing::warn!(%err, "could not release a room lock");
    }
}

pub fn encode_place(place: &Place) -> String {
    let kind = if place.waiting { "w" } else { "m" };
    format!("{kind}:{}", place.room)
}

pub fn decode_place(text: &str) -> Option<Place> {
    let (kind, room) = text.split_once(':')?;
    Some(Place {
        room: room.to_string(),
        waiting: kind == "w",
    })
}

impl RedisRooms {
    pub fn new(cluster: Arc<Cluster>, idle_ms: Millis) -> Self {
        RedisRooms { cluster, idle_ms }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub async fn place_of(&self, id: ConnId) -> Result<Option<Place>, Unavailable> {
        let place: Option<String> = self
            .cluster
            .client
            .hget(keys::PLACES, id.to_string())
            .await?;
        Ok(place.as_deref().and_then(decode_place))
    }

    /// Takes the locks of `rooms`, waiting while another holder has one.
    pub async fn lock(&self, rooms: &[String]) -> Result<Held, Unavailable> {
        let mut locks: Vec<String> = rooms.iter().map(|r| keys::lock(r)).collect();
        locks.sort();
        locks.dedup();
        let token = self.cluster.token();
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            let taken: i64 = LOCK
                .evalsha_with_reload(
                    &self.cluster.client,
                    locks.clone(),
                    vec![token.clone(), LOCK_MS.to_string()],
                )
                .await?;
            if taken == 1 {
                return Ok(Held {
                    cluster: self.cluster.clone(),
                    token,
                    locks,
                });
            }
            if Instant::now() > deadline {
                return Err(Unavailable("the room is busy; try again".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The rooms `names` (those that exist) and everyone's place in them.
    pub async fn load(&self, names: &[String]) -> Result<Registry, Unavailable> {
        let mut registry = Registry::new(self.idle_ms);
        if names.is_empty() {
            return Ok(registry);
        }
        let room_keys: Vec<String> = names.iter().map(|n| keys::room(n)).collect();
        let docs: Vec<Option<String>> = if room_keys.len() == 1 {
            vec![self.cluster.client.get(room_keys[0].clone()).await?]
        } else {
            self.cluster.client.mget(room_keys).await?
        };
        for (name, doc) in names.iter().zip(docs) {
            let Some(doc) = doc else { continue };
            let doc = serde_json::from_str(&doc)
                .map_err(|e| Unavailable(format!("room {name} is unreadable: {e}")))?;
            registry
                .load_room(name, &doc)
                .map_err(|e| Unavailable(e.to_string()))?;
        }
        Ok(registry)
    }

    /// Runs one transition: on `anchor`'s room (wherever it is) and `extra`, locked,
    /// committed. The caller sends the events, then releases the locks.
    pub async fn transact<R>(
        &self,
        anchor: Option<ConnId>,
        extra: Option<&str>,
        f: impl FnOnce(&mut Registry) -> R,
    ) -> Result<(R, Held), Unavailable> {
        loop {
            let place = match anchor {
                Some(id) => self.place_of(id).await?,
                None => None,
            };
            let mut names: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            if let Some(p) = &place
                && !names.contains(&p.room)
            {
                names.push(p.room.clone());
            }
            let held = self.lock(&names).await?;
            // It moved before we held its room: start again with the room it is in now.
            if let Some(id) = anchor
                && self.place_of(id).await? != place
            {
                held.release().await;
                continue;
            }
            let mut registry = self.load(&names).await?;
            if let Some(room) = extra
                && registry.room_doc(room).is_none()
            {
                let next: i64 = self.cluster.client.incr(keys::NEXT_MEETING).await?;
                registry.set_next_meeting(next);
            }
            let before = Snapshot::of(&registry, &names)?;
            let out = f(&mut registry);
            self.commit(&held, &names, &before, &registry).await?;
            return Ok((out, held));
        }
    }

    async fn commit(
        &self,
        held: &Held,
        names: &[String],
        before: &Snapshot,
        after: &Registry,
    ) -> Result<(), Unavailable> {
        let now = Snapshot::of(after, names)?;
        let mut room_keys = Vec::new();
        let mut room_args = Vec::new();
        for name in names {
            let (old, new) = (before.docs.get(name), now.docs.get(name));
            if old == new {
                continue;
            }
            room_keys.push(keys::room(name));
            room_args.push(name.clone());
            match new {
                Some((doc, emptied, sharer)) => {
                    room_args.push(doc.clone());
                    room_args.push(emptied.map(|t| t.to_string()).unwrap_or_default());
                    room_args.push(sharer.clone().unwrap_or_default());
                }
                None => room_args.extend([String::new(), String::new(), String::new()]),
            }
        }
        let mut place_args = Vec::new();
        for (id, place) in &now.places {
            if before.places.get(id) != Some(place) {
                place_args.push(id.clone());
                place_args.push(place.clone());
            }
        }
        for id in before.places.keys() {
            if !now.places.contains_key(id) {
                place_args.push(id.clone());
                place_args.push(String::new());
            }
        }
        if room_keys.is_empty() && place_args.is_empty() {
            return Ok(());
        }
        let mut script_keys: Vec<String> = vec![
            keys::PLACES.into(),
            keys::ROOMS.into(),
            keys::EMPTY.into(),
            keys::SHARERS.into(),
        ];
        script_keys.extend(held.locks.iter().cloned());
        let m = room_keys.len();
        script_keys.extend(room_keys);
        let mut args = vec![
            held.token.clone(),
            held.locks.len().to_string(),
            m.to_string(),
        ];
        args.extend(room_args);
        args.push((place_args.len() / 2).to_string());
        args.extend(place_args);
        let done: i64 = COMMIT
            .evalsha_with_reload(&self.cluster.client, script_keys, args)
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(Unavailable(
                "the room's lock expired before its change was saved; try again".into(),
            ))
        }
    }

    /// Reads `names` without locking (a consistent view of each room).
    pub async fn read<R>(
        &self,
        names: &[String],
        f: impl FnOnce(&Registry) -> R,
    ) -> Result<R, Unavailable> {
        let registry = self.load(names).await?;
        Ok(f(&registry))
    }

    /// Every room (for listings and counts: not on a hot path).
    pub async fn read_all<R>(&self, f: impl FnOnce(&Registry) -> R) -> Result<R, Unavailable> {
        let mut names: Vec<String> = self.cluster.client.smembers(keys::ROOMS).await?;
        names.sort();
        self.read(&names, f).await
    }

    /// Where `from` and `to` are, and who shares in `from`'s room: one round trip.
    pub async fn relay_view(
        &self,
        from: ConnId,
        to: ConnId,
    ) -> Result<(Option<Place>, Option<Place>, Option<ConnId>), Unavailable> {
        let (a, b, s): (String, String, String) = RELAY
            .evalsha_with_reload(
                &self.cluster.client,
                vec![keys::PLACES, keys::SHARERS],
                vec![from.to_string(), to.to_string()],
            )
            .await?;
        Ok((
            decode_place(&a),
            decode_place(&b),
            ConnId::from_str(&s).ok(),
        ))
    }

    /// Rooms empty for at least the idle time.
    pub async fn idle_rooms(&self, now: Millis) -> Result<Vec<String>, Unavailable> {
        let max = (now - self.idle_ms) as f64;
        Ok(self
            .cluster
            .client
            .zrangebyscore(keys::EMPTY, f64::NEG_INFINITY, max, false, None)
            .await?)
    }
}

/// Rooms and places as stored, to see what a transition changed.
struct Snapshot {
    /// Per room: its document, when it emptied, its sharer.
    docs: HashMap<String, (String, Option<Millis>, Option<String>)>,
    places: HashMap<String, String>,
}

impl Snapshot {
    fn of(registry: &Registry, names: &[String]) -> Result<Snapshot, Unavailable> {
        let mut docs = HashMap::new();
        for name in names {
            if let Some(doc) = registry.room_doc(name) {
                let text = serde_json::to_string(&doc).map_err(|e| Unavailable(e.to_string()))?;
                let emptied = if doc.members.is_empty() {
                    doc.emptied_at
                } else {
                    None
                };
                docs.insert(name.clone(), (text, emptied, doc.sharer.clone()));
            }
        }
        let places = registry
            .places()
            .map(|(id, place)| (id.to_string(), encode_place(place)))
            .collect();
        Ok(Snapshot { docs, places })
    }
}
