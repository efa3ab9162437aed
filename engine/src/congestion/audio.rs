//! Audio on real links. Sending: Opus settings from what the link does — the loss rate
//! goes to the encoder so its in-band FEC engages (libopus adds redundancy only when told
//! to expect loss), the bitrate leaves FEC room when there is loss and shrinks on very
//! thin links, and DTX sends nothing in silence. Receiving: [`PlayoutDelay`], how much
//! audio to buffer before playing, from the jitter the packets actually arrive with.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Settings for [`crate::codec::opus::OpusEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    pub bitrate_bps: u32,
    /// What the encoder should expect to lose, 0–100 (`OPUS_SET_PACKET_LOSS_PERC`).
    pub packet_loss_perc: u8,
    pub fec: bool,
    pub dtx: bool,
}

/// Loss above this turns FEC on.
const FEC_LOSS: f64 = 0.01;
/// The encoder is told at most this much loss: beyond, FEC cannot keep up anyway and
/// would only crowd out the primary encoding.
const MAX_LOSS_PERC: u8 = 25;

/// `loss` is the fraction the receiver reports lost, `estimate_bps` the connection's
/// bandwidth estimate.
pub fn opus_settings(loss: f64, estimate_bps: f64) -> OpusSettings {
    let fec = loss > FEC_LOSS;
    let packet_loss_perc = ((loss * 100.0).ceil() as u8).min(MAX_LOSS_PERC);
    let bitrate_bps = if estimate_bps < 80_000.0 {
        16_000
    } else if estimate_bps < 150_000.0 {
        24_000
    } else if fec {
        // LBRR is coded at a lower rate inside the same packet: give it room.
        40_000
    } else {
        32_000
    };
    OpusSettings {
        bitrate_bps,
        packet_loss_perc,
        fec,
        // Silence is worth nothing on any link; the receiver tells DTX from loss by the
        // sequence numbers, which stay contiguous across a silent stretch.
        dtx: true,
    }
}

/// A loss seen keeps counting this long: at 5 % random loss one second in ten or so
/// happens to lose nothing, and FEC switched off for it leaves that second's losses
/// bare (the lab saw 4 of 36 lost that way through Janus).
const LOSS_MEMORY: Duration = Duration::from_secs(5);
/// Until the link's loss has been judged, it is taken to lose this much, so FEC is on
/// from the first packet: the start of a call is when a link is least known and most
/// loaded (the lab saw the first 2.5 s of a lossy call lose 6 of 36 packets bare).
const UNKNOWN_LINK_LOSS: f64 = 0.03;

/// The loss the audio encoder should expect on one link: the worst judged in the last
/// [`LOSS_MEMORY`], [`UNKNOWN_LINK_LOSS`] while none has been judged yet.
#[derive(Debug, Default)]
pub struct RecentLoss {
    started: Option<Instant>,
    seen: VecDeque<(Instant, f64)>,
}

impl RecentLoss {
    pub fn new() -> Self {
        Self::default()
    }

    /// The link's latest judged loss fraction at `now` (`None`: not judged yet); returns
    /// the loss to expect. A link that is never judged (no transport-wide feedback) is
    /// taken to be clean after [`LOSS_MEMORY`].
    pub fn update(&mut self, now: Instant, judged: Option<f64>) -> f64 {
        let started = *self.started.get_or_insert(now);
        let unknown = if now.saturating_duration_since(started) < LOSS_MEMORY {
            UNKNOWN_LINK_LOSS
        } else {
            0.0
        };
        self.seen.push_back((now, judged.unwrap_or(unknown)));
        while self
            .seen
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > LOSS_MEMORY)
        {
            self.seen.pop_front();
        }
        self.seen.iter().map(|(_, f)| *f).fold(0.0, f64::max)
    }
}

/// The playout buffer never starts below this: the speaker pulls in chunks of 10–20 ms
/// and a buffer thinner than two of them runs dry on scheduling noise alone.
pub const MIN_PLAYOUT: Duration = Duration::from_millis(40);
/// Nor grows beyond this: past it, late audio is worth less than a conversation.
pub const MAX_PLAYOUT: Duration = Duration::from_millis(200);
/// Head room over the measured jitter.
const MARGIN: Duration = Duration::from_millis(20);
/// Jitter is judged over this much recent history.
const WINDOW: Duration = Duration::from_secs(2);
/// The target shrinks at most this much per second (it grows at once).
const SHRINK_PER_S: f64 = 10.0;

/// An adaptive playout delay (the target of a jitter buffer): the 95th percentile of
/// how much later than the earliest packet of the last 2 s each packet arrived
/// (relative to its RTP timestamp), plus a margin, within
/// [`MIN_PLAYOUT`]..=[`MAX_PLAYOUT`]. It grows at once when jitter appears and shrinks
/// slowly, so one calm second does not undo it; on a clean link it stays at the minimum
/// and costs no latency.
#[derive(Debug)]
pub struct PlayoutDelay {
    clock_rate: u32,
    first: Option<(Instant, u32)>,
    /// (arrival, transit in ms relative to the first packet).
    transits: VecDeque<(Instant, f64)>,
    target_ms: f64,
    last_update: Option<Instant>,
}

impl PlayoutDelay {
    pub fn new(clock_rate: u32) -> Self {
        PlayoutDelay {
            clock_rate,
            first: None,
            transits: VecDeque::new(),
            target_ms: MIN_PLAYOUT.as_secs_f64() * 1000.0,
            last_update: None,
        }
    }

    /// A packet with RTP timestamp `timestamp` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, timestamp: u32) {
        let (t0, ts0) = *self.first.get_or_insert((now, timestamp));
        // Signed: a reordered packet is a little behind the first, not 24 hours ahead.
        let media_ms =
            f64::from(timestamp.wrapping_sub(ts0) as i32) * 1000.0 / f64::from(self.clock_rate);
        let arrival_ms = now.saturating_duration_since(t0).as_secs_f64() * 1000.0;
        self.transits.push_back((now, arrival_ms - media_ms));
        while self
            .transits
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        {
            self.transits.pop_front();
        }
        let earliest = self
            .transits
            .iter()
            .map(|(_, t)| *t)
            .fold(f64::INFINITY, f64::min);
        let mut late: Vec<f64> = self.transits.iter().map(|(_, t)| t - earliest).collect();
        late.sort_by(f64::total_cmp);
        let p95 = late[(late.len() - 1) * 95 / 100];
        let wanted = (p95 + MARGIN.as_secs_f64() * 1000.0).clamp(
            MIN_PLAYOUT.as_secs_f64() * 1000.0,
            MAX_PLAYOUT.as_secs_f64() * 1000.0,
        );
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last_update = Some(now);
        self.target_ms = if wanted >= self.target_ms {
            wanted
        } else {
            (self.target_ms - SHRINK_PER_S * dt).max(wanted)
        };
    }

    /// How much audio to buffer before (and while) playing.
    pub fn target(&self) -> Duration {
        Duration::from_secs_f64(self.target_ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_engages_fec_and_thin_links_shrink_the_voice() {
        let clean = opus_settings(0.0, 1e6);
        assert_eq!(
            (
                clean.bitrate_bps,
                clean.packet_loss_perc,
                clean.fec,
                clean.dtx
            ),
            (32_000, 0, false, true)
        );
        let lossy = opus_settings(0.05, 1e6);
        assert_eq!(
            (lossy.bitrate_bps, lossy.packet_loss_perc, lossy.fec),
            (40_000, 5, true)
        );
        assert_eq!(opus_settings(0.6, 1e6).packet_loss_perc, MAX_LOSS_PERC);
        let thin = opus_settings(0.05, 100_000.0);
        assert_eq!((thin.bitrate_bps, thin.fec, thin.dtx), (24_000, true, true));
        assert_eq!(opus_settings(0.0, 50_000.0).bitrate_bps, 16_000);
    }

    #[test]
    fn fec_is_on_from_the_start_and_outlives_one_clean_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut loss = RecentLoss::new();
        assert!(
            opus_settings(loss.update(at(0), None), 1e6).fec,
            "unknown link"
        );
        assert!(opus_settings(loss.update(at(1000), Some(0.05)), 1e6).fec);
        // An unlucky second with no loss: FEC stays on.
        let expected = loss.update(at(2000), Some(0.0));
        assert_eq!(opus_settings(expected, 1e6).packet_loss_perc, 5);
        // Clean for longer than the memory: FEC goes.
        for ms in (2500..=7000).step_by(500) {
            loss.update(at(ms), Some(0.0));
        }
        assert_eq!(loss.update(at(7500), Some(0.0)), 0.0);

        // A clean link pays for FEC only until its first judgement has aged out.
        let mut clean = RecentLoss::new();
        clean.update(at(0), None);
        clean.update(at(1000), Some(0.0));
        assert!(clean.update(at(4500), Some(0.0)) > 0.0);
        assert_eq!(clean.update(at(5500), Some(0.0)), 0.0);

        // Nor does a link that is never judged pay forever.
        let mut unjudged = RecentLoss::new();
        for ms in (0..=10_500).step_by(500) {
            unjudged.update(at(ms), None);
        }
        assert_eq!(unjudged.update(at(11_000), None), 0.0);
    }

    /// Packets every 20 ms whose arrival is delayed by `delays_ms[i % len]`.
    fn feed(p: &mut PlayoutDelay, t0: Instant, from: u32, to: u32, delays_ms: &[u64]) {
        for i in from..to {
            let sent = t0 + Duration::from_millis(u64::from(i) * 20);
            let late = Duration::from_millis(delays_ms[i as usize % delays_ms.len()]);
            p.on_packet(sent + late, 1_000_000u32.wrapping_add(i * 960));
        }
    }

    #[test]
    fn playout_delay_stays_low_on_a_clean_link_and_follows_jitter() {
        let t0 = Instant::now();
        let mut p = PlayoutDelay::new(48_000);
        feed(&mut p, t0, 0, 200, &[3]);
        assert_eq!(p.target(), MIN_PLAYOUT, "a steady link costs nothing");

        // Every fifth packet 80 ms late: p95 of the lateness is 80 ms → 100 ms.
        feed(&mut p, t0, 200, 300, &[0, 0, 0, 0, 80]);
        let jittery = p.target().as_millis();
        assert!((95..=105).contains(&jittery), "target {jittery} ms");

        // Wild spikes are capped.
        feed(&mut p, t0, 300, 350, &[0, 900]);
        assert_eq!(p.target(), MAX_PLAYOUT);

        // Calm again: the target comes down, slowly (10 ms/s), to the floor.
        feed(&mut p, t0, 350, 450, &[0]);
        let after_2s = p.target().as_millis();
        assert!(after_2s > 150, "shrinks slowly: {after_2s} ms after 2 s");
        feed(&mut p, t0, 450, 1400, &[0]);
        assert_eq!(p.target(), MIN_PLAYOUT);
    }

    #[test]
    fn playout_delay_survives_timestamp_wrap_and_reordering() {
        let t0 = Instant::now();
        let mut p = PlayoutDelay::new(48_000);
        for i in 0..100u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 20);
            // Starts just below the wrap, and packets 2k+1 arrive before 2k.
            let n = if i % 2 == 0 { i + 1 } else { i - 1 };
            p.on_packet(at, (u32::MAX - 48_000).wrapping_add(n * 960));
        }
        let t = p.target().as_millis();
        assert!((40..=70).contains(&t), "target {t} ms");
    }
}
