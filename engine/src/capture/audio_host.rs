//! The sound server as cpal shows it (PulseAudio / PipeWire-pulse, else ALSA): hosts,
//! devices and their listing, and streams opened on a thread of their own. Shared by the
//! microphone ([`super::microphone`]) and the speaker (`playout::speaker`).
//!
//! The engine works in 48 kHz mono 10 ms chunks; devices run at whatever rate, channel
//! count and sample format they prefer. Conversion happens at each end: downmix + linear
//! resampling on the way in, upmix + resampling on the way out.
//!
//! cpal streams may be `!Send`, so each stream is built and owned by a dedicated thread
//! that keeps it alive until the owning struct is dropped; the structs themselves are
//! `Send` and talk to the audio callbacks through small shared buffers.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{SampleFormat, SupportedBufferSize};

use super::device_info::DeviceInfo;
use super::source::SourceError;

/// Bound on opening a stream (a hung sound server must not hang the caller).
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Which way audio flows through a device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Input,
    Output,
}

pub(crate) fn device_error(what: &str, err: impl std::fmt::Display) -> SourceError {
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
pub(crate) struct StreamThread {
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
    pub(crate) fn spawn<F>(name: &str, build: F) -> Result<(Self, String), SourceError>
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
            ::cpal::SampleFormat::I8 => $f::<i8>($($arg),*),
            ::cpal::SampleFormat::I16 => $f::<i16>($($arg),*),
            ::cpal::SampleFormat::I24 => $f::<::cpal::I24>($($arg),*),
            ::cpal::SampleFormat::I32 => $f::<i32>($($arg),*),
            ::cpal::SampleFormat::U8 => $f::<u8>($($arg),*),
            ::cpal::SampleFormat::U16 => $f::<u16>($($arg),*),
            ::cpal::SampleFormat::U32 => $f::<u32>($($arg),*),
            ::cpal::SampleFormat::F32 => $f::<f32>($($arg),*),
            ::cpal::SampleFormat::F64 => $f::<f64>($($arg),*),
            other => Err($crate::capture::source::SourceError::Device(format!("unsupported sample format {other}"))),
        }
    };
}
pub(crate) use with_sample_type;

/// Streaming linear interpolation between two rates (good enough for speech; the
/// usual case is 44.1 ↔ 48 kHz or no change at all).
pub(crate) struct LinearResampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output, in input samples, where 0 is `prev`.
    pos: f64,
    prev: f32,
    passthrough: bool,
}

impl LinearResampler {
    pub(crate) fn new(from_hz: u32, to_hz: u32) -> Self {
        LinearResampler {
            step: f64::from(from_hz) / f64::from(to_hz.max(1)),
            pos: 1.0,
            prev: 0.0,
            passthrough: from_hz == to_hz,
        }
    }

    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
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

/// Opens `choice` (`None`: the system default) in `direction`, asking for `period` of audio
/// per callback; `build` makes the stream for the config and sample format chosen. Runs
/// on the stream's own thread (see [`StreamThread::spawn`]); returns the started stream
/// and a description of it (`what` names the device kind in errors).
pub(crate) fn open_stream(
    direction: Direction,
    choice: Option<&str>,
    period: Duration,
    what: &str,
    build: impl Fn(&cpal::Device, cpal::StreamConfig, SampleFormat) -> Result<cpal::Stream, SourceError>,
) -> Result<(cpal::Stream, String), SourceError> {
    let host = host().map_err(|err| missing(direction, err.to_string()))?;
    let device = find_device(&host, direction, choice)?;
    let supported = usable_config(&host, &device, direction, choice)?;
    let (config, format) = stream_config(&supported, period);
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_default();
    let stream = build_with_fallback(config, |config| build(&device, config, format))?;
    stream
        .play()
        .map_err(|err| device_error(&format!("cannot start the {what}"), err))?;
    let description = format!(
        "{name} ({} Hz, {} ch, {format}, via {})",
        config.sample_rate,
        config.channels,
        host.id().name()
    );
    Ok((stream, description))
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
}
