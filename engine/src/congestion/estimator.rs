//! The send-side bandwidth estimate: the delay-based controller bounded by the
//! loss-based one, fed by transport-wide feedback (GCC's family, as libwebrtc runs it).

use std::time::{Duration, Instant};

use super::acked::AckedRate;
use super::aimd::AimdRateControl;
use super::delay::{DelayDetector, Usage};
use super::feedback::FeedbackBatch;
use super::loss::LossBound;

/// Weight of a new round-trip sample.
const RTT_GAIN: f64 = 0.125;

/// Where a camera call's estimate starts: libwebrtc's start, low enough that the first
/// keyframe and the first round trip of feedback fit a thin link (see
/// [`super::aimd`] for how fast it climbs from there).
pub const CALL_START_BPS: f64 = 300_000.0;

/// Where the estimate starts and the range it stays in, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BweConfig {
    pub start_bps: f64,
    pub min_bps: f64,
    pub max_bps: f64,
}

impl Default for BweConfig {
    fn default() -> Self {
        BweConfig {
            start_bps: CALL_START_BPS,
            min_bps: 50_000.0,
            max_bps: 5_000_000.0,
        }
    }
}

/// Why the estimate is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BweStats {
    pub target_bps: f64,
    pub delay_bps: f64,
    pub loss_bound_bps: Option<f64>,
    pub acked_bps: Option<f64>,
    pub loss_fraction: Option<f64>,
    pub usage: Usage,
    pub threshold: f64,
    pub rtt: Option<Duration>,
}

#[derive(Debug)]
pub struct SendSideBwe {
    config: BweConfig,
    delay: DelayDetector,
    aimd: AimdRateControl,
    acked: AckedRate,
    loss: LossBound,
    rtt: Option<Duration>,
    target: f64,
}

impl SendSideBwe {
    pub fn new(config: BweConfig) -> Self {
        let start = config.start_bps.clamp(config.min_bps, config.max_bps);
        SendSideBwe {
            config,
            delay: DelayDetector::default(),
            aimd: AimdRateControl::new(start, config.min_bps, config.max_bps),
            acked: AckedRate::new(),
            loss: LossBound::new(),
            rtt: None,
            target: start,
        }
    }

    #[allow(dead_code)] // for tests and diagnostics
    /// The estimate, in bits per second.
    pub fn target_bps(&self) -> f64 {
        self.target
    }

    #[allow(dead_code)] // for tests and diagnostics
    /// Smoothed round trip, from feedback (or [`Self::on_rtt`]).
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// A round-trip measurement from elsewhere (RTCP receiver reports).
    pub fn on_rtt(&mut self, sample: Duration) {
        let smoothed = match self.rtt {
            None => sample,
            Some(rtt) => rtt.mul_f64(1.0 - RTT_GAIN) + sample.mul_f64(RTT_GAIN),
        };
        self.rtt = Some(smoothed);
        self.aimd.set_rtt(smoothed);
    }

    /// Folds in one feedback message; returns the new estimate.
    pub fn on_feedback(&mut self, now: Instant, batch: &FeedbackBatch) -> f64 {
        if batch.results.is_empty() {
            return self.target;
        }
        if let Some(rtt) = batch.rtt {
            self.on_rtt(rtt);
        }
        for r in &batch.results {
            if let Some(arrival) = r.arrival {
                self.acked.push(arrival, r.sent.size);
            }
        }
        let usage = self.delay.on_results(&batch.results);
        let acked = self.acked.bps();
        match (usage, acked) {
            (Usage::Over, Some(acked)) => {
                if self.aimd.time_to_reduce_further(now, acked) {
                    self.aimd.update(now, usage, Some(acked));
                }
            }
            (Usage::Over, None) => self.aimd.initial_backoff(now),
            _ => {
                self.aimd.update(now, usage, acked);
            }
        }
        let delay_bps = self.aimd.target();
        let bound = self.loss.update(
            now,
            batch.lost(),
            batch.results.len(),
            self.target,
            delay_bps,
            self.rtt.unwrap_or(Duration::from_millis(100)),
        );
        self.target = bound
            .map_or(delay_bps, |b| b.min(delay_bps))
            .clamp(self.config.min_bps, self.config.max_bps);
        self.target
    }

    pub fn stats(&self) -> BweStats {
        BweStats {
            target_bps: self.target,
            delay_bps: self.aimd.target(),
            loss_bound_bps: self.loss.bound(),
            acked_bps: self.acked.bps(),
            loss_fraction: self.loss.fraction(),
            usage: self.delay.usage(),
            threshold: self.delay.threshold(),
            rtt: self.rtt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::sim::{CallConfig, CallTrace, LinkConfig, run_call};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn max_queue_ms(trace: &CallTrace, from: Duration, to: Duration) -> u128 {
        trace
            .between(from, to)
            .map(|s| s.queue_delay.as_millis())
            .max()
            .unwrap_or(0)
    }

    fn mean_queue_ms(trace: &CallTrace, from: Duration, to: Duration) -> f64 {
        trace.mean(from, to, |s| s.queue_delay.as_secs_f64() * 1000.0)
    }

    #[test]
    fn converges_near_the_capacity_of_a_500_kbit_link_with_a_short_queue() {
        let trace = run_call(&CallConfig {
            link: LinkConfig {
                capacity_bps: 500_000.0,
                ..LinkConfig::default()
            },
            duration: secs(30),
            ..CallConfig::default()
        });
        let (from, to) = (secs(10), secs(30));
        let sent = trace.mean(from, to, |s| s.sent_bps);
        let target = trace.mean(from, to, |s| s.target_bps);
        assert!((400_000.0..=500_000.0).contains(&sent), "sent {sent}");
        assert!((400_000.0..=550_000.0).contains(&target), "target {target}");
        let (mean_q, max_q) = (
            mean_queue_ms(&trace, from, to),
            max_queue_ms(&trace, from, to),
        );
        assert!(
            mean_q < 30.0 && max_q < 100,
            "queue mean {mean_q} ms, max {max_q} ms"
        );
    }

    #[test]
    fn backs_off_under_a_cap_and_climbs_back_within_10_s_after_it_is_lifted() {
        let trace = run_call(&CallConfig {
            link: LinkConfig {
                capacity_bps: 3_000_000.0,
                ..LinkConfig::default()
            },
            duration: secs(45),
            capacity_changes: vec![(secs(20), 500_000.0), (secs(30), 3_000_000.0)],
            ..CallConfig::default()
        });
        let uncapped = trace.mean(secs(10), secs(20), |s| s.sent_bps);
        let reacted = trace
            .first_after(secs(20), |s| s.target_bps < 600_000.0)
            .expect("the estimate came down");
        assert!(
            reacted < Duration::from_millis(21_500),
            "reacted at {reacted:?}"
        );
        // Under the cap: no more than the link, and no standing queue.
        let sent = trace.mean(secs(22), secs(30), |s| s.sent_bps);
        assert!(sent <= 500_000.0, "sent {sent} under a 500 kbit/s cap");
        let mean_q = mean_queue_ms(&trace, secs(22), secs(30));
        assert!(mean_q < 30.0, "standing queue {mean_q} ms");
        let back = trace
            .first_after(secs(30), |s| s.sent_bps >= 0.8 * uncapped)
            .expect("never climbed back");
        assert!(back < secs(40), "80 % of {uncapped} only at {back:?}");
    }

    #[test]
    fn random_loss_under_ten_percent_costs_no_capacity_and_heavy_loss_backs_off() {
        let run = |loss: f64| {
            let trace = run_call(&CallConfig {
                link: LinkConfig {
                    capacity_bps: 1_000_000.0,
                    loss,
                    ..LinkConfig::default()
                },
                duration: secs(20),
                ..CallConfig::default()
            });
            trace.mean(secs(10), secs(20), |s| s.target_bps)
        };
        let clean = run(0.0);
        let five = run(0.05);
        let twenty = run(0.20);
        assert!(five > 0.8 * clean, "5 % loss: {five} against {clean}");
        assert!(twenty < 0.5 * clean, "20 % loss: {twenty} against {clean}");
    }

    #[test]
    fn a_call_starts_without_flooding_a_thin_link_and_soon_fills_a_wide_one() {
        let run = |start_bps: f64, capacity_bps: f64| {
            run_call(&CallConfig {
                link: LinkConfig {
                    capacity_bps,
                    ..LinkConfig::default()
                },
                bwe: BweConfig {
                    start_bps,
                    ..BweConfig::default()
                },
                duration: secs(6),
                max_video_bps: 2_500_000.0,
                ..CallConfig::default()
            })
        };
        for capacity in [300_000.0, 500_000.0] {
            let (old, new) = (run(700_000.0, capacity), run(CALL_START_BPS, capacity));
            assert!(
                new.dropped_queue <= 30 && new.dropped_queue * 4 < old.dropped_queue,
                "{capacity} bit/s: {} dropped (a 700 kbit/s start: {})",
                new.dropped_queue,
                old.dropped_queue
            );
        }
        let wide = run(CALL_START_BPS, 3_000_000.0);
        let mbit = wide.first_after(Duration::ZERO, |s| s.sent_bps >= 1_000_000.0);
        assert!(mbit.is_some_and(|t| t <= secs(4)), "1 Mbit/s at {mbit:?}");
    }

    #[test]
    fn round_trips_are_smoothed() {
        let mut bwe = SendSideBwe::new(BweConfig::default());
        bwe.on_rtt(Duration::from_millis(100));
        bwe.on_rtt(Duration::from_millis(200));
        assert_eq!(bwe.rtt(), Some(Duration::from_micros(112_500)));
    }
}
