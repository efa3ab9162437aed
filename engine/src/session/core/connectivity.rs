//! Keeping connections alive across network trouble: an ICE restart when a path stays
//! broken or when the ICE servers change (renewed TURN credentials), a new connection
//! when the DTLS handshake stalls, giving up on a relay-only connection that got no
//! relay, and what each connection became (for the report).

use std::time::{Duration, Instant};

use super::link::{LinkKind, Purpose, Waiting};
use super::{Core, LinkKey};
use crate::session::event::SessionEvent;

/// How long ICE may stay disconnected before the offerer restarts it. webrtc-rs only
/// declares "failed" much later; a browser's app restarts after a few seconds too.
pub const RESTART_AFTER_DISCONNECTED: Duration = Duration::from_secs(2);

/// How long a connection may have ICE connected and DTLS unfinished before the offerer
/// rebuilds it. A handshake takes two round trips, one lost flight a second more. Waiting
/// longer does not help: rtc-dtls 0.21 never finishes once the DTLS client's last flight
/// is lost (the server's repeats of its own flight cancel the client's retransmit timer),
/// and gives up only after ~8 s.
pub const HANDSHAKE_WITHIN: Duration = Duration::from_secs(4);

/// Connections rebuilt for a stalled handshake before the peer is given up.
pub const MAX_REDIALS: u32 = 3;

/// What one peer connection became.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// Tells it from other connections with the same participant.
    pub generation: u64,
    pub remote_id: String,
    pub remote_email: String,
    pub kind: LinkKind,
    /// From creating the connection to its first being up (ICE and DTLS).
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

    pub(super) fn on_ice_connected(&mut self, now: Instant, key: &LinkKey) {
        if let Some(link) = self.links.get_mut(key) {
            link.ice_connected_at.get_or_insert(now);
        }
    }

    /// Rebuilds each connection whose DTLS handshake has not finished `HANDSHAKE_WITHIN`
    /// after ICE connected: a new connection (a new certificate, a new handshake) offered
    /// as a new call or screen; the peer replaces its half (`on_incoming_call`,
    /// `on_share_offer`). The side that offered rebuilds; the one that answered a call
    /// waits twice as long and then calls back itself, for a caller that never rebuilds
    /// (a browser). The caller's rebuild replaces the answerer's connection first, so the
    /// two never cross. An ICE restart would not help: it keeps the stalled association.
    pub(super) fn check_handshakes(&mut self, now: Instant) {
        let due: Vec<LinkKey> = self
            .keys(|k| k.kind != LinkKind::ShareIn)
            .into_iter()
            .filter(|key| {
                self.links.get(key).is_some_and(|l| {
                    let within = if l.offerer {
                        HANDSHAKE_WITHIN
                    } else {
                        HANDSHAKE_WITHIN * 2
                    };
                    l.connected_at.is_none()
                        && l.waiting == Waiting::Nothing
                        && l.ice_connected_at
                            .is_some_and(|t| now.saturating_duration_since(t) >= within)
                })
            })
            .collect();
        for key in due {
            self.redial(now, &key);
        }
    }

    fn redial(&mut self, now: Instant, key: &LinkKey) {
        let Some(redials) = self.links.get(key).map(|l| l.redials) else {
            return;
        };
        let who = self.email_of(&key.remote);
        if redials >= MAX_REDIALS {
            self.close(key);
            self.note_error(format!(
                "connection to {who} failed: its DTLS handshake never finished"
            ));
            self.emit(SessionEvent::PeerFailed {
                id: key.remote.clone(),
                reason: "DTLS handshake never finished".into(),
            });
            return;
        }
        tracing::info!(peer = %key.remote, kind = ?key.kind, "DTLS handshake stalled; new connection");
        let purpose = match key.kind {
            LinkKind::Call => Purpose::Call,
            LinkKind::ShareOut | LinkKind::ShareIn => Purpose::ShareScreen,
        };
        self.open(now, key.clone(), true, purpose, None);
        if let Some(link) = self.links.get_mut(key) {
            link.redials = redials + 1;
        }
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
