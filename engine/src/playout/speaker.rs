//! The speaker: the mixer's output played through cpal (see `capture::audio_host`), and
//! fed to the echo canceller as what the microphone will hear back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::DeviceTrait;
use cpal::{FromSample, Sample, SizedSample};

use super::mixer::Mixer;
use crate::capture::audio_host::{
    Direction, LinearResampler, OPEN_TIMEOUT, StreamThread, device_error, open_stream,
    with_sample_type,
};
use crate::capture::echo::EchoReference;
use crate::capture::source::SourceError;
use crate::media::frame::{CHUNK_SAMPLES, SAMPLE_RATE};

/// Audio per playback callback; PulseAudio keeps two queued (~100 ms of latency). With
/// 20 ms (40 ms queued) a busy 2-core machine underran every ~60 ms; the echo
/// canceller copes with 100 ms (not with 200 ms).
const SPEAKER_PERIOD: Duration = Duration::from_millis(50);

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
    open_stream(
        Direction::Output,
        choice,
        SPEAKER_PERIOD,
        "speaker",
        |device, config, format| {
            let feed = SpeakerFeed::new(mixer.clone(), echo_reference.clone(), config.sample_rate);
            with_sample_type!(format, build_output(device, config, feed))
        },
    )
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
    use crate::media::stream::{StreamId, StreamKind};

    #[test]
    fn speakers_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<CpalSpeaker>();
    }

    #[test]
    fn speaker_feed_upmixes_and_feeds_the_echo_reference() {
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
}
