//! Measurements of the media a participant sends and receives, and the JSON report
//! `huddle join --report` writes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::media::stream::Layer;
use crate::media::stream::StreamKind;

/// Latency samples (ms) with the summary TESTSIGNAL.md asks for.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub n: usize,
    pub p50: Option<i64>,
    pub p95: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

impl Latencies {
    pub fn push(&mut self, ms: i64) {
        self.samples.push(ms);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn summary(&self) -> LatencySummary {
        let mut s = self.samples.clone();
        s.sort_unstable();
        let pick = |q: f64| -> Option<i64> {
            if s.is_empty() {
                return None;
            }
            // Nearest rank.
            let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
            Some(s[rank - 1])
        };
        LatencySummary {
            n: s.len(),
            p50: pick(0.50),
            p95: pick(0.95),
            p99: pick(0.99),
            max: s.last().copied(),
        }
    }
}

/// What we measure about one remote stream (a participant's camera, microphone or
/// screen) as it arrives.
#[derive(Debug, Clone)]
pub struct ReceivedStream {
    pub remote_id: String,
    pub remote_email: String,
    pub kind: StreamKind,
    pub codec: String,
    /// When we started expecting it (peer created, or share announced).
    pub expected_since: Instant,
    /// When we sent our `room:join` (a newcomer's time to first frame).
    pub joined_at: Option<Instant>,
    pub first_packet_at: Option<Instant>,
    pub first_frame_at: Option<Instant>,
    pub packets: u64,
    pub bytes: u64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    /// Frames refused before decoding: larger than the limits, or too many a second.
    pub frames_refused: u64,
    pub barcodes_read: u64,
    pub latencies: Latencies,
    pub last_timestamp: Option<u64>,
    pub width: usize,
    pub height: usize,
    /// Frame arrival times over the steady window, for fps.
    pub frame_times: Vec<Instant>,
    pub audio_level: f32,
    /// Sum of per-packet RMS levels and zero crossings, for the averages.
    pub audio_level_sum: f64,
    pub audio_samples: u64,
    pub zero_crossings: u64,
    crossing_side: i8,
    pub packets_lost: u64,
    pub last_seq: Option<u16>,
    /// Round-trip time of the connection carrying it (ICE), ms.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter (RFC 3550) as webrtc-rs measures it, ms.
    pub jitter_ms: Option<f64>,
    /// What loss recovery did (VP8 video).
    pub recovery: Option<RecoveryCounts>,
    /// Video: retransmissions that came on the RTX stream (RFC 4588) of its connection.
    pub rtx_packets: u64,
    /// Audio: 20 ms frames lost and made up by concealment, and lost but rebuilt from
    /// the next packet's in-band FEC.
    pub audio_concealed: u64,
    pub audio_fec_recovered: u64,
    /// Audio: the adaptive playout target at last look, ms.
    pub playout_target_ms: Option<f64>,
}

/// What the receive side's loss recovery did on a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryCounts {
    /// Frames given up after waiting for their missing packets.
    pub frames_lost: u64,
    /// Complete frames not decoded because a frame they refer to was missing.
    pub frames_skipped: u64,
    /// Frames complete only thanks to a retransmission.
    pub frames_repaired: u64,
    pub nacks: u64,
    pub keyframe_requests: u64,
    pub late_packets: u64,
}

/// A gap between two decoded frames longer than this is a freeze.
pub const FREEZE: Duration = Duration::from_millis(500);

/// Freezes between consecutive frames: how many, and the longest gap (ms) of all.
pub fn freezes(times: &[Instant]) -> (u64, f64) {
    let mut count = 0;
    let mut longest = Duration::ZERO;
    for pair in times.windows(2) {
        let gap = pair[1].saturating_duration_since(pair[0]);
        if gap > FREEZE {
            count += 1;
        }
        longest = longest.max(gap);
    }
    (count, longest.as_secs_f64() * 1000.0)
}

impl ReceivedStream {
    pub fn new(
        remote_id: &str,
        remote_email: &str,
        kind: StreamKind,
        codec: &str,
        since: Instant,
    ) -> Self {
        ReceivedStream {
            remote_id: remote_id.to_string(),
            remote_email: remote_email.to_string(),
            kind,
            codec: codec.to_string(),
            expected_since: since,
            joined_at: None,
            first_packet_at: None,
            first_frame_at: None,
            packets: 0,
            bytes: 0,
            frames_decoded: 0,
            decode_errors: 0,
            frames_refused: 0,
            barcodes_read: 0,
            latencies: Latencies::default(),
            last_timestamp: None,
            width: 0,
            height: 0,
            frame_times: Vec::new(),
            audio_level: 0.0,
            audio_level_sum: 0.0,
            audio_samples: 0,
            zero_crossings: 0,
            crossing_side: 0,
            packets_lost: 0,
            last_seq: None,
            rtt_ms: None,
            jitter_ms: None,
            recovery: None,
            rtx_packets: 0,
            audio_concealed: 0,
            audio_fec_recovered: 0,
            playout_target_ms: None,
        }
    }

    /// Counts an RTP packet, and the gaps in sequence numbers as losses.
    pub fn on_packet(&mut self, now: Instant, seq: u16, bytes: usize) {
        self.first_packet_at.get_or_insert(now);
        self.packets += 1;
        self.bytes += bytes as u64;
        if let Some(last) = self.last_seq {
            let gap = seq.wrapping_sub(last);
            if gap > 1 && gap < 1000 {
                self.packets_lost += u64::from(gap - 1);
            }
        }
        if self
            .last_seq
            .is_none_or(|last| seq.wrapping_sub(last) < 0x8000)
        {
            self.last_seq = Some(seq);
        }
    }

    /// Counts a decoded frame and its barcode (a frame shown twice counts once).
    pub fn on_frame(
        &mut self,
        now: Instant,
        width: usize,
        height: usize,
        barcode: Option<u64>,
        now_ms: u64,
    ) {
        self.first_frame_at.get_or_insert(now);
        self.frames_decoded += 1;
        self.width = width;
        self.height = height;
        self.frame_times.push(now);
        if let Some(t) = barcode {
            if self.last_timestamp == Some(t) {
                return;
            }
            self.last_timestamp = Some(t);
            self.barcodes_read += 1;
            if let Some(ms) = crate::media::testsignal::latency_ms(t, now_ms) {
                self.latencies.push(ms);
            }
        }
    }

    /// Counts decoded audio: its level and zero crossings (a tone's frequency is half
    /// its crossings per second).
    pub fn on_audio(&mut self, now: Instant, pcm: &[i16], level: f32) {
        self.first_frame_at.get_or_insert(now);
        self.frames_decoded += 1;
        self.audio_level = level;
        self.audio_level_sum += f64::from(level);
        // Near-silence crosses zero at random: only audible packets tell the pitch, and
        // a crossing counts only once the signal clears a band around zero (hysteresis),
        // so noise and clicks riding on the tone do not add crossings.
        if level > 0.005 {
            let band = (f64::from(level) * 32768.0 * 0.3) as i32;
            self.audio_samples += pcm.len() as u64;
            for &v in pcm {
                let v = i32::from(v);
                let side = if v > band {
                    1
                } else if v < -band {
                    -1
                } else {
                    0
                };
                if side != 0 && side != self.crossing_side {
                    if self.crossing_side != 0 {
                        self.zero_crossings += 1;
                    }
                    self.crossing_side = side;
                }
            }
        }
    }

    pub fn report(&self, ended_at: Instant) -> ReceivedStreamReport {
        let ms = |t: Option<Instant>| {
            t.map(|t| {
                t.saturating_duration_since(self.expected_since)
                    .as_secs_f64()
                    * 1000.0
            })
        };
        let video = self.kind != StreamKind::Audio;
        let (freeze_count, longest_freeze) = freezes(&self.frame_times);
        let active = self
            .first_packet_at
            .map(|t| ended_at.saturating_duration_since(t))
            .unwrap_or(Duration::ZERO);
        ReceivedStreamReport {
            remote_id: self.remote_id.clone(),
            remote_email: self.remote_email.clone(),
            kind: self.kind,
            codec: self.codec.clone(),
            time_to_first_packet_ms: ms(self.first_packet_at),
            time_to_first_frame_ms: ms(self.first_frame_at),
            time_to_first_frame_from_join_ms: match (self.joined_at, self.first_frame_at) {
                (Some(j), Some(f)) => Some(f.saturating_duration_since(j).as_secs_f64() * 1000.0),
                _ => None,
            },
            packets: self.packets,
            packets_lost: self.packets_lost,
            kbps: if active.is_zero() {
                0.0
            } else {
                self.bytes as f64 * 8.0 / active.as_secs_f64() / 1000.0
            },
            frames_decoded: self.frames_decoded,
            decode_errors: self.decode_errors,
            frames_refused: self.frames_refused,
            barcodes_read: self.barcodes_read,
            latency_ms: self.latencies.summary(),
            fps: steady_fps(&self.frame_times),
            width: self.width,
            height: self.height,
            audio_level: (self.frames_decoded > 0 && self.kind == StreamKind::Audio)
                .then(|| self.audio_level_sum / self.frames_decoded as f64),
            rtt_ms: self.rtt_ms,
            jitter_ms: self.jitter_ms,
            longest_frame_gap_ms: (self.kind != StreamKind::Audio)
                .then(|| {
                    self.frame_times
                        .windows(2)
                        .map(|w| w[1].saturating_duration_since(w[0]).as_secs_f64() * 1000.0)
                        .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))))
                })
                .flatten(),
            freezes: video.then_some(freeze_count),
            longest_freeze_ms: video.then_some(longest_freeze),
            recovery: self.recovery,
            rtx_packets: video.then_some(self.rtx_packets),
            concealed_frames: (!video).then_some(self.audio_concealed),
            fec_recovered_frames: (!video).then_some(self.audio_fec_recovered),
            playout_target_ms: self.playout_target_ms,
            audio_frequency_hz: (self.audio_samples > 0).then(|| {
                self.zero_crossings as f64
                    / 2.0
                    / (self.audio_samples as f64 / f64::from(crate::media::frame::SAMPLE_RATE))
            }),
        }
    }
}

/// Frames per second over the steady window: the middle of the stream, leaving out
/// the first and last 10% (start-up and shutdown).
pub fn steady_fps(times: &[Instant]) -> f64 {
    if times.len() < 10 {
        return 0.0;
    }
    let skip = times.len() / 10;
    let window = &times[skip..times.len() - skip];
    let span = window[window.len() - 1]
        .saturating_duration_since(window[0])
        .as_secs_f64();
    if span <= 0.0 {
        0.0
    } else {
        (window.len() - 1) as f64 / span
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceivedStreamReport {
    pub remote_id: String,
    pub remote_email: String,
    pub kind: StreamKind,
    pub codec: String,
    pub time_to_first_packet_ms: Option<f64>,
    pub time_to_first_frame_ms: Option<f64>,
    /// From our own `room:join` to the first frame (a late joiner's wait).
    pub time_to_first_frame_from_join_ms: Option<f64>,
    pub packets: u64,
    pub packets_lost: u64,
    pub kbps: f64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    pub frames_refused: u64,
    pub barcodes_read: u64,
    pub latency_ms: LatencySummary,
    pub fps: f64,
    pub width: usize,
    pub height: usize,
    /// Mean RMS level of decoded audio, 0..1.
    pub audio_level: Option<f64>,
    /// Zero-crossing frequency estimate of decoded audio (a tone's pitch).
    pub audio_frequency_hz: Option<f64>,
    /// Round-trip time of the connection, ms (ICE).
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter (RFC 3550), ms.
    pub jitter_ms: Option<f64>,
    /// The longest wait between two decoded frames after the first, ms (a freeze, or
    /// the interruption of a switch from the mesh to the SFU).
    pub longest_frame_gap_ms: Option<f64>,
    /// Video: gaps of more than [`FREEZE`] between decoded frames, and the longest gap.
    pub freezes: Option<u64>,
    pub longest_freeze_ms: Option<f64>,
    /// Video: what loss recovery did.
    pub recovery: Option<RecoveryCounts>,
    /// Video: retransmissions received on RTX (restored into this stream).
    pub rtx_packets: Option<u64>,
    /// Audio: lost 20 ms frames that were concealed (made up), and lost frames rebuilt
    /// from in-band FEC.
    pub concealed_frames: Option<u64>,
    pub fec_recovered_frames: Option<u64>,
    /// Audio: the adaptive playout (jitter buffer) target at the end, ms.
    pub playout_target_ms: Option<f64>,
}

/// What we measure about a stream we send (encoded once, for every peer).
#[derive(Debug, Clone, Default)]
pub struct SentStream {
    pub frames_encoded: u64,
    pub bytes: u64,
    pub encode_time: Duration,
    pub keyframes: u64,
    pub started: Option<Instant>,
    pub frame_times: Vec<Instant>,
    pub bitrate_kbps: u32,
    /// The size of the last frame encoded (video).
    pub width: usize,
    pub height: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SentStreamReport {
    pub kind: StreamKind,
    pub codec: String,
    pub frames_encoded: u64,
    pub keyframes: u64,
    pub fps: f64,
    pub kbps: f64,
    pub encode_ms_per_frame: f64,
    pub target_kbps: u32,
    /// Video: the size of the last frame encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<usize>,
    /// A mesh camera: the low encoding's figures, if it ran (the fields above are the
    /// full one's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<Box<SentStreamReport>>,
    /// A mesh camera: what each receiver got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerSentReport>,
}

/// What one receiver's writer sent of a layered stream.
#[derive(Debug, Clone, Default)]
pub struct PeerSent {
    pub layer: Option<Layer>,
    pub frames_full: u64,
    pub frames_low: u64,
    pub bytes: u64,
    pub switches: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl PeerSent {
    pub fn on_frame(&mut self, now: Instant, layer: Layer, bytes: usize, switched: bool) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.layer = Some(layer);
        self.bytes += bytes as u64;
        match layer {
            Layer::Full => self.frames_full += 1,
            Layer::Low => self.frames_low += 1,
        }
        if switched {
            self.switches += 1;
        }
    }

    pub fn report(&self, remote_id: &str, remote_email: Option<&str>) -> PeerSentReport {
        let span = match (self.first, self.last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        PeerSentReport {
            remote_id: remote_id.to_string(),
            remote_email: remote_email.map(str::to_string),
            layer: self.layer.map(Layer::name),
            frames_full: self.frames_full,
            frames_low: self.frames_low,
            switches: self.switches,
            kbps: if span > 0.0 {
                self.bytes as f64 * 8.0 / span / 1000.0
            } else {
                0.0
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerSentReport {
    pub remote_id: String,
    pub remote_email: Option<String>,
    /// The encoding it was on at the end: `full` or `low`.
    pub layer: Option<&'static str>,
    pub frames_full: u64,
    pub frames_low: u64,
    /// Changes of encoding (each at a keyframe of the new one).
    pub switches: u64,
    /// Video payload sent to it, over the time it was sent.
    pub kbps: f64,
}

/// The figures of each receiver of a layered stream, named with `emails` where known.
pub fn peer_reports(
    sent: &BTreeMap<String, PeerSent>,
    emails: &BTreeMap<String, String>,
) -> Vec<PeerSentReport> {
    sent.iter()
        .map(|(id, s)| s.report(id, emails.get(id).map(String::as_str)))
        .collect()
}

impl SentStream {
    pub fn on_encoded(&mut self, now: Instant, bytes: usize, took: Duration, keyframe: bool) {
        self.started.get_or_insert(now);
        self.frames_encoded += 1;
        self.bytes += bytes as u64;
        self.encode_time += took;
        if keyframe {
            self.keyframes += 1;
        }
        self.frame_times.push(now);
    }

    pub fn report(&self, kind: StreamKind, codec: &str, ended_at: Instant) -> SentStreamReport {
        let active = self
            .started
            .map(|t| ended_at.saturating_duration_since(t))
            .unwrap_or_default();
        SentStreamReport {
            kind,
            codec: codec.to_string(),
            frames_encoded: self.frames_encoded,
            keyframes: self.keyframes,
            fps: steady_fps(&self.frame_times),
            kbps: if active.is_zero() {
                0.0
            } else {
                self.bytes as f64 * 8.0 / active.as_secs_f64() / 1000.0
            },
            encode_ms_per_frame: if self.frames_encoded == 0 {
                0.0
            } else {
                self.encode_time.as_secs_f64() * 1000.0 / self.frames_encoded as f64
            },
            target_kbps: self.bitrate_kbps,
            width: (kind != StreamKind::Audio && self.width > 0).then_some(self.width),
            height: (kind != StreamKind::Audio && self.height > 0).then_some(self.height),
            low: None,
            peers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for v in 1..=100 {
            l.push(v);
        }
        let s = l.summary();
        assert_eq!(
            (s.n, s.p50, s.p95, s.p99, s.max),
            (100, Some(50), Some(95), Some(99), Some(100))
        );
        assert_eq!(Latencies::default().summary().p50, None);
    }

    #[test]
    fn losses_are_sequence_gaps_and_duplicate_barcodes_count_once() {
        let now = Instant::now();
        let mut s = ReceivedStream::new("a", "a@b.c", StreamKind::Video, "VP8", now);
        for seq in [65534u16, 65535, 0, 3, 4] {
            s.on_packet(now, seq, 100);
        }
        assert_eq!(s.packets_lost, 2);
        s.on_frame(now, 640, 480, Some(1000), 1030);
        s.on_frame(now, 640, 480, Some(1000), 1060);
        assert_eq!(s.barcodes_read, 1);
        assert_eq!(s.latencies.summary().p50, Some(30));
    }

    #[test]
    fn what_each_receiver_got_is_counted_per_layer() {
        let t0 = Instant::now();
        let mut p = PeerSent::default();
        p.on_frame(t0, Layer::Full, 1000, false);
        p.on_frame(t0 + Duration::from_millis(500), Layer::Low, 250, true);
        p.on_frame(t0 + Duration::from_secs(1), Layer::Low, 250, false);
        let r = p.report("x", Some("x@example.com"));
        assert_eq!((r.frames_full, r.frames_low, r.switches), (1, 2, 1));
        assert_eq!(r.layer, Some("low"));
        assert!((r.kbps - 12.0).abs() < 1e-9, "{}", r.kbps);
    }

    #[test]
    fn steady_fps_ignores_the_edges() {
        let start = Instant::now();
        let times: Vec<Instant> = (0..100)
            .map(|i| start + Duration::from_millis(i * 33))
            .collect();
        let fps = steady_fps(&times);
        assert!((fps - 30.3).abs() < 0.5, "{fps}");
    }

    #[test]
    fn freezes_are_gaps_over_half_a_second() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let times = [at(0), at(33), at(533), at(1100), at(1133), at(1900)];
        let (count, longest) = freezes(&times);
        assert_eq!(
            count, 2,
            "567 ms and 767 ms; exactly 500 ms is not a freeze"
        );
        assert!((longest - 767.0).abs() < 0.01, "{longest}");
        assert_eq!(freezes(&[]), (0, 0.0));
    }
}
