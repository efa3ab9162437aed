//! Which NACKed packets are worth resending.
//!
//! A retransmission is new load on a link that just lost something, so each one must
//! earn its place: the packet is resent at most [`MAX_RESENDS`] times, never again within
//! a round trip of the last time (a second NACK that crossed our resend), never when it
//! would reach the receiver after it has given up on the frame ([`playout_hold`]), and
//! only within a budget that is a share of the estimate. What is refused is not lost
//! for good: the receiver asks for a keyframe instead, which costs one frame, not a flood.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::allocation::rtx_budget_bps;
use super::feedback::SeqUnwrapper;

/// Times one packet may be resent.
pub const MAX_RESENDS: u8 = 2;
/// Packets kept for resending, at most (a 1080p keyframe is a few hundred).
const MAX_PACKETS: usize = 2048;
/// Longer than any hold: older packets cannot be useful.
const MAX_AGE: Duration = Duration::from_millis(1000);
/// The round trip assumed before one is measured.
const DEFAULT_RTT: Duration = Duration::from_millis(100);
/// The budget may save up this much time's worth.
const BUDGET_WINDOW: Duration = Duration::from_millis(200);
/// Receivers that NACK on a timer rather than at once (webrtc-rs's generator: every
/// 100 ms) ask this much later than they notice a gap; a resend still helps them then.
const NACK_DELAY: Duration = Duration::from_millis(100);

/// How long a receiver holds an incomplete frame for a retransmission, and so how long
/// a packet stays worth resending: two round trips and a little (pacing, jitter), within
/// 80–800 ms. One round trip is what a single retransmission needs; the second leaves
/// room for another attempt when the first is lost too, which at 10 % loss turned 6
/// frozen frames in 10 s into none (the `lossy_path` test), at the cost of a round trip
/// on the few frames that need it. The floor: a retransmission waits behind a frame in
/// the pacer's 40 ms burst and in the bottleneck's queue, which a short round trip
/// measured when the queue was empty does not show. The ceiling is high because a call
/// that fills a thin link both ways has full queues both ways, round trips of 400 ms and
/// more: holding less than that turned every loss into a keyframe, and the keyframes'
/// bursts into more loss, until a 300 kbit/s call showed 7–10 fps (2 calls in 5, with a
/// 300 ms ceiling). It stays under `MAX_AGE`, so the packet is still there to resend.
pub fn playout_hold(rtt: Option<Duration>) -> Duration {
    let rtt = rtt.unwrap_or(DEFAULT_RTT);
    (rtt * 2 + Duration::from_millis(20))
        .clamp(Duration::from_millis(80), Duration::from_millis(800))
}

/// Keyframes sent at most this often for packets refused for good.
const MIN_REPAIR_INTERVAL: Duration = Duration::from_millis(300);

impl Refusal {
    /// Whether the receiver goes without a packet we sent it: not when a resend is on
    /// its way ([`Refusal::TooSoon`]), nor for one we never sent or forgot long ago
    /// ([`Refusal::Unknown`]: repeated, it must not bring keyframes).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Refusal::TooLate | Refusal::Exhausted | Refusal::OverBudget
        )
    }
}

/// A refused retransmission leaves the receiver's frame broken until a keyframe. Our
/// receivers ask for one as soon as they give up; a browser waits for a decodable frame
/// up to 3 s first (libwebrtc's `kMaxWaitForFrame`), frozen meanwhile. So the sender
/// repairs what it refused itself: a keyframe, unless one was already asked for after the
/// lost packet left, at most every [`MIN_REPAIR_INTERVAL`] (and two round trips).
#[derive(Debug, Default)]
pub struct KeyframeOnRefusal {
    last: Option<Instant>,
    pub forced: u64,
}

impl KeyframeOnRefusal {
    pub fn new() -> Self {
        Self::default()
    }

    /// `lost_sent_at`: when the newest packet refused for good first left. True when a
    /// keyframe should be sent now.
    pub fn on_tick(
        &mut self,
        now: Instant,
        lost_sent_at: Option<Instant>,
        rtt: Option<Duration>,
    ) -> bool {
        let Some(sent) = lost_sent_at else {
            return false;
        };
        let interval = MIN_REPAIR_INTERVAL.max(rtt.unwrap_or(DEFAULT_RTT) * 2);
        let due = self
            .last
            .is_none_or(|last| sent > last && now.saturating_duration_since(last) >= interval);
        if due {
            self.last = Some(now);
            self.forced += 1;
        }
        due
    }
}

/// Why a NACKed packet is not resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Never sent, or forgotten.
    Unknown,
    /// It would arrive after the receiver gave up on its frame.
    TooLate,
    /// Resent less than a round trip ago.
    TooSoon,
    /// Resent [`MAX_RESENDS`] times already.
    Exhausted,
    /// Retransmissions have used their share of the estimate.
    OverBudget,
}

/// Bytes retransmissions may spend: refilled at a share of the estimate.
#[derive(Debug, Default)]
pub struct RtxBudget {
    bytes: f64,
    last: Option<Instant>,
    spent: u64,
}

impl RtxBudget {
    pub fn new() -> Self {
        Self::default()
    }

    fn refill(&mut self, now: Instant, estimate_bps: f64) {
        let rate = rtx_budget_bps(estimate_bps) / 8.0;
        let cap = (rate * BUDGET_WINDOW.as_secs_f64()).max(1500.0);
        let elapsed = self
            .last
            .map_or(BUDGET_WINDOW, |t| now.saturating_duration_since(t));
        self.bytes = (self.bytes + rate * elapsed.as_secs_f64()).min(cap);
        self.last = Some(now);
    }

    fn take(&mut self, now: Instant, estimate_bps: f64, size: usize) -> bool {
        self.refill(now, estimate_bps);
        if self.bytes < size as f64 {
            return false;
        }
        self.bytes -= size as f64;
        self.spent += size as u64;
        true
    }

    /// Bytes spent on retransmissions so far.
    pub fn spent(&self) -> u64 {
        self.spent
    }
}

struct Record<T> {
    item: T,
    size: usize,
    first_sent: Instant,
    last_sent: Instant,
    resends: u8,
}

/// A packet cleared for resending, and when it stops being worth it (the pacer drops
/// it if it is still queued then). The receiver notices a loss when the next packet
/// arrives, so a packet is worth resending until `playout_hold` (and a NACK timer's
/// delay) after the one that followed it was sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Resend<'a, T> {
    pub item: &'a T,
    pub expires: Instant,
}

/// Recently sent packets of one stream, by RTP sequence number.
pub struct RtxHistory<T> {
    packets: BTreeMap<u64, Record<T>>,
    unwrapper: SeqUnwrapper,
}

impl<T> Default for RtxHistory<T> {
    fn default() -> Self {
        RtxHistory {
            packets: BTreeMap::new(),
            unwrapper: SeqUnwrapper::default(),
        }
    }
}

impl<T> RtxHistory<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps a packet as it first leaves.
    pub fn on_sent(&mut self, now: Instant, seq: u16, size: usize, item: T) {
        let seq = self.unwrapper.unwrap(seq);
        self.packets.insert(
            seq,
            Record {
                item,
                size,
                first_sent: now,
                last_sent: now,
                resends: 0,
            },
        );
        while self.packets.len() > MAX_PACKETS
            || self
                .packets
                .first_key_value()
                .is_some_and(|(_, r)| now.saturating_duration_since(r.first_sent) > MAX_AGE)
        {
            self.packets.pop_first();
        }
    }

    /// A NACK for `seq`: the packet to resend, or why not. A packet cleared here is
    /// counted as resent now.
    pub fn on_nack(
        &mut self,
        now: Instant,
        seq: u16,
        rtt: Option<Duration>,
        estimate_bps: f64,
        budget: &mut RtxBudget,
    ) -> Result<Resend<'_, T>, Refusal> {
        let seq = self.unwrapper.peek(seq);
        // The receiver starts waiting when the packet after this one arrives (that is
        // when it sees the gap), and waits `hold` from then.
        let noticed_from = self
            .packets
            .range(seq + 1..)
            .next()
            .map_or(now, |(_, r)| r.first_sent);
        let record = self.packets.get_mut(&seq).ok_or(Refusal::Unknown)?;
        let deadline = noticed_from.max(record.first_sent) + playout_hold(rtt) + NACK_DELAY;
        if now > deadline {
            return Err(Refusal::TooLate);
        }
        if record.resends >= MAX_RESENDS {
            return Err(Refusal::Exhausted);
        }
        if record.resends > 0
            && now.saturating_duration_since(record.last_sent) < rtt.unwrap_or(DEFAULT_RTT)
        {
            return Err(Refusal::TooSoon);
        }
        if !budget.take(now, estimate_bps, record.size) {
            return Err(Refusal::OverBudget);
        }
        record.resends += 1;
        record.last_sent = now;
        Ok(Resend {
            item: &record.item,
            expires: deadline,
        })
    }

    /// When `seq` first left, if it is still kept.
    pub fn sent_at(&self, seq: u16) -> Option<Instant> {
        let seq = self.unwrapper.peek(seq);
        self.packets.get(&seq).map(|r| r.first_sent)
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    #[allow(dead_code)] // for tests and diagnostics
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Option<Duration> = Some(Duration::from_millis(40));

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_hold_is_two_round_trips_within_bounds() {
        assert_eq!(playout_hold(RTT), ms(100));
        assert_eq!(playout_hold(Some(ms(5))), ms(80));
        assert_eq!(playout_hold(Some(ms(400))), ms(800));
        assert_eq!(playout_hold(Some(ms(900))), ms(800));
        assert!(playout_hold(Some(ms(900))) + NACK_DELAY < MAX_AGE);
        assert_eq!(playout_hold(None), ms(220));
    }

    #[test]
    fn a_packet_is_resent_a_bounded_number_of_times_a_round_trip_apart() {
        let t0 = Instant::now();
        let mut h = RtxHistory::new();
        let mut budget = RtxBudget::new();
        // A short round trip: the 80 ms hold leaves room for two attempts.
        let rtt = Some(ms(10));
        h.on_sent(t0, 100, 1200, "p100");
        h.on_sent(t0, 101, 1200, "p101");
        let first = h.on_nack(t0 + ms(10), 100, rtt, 1e6, &mut budget);
        assert_eq!(
            first,
            Ok(Resend {
                item: &"p100",
                expires: t0 + ms(180)
            })
        );
        assert_eq!(
            h.on_nack(t0 + ms(15), 100, rtt, 1e6, &mut budget),
            Err(Refusal::TooSoon)
        );
        assert!(h.on_nack(t0 + ms(21), 100, rtt, 1e6, &mut budget).is_ok());
        assert_eq!(
            h.on_nack(t0 + ms(25), 100, Some(ms(1)), 1e6, &mut budget),
            Err(Refusal::Exhausted)
        );
        assert_eq!(
            h.on_nack(t0 + ms(25), 102, rtt, 1e6, &mut budget),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn a_packet_the_receiver_gave_up_on_is_not_resent() {
        let t0 = Instant::now();
        let mut h = RtxHistory::new();
        let mut budget = RtxBudget::new();
        h.on_sent(t0, 7, 1200, ());
        // The next packet left 33 ms later (the next frame): the receiver saw the gap
        // then, holds 100 ms from there, and may NACK up to 100 ms late.
        h.on_sent(t0 + ms(33), 8, 1200, ());
        assert!(h.on_nack(t0 + ms(230), 7, RTT, 1e6, &mut budget).is_ok());
        h.on_sent(t0, 9, 1200, ());
        h.on_sent(t0 + ms(1), 10, 1200, ());
        assert_eq!(
            h.on_nack(t0 + ms(202), 9, RTT, 1e6, &mut budget),
            Err(Refusal::TooLate)
        );
    }

    #[test]
    fn retransmissions_stay_within_their_share_of_the_estimate() {
        let t0 = Instant::now();
        let mut h = RtxHistory::new();
        let mut budget = RtxBudget::new();
        // 400 kbit/s estimate: 100 kbit/s of retransmissions, 12.5 kB per second.
        let rtt = Some(ms(200));
        let mut resent = 0usize;
        // Every packet of 20 s is NACKed, one every 10 ms.
        for i in 0..2000u64 {
            let now = t0 + ms(i * 10);
            let seq = i as u16;
            h.on_sent(now, seq, 1200, ());
            if h.on_nack(now + ms(10), seq, rtt, 400_000.0, &mut budget)
                .is_ok()
            {
                resent += 1200;
            }
        }
        let per_second = resent as f64 / 20.0;
        assert!(per_second <= 12_500.0 * 1.2, "{per_second} B/s");
        assert!(per_second >= 12_500.0 * 0.8, "{per_second} B/s");
        assert_eq!(budget.spent(), resent as u64);
    }

    #[test]
    fn a_packet_refused_for_good_brings_one_keyframe_at_a_bounded_rate() {
        let t0 = Instant::now();
        let mut k = KeyframeOnRefusal::new();
        let rtt = Some(ms(20));
        assert!(!k.on_tick(t0, None, rtt));
        assert!(k.on_tick(t0 + ms(100), Some(t0), rtt));
        // Still the same loss, or one from before that keyframe: nothing more.
        assert!(!k.on_tick(t0 + ms(200), Some(t0), rtt));
        assert!(!k.on_tick(t0 + ms(500), Some(t0 + ms(90)), rtt));
        // A newer loss, but too soon after the last keyframe: it waits...
        assert!(!k.on_tick(t0 + ms(300), Some(t0 + ms(250)), rtt));
        // ...until the interval has passed.
        assert!(k.on_tick(t0 + ms(400), Some(t0 + ms(250)), rtt));
        assert_eq!(k.forced, 2);
        assert!(!Refusal::TooSoon.is_final() && !Refusal::Unknown.is_final());
        assert!(Refusal::Exhausted.is_final() && Refusal::TooLate.is_final());
    }

    #[test]
    fn the_history_forgets_old_packets() {
        let t0 = Instant::now();
        let mut h = RtxHistory::new();
        h.on_sent(t0, 1, 100, ());
        h.on_sent(t0 + ms(1500), 2, 100, ());
        assert_eq!(h.len(), 1);
    }
}
