//! The byte budget of one client: what the server has handed it minus what left for
//! the network. A client that does not read lets this grow; past the budget it is
//! disconnected, so its queue cannot take the server's memory.
//!
//! Bytes leave through the connection's [`Wire`] (WebSocket: counted where the server
//! writes to the socket) or through the responses to its polls (counted as each poll
//! carries them away, [`Outbound::drained`]). The estimate never goes below zero, so
//! framing overhead cannot build up credit.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use crate::net::Wire;

pub struct Outbound {
    budget: u64,
    queued: AtomicU64,
    /// The connection's wire (WebSocket), once known.
    wire: OnceLock<Arc<Wire>>,
    /// The wire's count when last looked at.
    seen: AtomicU64,
}

impl Outbound {
    pub fn new(budget: u64) -> Self {
        Outbound {
            budget,
            queued: AtomicU64::new(0),
            wire: OnceLock::new(),
            seen: AtomicU64::new(0),
        }
    }

    /// The connection's bytes go through `wire` from now on (a WebSocket; a session
    /// gets one at most).
    pub fn attach(&self, wire: Arc<Wire>) {
        self.seen.store(wire.written(), Relaxed);
        let _ = self.wire.set(wire);
    }

    /// Counts `bytes` about to be queued; false when that goes over the budget.
    pub fn charge(&self, bytes: usize) -> bool {
        if let Some(wire) = self.wire.get() {
            let written = wire.written();
            let before = self.seen.swap(written, Relaxed);
            self.drained(written.saturating_sub(before) as usize);
        }
        let queued = self.queued.fetch_add(bytes as u64, Relaxed) + bytes as u64;
        queued <= self.budget
    }

    /// `bytes` left for the network (a poll carried them away).
    pub fn drained(&self, bytes: usize) {
        let _ = self
            .queued
            .fetch_update(Relaxed, Relaxed, |q| Some(q.saturating_sub(bytes as u64)));
    }

    /// Closes the WebSocket under it, if there is one.
    pub fn cut(&self) {
        if let Some(wire) = self.wire.get() {
            wire.cut();
        }
    }

    #[cfg(test)]
    fn queued(&self) -> u64 {
        self.queued.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_stays_within_the_budget_and_a_non_reader_does_not() {
        let polling = Outbound::new(1000);
        assert!(polling.charge(600));
        polling.drained(600);
        assert!(
            polling.charge(600),
            "what was carried away no longer counts"
        );
        assert!(polling.charge(400));
        assert!(!polling.charge(1), "over the budget");
        polling.drained(5000);
        assert_eq!(polling.queued(), 0, "never below zero");
    }

    #[test]
    fn the_wire_counts_what_left() {
        let wire = Arc::new(Wire::default());
        wire.wrote(150); // the upgrade's own response, before the budget applies
        let o = Outbound::new(1000);
        o.attach(wire.clone());
        assert!(o.charge(900));
        wire.wrote(900);
        assert!(o.charge(900), "the first 900 left");
        assert!(!o.charge(200), "the second 900 did not");
        wire.wrote(5000);
        assert!(o.charge(10));
        assert_eq!(o.queued(), 10);
    }
}
