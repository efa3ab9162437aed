//! The delay-based rate controller: additive/multiplicative increase while the path is
//! quiet, a multiplicative decrease from the *received* rate on overuse
//! (draft-ietf-rmcat-gcc-02 §5.5, with libwebrtc's link-capacity estimate deciding
//! between multiplicative and additive increase).

use std::time::{Duration, Instant};

use super::delay::Usage;

/// On overuse, back off to this fraction of what the receiver got.
const BETA: f64 = 0.85;
/// Multiplicative increase per second far from the known capacity.
const MULTIPLICATIVE_PER_SECOND: f64 = 1.08;
/// Faster increase per second while below a rate the path carried recently:
/// probing-free recovery after a cap is lifted. libwebrtc probes with padding instead;
/// without probes 8 %/s needs ~12 s to climb from 500 kbit/s back to 1.3 Mbit/s.
const FAST_PER_SECOND: f64 = 1.25;
/// Increase per second at the start of a call, until the first overuse. Calls start low
/// (300 kbit/s, as libwebrtc does) so a thin link is not flooded before the first
/// feedback: in the simulator a 700 kbit/s start lost 196 packets in the first seconds
/// on a 300 kbit/s link, 300 at 50 %/s loses 21 and reaches 1 Mbit/s in 2.8 s (25 %/s:
/// 4.9 s; 100 %/s: 1.8 s, but it overshoots a 500 kbit/s link into drops).
const START_PER_SECOND: f64 = 1.5;
/// A received rate is remembered as proven for this long.
const PROVEN_MEMORY: Duration = Duration::from_secs(30);
/// Fast increase applies below this fraction of the proven rate.
const PROVEN_FRACTION: f64 = 0.8;
/// The round trip assumed before one is measured.
const DEFAULT_RTT: Duration = Duration::from_millis(200);
/// Increases never outrun what arrives by more than this ratio (plus 10 kbit/s): an
/// encoder that undershoots must not leave an estimate nobody has tested.
const INCREASE_LIMIT_RATIO: f64 = 1.5;
/// Overuse before any received rate is known halves the estimate this often.
const INITIAL_DECREASE_INTERVAL: Duration = Duration::from_millis(200);

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Hold,
    Increase,
    Decrease,
}

/// Running estimate of the bottleneck's capacity, learnt from the received rate at each
/// overuse; its deviation tells whether we are near it (increase additively) or it has
/// moved (forget it and increase multiplicatively again).
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkCapacity {
    estimate_kbps: Option<f64>,
    deviation_kbps: f64,
}

impl LinkCapacity {
    fn on_overuse(&mut self, acked_bps: f64) {
        let sample = acked_bps / 1000.0;
        const ALPHA: f64 = 0.05;
        let estimate = match self.estimate_kbps {
            None => sample,
            Some(e) => (1.0 - ALPHA) * e + ALPHA * sample,
        };
        let norm = estimate.max(1.0);
        let error = estimate - sample;
        self.deviation_kbps =
            ((1.0 - ALPHA) * self.deviation_kbps + ALPHA * error * error / norm).clamp(0.4, 2.5);
        self.estimate_kbps = Some(estimate);
    }

    fn spread_kbps(&self, estimate: f64) -> f64 {
        3.0 * (self.deviation_kbps * estimate).sqrt()
    }

    fn upper_bps(&self) -> Option<f64> {
        self.estimate_kbps
            .map(|e| (e + self.spread_kbps(e)) * 1000.0)
    }

    fn lower_bps(&self) -> Option<f64> {
        self.estimate_kbps
            .map(|e| (e - self.spread_kbps(e)) * 1000.0)
    }

    pub fn estimate_bps(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| e * 1000.0)
    }

    fn reset(&mut self) {
        self.estimate_kbps = None;
    }
}

#[derive(Debug)]
pub struct AimdRateControl {
    target: f64,
    min: f64,
    max: f64,
    state: State,
    capacity: LinkCapacity,
    last_change: Option<Instant>,
    rtt: Duration,
    /// Whether any overuse was seen yet (before it, the call is starting up).
    decreased: bool,
    /// The highest received rate lately, and when it was last seen.
    proven: Option<(f64, Instant)>,
}

impl AimdRateControl {
    pub fn new(start_bps: f64, min_bps: f64, max_bps: f64) -> Self {
        AimdRateControl {
            target: start_bps.clamp(min_bps, max_bps),
            min: min_bps,
            max: max_bps,
            state: State::Hold,
            capacity: LinkCapacity::default(),
            last_change: None,
            rtt: DEFAULT_RTT,
            decreased: false,
            proven: None,
        }
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn state(&self) -> State {
        self.state
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn capacity(&self) -> LinkCapacity {
        self.capacity
    }

    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Overuse before a received rate exists: halve, at most every 200 ms.
    pub fn initial_backoff(&mut self, now: Instant) {
        if self
            .last_change
            .is_none_or(|t| now.saturating_duration_since(t) >= INITIAL_DECREASE_INTERVAL)
        {
            self.target = (self.target / 2.0).max(self.min);
            self.decreased = true;
            self.last_change = Some(now);
            self.state = State::Hold;
        }
    }

    /// Whether another decrease is due: once per round trip (10–200 ms), or at once if
    /// the received rate collapsed below half the target.
    pub fn time_to_reduce_further(&self, now: Instant, acked_bps: f64) -> bool {
        let interval = self
            .rtt
            .clamp(Duration::from_millis(10), Duration::from_millis(200));
        self.last_change
            .is_none_or(|t| now.saturating_duration_since(t) >= interval)
            || acked_bps < 0.5 * self.target
    }

    /// One step of the controller; `acked_bps` is the received rate, if known.
    pub fn update(&mut self, now: Instant, usage: Usage, acked_bps: Option<f64>) -> f64 {
        self.remember(now, acked_bps);
        self.state = match (self.state, usage) {
            (_, Usage::Over) => State::Decrease,
            (_, Usage::Under) => State::Hold,
            (State::Hold, Usage::Normal) | (State::Increase, Usage::Normal) => State::Increase,
            (State::Decrease, Usage::Normal) => State::Hold,
        };
        match self.state {
            State::Hold => {}
            State::Increase => self.increase(now, acked_bps),
            State::Decrease => {
                if let Some(acked) = acked_bps {
                    self.decrease(now, acked);
                }
            }
        }
        self.target
    }

    fn remember(&mut self, now: Instant, acked_bps: Option<f64>) {
        if self
            .proven
            .is_some_and(|(_, at)| now.saturating_duration_since(at) > PROVEN_MEMORY)
        {
            self.proven = None;
        }
        if let Some(acked) = acked_bps
            && self
                .proven
                .is_none_or(|(rate, _)| acked >= rate * PROVEN_FRACTION)
        {
            let rate = self.proven.map_or(acked, |(rate, _)| rate.max(acked));
            self.proven = Some((rate, now));
        }
    }

    /// The multiplicative growth per second in force.
    fn growth_per_second(&self) -> f64 {
        let below_proven = self
            .proven
            .is_some_and(|(rate, _)| self.target < rate * PROVEN_FRACTION);
        if !self.decreased {
            START_PER_SECOND
        } else if below_proven {
            FAST_PER_SECOND
        } else {
            MULTIPLICATIVE_PER_SECOND
        }
    }

    fn increase(&mut self, now: Instant, acked_bps: Option<f64>) {
        if let (Some(acked), Some(upper)) = (acked_bps, self.capacity.upper_bps())
            && acked > upper
        {
            // More arrives than the old capacity allowed: it moved. Probe again.
            self.capacity.reset();
        }
        let limit = acked_bps.map_or(f64::INFINITY, |a| INCREASE_LIMIT_RATIO * a + 10_000.0);
        let elapsed = self
            .last_change
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        if self.target < limit {
            let increased = if self.capacity.estimate_bps().is_some() {
                self.target + self.additive_bps_per_second() * elapsed.as_secs_f64()
            } else {
                let alpha = self
                    .growth_per_second()
                    .powf(elapsed.as_secs_f64().min(1.0));
                self.target + (self.target * (alpha - 1.0)).max(1000.0)
            };
            self.target = increased.min(limit).clamp(self.min, self.max);
        }
        self.last_change = Some(now);
    }

    /// About one packet per response time (a round trip plus 100 ms), packets being
    /// a 30 fps frame split into MTU-sized pieces.
    fn additive_bps_per_second(&self) -> f64 {
        let frame_bits = self.target / 30.0;
        let packets = (frame_bits / (1200.0 * 8.0)).ceil().max(1.0);
        let packet_bits = frame_bits / packets;
        let response = self.rtt + Duration::from_millis(100);
        (packet_bits / response.as_secs_f64()).max(4000.0)
    }

    fn decrease(&mut self, now: Instant, acked_bps: f64) {
        let mut decreased = BETA * acked_bps;
        if decreased > self.target
            && let Some(capacity) = self.capacity.estimate_bps()
        {
            decreased = BETA * capacity;
        }
        if decreased < self.target {
            self.target = decreased.clamp(self.min, self.max);
        }
        if self
            .capacity
            .lower_bps()
            .is_some_and(|lower| acked_bps < lower)
        {
            // Far less arrives than the capacity we knew: it moved.
            self.capacity.reset();
        }
        self.capacity.on_overuse(acked_bps);
        self.decreased = true;
        // Hold until the queue has drained.
        self.state = State::Hold;
        self.last_change = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_paths_grow_multiplicatively_then_additively_near_the_capacity() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(700_000.0, 50_000.0, 5_000_000.0);
        let mut t = t0;
        for _ in 0..10 {
            t += Duration::from_millis(100);
            c.update(t, Usage::Normal, Some(c.target()));
        }
        let after_1s = c.target();
        // Nine steps of 100 ms: 1.5^0.9.
        assert!(
            (after_1s / 700_000.0 - START_PER_SECOND.powf(0.9)).abs() < 0.01,
            "50 %/s at the start: {after_1s}"
        );
        // Overuse at 600 kbit/s received: back off to 85 % of it, and hold.
        t += Duration::from_millis(100);
        c.update(t, Usage::Over, Some(600_000.0));
        assert!((c.target() - 510_000.0).abs() < 1.0);
        assert_eq!(c.state(), State::Hold);
        // A draining queue keeps it on hold.
        t += Duration::from_millis(100);
        c.update(t, Usage::Under, Some(500_000.0));
        assert_eq!(c.target(), 510_000.0);
        // Near the known capacity: tens of kbit/s per second, not a percentage.
        for _ in 0..10 {
            t += Duration::from_millis(100);
            c.update(t, Usage::Normal, Some(510_000.0));
        }
        let gain = c.target() - 510_000.0;
        assert!((4_000.0..40_000.0).contains(&gain), "additive: {gain}");
    }

    #[test]
    fn the_start_climbs_50_percent_a_second_until_the_first_overuse() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(300_000.0, 50_000.0, 5_000_000.0);
        for i in 0..=10 {
            c.update(t0 + Duration::from_millis(i * 100), Usage::Normal, None);
        }
        let after_1s = c.target();
        assert!((440_000.0..=460_000.0).contains(&after_1s), "{after_1s}");
        assert_eq!(c.growth_per_second(), START_PER_SECOND);
        c.update(
            t0 + Duration::from_millis(1100),
            Usage::Over,
            Some(400_000.0),
        );
        assert_ne!(c.growth_per_second(), START_PER_SECOND);
    }

    #[test]
    fn after_the_start_growth_is_8_percent_unless_below_a_rate_proven_lately() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(1_000_000.0, 50_000.0, 5_000_000.0);
        // 1 Mbit/s arrives, then a cap: overuse at 400 kbit/s received.
        c.update(t0, Usage::Normal, Some(1_000_000.0));
        c.update(
            t0 + Duration::from_millis(100),
            Usage::Over,
            Some(400_000.0),
        );
        assert_eq!(c.target(), 340_000.0);
        assert_eq!(
            c.growth_per_second(),
            FAST_PER_SECOND,
            "1 Mbit/s was carried 0.1 s ago"
        );
        // Long after, the memory is gone: libwebrtc's 8 %/s.
        c.update(t0 + Duration::from_secs(40), Usage::Under, Some(340_000.0));
        assert_eq!(c.growth_per_second(), MULTIPLICATIVE_PER_SECOND);
    }

    #[test]
    fn increases_stop_where_nothing_arrives_to_test_them() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(1_000_000.0, 50_000.0, 5_000_000.0);
        for i in 1..50 {
            c.update(
                t0 + Duration::from_millis(i * 100),
                Usage::Normal,
                Some(200_000.0),
            );
        }
        assert_eq!(c.target(), 1_000_000.0, "already above 1.5 × what arrives");
    }

    #[test]
    fn a_capacity_that_moved_up_is_forgotten() {
        let t0 = Instant::now();
        let mut c = AimdRateControl::new(600_000.0, 50_000.0, 5_000_000.0);
        c.update(t0, Usage::Over, Some(500_000.0));
        assert!(c.capacity().estimate_bps().is_some());
        // Much more arrives than 500 kbit/s allows: back to multiplicative increase.
        c.update(
            t0 + Duration::from_millis(300),
            Usage::Normal,
            Some(900_000.0),
        );
        c.update(
            t0 + Duration::from_millis(400),
            Usage::Normal,
            Some(900_000.0),
        );
        assert!(c.capacity().estimate_bps().is_none());
    }
}
