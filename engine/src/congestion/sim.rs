//! A deterministic link and a simulated call over it: the send side's closed loop
//! (encoder at the estimate → pacer → bottleneck → transport-wide feedback →
//! estimator) in simulated time, for tests and for tuning without a network.
//!
//! The bottleneck is a FIFO served at the link's capacity with a tail-drop limit
//! expressed as queueing time (what `tc tbf latency` sets), a fixed propagation delay,
//! and optional random loss from a seeded generator, so every run is the same.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::allocation;
use super::estimator::{BweConfig, SendSideBwe};
use super::feedback::{FeedbackBatch, SendHistory, TransportFeedback};
use super::pacer::{Class, Pacer, PacerConfig};

/// A bottleneck link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    pub capacity_bps: f64,
    /// Longest a packet may queue before the link drops arrivals (tail drop).
    pub queue_limit: Duration,
    /// One-way delay without queueing.
    pub propagation: Duration,
    /// Fraction of packets lost at random, before the queue.
    pub loss: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            capacity_bps: 1_000_000.0,
            queue_limit: Duration::from_millis(200),
            propagation: Duration::from_millis(20),
            loss: 0.0,
        }
    }
}

/// The link: packets in, arrival instants out.
pub struct Link {
    config: LinkConfig,
    busy_until: Option<Instant>,
    in_flight: VecDeque<(u64, Instant)>,
    rng: u64,
    pub dropped_queue: u64,
    pub dropped_random: u64,
}

impl Link {
    pub fn new(config: LinkConfig) -> Self {
        Link {
            config,
            busy_until: None,
            in_flight: VecDeque::new(),
            rng: 0x853c_49e6_748f_ea9b,
            dropped_queue: 0,
            dropped_random: 0,
        }
    }

    pub fn set_capacity(&mut self, bps: f64) {
        self.config.capacity_bps = bps;
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: reproducible, good enough for drop decisions.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// How long a packet entering now would queue.
    pub fn queue_delay(&self, now: Instant) -> Duration {
        self.busy_until
            .map_or(Duration::ZERO, |b| b.saturating_duration_since(now))
    }

    /// Offers a packet; `false` if the link dropped it.
    pub fn send(&mut self, now: Instant, id: u64, size: usize) -> bool {
        if self.config.loss > 0.0 && self.random() < self.config.loss {
            self.dropped_random += 1;
            return false;
        }
        if self.queue_delay(now) > self.config.queue_limit {
            self.dropped_queue += 1;
            return false;
        }
        let start = self.busy_until.map_or(now, |b| b.max(now));
        let done = start + Duration::from_secs_f64(size as f64 * 8.0 / self.config.capacity_bps);
        self.busy_until = Some(done);
        self.in_flight
            .push_back((id, done + self.config.propagation));
        true
    }

    /// Packets that have arrived by `now`, in order.
    pub fn deliver(&mut self, now: Instant) -> Vec<(u64, Instant)> {
        let mut out = Vec::new();
        while let Some(&(id, at)) = self.in_flight.front() {
            if at > now {
                break;
            }
            self.in_flight.pop_front();
            out.push((id, at));
        }
        out
    }
}

/// A bandwidth estimator the simulated call can drive.
pub trait Estimator {
    fn on_feedback(&mut self, now: Instant, batch: &FeedbackBatch) -> f64;
    fn target_bps(&self) -> f64;
}

impl Estimator for SendSideBwe {
    fn on_feedback(&mut self, now: Instant, batch: &FeedbackBatch) -> f64 {
        SendSideBwe::on_feedback(self, now, batch)
    }

    fn target_bps(&self) -> f64 {
        SendSideBwe::target_bps(self)
    }
}

/// A simulated one-way call: camera video at the estimate (plus Opus-sized audio).
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub link: LinkConfig,
    pub bwe: BweConfig,
    pub duration: Duration,
    /// Capacity changes: at this time, the link carries this much.
    pub capacity_changes: Vec<(Duration, f64)>,
    /// The encoder never exceeds this (bits per second).
    pub max_video_bps: f64,
    pub feedback_interval: Duration,
    pub fps: u32,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            link: LinkConfig::default(),
            bwe: BweConfig::default(),
            duration: Duration::from_secs(20),
            capacity_changes: Vec::new(),
            max_video_bps: 1_500_000.0,
            feedback_interval: Duration::from_millis(100),
            fps: 30,
        }
    }
}

/// One 100 ms slice of a simulated call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slice {
    pub at: Duration,
    pub capacity_bps: f64,
    pub target_bps: f64,
    /// What entered the link in this slice.
    pub sent_bps: f64,
    /// Queueing delay a packet entering the bottleneck at the end of the slice meets.
    pub queue_delay: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct CallTrace {
    pub slices: Vec<Slice>,
    pub dropped_queue: u64,
    pub dropped_random: u64,
    pub frames_skipped: u64,
}

impl CallTrace {
    /// The slices within `[from, to)`.
    pub fn between(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Slice> {
        self.slices
            .iter()
            .filter(move |s| s.at >= from && s.at < to)
    }

    pub fn mean(&self, from: Duration, to: Duration, f: impl Fn(&Slice) -> f64) -> f64 {
        let (sum, n) = self
            .between(from, to)
            .fold((0.0, 0usize), |(s, n), x| (s + f(x), n + 1));
        if n == 0 { 0.0 } else { sum / n as f64 }
    }

    /// The first slice at or after `from` where `f` holds.
    pub fn first_after(&self, from: Duration, f: impl Fn(&Slice) -> bool) -> Option<Duration> {
        self.slices
            .iter()
            .find(|s| s.at >= from && f(s))
            .map(|s| s.at)
    }
}

const AUDIO_BYTES: usize = 120;
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const MAX_PAYLOAD: usize = 1200;
/// The encoder skips a frame while the pacer holds more than this.
const PUSHBACK_QUEUE: Duration = Duration::from_millis(150);

/// Runs a call with [`SendSideBwe`] and returns its trace.
pub fn run_call(config: &CallConfig) -> CallTrace {
    run_call_with(config, &mut SendSideBwe::new(config.bwe))
}

/// Runs a call with any estimator, in 1 ms steps.
pub fn run_call_with(config: &CallConfig, bwe: &mut dyn Estimator) -> CallTrace {
    let tick = Duration::from_millis(1);
    let t0 = Instant::now();
    let mut link = Link::new(config.link);
    let mut pacer: Pacer<()> = Pacer::new(PacerConfig::default(), bwe.target_bps());
    let mut history = SendHistory::new();
    let mut trace = CallTrace::default();
    let mut changes: VecDeque<(Duration, f64)> = config.capacity_changes.iter().copied().collect();
    let mut capacity = config.link.capacity_bps;

    let frame_interval = Duration::from_secs(1) / config.fps.max(1);
    let mut next_frame = Duration::ZERO;
    let mut next_audio = Duration::ZERO;
    let mut next_feedback = config.feedback_interval;
    let mut next_slice = Duration::from_millis(100);
    let mut transport_seq: u16 = 0;
    // Receiver: arrival per transport number not yet reported; feedback in flight back.
    let mut arrivals: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut reported_up_to: Option<u64> = None;
    let mut returning: VecDeque<(Instant, TransportFeedback)> = VecDeque::new();
    let mut slice_bytes = 0usize;
    let mut first_frame = true;

    let mut now_d = Duration::ZERO;
    while now_d < config.duration {
        let now = t0 + now_d;
        while changes.front().is_some_and(|(at, _)| *at <= now_d) {
            if let Some((_, bps)) = changes.pop_front() {
                capacity = bps;
                link.set_capacity(bps);
            }
        }
        // Media in.
        if now_d >= next_audio {
            pacer.push(now, Class::Audio, AUDIO_BYTES, (), None);
            next_audio += AUDIO_INTERVAL;
        }
        if now_d >= next_frame {
            next_frame += frame_interval;
            if pacer.expected_queue_time() > PUSHBACK_QUEUE {
                trace.frames_skipped += 1;
            } else {
                let video_bps = allocation::video_target_bps(bwe.target_bps(), 40_000.0, 0.0)
                    .min(config.max_video_bps);
                let mut bytes = (video_bps / 8.0 / f64::from(config.fps)) as usize;
                if first_frame {
                    bytes *= 3; // a keyframe
                    first_frame = false;
                }
                while bytes > 0 {
                    let size = bytes.min(MAX_PAYLOAD);
                    pacer.push(now, Class::Video, size + 40, (), None);
                    bytes -= size;
                }
            }
        }
        // Out through the pacer onto the link.
        while pacer.next_release(now).is_some_and(|t| t <= now) {
            let Some(released) = pacer.pop(now) else {
                break;
            };
            let sent = history.on_sent(transport_seq, released.size, now);
            transport_seq = transport_seq.wrapping_add(1);
            slice_bytes += released.size;
            link.send(now, sent.seq, released.size);
        }
        // Arrivals, and feedback every interval.
        for (seq, at) in link.deliver(now) {
            arrivals.insert(seq, at.duration_since(t0));
        }
        if now_d >= next_feedback {
            next_feedback += config.feedback_interval;
            if let Some((&highest, _)) = arrivals.last_key_value() {
                let base = reported_up_to.map_or_else(
                    || arrivals.keys().next().copied().unwrap_or(highest),
                    |r| r + 1,
                );
                let feedback = TransportFeedback {
                    base_seq: base as u16,
                    arrivals: (base..=highest)
                        .map(|s| arrivals.get(&s).copied())
                        .collect(),
                };
                arrivals.clear();
                reported_up_to = Some(highest);
                returning.push_back((now + config.link.propagation, feedback));
            }
        }
        while returning.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, feedback)) = returning.pop_front() {
                let batch = history.on_feedback(now, &feedback);
                let target = bwe.on_feedback(now, &batch);
                pacer.set_estimate(target);
            }
        }
        now_d += tick;
        if now_d >= next_slice {
            trace.slices.push(Slice {
                at: next_slice,
                capacity_bps: capacity,
                target_bps: bwe.target_bps(),
                sent_bps: slice_bytes as f64 * 8.0 / 0.1,
                queue_delay: link.queue_delay(t0 + now_d),
            });
            slice_bytes = 0;
            next_slice += Duration::from_millis(100);
        }
    }
    trace.dropped_queue = link.dropped_queue;
    trace.dropped_random = link.dropped_random;
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_serves_at_its_capacity_and_drops_past_its_queue() {
        let t0 = Instant::now();
        let mut link = Link::new(LinkConfig {
            capacity_bps: 800_000.0,
            queue_limit: Duration::from_millis(50),
            propagation: Duration::from_millis(10),
            loss: 0.0,
        });
        // 100 packets of 1000 bytes at once: 10 ms each, so about 6 fit.
        let accepted = (0..100).filter(|&i| link.send(t0, i, 1000)).count();
        assert_eq!(accepted, 6);
        let arrived = link.deliver(t0 + Duration::from_millis(40));
        assert_eq!(arrived.len(), 3, "10 ms propagation + 10 ms per packet");
    }

    #[test]
    fn random_loss_is_reproducible() {
        let run = || {
            let t0 = Instant::now();
            let mut link = Link::new(LinkConfig {
                loss: 0.1,
                ..LinkConfig::default()
            });
            (0..1000u64)
                .map(|i| link.send(t0 + Duration::from_millis(i * 10), i, 100))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let lost = a.iter().filter(|ok| !**ok).count();
        assert!((70..130).contains(&lost), "{lost}");
    }
}
