//! How fast the one encoder of a stream may send: each receiver's connection has a
//! send-side estimate (`peer::congestion`), which rules once it is there; REMB and
//! receiver-report loss are the fallback before it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One encoder serves every receiver, so it follows the weakest: each receiver's
/// estimate moves with its REMB and its reported loss (multiplicative decrease on
/// loss, slow increase without), and the encoder gets the lowest.
pub struct BitrateController {
    min_kbps: u32,
    max_kbps: u32,
    start_kbps: u32,
    estimates: Mutex<HashMap<String, PeerEstimate>>,
}

struct PeerEstimate {
    kbps: f32,
    remb_kbps: Option<f32>,
    last_increase: Instant,
    /// Set by a send-side estimate, which then replaces the REMB and loss heuristics.
    estimated: bool,
}

impl BitrateController {
    pub fn new(start_kbps: u32, min_kbps: u32, max_kbps: u32) -> Self {
        BitrateController {
            min_kbps,
            max_kbps,
            start_kbps,
            estimates: Mutex::new(HashMap::new()),
        }
    }

    fn update(&self, peer: &str, f: impl FnOnce(&mut PeerEstimate)) {
        if let Ok(mut map) = self.estimates.lock() {
            let e = map.entry(peer.to_string()).or_insert(PeerEstimate {
                kbps: self.start_kbps as f32,
                remb_kbps: None,
                last_increase: Instant::now(),
                estimated: false,
            });
            f(e);
            if let Some(remb) = e.remb_kbps {
                e.kbps = e.kbps.min(remb);
            }
            e.kbps = e.kbps.clamp(self.min_kbps as f32, self.max_kbps as f32);
        }
    }

    /// The video share of this peer's send-side estimate.
    pub fn on_estimate(&self, peer: &str, kbps: u32) {
        self.update(peer, |e| {
            e.estimated = true;
            e.remb_kbps = None;
            e.kbps = kbps as f32;
        });
    }

    pub fn on_remb(&self, peer: &str, bits_per_second: f32) {
        self.update(peer, |e| {
            if e.estimated {
                return;
            }
            let remb = bits_per_second / 1000.0;
            e.remb_kbps = Some(remb);
            // REMB also allows growth up to it.
            if remb > e.kbps && e.last_increase.elapsed() > Duration::from_millis(500) {
                e.kbps = (e.kbps * 1.08).min(remb);
                e.last_increase = Instant::now();
            }
        });
    }

    pub fn on_loss(&self, peer: &str, fraction_lost: f32) {
        self.update(peer, |e| {
            if e.estimated {
                return;
            }
            if fraction_lost > 0.10 {
                e.kbps *= 1.0 - 0.5 * fraction_lost;
            } else if fraction_lost < 0.02 && e.last_increase.elapsed() > Duration::from_millis(500)
            {
                e.kbps *= 1.05;
                e.last_increase = Instant::now();
            }
        });
    }

    pub fn forget(&self, peer: &str) {
        if let Ok(mut map) = self.estimates.lock() {
            map.remove(peer);
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.estimates
            .lock()
            .ok()
            .and_then(|map| map.values().map(|e| e.kbps as u32).min())
            .unwrap_or(self.start_kbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weakest_receiver_sets_the_rate() {
        let c = BitrateController::new(600, 150, 1500);
        assert_eq!(c.target_kbps(), 600);
        c.on_loss("a", 0.0);
        c.on_loss("b", 0.3);
        assert_eq!(c.target_kbps(), 510);
        c.on_remb("a", 200_000.0);
        assert_eq!(c.target_kbps(), 200);
        c.forget("a");
        assert_eq!(c.target_kbps(), 510);
        for _ in 0..20 {
            c.on_loss("b", 0.9);
        }
        assert_eq!(c.target_kbps(), 150, "never below the floor");
    }

    #[test]
    fn a_send_side_estimate_rules_over_remb_and_loss() {
        let c = BitrateController::new(600, 150, 1500);
        c.on_estimate("a", 400);
        assert_eq!(c.target_kbps(), 400);
        c.on_remb("a", 1_000_000.0);
        c.on_loss("a", 0.5);
        assert_eq!(c.target_kbps(), 400);
        c.on_estimate("a", 5000);
        assert_eq!(c.target_kbps(), 1500, "never above the ceiling");
    }
}
