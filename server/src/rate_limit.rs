//! A per-connection token bucket: `rate` events a second on average, bursts up to
//! twice that (a call setup sends a burst of ICE candidates).

use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate == 0` means unlimited.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        TokenBucket {
            rate,
            capacity: rate * 2.0,
            tokens: rate * 2.0,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10);
        bucket.last = start;
        let burst = (0..100).filter(|_| bucket.try_take_at(start)).count();
        assert_eq!(burst, 20);
        assert!(!bucket.try_take_at(start + Duration::from_millis(50)));
        assert!(bucket.try_take_at(start + Duration::from_millis(150)));
        let later = start + Duration::from_secs(60);
        let refilled = (0..100).filter(|_| bucket.try_take_at(later)).count();
        assert_eq!(refilled, 20, "never more than the burst");
    }

    #[test]
    fn zero_means_unlimited() {
        let mut bucket = TokenBucket::new(0);
        assert!((0..10_000).all(|_| bucket.try_take()));
    }
}
