//! Keeping connections alive across network trouble: an ICE restart when a path stays
//! broken or when the ICE servers change (renewed TURN credentials), giving up on a
//! relay-only connection that got no relay, and what each connection became (for the
//! report).

use std::time::{Duration, Instant};

use super::link::{LinkKind, Purpose, Waiting};
use super::{Core, LinkKey};
use crate::session::event::SessionEvent;

/// How long ICE may stay disconnected before the offerer restarts it. webrtc-rs only
/// declares "failed" much later; a browser's app restarts after a few seconds too.
pub const RESTART_AFTER_DISCONNECTED: Duration = Duration::from_secs(2);

/// What one peer connection became.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// Tells it from other connections with the same participant.
    pub generation: u64,
    pub remote_id: String,
    pub remote_email: String,
    pub kind: LinkKind,
    /// From creating the connection to ICE first connected.
    pub connect_ms: Option<f64>,
    pub ice_restarts: u32,
}

impl Core {
    pub(super) fn record(&self, key: &LinkKey, link: &super::Link) -> ConnectionRecord {
        ConnectionRecord {
            generation: link.generation,
            remote_id: key.remote.clone(),
            remote_email: self.email_of(&key.remote),
            kind: key.kind,
            connect_ms: link
                .connected_at
                .map(|t| t.saturating_duration_since(link.created).as_secs_f64() * 1000.0),
            ice_restarts: link.restarts_done,
        }
    }

    /// Every connection of the session: those that ended, then the open ones.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        let mut all = self.closed_connections.clone();
        for key in self.keys(|_| true) {
            if let Some(link) = self.links.get(&key) {
                all.push(self.record(&key, link));
            }
        }
        all
    }

    pub(super) fn on_disconnected(&mut self, now: Instant, key: &LinkKey) {
        if let Some(link) = self.links.get_mut(key) {
            tracing::info!(peer = %key.remote, kind = ?key.kind, "ICE disconnected");
            link.disconnected_since.get_or_insert(now);
        }
    }

    /// Restarts ICE on connections disconnected for too long, once per disconnection
    /// (a restart that does not help ends in "failed", handled by `on_failed`).
    pub(super) fn check_disconnected(&mut self, now: Instant) {
        let due: Vec<LinkKey> = self
            .keys(|_| true)
            .into_iter()
            .filter(|key| {
                self.links.get(key).is_some_and(|l| {
                    l.offerer
                        && !l.restarted_for_disconnect
                        && l.waiting == Waiting::Nothing
                        && l.disconnected_since.is_some_and(|t| {
                            now.saturating_duration_since(t) >= RESTART_AFTER_DISCONNECTED
                        })
                })
            })
            .collect();
        for key in due {
            if let Some(link) = self.links.get_mut(&key) {
                link.restarted_for_disconnect = true;
            }
            tracing::info!(peer = %self.email_of(&key.remote), "path lost; restarting ICE");
            self.offer(&key, Purpose::IceRestart, true);
        }
    }

    /// New ICE servers: restart ICE so they are gathered from. Calls are restarted by
    /// whichever side renews (both may offer on a call); a shared screen by the sharer,
    /// who offers it.
    pub(super) fn on_ice_servers_changed(&mut self) {
        let keys = self.keys(|k| k.kind != LinkKind::ShareIn);
        for key in keys {
            let idle = self
                .links
                .get(&key)
                .is_some_and(|l| l.waiting == Waiting::Nothing && l.remote_description_set);
            if idle {
                tracing::info!(peer = %self.email_of(&key.remote), "new ICE servers; restarting ICE");
                self.offer(&key, Purpose::IceRestart, true);
            } else {
                tracing::debug!(peer = %key.remote, "negotiating: the new ICE servers apply at its next restart");
            }
        }
    }

    /// A relay-only connection without a relay candidate: nothing can connect, so
    /// say why now rather than let ICE wait.
    pub(super) fn on_no_relay(&mut self, key: &LinkKey, reason: &str) {
        let who = self.email_of(&key.remote);
        self.note_error(format!("connection to {who} cannot relay: {reason}"));
        self.close(key);
        self.emit(SessionEvent::PeerFailed {
            id: key.remote.clone(),
            reason: format!("no relay candidate: {reason}"),
        });
    }
}
