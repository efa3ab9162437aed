//! Local media, captured and encoded once, then handed to every peer connection.
//!
//! Each kind runs on its own thread (capture and encoding are blocking, CPU-bound
//! work) and publishes encoded frames on a broadcast channel; every peer connection
//! subscribes and writes the same bytes into its own track.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::capture::echo::CaptureProcessor;
use crate::capture::source::{AudioSource, VideoSource};
use crate::codec::opus::{DTX_PACKET_BYTES, FRAME_SAMPLES, OpusEncoder};
use crate::codec::{EncoderSettings, PTS_CLOCK_HZ, VideoCodec, VideoEncoder, vp8};
use crate::congestion::audio::{OpusSettings, opus_settings};
use crate::media::frame::SAMPLE_RATE;
use crate::stats::SentStream;

use super::degrade::Degrader;

/// One encoded video frame, shared by every peer.
#[derive(Debug)]
pub struct EncodedVideo {
    pub data: Bytes,
    pub keyframe: bool,
    pub captured_at: Instant,
}

/// One encoded 20 ms Opus packet.
#[derive(Debug)]
pub struct EncodedAudio {
    pub data: Bytes,
    /// Its first sample's index since the sender started (the RTP clock: DTX leaves
    /// gaps the timestamps must show).
    pub sample_index: u64,
    /// The first packet after a silence DTX did not send (RTP marker: a talkspurt).
    pub after_silence: bool,
}

/// What the rest of the engine may ask of a running video sender.
#[derive(Default)]
pub struct VideoControl {
    keyframe_requested: AtomicBool,
    target_kbps: AtomicU32,
    enabled: AtomicBool,
    stop: AtomicBool,
    replacement: Mutex<Option<Box<dyn VideoSource>>>,
}

impl VideoControl {
    /// A receiver lost the picture (PLI/FIR) or a new one joined.
    pub fn request_keyframe(&self) {
        self.keyframe_requested.store(true, Relaxed);
    }

    /// Follows the receivers' bandwidth estimate.
    pub fn set_target_kbps(&self, kbps: u32) {
        self.target_kbps.store(kbps, Relaxed);
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps.load(Relaxed)
    }

    /// Camera on or off; off sends nothing.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Relaxed);
        if on {
            self.request_keyframe();
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Switches the camera without touching any peer connection.
    pub fn replace_source(&self, source: Box<dyn VideoSource>) {
        if let Ok(mut slot) = self.replacement.lock() {
            *slot = Some(source);
        }
        self.request_keyframe();
    }
}

/// Settings of an outgoing video stream.
#[derive(Debug, Clone)]
pub struct VideoSendConfig {
    /// What it is encoded in (once, for every peer).
    pub codec: &'static VideoCodec,
    pub fps: u32,
    pub start_kbps: u32,
    pub min_kbps: u32,
    pub max_kbps: u32,
    pub screen_content: bool,
}

impl VideoSendConfig {
    /// A shared screen: text wants resolution before frame rate, and more bits.
    pub fn screen() -> Self {
        VideoSendConfig {
            codec: &vp8::VP8,
            fps: 30,
            start_kbps: 2500,
            min_kbps: 300,
            max_kbps: 6000,
            screen_content: true,
        }
    }
}

impl Default for VideoSendConfig {
    fn default() -> Self {
        VideoSendConfig {
            codec: &vp8::VP8,
            fps: 30,
            start_kbps: 600,
            min_kbps: 150,
            max_kbps: 1500,
            screen_content: false,
        }
    }
}

pub struct VideoSender {
    pub frames: broadcast::Sender<Arc<EncodedVideo>>,
    pub control: Arc<VideoControl>,
    pub stats: Arc<Mutex<SentStream>>,
    pub config: VideoSendConfig,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VideoSender {
    pub fn start(source: Box<dyn VideoSource>, config: VideoSendConfig) -> Self {
        let (frames, _) = broadcast::channel(64);
        let control = Arc::new(VideoControl::default());
        control.set_target_kbps(config.start_kbps);
        control.set_enabled(true);
        let stats = Arc::new(Mutex::new(SentStream::default()));
        let thread = {
            let (frames, control, stats, config) = (
                frames.clone(),
                control.clone(),
                stats.clone(),
                config.clone(),
            );
            std::thread::Builder::new()
                .name("huddle-video-send".into())
                .spawn(move || video_loop(source, frames, control, stats, config))
                .ok()
        };
        VideoSender {
            frames,
            control,
            stats,
            config,
            thread,
        }
    }

    pub fn stop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for VideoSender {
    fn drop(&mut self) {
        self.stop();
    }
}

fn video_loop(
    mut source: Box<dyn VideoSource>,
    frames: broadcast::Sender<Arc<EncodedVideo>>,
    control: Arc<VideoControl>,
    stats: Arc<Mutex<SentStream>>,
    config: VideoSendConfig,
) {
    let mut encoder: Option<Box<dyn VideoEncoder>> = None;
    let mut current_kbps = control.target_kbps();
    // Rate control follows real time: pts in 90 kHz ticks of the capture clock.
    let clock_start = Instant::now();
    let mut was_listened = false;
    // On a thin link, a smaller picture or fewer frames rather than a mush.
    let mut degrader = Degrader::new(config.screen_content);
    while !control.stop.load(Relaxed) {
        if let Some(next) = control.replacement.lock().ok().and_then(|mut s| s.take()) {
            tracing::info!(source = %next.describe(), "camera switched");
            source = next;
        }
        let captured = match source.next_frame() {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(%err, "camera stopped");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let listened = frames.receiver_count() > 0;
        if !listened || !control.enabled() {
            was_listened = false;
            continue;
        }
        let target = control.target_kbps();
        let Some(picture) = degrader.apply(Instant::now(), &captured.frame, config.fps, target)
        else {
            continue;
        };
        let (w, h) = (picture.width, picture.height);
        // The encoder follows size changes itself; it is made once, lazily, so that
        // nothing is encoded while nobody listens.
        if encoder.is_none() {
            let settings = EncoderSettings {
                width: w,
                height: h,
                fps: config.fps,
                bitrate_kbps: current_kbps,
                screen_content: config.screen_content,
            };
            match config.codec.encoder(&settings) {
                Ok(e) => encoder = Some(e),
                Err(err) => {
                    tracing::error!(%err, codec = ?config.codec, "cannot start the video encoder");
                    return;
                }
            }
        }
        let Some(enc) = encoder.as_mut() else { return };
        if target != current_kbps && target > 0 {
            if let Err(err) = enc.set_bitrate(target) {
                tracing::debug!(%err, "bitrate change refused");
            }
            current_kbps = target;
        }
        // A new listener needs a keyframe to start from.
        let force = control.keyframe_requested.swap(false, Relaxed) || !was_listened;
        was_listened = true;
        let started = Instant::now();
        let pts = (captured
            .captured_at
            .saturating_duration_since(clock_start)
            .as_micros() as i64)
            * PTS_CLOCK_HZ
            / 1_000_000;
        let encoded = match enc.encode(&picture, pts, force) {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(%err, "encode failed");
                continue;
            }
        };
        let took = started.elapsed();
        for packet in encoded {
            degrader.on_encoded(Instant::now(), packet.data.len(), packet.keyframe);
            if let Ok(mut s) = stats.lock() {
                s.on_encoded(Instant::now(), packet.data.len(), took, packet.keyframe);
                s.bitrate_kbps = enc.bitrate_kbps();
            }
            let _ = frames.send(Arc::new(EncodedVideo {
                data: packet.data,
                keyframe: packet.keyframe,
                captured_at: captured.captured_at,
            }));
        }
    }
}

/// What the rest of the engine may ask of a running audio sender.
#[derive(Default)]
pub struct AudioControl {
    muted: AtomicBool,
    stop: AtomicBool,
    replacement: Mutex<Option<Box<dyn AudioSource>>>,
    /// Each receiver's link as its connection measures it: (loss fraction, estimate).
    links: Mutex<HashMap<String, (f64, f64)>>,
}

impl AudioControl {
    /// What the connection to `peer` sees: the loss of our packets, and its estimate.
    pub fn set_link(&self, peer: &str, loss: f64, estimate_bps: f64) {
        if let Ok(mut links) = self.links.lock() {
            links.insert(peer.to_string(), (loss, estimate_bps));
        }
    }

    pub fn forget_link(&self, peer: &str) {
        if let Ok(mut links) = self.links.lock() {
            links.remove(peer);
        }
    }

    /// One encoding serves every receiver: it is set for the worst link.
    pub fn settings(&self) -> OpusSettings {
        let (loss, estimate) = self.links.lock().map_or((0.0, f64::INFINITY), |links| {
            links
                .values()
                .fold((0.0, f64::INFINITY), |(l, e), &(loss, est)| {
                    (f64::max(l, loss), f64::min(e, est))
                })
        });
        opus_settings(loss, estimate)
    }

    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Relaxed);
    }

    pub fn muted(&self) -> bool {
        self.muted.load(Relaxed)
    }

    pub fn replace_source(&self, source: Box<dyn AudioSource>) {
        if let Ok(mut slot) = self.replacement.lock() {
            *slot = Some(source);
        }
    }
}

pub struct AudioSender {
    pub packets: broadcast::Sender<Arc<EncodedAudio>>,
    pub control: Arc<AudioControl>,
    pub stats: Arc<Mutex<SentStream>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AudioSender {
    pub fn start(
        source: Box<dyn AudioSource>,
        processor: Option<Box<dyn CaptureProcessor>>,
    ) -> Self {
        let (packets, _) = broadcast::channel(64);
        let control = Arc::new(AudioControl::default());
        let stats = Arc::new(Mutex::new(SentStream::default()));
        let thread = {
            let (packets, control, stats) = (packets.clone(), control.clone(), stats.clone());
            std::thread::Builder::new()
                .name("huddle-audio-send".into())
                .spawn(move || audio_loop(source, processor, packets, control, stats))
                .ok()
        };
        AudioSender {
            packets,
            control,
            stats,
            thread,
        }
    }

    pub fn stop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AudioSender {
    fn drop(&mut self) {
        self.stop();
    }
}

fn audio_loop(
    mut source: Box<dyn AudioSource>,
    mut processor: Option<Box<dyn CaptureProcessor>>,
    packets: broadcast::Sender<Arc<EncodedAudio>>,
    control: Arc<AudioControl>,
    stats: Arc<Mutex<SentStream>>,
) {
    let mut encoder = match OpusEncoder::new() {
        Ok(e) => e,
        Err(err) => {
            tracing::error!(%err, "cannot start the Opus encoder");
            return;
        }
    };
    let mut pcm: Vec<i16> = Vec::with_capacity(FRAME_SAMPLES);
    let mut applied: Option<OpusSettings> = None;
    let mut sample_index: u64 = 0;
    let mut clock = SampleClock::default();
    let mut silent = false;
    while !control.stop.load(Relaxed) {
        if let Some(next) = control.replacement.lock().ok().and_then(|mut s| s.take()) {
            tracing::info!(source = %next.describe(), "microphone switched");
            source = next;
        }
        let mut chunk = match source.next_chunk() {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(%err, "microphone stopped");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        if let Some(p) = processor.as_mut() {
            p.process(&mut chunk);
        }
        if control.muted() {
            chunk.samples.fill(0);
        }
        pcm.extend_from_slice(&chunk.samples);
        if pcm.len() < FRAME_SAMPLES {
            continue;
        }
        let frame: Vec<i16> = pcm.drain(..FRAME_SAMPLES).collect();
        if clock.align(Instant::now(), &mut sample_index) {
            // Receivers take a timestamp jump over contiguous numbers for a silence.
            silent = true;
        }
        let index = sample_index;
        sample_index += FRAME_SAMPLES as u64;
        if packets.receiver_count() == 0 {
            continue;
        }
        let settings = control.settings();
        if applied != Some(settings) {
            match apply(&mut encoder, settings) {
                Ok(()) => {
                    tracing::debug!(?settings, "opus settings");
                    applied = Some(settings);
                }
                Err(err) => tracing::warn!(%err, "opus settings refused"),
            }
        }
        let started = Instant::now();
        match encoder.encode(&frame) {
            // DTX: silence, nothing worth sending.
            Ok(data) if data.len() <= DTX_PACKET_BYTES => silent = true,
            Ok(data) => {
                if let Ok(mut s) = stats.lock() {
                    s.on_encoded(Instant::now(), data.len(), started.elapsed(), false);
                }
                let _ = packets.send(Arc::new(EncodedAudio {
                    data,
                    sample_index: index,
                    after_silence: std::mem::take(&mut silent),
                }));
            }
            Err(err) => tracing::warn!(%err, "opus encode failed"),
        }
    }
}

/// How far the audio's sample clock may fall behind the wall clock before it is moved up.
const MAX_AUDIO_LAG_SAMPLES: u64 = 2 * FRAME_SAMPLES as u64;

/// Keeps the audio's RTP clock (its sample count) on the wall clock that video's RTP
/// timestamps (capture instants) are on. Samples a source never delivered (a stall of
/// the synthetic microphone, which then starts counting again, or a device clock running
/// slow) would otherwise leave the audio further behind with every one: sender reports
/// map both streams' RTP times to the instant they were sent, so the audio would seem
/// captured ever later than the video, and a browser's lip sync delays the video to
/// match (glass-to-glass creeping up through a call only when audio is sent).
#[derive(Debug, Default)]
struct SampleClock {
    /// A frame's completion instant and the sample index it ended at.
    origin: Option<(Instant, u64)>,
}

impl SampleClock {
    /// A frame ending now starts at `*index`: moves `*index` up to the wall clock when it
    /// lags by more than [`MAX_AUDIO_LAG_SAMPLES`]; true when it did (a timestamp jump).
    fn align(&mut self, now: Instant, index: &mut u64) -> bool {
        let end = *index + FRAME_SAMPLES as u64;
        let Some((at, at_index)) = self.origin else {
            self.origin = Some((now, end));
            return false;
        };
        let elapsed = now.saturating_duration_since(at);
        let wall_end =
            at_index + (elapsed.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u64;
        if wall_end > end + MAX_AUDIO_LAG_SAMPLES {
            *index = wall_end - FRAME_SAMPLES as u64;
            return true;
        }
        if end > wall_end + MAX_AUDIO_LAG_SAMPLES {
            // Ahead of the clock: the source delivered a backlog (a device's buffer);
            // count from here rather than jump back.
            self.origin = Some((now, end));
        }
        false
    }
}

fn apply(encoder: &mut OpusEncoder, s: OpusSettings) -> crate::codec::opus::Result<()> {
    encoder.set_bitrate(s.bitrate_bps)?;
    encoder.set_packet_loss_perc(if s.fec { s.packet_loss_perc } else { 0 })?;
    // Under loss, FEC matters more than the music-grade coding libopus might pick.
    encoder.set_voice(s.fec)?;
    encoder.set_dtx(s.dtx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_clock_follows_the_wall_clock_across_a_stall() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut clock = SampleClock::default();
        let mut index = 0;
        let frame = FRAME_SAMPLES as u64;
        // Frames every 20 ms, on time.
        for k in 0..10u64 {
            assert!(!clock.align(t0 + ms(20 * k), &mut index));
            assert_eq!(index, frame * k);
            index += frame;
        }
        // A little late (scheduling): the count stays contiguous.
        assert!(!clock.align(t0 + ms(200 + 15), &mut index));
        assert_eq!(index, frame * 10);
        index += frame;
        // The source stalled 100 ms and lost those samples: the clock moves up.
        assert!(clock.align(t0 + ms(220 + 100), &mut index));
        assert_eq!(index, frame * 16);
        index += frame;
        assert!(!clock.align(t0 + ms(340), &mut index));
        assert_eq!(index, frame * 17);
    }
}
