//! The rate the receiver is actually getting, from acknowledged packets.
//!
//! Measured on the receiver's clock (TWCC arrival times), so it is the bottleneck's
//! output rate when the path is congested — the rate to back off from — and our own
//! sending rate when it is not.

use std::collections::VecDeque;
use std::time::Duration;

/// Span the rate is measured over.
const WINDOW: Duration = Duration::from_millis(500);
/// Below this span the measurement is one burst, not a rate.
const MIN_SPAN: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct AckedRate {
    samples: VecDeque<(Duration, usize)>,
    bytes: usize,
    newest: Duration,
}

impl AckedRate {
    pub fn new() -> Self {
        Self::default()
    }

    /// A packet of `size` bytes arrived at `arrival` (receiver clock).
    pub fn push(&mut self, arrival: Duration, size: usize) {
        if arrival + WINDOW < self.newest {
            return; // far out of order: outside the window anyway
        }
        self.newest = self.newest.max(arrival);
        self.samples.push_back((arrival, size));
        self.bytes += size;
        while let Some(&(at, size)) = self.samples.front() {
            if at + WINDOW >= self.newest {
                break;
            }
            self.samples.pop_front();
            self.bytes -= size;
        }
    }

    /// Bits per second, once the window spans enough time. The first sample's bytes
    /// arrived before the span starts, so they are not counted.
    pub fn bps(&self) -> Option<f64> {
        let &(first_at, first_size) = self.samples.front()?;
        let span = self.newest.saturating_sub(first_at);
        if span < MIN_SPAN {
            return None;
        }
        Some((self.bytes - first_size) as f64 * 8.0 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_stream_measures_its_rate() {
        let mut r = AckedRate::new();
        assert_eq!(r.bps(), None);
        // 1200-byte packets every 10 ms: 960 kbit/s.
        for i in 0..200u64 {
            r.push(Duration::from_millis(1000 + i * 10), 1200);
        }
        let bps = r.bps().expect("a rate");
        assert!((bps - 960_000.0).abs() < 1.0, "{bps}");
    }

    #[test]
    fn too_short_a_span_is_no_rate() {
        let mut r = AckedRate::new();
        for i in 0..5u64 {
            r.push(Duration::from_millis(i), 1200);
        }
        assert_eq!(r.bps(), None);
    }
}
