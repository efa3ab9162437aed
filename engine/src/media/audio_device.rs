//! Microphones and speakers through cpal (PulseAudio / PipeWire-pulse, else ALSA).
//!
//! The engine works in 48 kHz mono 10 ms chunks; devices run at whatever rate, channel
//! count and sample format they prefer. Conversion happens here: downmix + linear
//! resampling on the way in, upmix + resampling on the way out.
//!
//! cpal streams may be `!Send`, so each stream is built and owned by a dedicated thread
//! that keeps it alive until the owning struct is dropped; the structs themselves are
//! `Send` and talk to the audio callbacks through small shared buffers.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, SupportedBufferSize};

use super::echo::EchoReference;
use super::frame::{AudioFrame, CHUNK_SAMPLES, SAMPLE_RATE};
use super::source::{AudioSource, SourceError};
use crate::pipeline::incoming::Mixer;

/// A microphone or speaker as the system names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable identifier, e.g. `pulseaudio:alsa_input.usb-…` (accepted by `open`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    pub is_default: bool,
}

/// Captured audio kept for `next_chunk` (200 ms); older audio is dropped.
const MIC_BUFFER_MAX: usize = 20 * CHUNK_SAMPLES;
/// How long `next_chunk` waits for audio before reporting the microphone as stopped.
const MIC_SILENCE_TIMEOUT: Duration = Duration::from_secs(1);
/// Bound on opening a stream (a hung sound server must not hang the caller).
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Audio per capture callback. cpal's PulseAudio backend lets the server hold only one
/// such fragment, so a client stalled longer than this loses audio: with 10 ms a busy
/// machine lost audio, 20 ms held.
const MIC_PERIOD: Duration = Duration::from_millis(20);
/// Audio per playback callback; PulseAudio keeps two queued (~100 ms of latency). With
/// 20 ms (40 ms queued) a busy 2-core machine underran every ~60 ms; the echo
/// canceller copes with 100 ms (not with 200 ms).
const SPEAKER_PERIOD: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

fn device_error(what: &str, err: impl std::fmt::Display) -> SourceError {
    SourceError::Device(format!("{what}: {err}"))
}

/// The first host that actually connects. Not `cpal::default_host()`: it panics when no
/// host can be created. PulseAudio comes first (it also serves PipeWire systems); a
/// stale PulseAudio socket falls through to ALSA.
fn host() -> Result<cpal::Host, SourceError> {
    let mut last_error = String::from("no audio host available");
    for id in cpal::available_hosts() {
        match cpal::host_from_id(id) {
            Ok(host) => return Ok(host),
            Err(err) => last_error = format!("{id}: {err}"),
        }
    }
    Err(SourceError::Device(last_error))
}

fn devices(host: &cpal::Host, direction: Direction) -> Result<Vec<cpal::Device>, SourceError> {
    let listed = match direction {
        Direction::Input => host.input_devices().map(|d| d.collect()),
        Direction::Output => host.output_devices().map(|d| d.collect()),
    };
    listed.map_err(|err| device_error("cannot list audio devices", err))
}

fn default_device(host: &cpal::Host, direction: Direction) -> Option<cpal::Device> {
    match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    }
}

fn device_info(device: &cpal::Device, default_id: Option<&str>) -> Option<DeviceInfo> {
    let id = device.id().ok()?.to_string();
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| id.clone());
    Some(DeviceInfo {
        is_default: default_id == Some(id.as_str()),
        id,
        name,
    })
}

fn list(direction: Direction) -> Result<Vec<DeviceInfo>, SourceError> {
    let host = host()?;
    let default_id = default_device(&host, direction)
        .and_then(|d| d.id().ok())
        .map(|id| id.to_string());
    Ok(devices(&host, direction)?
        .iter()
        .filter(|d| is_user_device(d, direction))
        .filter_map(|d| device_info(d, default_id.as_deref()))
        .collect())
}

/// ALSA also lists its plugins (rate converters, jack, oss, null…), which nobody picks
/// as a microphone: keep its sound cards and a default that works.
fn is_user_device(device: &cpal::Device, direction: Direction) -> bool {
    let Ok(id) = device.id() else { return false };
    if !id.to_string().starts_with("alsa:") {
        return true;
    }
    id.id().contains("CARD=") || (id.id() == "default" && default_config(device, direction).is_ok())
}

fn default_config(
    device: &cpal::Device,
    direction: Direction,
) -> Result<cpal::SupportedStreamConfig, cpal::Error> {
    match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
}

/// The config to open `device` with; a default that does not work means there is
/// no device at all (e.g. ALSA's "default" with no card and no sound server).
fn usable_config(
    host: &cpal::Host,
    device: &cpal::Device,
    direction: Direction,
    choice: Option<&str>,
) -> Result<cpal::SupportedStreamConfig, SourceError> {
    default_config(device, direction).map_err(|err| match choice {
        None => missing(
            direction,
            format!(
                "no working default device via {} — is a sound server running? ({})",
                host.id().name(),
                err.to_string().trim_end_matches('.')
            ),
        ),
        Some(name) => device_error(&format!("\"{name}\" has no usable config"), err),
    })
}

/// Every microphone (on PulseAudio this includes the monitors of the outputs).
pub fn list_microphones() -> Result<Vec<DeviceInfo>, SourceError> {
    list(Direction::Input)
}

/// Every speaker / output.
pub fn list_speakers() -> Result<Vec<DeviceInfo>, SourceError> {
    list(Direction::Output)
}

/// The error for "nothing to open" in this direction.
fn missing(direction: Direction, why: String) -> SourceError {
    match direction {
        Direction::Input => SourceError::NoMicrophone(format!(" ({why})")),
        Direction::Output => SourceError::NoSpeaker(format!(" ({why})")),
    }
}

/// Finds a device by full id (`pulseaudio:name`), backend id, exact name, or a
/// case-insensitive part of its name; `None` means the system default.
fn find_device(
    host: &cpal::Host,
    direction: Direction,
    choice: Option<&str>,
) -> Result<cpal::Device, SourceError> {
    let Some(wanted) = choice else {
        return default_device(host, direction).ok_or_else(|| {
            missing(
                direction,
                format!("{} has no default device", host.id().name()),
            )
        });
    };
    let all = devices(host, direction)?;
    let exact = all.iter().find(|d| {
        let id = d.id().ok();
        id.as_ref()
            .is_some_and(|id| id.to_string() == wanted || id.id() == wanted)
            || d.description().is_ok_and(|desc| desc.name() == wanted)
    });
    let lower = wanted.to_lowercase();
    let partial = || {
        all.iter().find(|d| {
            d.description()
                .is_ok_and(|desc| desc.name().to_lowercase().contains(&lower))
        })
    };
    exact.or_else(partial).cloned().ok_or_else(|| {
        let names: Vec<String> = all
            .iter()
            .filter(|d| is_user_device(d, direction))
            .filter_map(|d| device_info(d, None))
            .map(|i| i.id)
            .collect();
        let available = if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        };
        missing(
            direction,
            format!("nothing matches \"{wanted}\"; available: {available}"),
        )
    })
}

/// The device's preferred config, asking for `period` of audio per callback. Without a
/// fixed size PulseAudio picks its default of ~2 s buffering (and 2 s record fragments),
/// which is useless for a call.
fn stream_config(
    supported: &cpal::SupportedStreamConfig,
    period: Duration,
) -> (cpal::StreamConfig, SampleFormat) {
    let mut config = supported.config();
    let frames = (u64::from(config.sample_rate) * period.as_millis() as u64 / 1000).max(1) as u32;
    config.buffer_size = match *supported.buffer_size() {
        SupportedBufferSize::Range { min, max } => cpal::BufferSize::Fixed(frames.clamp(min, max)),
        SupportedBufferSize::Unknown => cpal::BufferSize::Fixed(frames),
    };
    (config, supported.sample_format())
}

/// Tries the fixed buffer size first, then the backend's default (some ALSA devices
/// refuse particular period sizes).
fn build_with_fallback(
    config: cpal::StreamConfig,
    build: impl Fn(cpal::StreamConfig) -> Result<cpal::Stream, SourceError>,
) -> Result<cpal::Stream, SourceError> {
    match build(config) {
        Ok(stream) => Ok(stream),
        Err(first) if config.buffer_size != cpal::BufferSize::Default => {
            tracing::debug!(%first, "fixed buffer size refused; trying the default");
            build(cpal::StreamConfig {
                buffer_size: cpal::BufferSize::Default,
                ..config
            })
        }
        Err(err) => Err(err),
    }
}

/// A thread that owns a cpal stream until `stop` is dropped.
struct StreamThread {
    stop: Option<mpsc::Sender<()>>,
    /// Disconnects when the thread has dropped the stream.
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

/// How long dropping waits for the stream to close before leaving it to its thread.
/// Closing a PulseAudio record stream waits for a latency query, which the null sink
/// answered only after seconds (up to a minute on a loaded machine).
const CLOSE_WAIT: Duration = Duration::from_millis(500);

impl StreamThread {
    /// Runs `build` on a new thread and waits for it; on success the thread keeps the
    /// stream alive and the stream's description is returned.
    fn spawn<F>(name: &str, build: F) -> Result<(Self, String), SourceError>
    where
        F: FnOnce() -> Result<(cpal::Stream, String), SourceError> + Send + 'static,
    {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _done = done_tx;
                match build() {
                    Ok((stream, description)) => {
                        let _ = ready_tx.send(Ok(description));
                        // Returns when the owner drops its sender; the stream stops with it.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            })
            .map_err(|err| device_error("cannot start the audio thread", err))?;
        match ready_rx.recv() {
            Ok(Ok(description)) => Ok((
                StreamThread {
                    stop: Some(stop_tx),
                    done,
                    thread: Some(thread),
                },
                description,
            )),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(_) => Err(SourceError::Device(
                "the audio thread ended while opening".into(),
            )),
        }
    }
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        self.stop.take();
        match self.done.recv_timeout(CLOSE_WAIT) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::debug!("audio stream still closing; left to its thread");
            }
            _ => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// Calls `$f::<T>($args)` with the Rust sample type matching a `SampleFormat`.
macro_rules! with_sample_type {
    ($format:expr, $f:ident ( $($arg:expr),* )) => {
        match $format {
            SampleFormat::I8 => $f::<i8>($($arg),*),
            SampleFormat::I16 => $f::<i16>($($arg),*),
            SampleFormat::I24 => $f::<cpal::I24>($($arg),*),
            SampleFormat::I32 => $f::<i32>($($arg),*),
            SampleFormat::U8 => $f::<u8>($($arg),*),
            SampleFormat::U16 => $f::<u16>($($arg),*),
            SampleFormat::U32 => $f::<u32>($($arg),*),
            SampleFormat::F32 => $f::<f32>($($arg),*),
            SampleFormat::F64 => $f::<f64>($($arg),*),
            other => Err(SourceError::Device(format!("unsupported sample format {other}"))),
        }
    };
}

/// Streaming linear interpolation between two rates (good enough for speech; the
/// usual case is 44.1 ↔ 48 kHz or no change at all).
struct LinearResampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output, in input samples, where 0 is `prev`.
    pos: f64,
    prev: f32,
    passthrough: bool,
}

impl LinearResampler {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        LinearResampler {
            step: f64::from(from_hz) / f64::from(to_hz.max(1)),
            pos: 1.0,
            prev: 0.0,
            passthrough: from_hz == to_hz,
        }
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        let n = input.len();
        if n == 0 {
            return;
        }
        // Index i of the virtual buffer [prev, input...].
        let at = |i: usize| if i == 0 { self.prev } else { input[i - 1] };
        while (self.pos as usize) < n {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            out.push(at(i) + (at(i + 1) - at(i)) * frac);
            self.pos += self.step;
        }
        self.pos -= n as f64;
        self.prev = input[n - 1];
    }
}

fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

// ---------------------------------------------------------------------------------------
// Microphone

/// What the capture callback shares with `next_chunk`.
#[derive(Default)]
struct MicBuffer {
    samples: VecDeque<i16>,
    last_error: Option<String>,
}

type SharedMic = Arc<(Mutex<MicBuffer>, Condvar)>;

/// Converts device frames (any format, rate, channel count) to 48 kHz mono i16.
struct MicConverter {
    channels: usize,
    resampler: LinearResampler,
    mono: Vec<f32>,
    resampled: Vec<f32>,
}

impl MicConverter {
    fn new(channels: u16, rate: u32) -> Self {
        MicConverter {
            channels: usize::from(channels.max(1)),
            resampler: LinearResampler::new(rate, SAMPLE_RATE),
            mono: Vec::new(),
            resampled: Vec::new(),
        }
    }

    /// Converts one callback's worth into `resampled`.
    fn convert<T: Sample>(&mut self, data: &[T])
    where
        f32: FromSample<T>,
    {
        self.mono.clear();
        self.resampled.clear();
        let scale = 1.0 / self.channels as f32;
        self.mono.extend(
            data.chunks_exact(self.channels)
                .map(|frame| frame.iter().map(|&s| f32::from_sample(s)).sum::<f32>() * scale),
        );
        self.resampler.process(&self.mono, &mut self.resampled);
    }
}

/// A microphone through cpal, delivering 48 kHz mono 10 ms chunks.
pub struct CpalMicrophone {
    shared: SharedMic,
    description: String,
    _stream: StreamThread,
}

impl CpalMicrophone {
    /// Opens a microphone: `None` for the system default, or an id / name as
    /// [`list_microphones`] gives them.
    pub fn open(choice: Option<&str>) -> Result<Self, SourceError> {
        let shared: SharedMic = Arc::default();
        let choice = choice.map(str::to_owned);
        let for_callback = shared.clone();
        let (stream, description) = StreamThread::spawn("huddle-mic", move || {
            open_input(choice.as_deref(), for_callback)
        })?;
        tracing::info!(device = %description, "microphone opened");
        Ok(CpalMicrophone {
            shared,
            description,
            _stream: stream,
        })
    }
}

fn open_input(
    choice: Option<&str>,
    shared: SharedMic,
) -> Result<(cpal::Stream, String), SourceError> {
    let host = host().map_err(|err| missing(Direction::Input, err.to_string()))?;
    let device = find_device(&host, Direction::Input, choice)?;
    let supported = usable_config(&host, &device, Direction::Input, choice)?;
    let (config, format) = stream_config(&supported, MIC_PERIOD);
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_default();
    let stream = build_with_fallback(config, |config| {
        with_sample_type!(format, build_input(&device, config, shared.clone()))
    })?;
    stream
        .play()
        .map_err(|err| device_error("cannot start the microphone", err))?;
    let description = format!(
        "{name} ({} Hz, {} ch, {format}, via {})",
        config.sample_rate,
        config.channels,
        host.id().name()
    );
    Ok((stream, description))
}

fn build_input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    shared: SharedMic,
) -> Result<cpal::Stream, SourceError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut converter = MicConverter::new(config.channels, config.sample_rate);
    let for_errors = shared.clone();
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _| {
                converter.convert(data);
                let (lock, ready) = &*shared;
                let mut buf = lock.lock().unwrap_or_else(PoisonError::into_inner);
                buf.samples
                    .extend(converter.resampled.iter().map(|&s| to_i16(s)));
                // Never block or grow: drop the oldest audio when nobody reads.
                let excess = buf.samples.len().saturating_sub(MIC_BUFFER_MAX);
                buf.samples.drain(..excess);
                drop(buf);
                ready.notify_one();
            },
            move |err| {
                tracing::warn!(%err, "microphone stream error");
                let (lock, ready) = &*for_errors;
                lock.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .last_error = Some(err.to_string());
                ready.notify_one();
            },
            Some(OPEN_TIMEOUT),
        )
        .map_err(|err| device_error("cannot open the microphone", err))
}

impl AudioSource for CpalMicrophone {
    fn next_chunk(&mut self) -> Result<AudioFrame, SourceError> {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + MIC_SILENCE_TIMEOUT;
        let mut buf = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while buf.samples.len() < CHUNK_SAMPLES {
            let now = Instant::now();
            if now >= deadline {
                let why = buf
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no audio for 1 s".into());
                return Err(SourceError::Stopped(format!(
                    "microphone {}: {why}",
                    self.description
                )));
            }
            buf = ready
                .wait_timeout(buf, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(AudioFrame {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            samples: buf.samples.drain(..CHUNK_SAMPLES).collect(),
        })
    }

    fn describe(&self) -> String {
        format!("microphone {}", self.description)
    }

    fn is_device(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------
// Speaker

/// The playback callback's state: pulls 10 ms from the mixer whenever it runs short.
struct SpeakerFeed {
    mixer: Arc<Mixer>,
    echo_reference: Option<EchoReference>,
    resampler: LinearResampler,
    chunk: Vec<i16>,
    chunk_f32: Vec<f32>,
    /// Mono audio at the device rate, not yet played.
    pending: VecDeque<f32>,
    resampled: Vec<f32>,
}

impl SpeakerFeed {
    fn new(mixer: Arc<Mixer>, echo_reference: Option<EchoReference>, rate: u32) -> Self {
        SpeakerFeed {
            mixer,
            echo_reference,
            resampler: LinearResampler::new(SAMPLE_RATE, rate),
            chunk: vec![0; CHUNK_SAMPLES],
            chunk_f32: Vec::with_capacity(CHUNK_SAMPLES),
            pending: VecDeque::new(),
            resampled: Vec::new(),
        }
    }

    fn fill<T: Sample + FromSample<f32>>(&mut self, out: &mut [T], channels: usize) {
        let frames = out.len() / channels;
        while self.pending.len() < frames {
            self.mixer.pull(&mut self.chunk);
            // What is played is what the echo canceller must remove from the microphone.
            if let Some(reference) = &self.echo_reference {
                reference.push(&self.chunk);
            }
            self.chunk_f32.clear();
            self.chunk_f32
                .extend(self.chunk.iter().map(|&s| f32::from(s) / 32768.0));
            self.resampled.clear();
            self.resampler.process(&self.chunk_f32, &mut self.resampled);
            self.pending.extend(&self.resampled);
        }
        for frame in out.chunks_exact_mut(channels) {
            let v = T::from_sample(self.pending.pop_front().unwrap_or(0.0));
            frame.fill(v);
        }
    }
}

/// Plays the mixer's output on a speaker; while it lives, the stream plays.
pub struct CpalSpeaker {
    description: String,
    _stream: StreamThread,
}

impl CpalSpeaker {
    /// Opens a speaker (`None` = system default) playing `mixer`. When given, everything
    /// played is also fed, as 48 kHz mono 10 ms chunks, to `echo_reference`.
    pub fn open(
        choice: Option<&str>,
        mixer: Arc<Mixer>,
        echo_reference: Option<EchoReference>,
    ) -> Result<Self, SourceError> {
        let choice = choice.map(str::to_owned);
        let (stream, description) = StreamThread::spawn("huddle-speaker", move || {
            open_output(choice.as_deref(), mixer, echo_reference)
        })?;
        tracing::info!(device = %description, "speaker opened");
        Ok(CpalSpeaker {
            description,
            _stream: stream,
        })
    }

    pub fn describe(&self) -> String {
        format!("speaker {}", self.description)
    }
}

fn open_output(
    choice: Option<&str>,
    mixer: Arc<Mixer>,
    echo_reference: Option<EchoReference>,
) -> Result<(cpal::Stream, String), SourceError> {
    let host = host().map_err(|err| missing(Direction::Output, err.to_string()))?;
    let device = find_device(&host, Direction::Output, choice)?;
    let supported = usable_config(&host, &device, Direction::Output, choice)?;
    let (config, format) = stream_config(&supported, SPEAKER_PERIOD);
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_default();
    let stream = build_with_fallback(config, |config| {
        let feed = SpeakerFeed::new(mixer.clone(), echo_reference.clone(), config.sample_rate);
        with_sample_type!(format, build_output(&device, config, feed))
    })?;
    stream
        .play()
        .map_err(|err| device_error("cannot start the speaker", err))?;
    let description = format!(
        "{name} ({} Hz, {} ch, {format}, via {})",
        config.sample_rate,
        config.channels,
        host.id().name()
    );
    Ok((stream, description))
}

fn build_output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut feed: SpeakerFeed,
) -> Result<cpal::Stream, SourceError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    device
        .build_output_stream::<T, _, _>(
            config,
            move |out: &mut [T], _| feed.fill(out, channels),
            |err| tracing::warn!(%err, "speaker stream error"),
            Some(OPEN_TIMEOUT),
        )
        .map_err(|err| device_error("cannot open the speaker", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn devices_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<CpalMicrophone>();
        assert_send::<CpalSpeaker>();
    }

    #[test]
    fn resampler_passes_equal_rates_through() {
        let mut r = LinearResampler::new(48_000, 48_000);
        let input = sine(440.0, 48_000, 480);
        let mut out = Vec::new();
        r.process(&input, &mut out);
        assert_eq!(out, input);
    }

    #[test]
    fn resampler_keeps_rate_ratio_and_waveform_across_chunks() {
        // 44.1 kHz in odd-sized chunks → 48 kHz; compare with the ideal 48 kHz sine.
        let input = sine(440.0, 44_100, 44_100);
        let mut r = LinearResampler::new(44_100, 48_000);
        let mut out = Vec::new();
        for chunk in input.chunks(441 + 7) {
            r.process(chunk, &mut out);
        }
        assert!(
            (out.len() as i64 - 48_000).abs() <= 2,
            "{} samples",
            out.len()
        );
        let ideal = sine(440.0, 48_000, out.len());
        let max_err = out
            .iter()
            .zip(&ideal)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 0.01, "max error {max_err}");
    }

    #[test]
    fn mic_converter_downmixes_and_resamples() {
        let mut c = MicConverter::new(2, 24_000);
        // Stereo i16 frames: left 16384, right 0 → mono 0.25.
        let data: Vec<i16> = (0..240).flat_map(|_| [16384i16, 0]).collect();
        c.convert(&data);
        assert!(
            (c.resampled.len() as i64 - 480).abs() <= 2,
            "{}",
            c.resampled.len()
        );
        assert!(c.resampled[10..].iter().all(|&s| (s - 0.25).abs() < 1e-3));
    }

    #[test]
    fn speaker_feed_upmixes_and_feeds_the_echo_reference() {
        use crate::pipeline::incoming::StreamId;
        use crate::stats::StreamKind;
        let mixer = Arc::new(Mixer::new());
        let id = StreamId {
            remote_id: "a".into(),
            kind: StreamKind::Audio,
        };
        mixer.push(&id, &vec![8192; 10 * CHUNK_SAMPLES]);
        let reference = EchoReference::unconnected();
        let mut feed = SpeakerFeed::new(mixer, Some(reference.clone()), SAMPLE_RATE);
        let mut out = vec![0.0f32; 2 * 960];
        feed.fill(&mut out, 2);
        assert!(out.iter().all(|&s| (s - 0.25).abs() < 1e-6));
        assert_eq!(
            reference.queued_chunks(),
            2,
            "two 10 ms chunks went to the echo reference"
        );
    }

    #[test]
    fn no_devices_give_plain_errors_not_panics() {
        // Whatever this machine has, listing returns a list or an error. With nothing
        // (no sound server, no card: ALSA's plugins are left out), opening says so.
        let _ = list_speakers();
        if list_microphones().is_ok_and(|m| m.is_empty()) {
            let err = CpalMicrophone::open(None).err().expect("no microphone");
            assert!(matches!(err, SourceError::NoMicrophone(_)), "{err}");
            let err = CpalMicrophone::open(Some("nope"))
                .err()
                .expect("no microphone");
            assert_eq!(
                err.to_string(),
                "no microphone found (nothing matches \"nope\"; available: none)"
            );
        }
    }
}
