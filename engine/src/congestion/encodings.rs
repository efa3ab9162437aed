//! Per-peer encodings in a mesh: one weak peer must not drag everyone down.
//!
//! Today one encoder serves every peer at the weakest one's rate. Instead two encodings
//! of the same capture: *full*, at the rate the peers on it can all carry, and *low*
//! (half the size, its own rate) for peers whose estimate is far below the best one's.
//! Each peer's writer follows the encoding chosen for it and switches at a keyframe of
//! that encoding. A peer moves down at once when its estimate drops under the
//! threshold, and back up only after holding 30 % above it for five seconds. When no
//! peer is strong, there is one encoding (full) and the degradation ladder does the
//! rest; the low encoder only runs while some peer is on it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use crate::media::stream::Layer;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectorConfig {
    /// Below this estimate a peer never holds the full encoding back for the others.
    pub full_min_bps: f64,
    /// A peer whose estimate is under this fraction of the best peer's goes low.
    pub drag_ratio: f64,
    pub up_margin: f64,
    pub up_hold: Duration,
    pub full_max_bps: f64,
    pub low_max_bps: f64,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        SelectorConfig {
            full_min_bps: 300_000.0,
            drag_ratio: 0.5,
            up_margin: 1.3,
            up_hold: Duration::from_secs(5),
            full_max_bps: 1_500_000.0,
            low_max_bps: 400_000.0,
        }
    }
}

/// What each encoder should do and which peer gets which.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The full encoder's target; always set while there are peers.
    pub full_bps: Option<f64>,
    /// The low encoder's target; `None`: it need not run.
    pub low_bps: Option<f64>,
    pub layers: BTreeMap<String, Layer>,
    /// Peers that changed encoding now: each needs a keyframe of its new one.
    pub switched: Vec<(String, Layer)>,
}

#[derive(Debug, Clone, Copy)]
struct PeerState {
    layer: Layer,
    above_since: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct EncodingSelector {
    config: SelectorConfig,
    peers: BTreeMap<String, PeerState>,
}

impl EncodingSelector {
    pub fn new(config: SelectorConfig) -> Self {
        EncodingSelector {
            config,
            peers: BTreeMap::new(),
        }
    }

    /// Each peer's current estimate in; the plan out. Peers not listed are forgotten.
    pub fn update(&mut self, now: Instant, estimates: &[(&str, f64)]) -> Plan {
        self.peers
            .retain(|id, _| estimates.iter().any(|(p, _)| p == id));
        let best = estimates.iter().map(|(_, e)| *e).fold(0.0, f64::max);
        let threshold = self.config.full_min_bps.max(self.config.drag_ratio * best);
        let before: BTreeMap<String, Layer> = self
            .peers
            .iter()
            .map(|(id, p)| (id.clone(), p.layer))
            .collect();
        for &(id, estimate) in estimates {
            let state = self.peers.entry(id.to_string()).or_insert(PeerState {
                layer: if estimate >= threshold {
                    Layer::Full
                } else {
                    Layer::Low
                },
                above_since: None,
            });
            match state.layer {
                Layer::Full if estimate < threshold => {
                    state.layer = Layer::Low;
                    state.above_since = None;
                }
                Layer::Low if estimate >= threshold * self.config.up_margin => {
                    let since = *state.above_since.get_or_insert(now);
                    if now.saturating_duration_since(since) >= self.config.up_hold {
                        state.layer = Layer::Full;
                        state.above_since = None;
                    }
                }
                Layer::Low => state.above_since = None,
                Layer::Full => {}
            }
        }
        // With nobody strong, the low encoding has nothing to be lower than.
        if !self.peers.values().any(|p| p.layer == Layer::Full) {
            for p in self.peers.values_mut() {
                p.layer = Layer::Full;
                p.above_since = None;
            }
        }
        let mut plan = Plan::default();
        for (id, p) in &self.peers {
            // A new peer starts on its encoding's next keyframe anyway.
            if before.get(id).is_some_and(|layer| *layer != p.layer) {
                plan.switched.push((id.clone(), p.layer));
            }
        }
        let min_of = |layer: Layer| {
            estimates
                .iter()
                .filter(|(id, _)| self.peers.get(*id).is_some_and(|p| p.layer == layer))
                .map(|(_, e)| *e)
                .reduce(f64::min)
        };
        plan.full_bps = min_of(Layer::Full).map(|e| e.min(self.config.full_max_bps));
        plan.low_bps = min_of(Layer::Low).map(|e| e.min(self.config.low_max_bps));
        plan.layers = self
            .peers
            .iter()
            .map(|(id, p)| (id.clone(), p.layer))
            .collect();
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weak_peer_gets_the_low_encoding_and_the_others_keep_their_rate() {
        let t0 = Instant::now();
        let mut s = EncodingSelector::new(SelectorConfig::default());
        let plan = s.update(
            t0,
            &[("a", 1_200_000.0), ("b", 1_000_000.0), ("c", 250_000.0)],
        );
        assert_eq!(plan.full_bps, Some(1_000_000.0), "not 250 kbit/s");
        assert_eq!(plan.low_bps, Some(250_000.0));
        assert_eq!(plan.layers["c"], Layer::Low);
        assert_eq!(plan.layers["a"], Layer::Full);
    }

    #[test]
    fn when_nobody_is_strong_there_is_one_encoding() {
        let t0 = Instant::now();
        let mut s = EncodingSelector::new(SelectorConfig::default());
        let plan = s.update(t0, &[("a", 250_000.0), ("b", 200_000.0)]);
        assert_eq!(plan.full_bps, Some(200_000.0));
        assert_eq!(plan.low_bps, None, "the low encoder need not run");
    }

    #[test]
    fn down_at_once_up_after_holding_a_margin() {
        let t0 = Instant::now();
        let mut s = EncodingSelector::new(SelectorConfig::default());
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        s.update(at(0), &[("a", 1_000_000.0), ("b", 900_000.0)]);
        let plan = s.update(at(1), &[("a", 1_000_000.0), ("b", 300_000.0)]);
        assert_eq!(plan.switched, [("b".to_string(), Layer::Low)]);
        // Just above the threshold (500 kbit/s): stays low.
        let plan = s.update(at(2), &[("a", 1_000_000.0), ("b", 550_000.0)]);
        assert_eq!(plan.layers["b"], Layer::Low);
        // 30 % above, for 5 s: back up, with a keyframe.
        let mut switched = Vec::new();
        for t in 3..10 {
            let plan = s.update(at(t), &[("a", 1_000_000.0), ("b", 700_000.0)]);
            switched.extend(plan.switched.into_iter().map(|sw| (t, sw)));
        }
        assert_eq!(switched, [(8, ("b".to_string(), Layer::Full))]);
    }

    #[test]
    fn departed_peers_are_forgotten() {
        let t0 = Instant::now();
        let mut s = EncodingSelector::new(SelectorConfig::default());
        s.update(t0, &[("a", 1_000_000.0), ("b", 100_000.0)]);
        let plan = s.update(t0, &[("a", 1_000_000.0)]);
        assert_eq!(plan.layers.len(), 1);
        assert_eq!(plan.low_bps, None);
    }
}
