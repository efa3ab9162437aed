//! The pacer: packets leave at the estimate × a pacing factor instead of in bursts, so
//! a frame (or a keyframe three times its size) does not fill the bottleneck's queue at
//! once.
//!
//! Three queues in strict priority: audio (never waits: it is small and late audio is
//! useless), then video, then retransmissions (they spend what the media left, and are
//! dropped when they would arrive too late to help). A leaky bucket refilled at the
//! pacing rate gates video and retransmissions; audio is charged to it too, so the total
//! stays within the rate. A queue that would take longer than `max_queue_time` to drain
//! is drained faster rather than left to grow.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A full-size packet: the bucket always holds at least this, so one can always go.
const MTU: f64 = 1500.0;

/// What a packet is, which decides its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Audio,
    Video,
    Retransmission,
}

impl Class {
    fn index(self) -> usize {
        match self {
            Class::Audio => 0,
            Class::Video => 1,
            Class::Retransmission => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerConfig {
    /// Pacing rate over the estimate: room to drain a frame burst quickly.
    pub pacing_factor: f64,
    /// How much may leave back to back, as time at the pacing rate. 40 ms (libwebrtc's
    /// burst interval too) lets a whole frame go at once on an idle link, which keeps
    /// the latency of a clean link (with 5 ms, loopback glass-to-glass p50 went from 6
    /// to 18 ms); keyframes and runs of frames are still spread.
    pub burst: Duration,
    /// The queue is drained at least this fast, whatever the estimate.
    pub max_queue_time: Duration,
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            pacing_factor: 2.5,
            burst: Duration::from_millis(40),
            max_queue_time: Duration::from_secs(1),
        }
    }
}

struct Queued<T> {
    item: T,
    size: usize,
    queued_at: Instant,
    expires: Option<Instant>,
}

/// A packet the pacer let go.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    pub item: T,
    pub class: Class,
    pub size: usize,
    pub waited: Duration,
}

pub struct Pacer<T> {
    config: PacerConfig,
    queues: [VecDeque<Queued<T>>; 3],
    queued_bytes: usize,
    estimate_bps: f64,
    /// Bytes that may leave now; negative after a packet larger than what was left.
    budget: f64,
    last_refill: Option<Instant>,
    expired: u64,
}

impl<T> Pacer<T> {
    pub fn new(config: PacerConfig, estimate_bps: f64) -> Self {
        Pacer {
            config,
            queues: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
            queued_bytes: 0,
            estimate_bps,
            budget: MTU,
            last_refill: None,
            expired: 0,
        }
    }

    pub fn set_estimate(&mut self, bps: f64) {
        self.estimate_bps = bps.max(0.0);
    }

    /// The rate packets leave at while the queue is not long.
    pub fn pacing_rate_bps(&self) -> f64 {
        self.estimate_bps * self.config.pacing_factor
    }

    /// The rate in force: the pacing rate, or faster when the oldest queued packet
    /// would otherwise wait longer than `max_queue_time`.
    fn rate_bps(&self) -> f64 {
        let oldest = self
            .queues
            .iter()
            .filter_map(|q| q.front().map(|q| q.queued_at))
            .min();
        let drain = match (oldest, self.last_refill) {
            (Some(oldest), Some(now)) => {
                let left = self
                    .config
                    .max_queue_time
                    .saturating_sub(now.saturating_duration_since(oldest))
                    .max(Duration::from_millis(10));
                self.queued_bytes as f64 * 8.0 / left.as_secs_f64()
            }
            _ => 0.0,
        };
        self.pacing_rate_bps().max(drain).max(8.0 * MTU)
    }

    fn capacity(&self) -> f64 {
        (self.rate_bps() / 8.0 * self.config.burst.as_secs_f64()).max(MTU)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last_refill {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.budget = (self.budget + dt * self.rate_bps() / 8.0).min(self.capacity());
        }
        if self.last_refill.is_none_or(|last| now > last) {
            self.last_refill = Some(now);
        }
    }

    /// Queues a packet of `size` bytes; one with `expires` is dropped if still queued
    /// then (a retransmission that can no longer be played).
    pub fn push(
        &mut self,
        now: Instant,
        class: Class,
        size: usize,
        item: T,
        expires: Option<Instant>,
    ) {
        self.refill(now);
        self.queued_bytes += size;
        self.queues[class.index()].push_back(Queued {
            item,
            size,
            queued_at: now,
            expires,
        });
    }

    fn drop_expired(&mut self, now: Instant) {
        for queue in &mut self.queues {
            let before = queue.len();
            queue.retain(|q| {
                let keep = q.expires.is_none_or(|e| e > now);
                if !keep {
                    self.queued_bytes -= q.size;
                }
                keep
            });
            self.expired += (before - queue.len()) as u64;
        }
    }

    /// The next packet allowed to leave at `now`, if any.
    pub fn pop(&mut self, now: Instant) -> Option<Released<T>> {
        self.refill(now);
        self.drop_expired(now);
        let class = if !self.queues[0].is_empty() {
            Class::Audio
        } else if self.budget <= 0.0 {
            return None;
        } else if !self.queues[1].is_empty() {
            Class::Video
        } else if !self.queues[2].is_empty() {
            Class::Retransmission
        } else {
            return None;
        };
        let q = self.queues[class.index()].pop_front()?;
        self.queued_bytes -= q.size;
        self.budget -= q.size as f64;
        Some(Released {
            item: q.item,
            class,
            size: q.size,
            waited: now.saturating_duration_since(q.queued_at),
        })
    }

    /// When [`Self::pop`] will next yield something; `None` when nothing is queued.
    pub fn next_release(&self, now: Instant) -> Option<Instant> {
        if !self.queues[0].is_empty() {
            return Some(now);
        }
        if self.is_empty() {
            return None;
        }
        let last = self.last_refill.unwrap_or(now).max(now);
        if self.budget > 0.0 {
            return Some(last);
        }
        // Just enough refill to make the budget positive again.
        let wait = (-self.budget + 1.0) * 8.0 / self.rate_bps();
        Some(last + Duration::from_secs_f64(wait))
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    #[allow(dead_code)] // for tests and diagnostics
    /// How long the oldest queued video packet has waited.
    pub fn video_delay(&self, now: Instant) -> Duration {
        self.queues[1].front().map_or(Duration::ZERO, |q| {
            now.saturating_duration_since(q.queued_at)
        })
    }

    /// How long what is queued takes to leave at the current rate; encoders skip a
    /// frame when this gets long rather than queue more behind it.
    pub fn expected_queue_time(&self) -> Duration {
        Duration::from_secs_f64(self.queued_bytes as f64 * 8.0 / self.rate_bps())
    }

    /// Packets dropped because they expired in the queue.
    pub fn expired(&self) -> u64 {
        self.expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops everything due, advancing time to each release; returns (time, item).
    fn drain<T>(p: &mut Pacer<T>, start: Instant, until: Instant) -> Vec<(Duration, Released<T>)> {
        let mut now = start;
        let mut out = Vec::new();
        while let Some(next) = p.next_release(now) {
            now = next.max(now);
            if now > until {
                break;
            }
            if let Some(r) = p.pop(now) {
                out.push((now - start, r));
            } else {
                now += Duration::from_micros(100);
            }
        }
        out
    }

    #[test]
    fn a_frame_burst_leaves_at_the_pacing_rate() {
        let t0 = Instant::now();
        // 400 kbit/s × 2.5 = 1 Mbit/s: a 1200-byte packet every 9.6 ms.
        let mut p = Pacer::new(PacerConfig::default(), 400_000.0);
        for i in 0..20 {
            p.push(t0, Class::Video, 1200, i, None);
        }
        let out = drain(&mut p, t0, t0 + Duration::from_secs(1));
        assert_eq!(out.len(), 20);
        let last = out.last().map(|(t, _)| t.as_secs_f64()).unwrap_or_default();
        // 24 000 bytes at 125 000 bytes/s: about 0.19 s (one MTU of initial budget).
        assert!((0.17..0.21).contains(&last), "{last}");
        let order: Vec<i32> = out.iter().map(|(_, r)| r.item).collect();
        assert_eq!(order, (0..20).collect::<Vec<_>>(), "in order");
    }

    #[test]
    fn audio_goes_first_then_video_then_retransmissions() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), 1_000_000.0);
        p.push(t0, Class::Retransmission, 1200, "rtx", None);
        p.push(t0, Class::Video, 1200, "video", None);
        p.push(t0, Class::Audio, 100, "audio", None);
        let out = drain(&mut p, t0, t0 + Duration::from_secs(1));
        let order: Vec<&str> = out.iter().map(|(_, r)| r.item).collect();
        assert_eq!(order, ["audio", "video", "rtx"]);
    }

    #[test]
    fn audio_never_waits_for_the_budget() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), 100_000.0);
        for i in 0..10 {
            p.push(t0, Class::Video, 1200, i, None);
        }
        let mut sent = 0;
        while p.pop(t0).is_some() {
            sent += 1;
        }
        assert!(
            sent < 3,
            "the initial budget lets one or two go, then video waits"
        );
        p.push(t0, Class::Audio, 100, 99, None);
        assert_eq!(p.pop(t0).map(|r| r.item), Some(99));
    }

    #[test]
    fn expired_retransmissions_are_dropped() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::default(), 100_000.0);
        for i in 0..5 {
            p.push(t0, Class::Video, 1200, i, None);
        }
        p.push(
            t0,
            Class::Retransmission,
            1200,
            100,
            Some(t0 + Duration::from_millis(50)),
        );
        let out = drain(&mut p, t0, t0 + Duration::from_secs(2));
        assert!(
            out.iter().all(|(_, r)| r.item != 100),
            "it waited past its deadline"
        );
        assert_eq!(p.expired(), 1);
        assert_eq!(p.queued_bytes(), 0);
    }

    #[test]
    fn a_long_queue_is_drained_within_the_max_queue_time() {
        let t0 = Instant::now();
        // 2 Mbit queued at a 250 kbit/s pacing rate would take 8 s.
        let mut p = Pacer::new(PacerConfig::default(), 100_000.0);
        for i in 0..208 {
            p.push(t0, Class::Video, 1200, i, None);
        }
        let out = drain(&mut p, t0, t0 + Duration::from_secs(10));
        let last = out.last().map(|(t, _)| t.as_secs_f64()).unwrap_or_default();
        assert!(last < 1.5, "{last}");
    }
}
