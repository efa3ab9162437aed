//! The byte budget of one client: what the server has handed it minus what left for
//! the network. A client that does not read lets this grow; past the budget it is
//! disconnected, so its queue cannot take the server's memory.
//!
//! Bytes leave through the connection's [`Wire`] (WebSocket: counted where the server
//! writes to the socket) or through the responses to its polls (counted as each poll
//! carries them away, [`Outbound::drained`]). The estimate never goes below zero, so
//! framing overhead cannot build up credit.

use std::sync::{Arc, Mutex};

use crate::net::Wire;

pub struct Outbound {
    budget: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queued: u64,
    wire: Option<Arc<Wire>>,
    /// The wire's count when last looked at.
    seen: u64,
}

impl Outbound {
    pub fn new(budget: u64) -> Self {
        Outbound {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection's bytes go through `wire` from now on (a WebSocket).
    pub fn attach(&self, wire: Arc<Wire>) {
        let mut s = self.state();
        s.seen = wire.written();
        s.wire = Some(wire);
    }

    /// Counts `bytes` about to be queued; false when that goes over the budget.
    pub fn charge(&self, bytes: usize) -> bool {
        let mut s = self.state();
        if let Some(wire) = &s.wire {
            let written = wire.written();
            let sent = written.saturating_sub(s.seen);
            s.seen = written;
            s.queued = s.queued.saturating_sub(sent);
        }
        s.queued = s.queued.saturating_add(bytes as u64);
        s.queued <= self.budget
    }

    /// A poll carried `bytes` away.
    pub fn drained(&self, bytes: usize) {
        let mut s = self.state();
        s.queued = s.queued.saturating_sub(bytes as u64);
    }

    /// Closes the WebSocket under it, if there is one.
    pub fn cut(&self) {
        if let Some(wire) = &self.state().wire {
            wire.cut();
        }
    }

    #[cfg(test)]
    fn queued(&self) -> u64 {
        self.state().queued
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
