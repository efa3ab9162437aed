//! The delay signal: is the bottleneck queue growing?
//!
//! Packets are grouped by send time (a video frame leaves as a burst; the signal lives
//! between bursts); for consecutive groups the arrival spacing minus the send spacing is
//! the queue's growth. A trendline (least-squares slope over the last 20 groups of the
//! smoothed accumulated delay) filters that noisy measurement, and an overuse detector
//! compares it with a threshold that adapts to the path's jitter
//! (draft-ietf-rmcat-gcc-02 §5, with libwebrtc's trendline in place of its Kalman filter).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::feedback::PacketResult;
use super::ms;

/// Packets sent within this span of a group's first one belong to that group.
const GROUP_SPAN: Duration = Duration::from_millis(5);
/// A packet arriving this soon after the previous one, earlier than its send spacing
/// predicts, was held up with it on the way (a burst), so it joins that group.
const BURST_SPAN: Duration = Duration::from_millis(5);
/// An arrival jump this much larger than the send spacing means the receiver's clock
/// or the path changed, not a queue: start again.
const ARRIVAL_JUMP_MS: f64 = 3000.0;

/// Points in the trendline's regression.
const TREND_WINDOW: usize = 20;
/// Exponential smoothing of the accumulated delay before the fit.
const TREND_SMOOTHING: f64 = 0.9;
/// The slope is scaled by this (and the number of samples, up to 60) before it is
/// compared with the threshold; the threshold's numbers are in that scaled unit.
const TREND_GAIN: f64 = 4.0;
const TREND_MAX_SAMPLES: f64 = 60.0;

const THRESHOLD_START: f64 = 12.5;
const THRESHOLD_MIN: f64 = 6.0;
const THRESHOLD_MAX: f64 = 600.0;
/// Gains of the adaptation when the trend is outside (up) or inside (down) the threshold.
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// Trends this far outside the threshold are spikes: they do not move it.
const MAX_ADAPT_OFFSET: f64 = 15.0;
/// How long the trend must stay above the threshold before overuse is declared.
const OVERUSE_TIME_MS: f64 = 10.0;

/// What the delay signal says about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Usage {
    #[default]
    Normal,
    /// The queue grows: we send more than the path carries.
    Over,
    /// The queue drains.
    Under,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_sent: Instant,
    last_sent: Instant,
    last_arrival: Duration,
}

/// Spacing between two consecutive groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupDelta {
    pub send_ms: f64,
    pub arrival_ms: f64,
    /// The later group's last arrival, in ms on the receiver's clock.
    pub at_ms: f64,
}

/// Groups packet results and yields the spacing between consecutive groups.
#[derive(Debug, Default)]
pub struct InterArrival {
    current: Option<Group>,
    previous: Option<Group>,
    reordered: u32,
}

impl InterArrival {
    /// Feeds one received packet (in send order); returns a delta when a group closes.
    pub fn push(&mut self, sent_at: Instant, arrival: Duration) -> Option<GroupDelta> {
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(Group {
                first_sent: sent_at,
                last_sent: sent_at,
                last_arrival: arrival,
            });
            return None;
        };
        if sent_at < cur.first_sent {
            return None; // reordered across groups: no information
        }
        let same_group = sent_at.saturating_duration_since(cur.first_sent) <= GROUP_SPAN;
        let burst = {
            let arrival_gap = arrival.saturating_sub(cur.last_arrival);
            let send_gap = ms(sent_at.saturating_duration_since(cur.last_sent));
            let propagation = ms(arrival) - ms(cur.last_arrival) - send_gap;
            arrival >= cur.last_arrival && arrival_gap <= BURST_SPAN && propagation < 0.0
        };
        if same_group || burst {
            cur.last_sent = cur.last_sent.max(sent_at);
            cur.last_arrival = cur.last_arrival.max(arrival);
            return None;
        }
        let closed = *cur;
        *cur = Group {
            first_sent: sent_at,
            last_sent: sent_at,
            last_arrival: arrival,
        };
        let delta = self.previous.map(|prev| GroupDelta {
            send_ms: ms(closed.last_sent.saturating_duration_since(prev.last_sent)),
            arrival_ms: ms(closed.last_arrival) - ms(prev.last_arrival),
            at_ms: ms(closed.last_arrival),
        });
        self.previous = Some(closed);
        let delta = delta?;
        if delta.arrival_ms - delta.send_ms >= ARRIVAL_JUMP_MS {
            *self = InterArrival::default();
            return None;
        }
        if delta.arrival_ms < 0.0 {
            // Whole groups arrived out of order; a few in a row means a new path.
            self.reordered += 1;
            if self.reordered >= 3 {
                *self = InterArrival::default();
            }
            return None;
        }
        self.reordered = 0;
        Some(delta)
    }
}

/// Least-squares slope of the smoothed accumulated one-way delay over arrival time.
#[derive(Debug, Default)]
pub struct Trendline {
    window: VecDeque<(f64, f64)>,
    first_arrival_ms: Option<f64>,
    accumulated: f64,
    smoothed: f64,
    deltas: u32,
    trend: f64,
}

impl Trendline {
    /// Folds in one group delta; returns the scaled trend the detector compares.
    pub fn update(&mut self, d: &GroupDelta) -> f64 {
        self.deltas = self.deltas.saturating_add(1).min(1000);
        self.accumulated += d.arrival_ms - d.send_ms;
        self.smoothed =
            TREND_SMOOTHING * self.smoothed + (1.0 - TREND_SMOOTHING) * self.accumulated;
        let first = *self.first_arrival_ms.get_or_insert(d.at_ms);
        self.window.push_back((d.at_ms - first, self.smoothed));
        if self.window.len() > TREND_WINDOW {
            self.window.pop_front();
        }
        if self.window.len() == TREND_WINDOW
            && let Some(slope) = slope(&self.window)
        {
            self.trend = slope;
        }
        self.modified_trend()
    }

    #[allow(dead_code)] // for tests and diagnostics
    /// The raw slope (ms of delay per ms of time).
    pub fn trend(&self) -> f64 {
        self.trend
    }

    fn modified_trend(&self) -> f64 {
        f64::from(self.deltas).min(TREND_MAX_SAMPLES) * self.trend * TREND_GAIN
    }

    pub fn deltas(&self) -> u32 {
        self.deltas
    }
}

fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den != 0.0).then(|| num / den)
}

/// Compares the trend with an adaptive threshold; declares overuse only when it stays
/// above for a while and is still rising.
#[derive(Debug)]
pub struct OveruseDetector {
    threshold: f64,
    last_update_ms: Option<f64>,
    time_over_ms: Option<f64>,
    over_count: u32,
    previous_trend: f64,
    usage: Usage,
}

impl Default for OveruseDetector {
    fn default() -> Self {
        OveruseDetector {
            threshold: THRESHOLD_START,
            last_update_ms: None,
            time_over_ms: None,
            over_count: 0,
            previous_trend: 0.0,
            usage: Usage::Normal,
        }
    }
}

impl OveruseDetector {
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// `modified_trend` as the trendline returns it, `trend` its raw slope, `send_ms`
    /// the group's send spacing, `now_ms` its arrival time (receiver clock).
    pub fn detect(
        &mut self,
        modified_trend: f64,
        trend: f64,
        send_ms: f64,
        now_ms: f64,
        deltas: u32,
    ) -> Usage {
        if deltas < 2 {
            return Usage::Normal;
        }
        if modified_trend > self.threshold {
            let over = match self.time_over_ms {
                None => send_ms / 2.0,
                Some(t) => t + send_ms,
            };
            self.time_over_ms = Some(over);
            self.over_count += 1;
            if over > OVERUSE_TIME_MS && self.over_count > 1 && trend >= self.previous_trend {
                self.time_over_ms = Some(0.0);
                self.over_count = 0;
                self.usage = Usage::Over;
            }
        } else if modified_trend < -self.threshold {
            self.time_over_ms = None;
            self.over_count = 0;
            self.usage = Usage::Under;
        } else {
            self.time_over_ms = None;
            self.over_count = 0;
            self.usage = Usage::Normal;
        }
        self.previous_trend = trend;
        self.adapt(modified_trend, now_ms);
        self.usage
    }

    fn adapt(&mut self, modified_trend: f64, now_ms: f64) {
        let last = *self.last_update_ms.get_or_insert(now_ms);
        let magnitude = modified_trend.abs();
        if magnitude > self.threshold + MAX_ADAPT_OFFSET {
            self.last_update_ms = Some(now_ms);
            return;
        }
        let k = if magnitude < self.threshold {
            K_DOWN
        } else {
            K_UP
        };
        let dt = (now_ms - last).clamp(0.0, 100.0);
        self.threshold = (self.threshold + k * (magnitude - self.threshold) * dt)
            .clamp(THRESHOLD_MIN, THRESHOLD_MAX);
        self.last_update_ms = Some(now_ms);
    }
}

/// Inter-arrival grouping, trendline and detector together: packet results in, usage out.
#[derive(Debug, Default)]
pub struct DelayDetector {
    groups: InterArrival,
    trendline: Trendline,
    detector: OveruseDetector,
}

impl DelayDetector {
    /// Folds in a batch of results (in send order); returns the usage after it.
    pub fn on_results(&mut self, results: &[PacketResult]) -> Usage {
        for r in results {
            let Some(arrival) = r.arrival else { continue };
            if let Some(d) = self.groups.push(r.sent.sent_at, arrival) {
                let modified = self.trendline.update(&d);
                self.detector.detect(
                    modified,
                    self.trendline.trend(),
                    d.send_ms,
                    d.at_ms,
                    self.trendline.deltas(),
                );
            }
        }
        self.detector.usage()
    }

    pub fn usage(&self) -> Usage {
        self.detector.usage()
    }

    pub fn threshold(&self) -> f64 {
        self.detector.threshold()
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn trend(&self) -> f64 {
        self.trendline.trend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::feedback::SentPacket;

    fn result(t0: Instant, sent_ms: f64, arrival_ms: f64) -> PacketResult {
        PacketResult {
            sent: SentPacket {
                seq: 0,
                size: 1200,
                sent_at: t0 + Duration::from_secs_f64(sent_ms / 1000.0),
            },
            arrival: Some(Duration::from_secs_f64(arrival_ms / 1000.0)),
        }
    }

    #[test]
    fn packets_of_a_frame_form_one_group() {
        let t0 = Instant::now();
        let mut ia = InterArrival::default();
        let at = |s: f64, a: f64| {
            (
                t0 + Duration::from_secs_f64(s / 1000.0),
                Duration::from_secs_f64(a / 1000.0),
            )
        };
        for (s, a) in [(0.0, 10.0), (1.0, 11.0), (2.0, 12.0)] {
            let (s, a) = at(s, a);
            assert_eq!(ia.push(s, a), None);
        }
        let (s, a) = at(33.0, 43.0);
        assert_eq!(ia.push(s, a), None, "the first group has no predecessor");
        let (s, a) = at(66.0, 80.0);
        let d = ia.push(s, a).expect("the second group closes");
        assert!(
            (d.send_ms - 31.0).abs() < 1e-6,
            "last send to last send: {d:?}"
        );
        assert!((d.arrival_ms - 31.0).abs() < 1e-6);
    }

    #[test]
    fn a_burst_released_late_joins_its_group() {
        let t0 = Instant::now();
        let mut ia = InterArrival::default();
        let push = |ia: &mut InterArrival, s: f64, a: f64| {
            ia.push(
                t0 + Duration::from_secs_f64(s / 1000.0),
                Duration::from_secs_f64(a / 1000.0),
            )
        };
        push(&mut ia, 0.0, 100.0);
        // Sent 20 ms later but arrives 1 ms after the first: held with it on the way.
        assert_eq!(push(&mut ia, 20.0, 101.0), None);
        assert_eq!(push(&mut ia, 40.0, 140.0), None);
        let d = push(&mut ia, 80.0, 180.0).expect("a delta");
        assert!(
            (d.send_ms - 20.0).abs() < 1e-6,
            "the burst group ended at 20 ms: {d:?}"
        );
    }

    /// Groups every 33 ms; arrival spacing stretched by `stretch` ms per group.
    fn run(detector: &mut DelayDetector, groups: usize, stretch: f64, start_ms: f64) -> Vec<Usage> {
        let t0 = Instant::now();
        let mut out = Vec::new();
        for g in 0..groups {
            let sent = start_ms + g as f64 * 33.0;
            let arrival = 50.0 + start_ms + g as f64 * (33.0 + stretch);
            out.push(detector.on_results(&[result(t0, sent, arrival)]));
        }
        out
    }

    #[test]
    fn a_steady_path_is_normal_and_a_growing_queue_is_overuse() {
        let mut d = DelayDetector::default();
        let steady = run(&mut d, 100, 0.0, 0.0);
        assert!(steady.iter().all(|u| *u == Usage::Normal), "{steady:?}");
        // A queue growing by 2 ms per frame: sending ~6 % above capacity.
        let mut d = DelayDetector::default();
        let growing = run(&mut d, 60, 2.0, 0.0);
        assert!(growing.contains(&Usage::Over), "{growing:?}");
    }

    #[test]
    fn a_draining_queue_is_underuse() {
        let mut d = DelayDetector::default();
        let t0 = Instant::now();
        let mut usages = Vec::new();
        for g in 0..60 {
            let sent = g as f64 * 33.0;
            let arrival = 500.0 + g as f64 * 30.0; // 3 ms per group faster
            usages.push(d.on_results(&[result(t0, sent, arrival)]));
        }
        assert!(usages.contains(&Usage::Under), "{usages:?}");
        assert!(!usages.contains(&Usage::Over));
    }

    #[test]
    fn the_threshold_rises_on_a_jittery_path_so_jitter_alone_is_not_overuse() {
        let mut d = DelayDetector::default();
        let t0 = Instant::now();
        let mut over = 0;
        for g in 0..600 {
            let sent = g as f64 * 33.0;
            // ±8 ms of alternating jitter, no trend.
            let jitter = if (g / 3) % 2 == 0 { 8.0 } else { -8.0 };
            let arrival = 50.0 + sent + jitter;
            if d.on_results(&[result(t0, sent, arrival)]) == Usage::Over {
                over += 1;
            }
        }
        assert!(over < 10, "jitter read as overuse {over} times");
    }
}
