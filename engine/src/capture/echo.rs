//! Echo cancellation, noise suppression, gain control and high-pass filtering of the
//! microphone, with WebRTC's audio processing module (`webrtc-audio-processing` 0.5,
//! 48 kHz, 10 ms frames of f32).
//!
//! The speaker hands what it plays to an [`EchoReference`]; the microphone's chunks go
//! through [`AudioProcessing`] (a [`CaptureProcessor`]), which first feeds the queued
//! played audio to the canceller as the far end, then processes the capture frame. All
//! calls into the module happen on the capture thread, so the playback callback only
//! copies samples into a queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use webrtc_audio_processing::{
    Config, EchoCancellation, EchoCancellationSuppressionLevel, GainControl, GainControlMode,
    InitializationConfig, NoiseSuppression, NoiseSuppressionLevel, Processor,
};

use super::source::SourceError;
use crate::media::frame::{AudioFrame, CHUNK_SAMPLES, SAMPLE_RATE};

#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error("cannot start WebRTC audio processing: {0}")]
    Init(String),
}

impl From<EchoError> for SourceError {
    fn from(err: EchoError) -> Self {
        SourceError::Device(err.to_string())
    }
}

/// Processes a 10 ms microphone chunk before encoding (echo cancellation etc.).
pub trait CaptureProcessor: Send {
    fn process(&mut self, chunk: &mut AudioFrame);
}

/// Played audio waiting for the canceller (500 ms); beyond that the oldest is dropped,
/// e.g. while the microphone is not being read.
const RENDER_QUEUE_MAX: usize = 50;

#[derive(Default)]
struct RenderQueue {
    frames: VecDeque<Vec<f32>>,
    /// Samples of an incomplete 10 ms frame.
    partial: Vec<f32>,
}

/// Where the speaker reports what it plays (48 kHz mono). Cheap to clone.
#[derive(Clone, Default)]
pub struct EchoReference {
    queue: Arc<Mutex<RenderQueue>>,
}

impl EchoReference {
    /// Queues played samples; any length, re-cut into 10 ms frames.
    pub fn push(&self, pcm: &[i16]) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        for &s in pcm {
            q.partial.push(f32::from(s) / 32768.0);
            if q.partial.len() == CHUNK_SAMPLES {
                let frame = std::mem::replace(&mut q.partial, Vec::with_capacity(CHUNK_SAMPLES));
                q.frames.push_back(frame);
            }
        }
        while q.frames.len() > RENDER_QUEUE_MAX {
            q.frames.pop_front();
        }
    }

    fn take_frames(&self) -> VecDeque<Vec<f32>> {
        std::mem::take(
            &mut self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .frames,
        )
    }

    /// A reference no processor reads (for tests of the playback side).
    #[cfg(test)]
    pub(crate) fn unconnected() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub(crate) fn queued_chunks(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .frames
            .len()
    }
}

/// The microphone's processing: AEC, noise suppression, AGC and high-pass, all on.
pub struct AudioProcessing {
    processor: Processor,
    reference: EchoReference,
    frame: Vec<f32>,
    warned_format: bool,
}

impl AudioProcessing {
    /// A processor with [`AudioProcessing::default_config`] and the reference the speaker
    /// must feed.
    pub fn new() -> Result<(AudioProcessing, EchoReference), EchoError> {
        Self::with_config(Self::default_config())
    }

    pub fn with_config(config: Config) -> Result<(AudioProcessing, EchoReference), EchoError> {
        let mut processor = Processor::new(&InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..InitializationConfig::default()
        })
        .map_err(|err| EchoError::Init(err.to_string()))?;
        processor.set_config(config);
        let reference = EchoReference::default();
        Ok((
            AudioProcessing {
                processor,
                reference: reference.clone(),
                frame: Vec::with_capacity(CHUNK_SAMPLES),
                warned_format: false,
            },
            reference,
        ))
    }

    /// Everything on. The device latency (speaker buffer → air → microphone buffer) is
    /// unknown and varies, so the canceller estimates the delay itself (delay-agnostic)
    /// with the longer filter that tolerates it.
    pub fn default_config() -> Config {
        Config {
            echo_cancellation: Some(EchoCancellation {
                suppression_level: EchoCancellationSuppressionLevel::High,
                enable_extended_filter: true,
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            noise_suppression: Some(NoiseSuppression {
                suppression_level: NoiseSuppressionLevel::Moderate,
            }),
            gain_control: Some(GainControl {
                mode: GainControlMode::AdaptiveDigital,
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            enable_high_pass_filter: true,
            ..Config::default()
        }
    }
}

impl CaptureProcessor for AudioProcessing {
    fn process(&mut self, chunk: &mut AudioFrame) {
        if chunk.sample_rate != SAMPLE_RATE
            || chunk.channels != 1
            || chunk.samples.len() != CHUNK_SAMPLES
        {
            if !self.warned_format {
                self.warned_format = true;
                tracing::warn!(
                    rate = chunk.sample_rate,
                    channels = chunk.channels,
                    samples = chunk.samples.len(),
                    "audio processing needs 48 kHz mono 10 ms chunks; passing this through"
                );
            }
            return;
        }
        // The far end first: it holds the audio whose echo this capture may contain.
        for mut render in self.reference.take_frames() {
            if let Err(err) = self.processor.process_render_frame(&mut render) {
                tracing::debug!(%err, "render frame refused");
            }
        }
        self.frame.clear();
        self.frame
            .extend(chunk.samples.iter().map(|&s| f32::from(s) / 32768.0));
        match self.processor.process_capture_frame(&mut self.frame) {
            Ok(()) => {
                for (out, &s) in chunk.samples.iter_mut().zip(&self.frame) {
                    *out = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                }
            }
            // Unprocessed audio is better than none.
            Err(err) => tracing::debug!(%err, "capture frame not processed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                (amplitude * 32767.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    fn energy(samples: &[i16]) -> f64 {
        samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            + 1.0
    }

    fn db(ratio: f64) -> f64 {
        10.0 * ratio.log10()
    }

    fn chunk(samples: &[i16]) -> AudioFrame {
        AudioFrame {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            samples: samples.to_vec(),
        }
    }

    /// Runs 3 s: each 10 ms the speaker plays `far`, then the microphone captures `near`.
    /// Returns (input, output) of the last second.
    fn run(far: &[i16], near: &[i16]) -> (Vec<i16>, Vec<i16>) {
        let (mut apm, reference) = AudioProcessing::new().expect("audio processing");
        let mut output = Vec::new();
        for (far, near) in far.chunks(CHUNK_SAMPLES).zip(near.chunks(CHUNK_SAMPLES)) {
            reference.push(far);
            let mut c = chunk(near);
            apm.process(&mut c);
            output.extend_from_slice(&c.samples);
        }
        let last = near.len() - SAMPLE_RATE as usize;
        (near[last..].to_vec(), output[last..].to_vec())
    }

    #[test]
    fn cancels_the_echo_of_what_is_played() {
        let n = 3 * SAMPLE_RATE as usize;
        let far = tone(440.0, 0.5, n);
        // The microphone hears the speaker 20 ms later, 6 dB quieter.
        let delay = 20 * SAMPLE_RATE as usize / 1000;
        let echo: Vec<i16> = std::iter::repeat_n(0, delay)
            .chain(far.iter().map(|&s| s / 2))
            .take(n)
            .collect();
        let (input, output) = run(&far, &echo);
        let erle = db(energy(&input) / energy(&output));
        eprintln!("ERLE over the last second: {erle:.1} dB");
        assert!(erle >= 10.0, "echo reduced by only {erle:.1} dB");
    }

    /// A steady tone is the worst case for the noise suppressor (it takes ~12 dB off
    /// it); the AGC gives most of that back: about -3.6 dB in all.
    #[test]
    fn keeps_near_end_speech_when_nothing_is_played() {
        let n = 3 * SAMPLE_RATE as usize;
        let silence = vec![0i16; n];
        let near = tone(1000.0, 0.25, n);
        let (input, output) = run(&silence, &near);
        let change = db(energy(&output) / energy(&input));
        eprintln!("near-end level change over the last second: {change:+.1} dB");
        assert!(
            change > -6.0,
            "near-end speech attenuated by {:.1} dB",
            -change
        );
    }

    #[test]
    fn passes_other_formats_through() {
        let (mut apm, _reference) = AudioProcessing::new().expect("audio processing");
        let mut c = AudioFrame {
            sample_rate: 16_000,
            channels: 1,
            samples: vec![1234; 160],
        };
        apm.process(&mut c);
        assert!(c.samples.iter().all(|&s| s == 1234));
    }

    #[test]
    fn reference_recuts_into_10ms_frames_and_stays_bounded() {
        let reference = EchoReference::default();
        reference.push(&[1; 300]);
        assert_eq!(reference.queued_chunks(), 0);
        reference.push(&[1; 200]);
        assert_eq!(reference.queued_chunks(), 1);
        reference.push(&vec![1; 100 * CHUNK_SAMPLES]);
        assert_eq!(reference.queued_chunks(), RENDER_QUEUE_MAX);
    }
}
