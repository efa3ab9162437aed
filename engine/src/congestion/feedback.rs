//! What left, and what the receiver said about it.
//!
//! Every packet that leaves (after the pacer, retransmissions included) carries a
//! transport-wide sequence number; the receiver reports, for runs of those numbers,
//! whether each arrived and when on its own clock (TWCC). [`SendHistory`] joins the two
//! into [`PacketResult`]s, which is all the estimators read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long an unacknowledged packet is remembered: feedback older than this is of no
/// use to a real-time estimate, and the history must not grow on a dead path.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// Widens 16-bit sequence numbers to 64 bits, choosing the value nearest the last one.
#[derive(Debug, Default, Clone)]
pub struct SeqUnwrapper {
    last: Option<u64>,
}

impl SeqUnwrapper {
    /// The extended value of `seq`; the reference moves forward only.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let ext = self.peek(seq);
        if self.last.is_none_or(|last| ext > last) {
            self.last = Some(ext);
        }
        ext
    }

    /// The extended value of `seq` without moving the reference.
    pub fn peek(&self, seq: u16) -> u64 {
        match self.last {
            // Start one cycle in, so a number just before the first can still be placed.
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let delta = seq.wrapping_sub(last as u16);
                if delta < 0x8000 {
                    last + u64::from(delta)
                } else {
                    last.saturating_sub(u64::from(delta.wrapping_neg()))
                }
            }
        }
    }
}

/// A packet as it left this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPacket {
    /// Transport-wide sequence number, extended.
    pub seq: u64,
    /// Bytes on the wire (RTP header and payload).
    pub size: usize,
    /// When the pacer released it: queueing in our own pacer is not network delay.
    pub sent_at: Instant,
}

/// One run of transport-wide feedback in a codec-neutral form: for `base_seq`,
/// `base_seq + 1`, …, the arrival time on the receiver's clock, or `None` if it was
/// reported lost. Arrival times are only comparable with each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportFeedback {
    pub base_seq: u16,
    pub arrivals: Vec<Option<Duration>>,
}

/// What became of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    pub sent: SentPacket,
    /// Arrival on the receiver's clock; `None` if reported lost.
    pub arrival: Option<Duration>,
}

impl PacketResult {
    pub fn received(&self) -> bool {
        self.arrival.is_some()
    }
}

/// The results one feedback message brought, in send order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackBatch {
    pub results: Vec<PacketResult>,
    /// Round trip implied by the newest packet reported received (it was acknowledged
    /// at most one feedback interval after it arrived, so this overestimates a little).
    pub rtt: Option<Duration>,
    /// Bytes sent and not yet reported on, after this feedback.
    pub in_flight: usize,
}

impl FeedbackBatch {
    pub fn lost(&self) -> usize {
        self.results.iter().filter(|r| !r.received()).count()
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    sent: SentPacket,
    reported_lost: bool,
}

/// Packets sent and not yet reported received, by extended transport-wide number.
#[derive(Debug, Default)]
pub struct SendHistory {
    packets: BTreeMap<u64, Entry>,
    unwrapper: SeqUnwrapper,
    in_flight: usize,
}

impl SendHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a packet as it leaves, under its 16-bit transport-wide number.
    pub fn on_sent(&mut self, seq: u16, size: usize, now: Instant) -> SentPacket {
        let sent = SentPacket {
            seq: self.unwrapper.unwrap(seq),
            size,
            sent_at: now,
        };
        if let Some(old) = self.packets.insert(
            sent.seq,
            Entry {
                sent,
                reported_lost: false,
            },
        ) {
            self.in_flight -= old.sent.size;
        }
        self.in_flight += size;
        self.prune(now);
        sent
    }

    /// Joins one feedback message to the history. A packet reported lost stays
    /// remembered (a later report may still see it arrive) but is reported lost once.
    pub fn on_feedback(&mut self, now: Instant, feedback: &TransportFeedback) -> FeedbackBatch {
        let mut batch = FeedbackBatch::default();
        let mut newest_received: Option<SentPacket> = None;
        for (i, arrival) in feedback.arrivals.iter().enumerate() {
            let seq16 = feedback.base_seq.wrapping_add(i as u16);
            let seq = self.unwrapper.peek(seq16);
            let Some(entry) = self.packets.get_mut(&seq) else {
                continue; // unknown or already acknowledged
            };
            match arrival {
                Some(at) => {
                    let sent = entry.sent;
                    self.packets.remove(&seq);
                    self.in_flight -= sent.size;
                    batch.results.push(PacketResult {
                        sent,
                        arrival: Some(*at),
                    });
                    if newest_received.is_none_or(|n| sent.seq > n.seq) {
                        newest_received = Some(sent);
                    }
                }
                None if !entry.reported_lost => {
                    entry.reported_lost = true;
                    batch.results.push(PacketResult {
                        sent: entry.sent,
                        arrival: None,
                    });
                }
                None => {}
            }
        }
        batch.results.sort_by_key(|r| r.sent.seq);
        batch.rtt = newest_received.map(|p| now.saturating_duration_since(p.sent_at));
        self.prune(now);
        batch.in_flight = self.in_flight;
        batch
    }

    #[allow(dead_code)] // for tests and diagnostics
    /// Bytes sent and not reported on.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        while let Some((&seq, entry)) = self.packets.first_key_value() {
            if now.saturating_duration_since(entry.sent.sent_at) <= MAX_AGE {
                break;
            }
            self.in_flight -= entry.sent.size;
            self.packets.remove(&seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrapping_follows_the_wrap_both_ways() {
        let mut u = SeqUnwrapper::default();
        let a = u.unwrap(65534);
        assert_eq!(u.unwrap(65535), a + 1);
        assert_eq!(u.unwrap(1), a + 3);
        assert_eq!(u.peek(65533), a - 1, "a late number stays behind");
        assert_eq!(u.unwrap(0), a + 2, "and does not move the reference back");
    }

    #[test]
    fn feedback_joins_sends_and_reports_losses_once() {
        let t0 = Instant::now();
        let mut h = SendHistory::new();
        for i in 0..4u16 {
            h.on_sent(
                65534u16.wrapping_add(i),
                1000,
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(h.in_flight(), 4000);
        let fb = TransportFeedback {
            base_seq: 65534,
            arrivals: vec![
                Some(Duration::from_millis(50)),
                None,
                Some(Duration::from_millis(52)),
                None,
            ],
        };
        let now = t0 + Duration::from_millis(80);
        let batch = h.on_feedback(now, &fb);
        assert_eq!(batch.results.len(), 4);
        assert_eq!(batch.lost(), 2);
        assert_eq!(
            batch.rtt,
            Some(Duration::from_millis(78)),
            "from the newest received"
        );
        assert_eq!(batch.in_flight, 2000);
        // The same losses again are not news; a late arrival is.
        let fb2 = TransportFeedback {
            base_seq: 65535,
            arrivals: vec![Some(Duration::from_millis(60)), None, None],
        };
        let batch = h.on_feedback(now, &fb2);
        assert_eq!(batch.results.len(), 1);
        assert!(batch.results[0].received());
        assert_eq!(batch.in_flight, 1000);
    }

    #[test]
    fn old_packets_are_forgotten() {
        let t0 = Instant::now();
        let mut h = SendHistory::new();
        h.on_sent(1, 500, t0);
        h.on_sent(2, 500, t0 + MAX_AGE + Duration::from_millis(1));
        assert_eq!(h.len(), 1);
        assert_eq!(h.in_flight(), 500);
    }
}
