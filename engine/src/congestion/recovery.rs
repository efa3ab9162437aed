//! Receive-side frame recovery: which frames to decode, what to NACK, when to ask for
//! a keyframe.
//!
//! Packets are consumed strictly in sequence order. A frame is released as soon as it
//! is complete (its first packet, every packet up to its marker) and decodable: a
//! keyframe, or an inter frame whose predecessor was released (VP8 inter frames refer
//! to the previous frame, so after a gap nothing but a keyframe can be decoded
//! correctly). A gap is NACKed at once and waited for up to [`playout_hold`] (two round
//! trips: room for a second attempt): a retransmission that comes within it costs that
//! frame a little latency;
//! past it the frame is given up, every frame until the next keyframe is skipped rather
//! than decoded on a broken reference, and a keyframe is asked for, at a bounded rate.
//! A complete keyframe further on ends any wait at once. Padding (an empty payload, as
//! Chromium's bandwidth probes are) fills its sequence number and nothing else.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::feedback::SeqUnwrapper;
use super::rtx::playout_hold;

/// Times one missing packet is NACKed.
const MAX_NACKS: u8 = 3;
/// NACKs of one packet are at least this far apart (and a round trip).
const MIN_NACK_INTERVAL: Duration = Duration::from_millis(20);
/// Keyframe requests are at least this far apart (and two round trips).
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);
/// Packets held at most; past this the oldest are given up.
const MAX_PACKETS: usize = 2048;
/// A jump this far ahead is a new stream, not a gap to repair.
const MAX_GAP: u64 = 1000;

/// What the receiver needs to know about a media packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub frame_start: bool,
    /// Meaningful on a frame's first packet.
    pub keyframe: bool,
}

/// A complete, decodable frame, its packets' payloads in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<P> {
    pub timestamp: u32,
    pub keyframe: bool,
    pub payloads: Vec<P>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event<P> {
    Frame(Frame<P>),
    /// Ask the sender for these (RTCP NACK).
    Nack(Vec<u16>),
    /// Ask the sender for a keyframe (PLI).
    RequestKeyframe,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    pub frames: u64,
    /// Frames given up after waiting for their missing packets.
    pub frames_lost: u64,
    /// Complete frames not decoded because a reference was missing.
    pub frames_skipped: u64,
    /// Frames that were complete only thanks to a retransmission.
    pub frames_repaired: u64,
    pub nacks: u64,
    pub keyframe_requests: u64,
    /// Packets that came after their place was given up.
    pub late_packets: u64,
}

struct Slot<P> {
    /// `None` for padding.
    info: Option<PacketInfo>,
    payload: Option<P>,
    /// Filled a gap (a retransmission or a reordered packet).
    repaired: bool,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    nacks: u8,
    last_nack: Option<Instant>,
}

pub struct FrameRecovery<P> {
    packets: BTreeMap<u64, Slot<P>>,
    missing: BTreeMap<u64, Missing>,
    unwrapper: SeqUnwrapper,
    /// Everything before this was released or given up.
    next: Option<u64>,
    highest: Option<u64>,
    /// No frame may be released until a keyframe.
    needs_keyframe: bool,
    /// Something was skipped or lost for want of a keyframe: ask for one.
    want_keyframe: bool,
    last_request: Option<Instant>,
    rtt: Option<Duration>,
    events: VecDeque<Event<P>>,
    stats: RecoveryStats,
}

impl<P> Default for FrameRecovery<P> {
    fn default() -> Self {
        FrameRecovery {
            packets: BTreeMap::new(),
            missing: BTreeMap::new(),
            unwrapper: SeqUnwrapper::default(),
            next: None,
            highest: None,
            needs_keyframe: true,
            want_keyframe: false,
            last_request: None,
            rtt: None,
            events: VecDeque::new(),
            stats: RecoveryStats::default(),
        }
    }
}

impl<P> FrameRecovery<P> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    pub fn stats(&self) -> RecoveryStats {
        self.stats
    }

    /// A media packet arrived.
    pub fn on_packet(&mut self, now: Instant, info: PacketInfo, payload: P) {
        self.insert(now, info.seq, Some(info), Some(payload));
    }

    /// A padding-only packet arrived: it fills its number, nothing else.
    pub fn on_padding(&mut self, now: Instant, seq: u16) {
        self.insert(now, seq, None, None);
    }

    fn insert(&mut self, now: Instant, seq: u16, info: Option<PacketInfo>, payload: Option<P>) {
        let ext = self.unwrapper.unwrap(seq);
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late_packets += 1;
            return;
        }
        if let Some(highest) = self.highest
            && ext > highest + MAX_GAP
        {
            // The stream jumped: start over from here, on a keyframe.
            self.packets.clear();
            self.missing.clear();
            self.next = None;
            self.highest = None;
            self.needs_keyframe = true;
        }
        let repaired = self.missing.remove(&ext).is_some();
        match self.highest {
            Some(highest) if ext > highest => {
                for gap in highest + 1..ext {
                    self.missing.insert(
                        gap,
                        Missing {
                            since: now,
                            nacks: 0,
                            last_nack: None,
                        },
                    );
                }
                self.highest = Some(ext);
            }
            None => self.highest = Some(ext),
            Some(_) => {}
        }
        self.next.get_or_insert(ext);
        self.packets.insert(
            ext,
            Slot {
                info,
                payload,
                repaired,
            },
        );
        while self.packets.len() > MAX_PACKETS {
            if let Some((seq, _)) = self.packets.pop_first() {
                self.give_up_through(seq);
            }
        }
    }

    /// The next thing to do at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Event<P>> {
        if self.events.is_empty() {
            self.process(now);
        }
        self.events.pop_front()
    }

    /// When [`Self::poll`] may next have something without a new packet.
    pub fn next_timeout(&self) -> Option<Instant> {
        let hold = playout_hold(self.rtt);
        let gave_up = self
            .next
            .and_then(|next| self.missing.range(next..).next())
            .map(|(_, m)| m.since + hold);
        let nack = self
            .missing
            .values()
            .filter(|m| m.nacks < MAX_NACKS)
            .filter_map(|m| m.last_nack.map(|t| t + self.nack_interval()))
            .min();
        let keyframe = (self.want_keyframe && self.needs_keyframe)
            .then(|| self.last_request.map(|t| t + self.keyframe_interval()))
            .flatten();
        [gave_up, nack, keyframe].into_iter().flatten().min()
    }

    fn nack_interval(&self) -> Duration {
        self.rtt.unwrap_or_default().max(MIN_NACK_INTERVAL)
    }

    fn keyframe_interval(&self) -> Duration {
        (self.rtt.unwrap_or_default() * 2).max(MIN_KEYFRAME_INTERVAL)
    }

    fn process(&mut self, now: Instant) {
        while self.step(now) {}
        self.nack(now);
        if self.want_keyframe
            && self.needs_keyframe
            && self
                .last_request
                .is_none_or(|t| now.saturating_duration_since(t) >= self.keyframe_interval())
        {
            self.last_request = Some(now);
            self.stats.keyframe_requests += 1;
            self.events.push_back(Event::RequestKeyframe);
        }
    }

    /// Consumes what can be consumed at `next`; `false` when it must wait.
    fn step(&mut self, now: Instant) -> bool {
        let (Some(next), Some(highest)) = (self.next, self.highest) else {
            return false;
        };
        if next > highest {
            return false;
        }
        let Some(slot) = self.packets.get(&next) else {
            // A gap where a frame should start: wait, or give up on it.
            return self.wait_or_give_up(now, next);
        };
        let Some(info) = slot.info else {
            self.packets.remove(&next);
            self.next = Some(next + 1);
            return true; // padding
        };
        if !info.frame_start {
            // The rest of a frame whose start is gone.
            self.packets.remove(&next);
            self.next = Some(next + 1);
            self.break_chain();
            return true;
        }
        let mut seq = next;
        loop {
            let Some(slot) = self.packets.get(&seq) else {
                return self.wait_or_give_up(now, seq);
            };
            match slot.info {
                Some(i) if i.timestamp != info.timestamp || (seq != next && i.frame_start) => {
                    // The next frame began before this one's marker: it is broken.
                    self.drop_range(next, seq - 1);
                    self.stats.frames_lost += 1;
                    self.break_chain();
                    return true;
                }
                Some(i) if i.marker => {
                    self.release(next, seq, info);
                    return true;
                }
                _ => seq += 1,
            }
            if seq > highest {
                return false; // the rest has not come yet
            }
        }
    }

    /// A missing packet at `gap` holds up the frame starting at `next`. Waits for it
    /// within the hold, unless a complete keyframe lies beyond; gives up after.
    fn wait_or_give_up(&mut self, now: Instant, gap: u64) -> bool {
        if let Some(key) = self.complete_keyframe_after(gap) {
            let next = self.next.unwrap_or(key);
            self.drop_range(next, key - 1);
            self.stats.frames_lost += 1;
            self.needs_keyframe = true;
            return true;
        }
        let since = self.missing.get(&gap).map_or(now, |m| m.since);
        if now.saturating_duration_since(since) < playout_hold(self.rtt) {
            return false;
        }
        // Give up this frame: drop through to the next frame start after the gap.
        let end = self
            .packets
            .range(gap + 1..)
            .find(|(_, s)| s.info.is_some_and(|i| i.frame_start))
            .map(|(&seq, _)| seq - 1)
            .or(self.highest)
            .unwrap_or(gap);
        let next = self.next.unwrap_or(gap);
        self.drop_range(next, end);
        self.stats.frames_lost += 1;
        self.break_chain();
        true
    }

    fn complete_keyframe_after(&self, seq: u64) -> Option<u64> {
        let starts = self
            .packets
            .range(seq + 1..)
            .filter(|(_, s)| s.info.is_some_and(|i| i.frame_start && i.keyframe));
        for (&start, slot) in starts {
            let ts = slot.info.map(|i| i.timestamp);
            let mut s = start;
            while let Some(p) = self.packets.get(&s) {
                if p.info.map(|i| i.timestamp) != ts {
                    break;
                }
                if p.info.is_some_and(|i| i.marker) {
                    return Some(start);
                }
                s += 1;
            }
        }
        None
    }

    fn break_chain(&mut self) {
        self.needs_keyframe = true;
        self.want_keyframe = true;
    }

    fn release(&mut self, first: u64, last: u64, info: PacketInfo) {
        let mut payloads = Vec::with_capacity((last - first + 1) as usize);
        let mut repaired = false;
        for seq in first..=last {
            if let Some(slot) = self.packets.remove(&seq) {
                repaired |= slot.repaired;
                payloads.extend(slot.payload);
            }
        }
        self.next = Some(last + 1);
        self.missing.retain(|&s, _| s > last);
        if info.keyframe {
            self.needs_keyframe = false;
            self.want_keyframe = false;
        } else if self.needs_keyframe {
            self.stats.frames_skipped += 1;
            self.want_keyframe = true;
            return;
        }
        self.stats.frames += 1;
        if repaired {
            self.stats.frames_repaired += 1;
        }
        self.events.push_back(Event::Frame(Frame {
            timestamp: info.timestamp,
            keyframe: info.keyframe,
            payloads,
        }));
    }

    fn drop_range(&mut self, first: u64, last: u64) {
        if last < first {
            return;
        }
        let keep = self.packets.split_off(&(last + 1));
        self.packets.retain(|&s, _| s < first);
        self.packets.extend(keep);
        self.missing.retain(|&s, _| s > last);
        self.next = Some(self.next.map_or(last + 1, |n| n.max(last + 1)));
    }

    fn give_up_through(&mut self, seq: u64) {
        self.missing.retain(|&s, _| s > seq);
        if self.next.is_some_and(|n| n <= seq) {
            self.next = Some(seq + 1);
            self.stats.frames_lost += 1;
            self.break_chain();
        }
    }

    /// NACKs missing packets that are due: at once, then a round trip apart, a few
    /// times, and only while the frame is still waited for.
    fn nack(&mut self, now: Instant) {
        let Some(next) = self.next else { return };
        let hold = playout_hold(self.rtt);
        let interval = self.nack_interval();
        let mut due = Vec::new();
        for (&seq, m) in self.missing.range_mut(next..) {
            let waited = now.saturating_duration_since(m.since);
            let ready = m
                .last_nack
                .is_none_or(|t| now.saturating_duration_since(t) >= interval);
            if m.nacks < MAX_NACKS && ready && waited < hold {
                m.nacks += 1;
                m.last_nack = Some(now);
                due.push(seq as u16);
            }
        }
        if !due.is_empty() {
            self.stats.nacks += due.len() as u64;
            self.events.push_back(Event::Nack(due));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(40);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Frame `f` of `n` packets starting at `seq`; timestamps 3000 apart.
    fn frame(seq: u16, f: u32, n: u16, key: bool) -> Vec<PacketInfo> {
        (0..n)
            .map(|i| PacketInfo {
                seq: seq.wrapping_add(i),
                timestamp: f * 3000,
                marker: i + 1 == n,
                frame_start: i == 0,
                keyframe: key && i == 0,
            })
            .collect()
    }

    fn recovery() -> FrameRecovery<u16> {
        let mut r = FrameRecovery::new();
        r.set_rtt(RTT);
        r
    }

    fn push(r: &mut FrameRecovery<u16>, now: Instant, packets: &[PacketInfo]) {
        for p in packets {
            r.on_packet(now, *p, p.seq);
        }
    }

    fn drain(r: &mut FrameRecovery<u16>, now: Instant) -> Vec<Event<u16>> {
        std::iter::from_fn(|| r.poll(now)).collect()
    }

    fn frames(events: &[Event<u16>]) -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f.timestamp / 3000),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn complete_frames_are_released_at_once_in_order_across_the_wrap() {
        let t0 = Instant::now();
        let mut r = recovery();
        push(&mut r, t0, &frame(65534, 0, 3, true));
        push(&mut r, t0, &frame(1, 1, 2, false));
        let events = drain(&mut r, t0);
        assert_eq!(frames(&events), [0, 1]);
        match &events[0] {
            Event::Frame(f) => assert_eq!(f.payloads, [65534, 65535, 0]),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.stats().frames, 2);
    }

    #[test]
    fn a_gap_is_nacked_and_a_retransmission_within_the_hold_completes_the_frame() {
        let t0 = Instant::now();
        let mut r = recovery();
        push(&mut r, t0, &frame(10, 0, 1, true));
        let f1 = frame(11, 1, 3, false);
        push(&mut r, t0, &[f1[0], f1[2]]);
        push(&mut r, t0 + ms(5), &frame(14, 2, 1, false));
        let events = drain(&mut r, t0 + ms(5));
        assert_eq!(frames(&events), [0], "frame 1 waits, frame 2 behind it");
        assert!(events.contains(&Event::Nack(vec![12])));
        // The retransmission arrives a round trip later.
        push(&mut r, t0 + ms(45), &[f1[1]]);
        let events = drain(&mut r, t0 + ms(45));
        assert_eq!(frames(&events), [1, 2]);
        let stats = r.stats();
        assert_eq!((stats.frames_repaired, stats.frames_lost), (1, 0));
        assert!(!events.contains(&Event::RequestKeyframe));
    }

    #[test]
    fn past_the_hold_the_frame_is_lost_and_nothing_is_decoded_until_a_keyframe() {
        let t0 = Instant::now();
        let mut r = recovery();
        push(&mut r, t0, &frame(10, 0, 1, true));
        let f1 = frame(11, 1, 3, false);
        push(&mut r, t0, &[f1[0], f1[2]]);
        push(&mut r, t0, &frame(14, 2, 1, false));
        let hold = playout_hold(Some(RTT));
        let events = drain(&mut r, t0);
        assert_eq!(frames(&events), [0]);
        assert!(r.next_timeout().is_some_and(|t| t <= t0 + hold));
        let events = drain(&mut r, t0 + hold);
        assert_eq!(
            frames(&events),
            Vec::<u32>::new(),
            "frame 2 refers to frame 1"
        );
        assert!(events.contains(&Event::RequestKeyframe));
        // More inter frames: skipped, and no second request so soon.
        push(&mut r, t0 + hold + ms(30), &frame(15, 3, 1, false));
        let events = drain(&mut r, t0 + hold + ms(30));
        assert!(events.is_empty(), "{events:?}");
        // The retransmission comes too late: ignored.
        push(&mut r, t0 + hold + ms(40), &[f1[1]]);
        // The keyframe.
        push(&mut r, t0 + hold + ms(60), &frame(16, 4, 2, true));
        push(&mut r, t0 + hold + ms(60), &frame(18, 5, 1, false));
        let events = drain(&mut r, t0 + hold + ms(60));
        assert_eq!(frames(&events), [4, 5]);
        let s = r.stats();
        assert_eq!(
            (
                s.frames,
                s.frames_lost,
                s.frames_skipped,
                s.keyframe_requests,
                s.late_packets
            ),
            (3, 1, 2, 1, 1)
        );
    }

    #[test]
    fn keyframe_requests_repeat_at_a_bounded_rate() {
        let t0 = Instant::now();
        let mut r = recovery();
        // The stream starts mid-way: inter frames only.
        let mut requests = 0;
        for i in 0..60u32 {
            let now = t0 + ms(u64::from(i) * 33);
            push(&mut r, now, &frame(i as u16, i, 1, false));
            requests += drain(&mut r, now)
                .iter()
                .filter(|e| **e == Event::RequestKeyframe)
                .count();
        }
        // ~2 s at one request per 250 ms.
        assert!((7..=9).contains(&requests), "{requests}");
    }

    #[test]
    fn a_complete_keyframe_ends_the_wait_at_once() {
        let t0 = Instant::now();
        let mut r = recovery();
        push(&mut r, t0, &frame(10, 0, 1, true));
        let f1 = frame(11, 1, 2, false);
        push(&mut r, t0, &[f1[0]]); // its second packet is lost
        push(&mut r, t0, &frame(13, 2, 2, true));
        let events = drain(&mut r, t0);
        assert_eq!(frames(&events), [0, 2]);
        assert_eq!(r.stats().frames_lost, 1);
    }

    #[test]
    fn padding_fills_its_number_and_a_missing_one_still_holds() {
        let t0 = Instant::now();
        let mut r = recovery();
        push(&mut r, t0, &frame(10, 0, 1, true));
        r.on_padding(t0, 11);
        r.on_padding(t0, 12);
        push(&mut r, t0, &frame(13, 1, 1, false));
        assert_eq!(frames(&drain(&mut r, t0)), [0, 1], "probes are not gaps");
        r.on_padding(t0, 15); // 14 is missing: it could be media
        push(&mut r, t0, &frame(16, 2, 1, false));
        assert_eq!(frames(&drain(&mut r, t0)), Vec::<u32>::new());
        r.on_padding(t0 + ms(20), 14);
        assert_eq!(frames(&drain(&mut r, t0 + ms(20))), [2]);
    }

    #[test]
    fn nacks_repeat_a_round_trip_apart_a_few_times_and_stop_when_the_frame_is_given_up() {
        let t0 = Instant::now();
        let mut r = recovery();
        r.set_rtt(ms(10)); // hold 80 ms (the floor), NACKs at least 20 ms apart
        push(&mut r, t0, &frame(10, 0, 1, true));
        push(&mut r, t0, &frame(12, 2, 1, false));
        let mut nacked = Vec::new();
        for t in 0..100 {
            for e in drain(&mut r, t0 + ms(t)) {
                if let Event::Nack(seqs) = e {
                    nacked.push((t, seqs));
                }
            }
        }
        assert_eq!(nacked, [(0, vec![11]), (20, vec![11]), (40, vec![11])]);
        assert_eq!(r.stats().frames_lost, 1);
    }

    /// A 10 s stream over a path losing 10 % of packets (retransmissions too), with the
    /// sender's side of the protocol: NACKs answered from the history within its
    /// budget, PLIs answered with a keyframe.
    #[test]
    fn on_a_lossy_path_frames_are_repaired_and_never_decoded_across_a_gap() {
        use crate::congestion::rtx::{RtxBudget, RtxHistory};
        let t0 = Instant::now();
        let one_way = ms(20);
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut lose = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng.is_multiple_of(10)
        };
        let mut r = recovery();
        let mut history = RtxHistory::new();
        let mut budget = RtxBudget::new();
        let mut to_receiver: Vec<(Instant, PacketInfo)> = Vec::new();
        let mut to_sender: Vec<(Instant, Event<u16>)> = Vec::new();
        let (mut seq, mut frame_no, mut key_next) = (0u16, 0u32, true);
        let mut released: Vec<Frame<u16>> = Vec::new();
        for tick in 0..10_000u64 {
            let now = t0 + ms(tick);
            if tick % 33 == 0 {
                let n = if key_next { 9 } else { 3 };
                for p in frame(seq, frame_no, n, key_next) {
                    history.on_sent(now, p.seq, 1200, p);
                    if !lose() {
                        to_receiver.push((now + one_way, p));
                    }
                }
                seq = seq.wrapping_add(n);
                frame_no += 1;
                key_next = false;
            }
            // Feedback reaching the sender.
            let (due, later): (Vec<_>, Vec<_>) =
                to_sender.drain(..).partition(|(at, _)| *at <= now);
            to_sender = later;
            for (_, event) in due {
                match event {
                    Event::Nack(seqs) => {
                        for s in seqs {
                            if let Ok(resend) = history.on_nack(now, s, Some(RTT), 1e6, &mut budget)
                            {
                                let p = *resend.item;
                                if !lose() {
                                    to_receiver.push((now + one_way, p));
                                }
                            }
                        }
                    }
                    Event::RequestKeyframe => key_next = true,
                    Event::Frame(_) => {}
                }
            }
            // Packets reaching the receiver.
            let (due, later): (Vec<_>, Vec<_>) =
                to_receiver.drain(..).partition(|(at, _)| *at <= now);
            to_receiver = later;
            for (_, p) in due {
                r.on_packet(now, p, p.seq);
            }
            while let Some(event) = r.poll(now) {
                match event {
                    Event::Frame(f) => released.push(f),
                    other => to_sender.push((now + one_way, other)),
                }
            }
        }
        // Every released inter frame follows the one released before it.
        for pair in released.windows(2) {
            assert!(
                pair[1].keyframe || pair[1].timestamp == pair[0].timestamp + 3000,
                "frame {} decoded after {}",
                pair[1].timestamp / 3000,
                pair[0].timestamp / 3000
            );
        }
        let stats = r.stats();
        let share = released.len() as f64 / f64::from(frame_no);
        assert!(share > 0.97, "{share} of the frames shown; {stats:?}");
        assert!(stats.frames_lost <= 2, "{stats:?}");
        assert!(stats.frames_repaired > 50, "{stats:?}");
        assert!(stats.keyframe_requests <= 2, "{stats:?}");
    }
}
