//! Microphones through cpal, delivering 48 kHz mono 10 ms chunks (see [`super::audio_host`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, Sample, SizedSample};

use super::audio_host::{
    Direction, LinearResampler, OPEN_TIMEOUT, StreamThread, device_error, open_stream,
    with_sample_type,
};
use super::source::{AudioSource, SourceError};
use crate::media::frame::{AudioFrame, CHUNK_SAMPLES, SAMPLE_RATE};

/// Captured audio kept for `next_chunk` (200 ms); older audio is dropped.
const MIC_BUFFER_MAX: usize = 20 * CHUNK_SAMPLES;
/// How long `next_chunk` waits for audio before reporting the microphone as stopped.
const MIC_SILENCE_TIMEOUT: Duration = Duration::from_secs(1);
/// Audio per capture callback. cpal's PulseAudio backend lets the server hold only one
/// such fragment, so a client stalled longer than this loses audio: with 10 ms a busy
/// machine lost audio, 20 ms held.
const MIC_PERIOD: Duration = Duration::from_millis(20);

fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

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
    open_stream(
        Direction::Input,
        choice,
        MIC_PERIOD,
        "microphone",
        |device, config, format| {
            with_sample_type!(format, build_input(device, config, shared.clone()))
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::audio_host::{list_microphones, list_speakers};

    #[test]
    fn microphones_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<CpalMicrophone>();
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
