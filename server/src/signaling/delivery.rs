//! Events to sockets: those on this node straight to their socket (within their byte
//! budget), those on other nodes through the Redis adapter, to the room named after
//! each socket. Handlers post a transition's events to an [`Outbox`] and deliver it
//! while they still hold the room's sequencer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketIo};

use super::state::Rooms;
use super::{Hub, raw};
use crate::cluster::keys;
use crate::rooms::{ConnId, Joined};

/// A connected socket, whatever adapter serves it.
pub trait ClientSocket: Send + Sync + 'static {
    fn id(&self) -> ConnId;
    fn emit(&self, event: &str, data: &RawValue) -> Result<(), SendError>;
    /// Closes the Socket.IO session.
    fn close(&self);
}

impl<A: Adapter> ClientSocket for SocketRef<A> {
    fn id(&self) -> ConnId {
        self.id
    }
    fn emit(&self, event: &str, data: &RawValue) -> Result<(), SendError> {
        socketioxide::socket::Socket::emit(self, event, data)
    }
    fn close(&self) {
        let _ = self.clone().disconnect();
    }
}

pub type RemoteFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Sockets on other nodes.
pub trait Remote: Send + Sync + 'static {
    /// Sends `event` to each socket of `to` (ids), wherever it is; resolves once handed
    /// to Redis.
    fn emit(&self, to: Vec<String>, event: &'static str, data: Box<RawValue>) -> RemoteFuture;
}

impl<A: Adapter> Remote for SocketIo<A> {
    fn emit(&self, to: Vec<String>, event: &'static str, data: Box<RawValue>) -> RemoteFuture {
        let io = self.clone();
        Box::pin(async move {
            io.to(to)
                .emit(event, &data)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Events a transition produced, in order.
#[derive(Default)]
pub struct Outbox {
    items: Vec<(Vec<ConnId>, &'static str, Box<RawValue>)>,
    /// Waiters let in by the transition: each gets `lobby:admitted` once the rest is out
    /// (its ack reads the chat history, so it is built after the room's turn).
    /// Events only from here: dropping an outbox without `take_admitted` loses an ack.
    admitted: Vec<Joined>,
}

impl Outbox {
    /// `event` to each of `to`, serialized once.
    pub fn post<T: Serialize + ?Sized>(&mut self, to: &[ConnId], event: &'static str, data: &T) {
        if to.is_empty() {
            return;
        }
        if let Some(data) = raw(data) {
            self.items.push((to.to_vec(), event, data));
        }
    }

    pub fn post_one<T: Serialize + ?Sized>(&mut self, to: ConnId, event: &'static str, data: &T) {
        self.post(&[to], event, data);
    }

    pub fn let_in(&mut self, joined: Joined) {
        self.admitted.push(joined);
    }

    /// The waiters to let in, for [`Hub::send_admissions`] once the room's turn is over.
    pub fn take_admitted(&mut self) -> Vec<Joined> {
        std::mem::take(&mut self.admitted)
    }
}

impl Hub {
    /// Sends everything in `out`, in order.
    pub(super) async fn deliver(&self, out: Outbox) {
        for (to, event, data) in out.items {
            let remote = self.emit_local(&to, event, &data);
            if !remote.is_empty() {
                self.emit_remote(remote, event, data).await;
            }
        }
    }

    /// Emits to the sockets of `to` on this node; hands back the others' ids (only in a
    /// cluster: on one node, a socket not here is gone).
    fn emit_local(&self, to: &[ConnId], event: &str, data: &RawValue) -> Vec<String> {
        let clients = self.clients();
        let mut remote = Vec::new();
        for id in to {
            match clients.get(id) {
                Some(client) => {
                    self.emit_raw(client, event, data);
                }
                None if self.remote.is_some() => remote.push(id.to_string()),
                None => {}
            }
        }
        remote
    }

    async fn emit_remote(&self, to: Vec<String>, event: &'static str, data: Box<RawValue>) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        match remote.emit(to, event, data).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(event, %err, "could not reach other nodes");
                false
            }
        }
    }

    /// Sends `event` now to those of `to` connected to this node (the SFU path, which
    /// runs on one node only).
    pub(super) fn send_local<T: Serialize + ?Sized>(&self, to: &[ConnId], event: &str, data: &T) {
        if let Some(data) = raw(data) {
            let clients = self.clients();
            for id in to {
                if let Some(client) = clients.get(id) {
                    self.emit_raw(client, event, &data);
                }
            }
        }
    }

    /// Sends one event to one connection now; false if it is gone, over its budget, or
    /// (on another node) Redis did not take it.
    pub(super) async fn send_now<T: Serialize + ?Sized>(
        &self,
        to: ConnId,
        event: &'static str,
        data: &T,
    ) -> bool {
        let Some(data) = raw(data) else { return false };
        let remote = {
            let clients = self.clients();
            match clients.get(&to) {
                Some(client) => return self.emit_raw(client, event, &data),
                None => self.remote.is_some(),
            }
        };
        remote && self.emit_remote(vec![to.to_string()], event, data).await
    }

    /// Notes in Redis that `id` is served here, so that another node can end its
    /// session if this node dies.
    pub(super) fn node_joined(&self, id: ConnId) {
        if let Rooms::Redis(rooms) = &self.rooms {
            let cluster = rooms.cluster().clone();
            tokio::spawn(async move {
                use fred::prelude::*;
                let added: Result<i64, _> = cluster
                    .client
                    .sadd(keys::conns(&cluster.node), id.to_string())
                    .await;
                if let Err(err) = added {
                    tracing::warn!(%err, "could not record a connection in Redis");
                }
            });
        }
    }

    pub(super) async fn node_left(&self, id: ConnId) {
        if let Rooms::Redis(rooms) = &self.rooms {
            use fred::prelude::*;
            let cluster = rooms.cluster();
            let removed: Result<i64, _> = cluster
                .client
                .srem(keys::conns(&cluster.node), id.to_string())
                .await;
            if let Err(err) = removed {
                tracing::warn!(%err, "could not forget a connection in Redis");
            }
        }
    }
}

/// Boxes a socket for the hub.
pub(super) fn erase<A: Adapter>(socket: SocketRef<A>) -> Arc<dyn ClientSocket> {
    Arc::new(socket)
}
