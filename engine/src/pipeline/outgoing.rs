//! Local media, captured and encoded once, then handed to every peer connection.
//!
//! Each kind runs on its own thread (capture and encoding are blocking, CPU-bound
//! work) and publishes encoded frames on a broadcast channel; every peer connection
//! subscribes and writes the same bytes into its own track. A camera in a mesh may
//! have a second, low encoding (half the size) for its weak receivers: its frames go
//! out on the same channel, tagged, and each peer's writer picks its layer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::capture::echo::CaptureProcessor;
use crate::capture::source::{AudioSource, VideoSource};
use crate::codec::opus::{DTX_PACKET_BYTES, FRAME_SAMPLES, OpusEncoder};
use crate::codec::{EncoderSettings, PTS_CLOCK_HZ, VideoCodec, VideoEncoder, vp8};
use crate::congestion::audio::{OpusSettings, opus_settings};
use crate::congestion::encodings::{Layer, Plan};
use crate::media::frame::{SAMPLE_RATE, VideoFrame};
use crate::media::pixels::Scaler;
use crate::stats::{PeerSent, SentStream};

use super::degrade::Degrader;

/// One encoded video frame, shared by every peer.
#[derive(Debug)]
pub struct EncodedVideo {
    pub data: Bytes,
    pub keyframe: bool,
    pub captured_at: Instant,
    /// Which encoding of the capture it belongs to.
    pub layer: Layer,
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
    low_keyframe_requested: AtomicBool,
    target_kbps: AtomicU32,
    /// The low encoding's target; 0: it need not run.
    low_target_kbps: AtomicU32,
    enabled: AtomicBool,
    stop: AtomicBool,
    replacement: Mutex<Option<Box<dyn VideoSource>>>,
    /// The encoding chosen for each receiver, which its writer follows.
    layers: Mutex<HashMap<String, watch::Sender<Layer>>>,
    /// What each receiver's writer sent, for the report.
    sent: Mutex<BTreeMap<String, PeerSent>>,
}

impl VideoControl {
    /// Every encoding starts again from a keyframe (a new picture source, camera on).
    pub fn request_keyframe(&self) {
        self.keyframe_requested.store(true, Relaxed);
        self.low_keyframe_requested.store(true, Relaxed);
    }

    /// A receiver of `layer` lost the picture, or starts or switches to it.
    pub fn request_keyframe_of(&self, layer: Layer) {
        match layer {
            Layer::Full => self.keyframe_requested.store(true, Relaxed),
            Layer::Low => self.low_keyframe_requested.store(true, Relaxed),
        }
    }

    /// A receiver asked for a keyframe (PLI/FIR): of the encoding it gets.
    pub fn request_keyframe_for(&self, peer: &str) {
        let layer = self
            .layers
            .lock()
            .ok()
            .and_then(|l| l.get(peer).map(|tx| *tx.borrow()))
            .unwrap_or(Layer::Full);
        self.request_keyframe_of(layer);
    }

    /// The encoding chosen for `peer`, as it changes (full until a plan says otherwise).
    pub fn layer_of(&self, peer: &str) -> watch::Receiver<Layer> {
        match self.layers.lock() {
            Ok(mut l) => l
                .entry(peer.to_string())
                .or_insert_with(|| watch::channel(Layer::Full).0)
                .subscribe(),
            Err(_) => watch::channel(Layer::Full).1,
        }
    }

    /// Takes a plan of the bitrate controller: the receivers' layers first, so that a
    /// low encoder started by it finds its receivers waiting for its first keyframe.
    pub fn apply_plan(&self, plan: &Plan, default_kbps: u32) {
        if let Ok(mut layers) = self.layers.lock() {
            for (peer, layer) in &plan.layers {
                let tx = layers
                    .entry(peer.clone())
                    .or_insert_with(|| watch::channel(Layer::Full).0);
                tx.send_if_modified(|l| std::mem::replace(l, *layer) != *layer);
            }
        }
        // Its writer asks too; this one is not held up until its next frame.
        for (_, layer) in &plan.switched {
            self.request_keyframe_of(*layer);
        }
        let kbps = |bps: f64| (bps / 1000.0) as u32;
        self.set_target_kbps(plan.full_bps.map_or(default_kbps, kbps));
        self.low_target_kbps
            .store(plan.low_bps.map_or(0, kbps), Relaxed);
    }

    pub fn low_target_kbps(&self) -> u32 {
        self.low_target_kbps.load(Relaxed)
    }

    /// A writer sent `bytes` of `layer` to `peer` (`switched`: its first of that layer
    /// after another).
    pub fn note_sent(&self, peer: &str, layer: Layer, bytes: usize, switched: bool) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.entry(peer.to_string()).or_default().on_frame(
                Instant::now(),
                layer,
                bytes,
                switched,
            );
        }
    }

    /// What each receiver's writer sent.
    pub fn sent(&self) -> BTreeMap<String, PeerSent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
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
    /// The full encoding's figures, and the low one's (empty if it never ran).
    pub stats: Arc<Mutex<SentStream>>,
    pub low_stats: Arc<Mutex<SentStream>>,
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
        let low_stats = Arc::new(Mutex::new(SentStream::default()));
        let thread = {
            let full = Encoding::new(Layer::Full, &config, stats.clone(), frames.clone());
            let low = Encoding::new(Layer::Low, &config, low_stats.clone(), frames.clone());
            let (frames, control, config) = (frames.clone(), control.clone(), config.clone());
            std::thread::Builder::new()
                .name("huddle-video-send".into())
                .spawn(move || video_loop(source, frames, control, [full, low], config))
                .ok()
        };
        VideoSender {
            frames,
            control,
            stats,
            low_stats,
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

/// The low encoding runs on this long after the last receiver left it, so that a
/// receiver moving up has frames until the full keyframe it waits for.
const LOW_LINGER: Duration = Duration::from_secs(1);

/// One encoding of the capture: its encoder (made lazily, so nothing is encoded while
/// nobody listens), its own degradation and its figures.
struct Encoding {
    layer: Layer,
    encoder: Option<Box<dyn VideoEncoder>>,
    current_kbps: u32,
    degrader: Degrader,
    stats: Arc<Mutex<SentStream>>,
    frames: broadcast::Sender<Arc<EncodedVideo>>,
}

impl Encoding {
    fn new(
        layer: Layer,
        config: &VideoSendConfig,
        stats: Arc<Mutex<SentStream>>,
        frames: broadcast::Sender<Arc<EncodedVideo>>,
    ) -> Self {
        Encoding {
            layer,
            frames,
            encoder: None,
            current_kbps: config.start_kbps,
            // On a thin link, a smaller picture or fewer frames rather than a mush.
            degrader: Degrader::new(config.screen_content),
            stats,
        }
    }

    /// Encodes `frame` at `target_kbps` (unless its degradation skips it) and publishes
    /// what comes out; false if the encoder cannot start.
    fn encode(
        &mut self,
        frame: &VideoFrame,
        captured_at: Instant,
        pts: i64,
        target_kbps: u32,
        force: bool,
        config: &VideoSendConfig,
    ) -> bool {
        let Some(picture) = self
            .degrader
            .apply(Instant::now(), frame, config.fps, target_kbps)
        else {
            return true;
        };
        // The encoder follows size changes itself.
        if self.encoder.is_none() {
            self.current_kbps = target_kbps.max(1);
            let settings = EncoderSettings {
                width: picture.width,
                height: picture.height,
                fps: config.fps,
                bitrate_kbps: self.current_kbps,
                screen_content: config.screen_content,
            };
            match config.codec.encoder(&settings) {
                Ok(e) => self.encoder = Some(e),
                Err(err) => {
                    tracing::error!(%err, codec = ?config.codec, layer = ?self.layer, "cannot start the video encoder");
                    return false;
                }
            }
        }
        let Some(enc) = self.encoder.as_mut() else {
            return false;
        };
        if target_kbps != self.current_kbps && target_kbps > 0 {
            if let Err(err) = enc.set_bitrate(target_kbps) {
                tracing::debug!(%err, "bitrate change refused");
            }
            self.current_kbps = target_kbps;
        }
        let started = Instant::now();
        let encoded = match enc.encode(&picture, pts, force) {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(%err, layer = ?self.layer, "encode failed");
                return true;
            }
        };
        let took = started.elapsed();
        for packet in encoded {
            self.degrader
                .on_encoded(Instant::now(), packet.data.len(), packet.keyframe);
            if let Ok(mut s) = self.stats.lock() {
                s.on_encoded(Instant::now(), packet.data.len(), took, packet.keyframe);
                s.bitrate_kbps = enc.bitrate_kbps();
                s.width = picture.width;
                s.height = picture.height;
            }
            let _ = self.frames.send(Arc::new(EncodedVideo {
                data: packet.data,
                keyframe: packet.keyframe,
                captured_at,
                layer: self.layer,
            }));
        }
        true
    }
}

/// Half the size, rounded to even (I420), never below 2×2.
fn low_size(width: usize, height: usize) -> (usize, usize) {
    ((width / 4 * 2).max(2), (height / 4 * 2).max(2))
}

fn video_loop(
    mut source: Box<dyn VideoSource>,
    frames: broadcast::Sender<Arc<EncodedVideo>>,
    control: Arc<VideoControl>,
    [mut full, mut low]: [Encoding; 2],
    config: VideoSendConfig,
) {
    // Rate control follows real time: pts in 90 kHz ticks of the capture clock.
    let clock_start = Instant::now();
    let mut was_listened = false;
    let mut halver: Option<Scaler> = None;
    let mut low_wanted_at: Option<Instant> = None;
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
        let pts = (captured
            .captured_at
            .saturating_duration_since(clock_start)
            .as_micros() as i64)
            * PTS_CLOCK_HZ
            / 1_000_000;
        // A new listener needs a keyframe to start from.
        let force = control.keyframe_requested.swap(false, Relaxed) || !was_listened;
        was_listened = true;
        let target = control.target_kbps();
        if !full.encode(
            &captured.frame,
            captured.captured_at,
            pts,
            target,
            force,
            &config,
        ) {
            return;
        }
        let low_kbps = control.low_target_kbps();
        let now = Instant::now();
        if low_kbps > 0 {
            low_wanted_at = Some(now);
        }
        let lingering =
            low_wanted_at.is_some_and(|t| now.saturating_duration_since(t) < LOW_LINGER);
        if !lingering {
            if low.encoder.take().is_some() {
                tracing::info!("low encoding stopped");
            }
            continue;
        }
        let (w, h) = (captured.frame.width, captured.frame.height);
        let (lw, lh) = low_size(w, h);
        if !halver
            .as_ref()
            .is_some_and(|s| s.src_size() == (w, h) && s.dst_size() == (lw, lh))
        {
            halver = Some(Scaler::new(w, h, lw, lh));
        }
        let Some(small) = halver.as_mut().and_then(|s| s.scale(&captured.frame).ok()) else {
            continue;
        };
        if low.encoder.is_none() {
            tracing::info!(low_kbps, width = lw, height = lh, "low encoding started");
        }
        // A fresh encoder starts on a keyframe anyway.
        let force = control.low_keyframe_requested.swap(false, Relaxed);
        let kbps = if low_kbps > 0 {
            low_kbps
        } else {
            low.current_kbps
        };
        if !low.encode(&small, captured.captured_at, pts, kbps, force, &config) {
            low_wanted_at = None;
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
