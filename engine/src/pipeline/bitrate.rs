//! How fast the encoders of a stream may send: each receiver's connection has a
//! send-side estimate (`peer::congestion`), which rules once it is there; REMB and
//! receiver-report loss are the fallback before it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::outgoing::VideoControl;
use crate::congestion::encodings::{EncodingSelector, Layer, Plan, SelectorConfig};

/// The low encoding never needs more than this (half the size of the full one).
const LOW_MAX_KBPS: u32 = 400;
/// A layered stream's floor for a weak receiver: the full encoding keeps `min_kbps`
/// (below it, everyone's picture is mush), but a receiver on the low one gets what its
/// link carries, or two senders' floors alone flood a thin downlink. (In the lab, 60
/// flooded a 300 kbit/s downlink shared by two senders: VP8 at 30 fps overshoots such
/// targets on per-frame overhead and keyframes.)
const LOW_MIN_KBPS: u32 = 30;

/// Each receiver's estimate moves with its send-side estimate, or before it with its
/// REMB and its reported loss (multiplicative decrease on loss, slow increase without).
/// A single-encoding stream follows the weakest receiver; a layered one (a mesh camera)
/// gives the weak ones a low encoding of their own ([`EncodingSelector`]).
pub struct BitrateController {
    min_kbps: u32,
    max_kbps: u32,
    start_kbps: u32,
    estimates: Mutex<HashMap<String, PeerEstimate>>,
    selector: Option<Mutex<EncodingSelector>>,
    /// Receivers whose writer sends the full encoding whatever the plan (the SFU leg):
    /// the full encoding must fit them.
    pinned: Mutex<HashSet<String>>,
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
            selector: None,
            pinned: Mutex::new(HashSet::new()),
        }
    }

    /// A controller for a stream with a full and a low encoding, chosen per receiver.
    pub fn layered(start_kbps: u32, min_kbps: u32, max_kbps: u32) -> Self {
        let config = SelectorConfig {
            full_max_bps: f64::from(max_kbps) * 1000.0,
            low_max_bps: f64::from(LOW_MAX_KBPS.min(max_kbps)) * 1000.0,
            ..SelectorConfig::default()
        };
        BitrateController {
            selector: Some(Mutex::new(EncodingSelector::new(config))),
            ..Self::new(start_kbps, min_kbps, max_kbps)
        }
    }

    fn floor_kbps(&self) -> u32 {
        if self.selector.is_some() {
            LOW_MIN_KBPS.min(self.min_kbps)
        } else {
            self.min_kbps
        }
    }

    /// `peer` always gets the full encoding (its writer does not follow layers).
    pub fn pin_full(&self, peer: &str) {
        if let Ok(mut p) = self.pinned.lock() {
            p.insert(peer.to_string());
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
            e.kbps = e.kbps.clamp(self.floor_kbps() as f32, self.max_kbps as f32);
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
        if let Ok(mut p) = self.pinned.lock() {
            p.remove(peer);
        }
    }

    /// What each encoder should do now and which receiver gets which encoding. Without
    /// layers: one encoding at the weakest receiver's rate, everyone on it.
    pub fn plan(&self, now: Instant) -> Plan {
        let Ok(map) = self.estimates.lock() else {
            return Plan::default();
        };
        let pinned = self.pinned.lock().map(|p| p.clone()).unwrap_or_default();
        let bps = |e: &PeerEstimate| f64::from(e.kbps) * 1000.0;
        let Some(selector) = &self.selector else {
            return Plan {
                full_bps: map.values().map(bps).reduce(f64::min),
                low_bps: None,
                layers: map.keys().map(|p| (p.clone(), Layer::Full)).collect(),
                switched: Vec::new(),
            };
        };
        let chosen: Vec<(&str, f64)> = map
            .iter()
            .filter(|(p, _)| !pinned.contains(*p))
            .map(|(p, e)| (p.as_str(), bps(e)))
            .collect();
        let mut plan = match selector.lock() {
            Ok(mut s) => s.update(now, &chosen),
            Err(_) => return Plan::default(),
        };
        for (peer, e) in map.iter().filter(|(p, _)| pinned.contains(*p)) {
            plan.full_bps = Some(plan.full_bps.map_or(bps(e), |f| f.min(bps(e))));
            plan.layers.insert(peer.clone(), Layer::Full);
        }
        let floor = f64::from(self.min_kbps) * 1000.0;
        plan.full_bps = plan.full_bps.map(|f| f.max(floor));
        plan
    }

    /// Hands the plan to the running encoders and writers.
    pub fn steer(&self, control: &VideoControl) {
        let plan = self.plan(Instant::now());
        control.apply_plan(&plan, self.start_kbps);
    }

    /// The weakest receiver's rate.
    #[cfg(test)]
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

    #[test]
    fn a_layered_controller_gives_a_weak_receiver_the_low_encoding() {
        let c = BitrateController::layered(600, 150, 1500);
        c.on_estimate("a", 1200);
        c.on_estimate("b", 900);
        c.on_estimate("weak", 200);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.full_bps, Some(900_000.0), "not the weak one's 200");
        assert_eq!(plan.low_bps, Some(200_000.0));
        assert_eq!(plan.layers["weak"], Layer::Low);
        assert_eq!(plan.layers["a"], Layer::Full);
        assert_eq!(c.target_kbps(), 200, "the plain minimum is still there");
    }

    #[test]
    fn a_weak_receiver_on_low_follows_its_link_below_the_full_floor() {
        let c = BitrateController::layered(600, 150, 1500);
        c.on_estimate("a", 1200);
        c.on_estimate("weak", 20);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.low_bps, Some(30_000.0), "its own floor, not 150");
        c.on_estimate("a", 100);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.low_bps, None);
        assert_eq!(
            plan.full_bps,
            Some(150_000.0),
            "one encoding keeps the floor"
        );
    }

    #[test]
    fn without_layers_everyone_gets_one_encoding_at_the_weakest_rate() {
        let c = BitrateController::new(600, 150, 1500);
        c.on_estimate("a", 1200);
        c.on_estimate("weak", 200);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.full_bps, Some(200_000.0));
        assert_eq!(plan.low_bps, None);
        assert!(plan.layers.values().all(|l| *l == Layer::Full));
    }

    #[test]
    fn a_receiver_without_a_send_side_estimate_still_counts_through_remb() {
        let c = BitrateController::layered(600, 150, 1500);
        c.on_estimate("a", 1200);
        c.on_remb("old", 200_000.0);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.layers["old"], Layer::Low);
        assert_eq!(plan.low_bps, Some(200_000.0));
        assert_eq!(plan.full_bps, Some(1_200_000.0));
    }

    #[test]
    fn a_pinned_receiver_stays_on_full_and_bounds_it() {
        let c = BitrateController::layered(600, 150, 1500);
        c.pin_full("sfu");
        c.on_estimate("a", 1200);
        c.on_estimate("sfu", 250);
        let plan = c.plan(Instant::now());
        assert_eq!(plan.layers["sfu"], Layer::Full);
        assert_eq!(plan.full_bps, Some(250_000.0));
        assert_eq!(plan.low_bps, None);
    }
}
