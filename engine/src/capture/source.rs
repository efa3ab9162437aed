//! Where local media comes from: a device or a synthetic source, chosen explicitly.

use std::time::{Duration, Instant};

use crate::media::frame::{AudioFrame, CapturedFrame, VideoFrame};
use crate::media::synthetic::{SineWave, TestPattern};
use crate::media::testsignal;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no camera found{0}")]
    NoCamera(String),
    #[error("no microphone found{0}")]
    NoMicrophone(String),
    #[error("no speaker found{0}")]
    NoSpeaker(String),
    #[error("the device stopped: {0}")]
    Stopped(String),
    #[error("device error: {0}")]
    Device(String),
}

/// Which camera to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraChoice {
    /// The synthetic 640×480 @ 30 test pattern with the timestamp barcode.
    Test,
    /// The same at another size (`test:WxH`), e.g. small for rooms of many in tests.
    TestSized(usize, usize),
    /// The system's default camera.
    Default,
    /// A camera by index or name, as `huddle devices` lists them.
    Device(String),
    None,
}

/// Which microphone to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicChoice {
    /// A 440 Hz tone.
    Sine,
    /// The 440 Hz tone swelling and fading twice a second, like syllables: Opus's
    /// voice detector takes a steady tone for background noise after a moment (and then
    /// sends no FEC for it), not this.
    Voice,
    Default,
    Device(String),
    None,
}

/// Where remote audio is played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerChoice {
    Default,
    Device(String),
    None,
}

impl CameraChoice {
    pub fn parse(s: &str) -> Self {
        match s {
            "test" => CameraChoice::Test,
            "default" => CameraChoice::Default,
            "none" => CameraChoice::None,
            other => match other
                .strip_prefix("test:")
                .and_then(|size| size.split_once('x'))
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            {
                Some((w, h)) if (16..=1920).contains(&w) && (16..=1080).contains(&h) => {
                    CameraChoice::TestSized(w, h)
                }
                _ => CameraChoice::Device(other.to_string()),
            },
        }
    }
}

impl MicChoice {
    pub fn parse(s: &str) -> Self {
        match s {
            "sine" => MicChoice::Sine,
            "voice" => MicChoice::Voice,
            "default" => MicChoice::Default,
            "none" => MicChoice::None,
            other => MicChoice::Device(other.to_string()),
        }
    }
}

impl SpeakerChoice {
    pub fn parse(s: &str) -> Self {
        match s {
            "default" => SpeakerChoice::Default,
            "none" => SpeakerChoice::None,
            other => SpeakerChoice::Device(other.to_string()),
        }
    }
}

/// A stream of pictures. `next_frame` blocks until the next one is due.
pub trait VideoSource: Send {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError>;
    fn describe(&self) -> String;
}

/// A stream of 10 ms chunks of 48 kHz mono audio. `next_chunk` blocks until it is due.
pub trait AudioSource: Send {
    fn next_chunk(&mut self) -> Result<AudioFrame, SourceError>;
    fn describe(&self) -> String;
    /// A real microphone hears the speakers and wants echo cancellation.
    fn is_device(&self) -> bool {
        false
    }
}

/// Sleeps until `start + n × period`, so pacing does not drift.
pub(crate) struct Pacer {
    start: Instant,
    period: Duration,
    n: u32,
}

impl Pacer {
    pub(crate) fn new(period: Duration) -> Self {
        Pacer {
            start: Instant::now(),
            period,
            n: 0,
        }
    }

    pub(crate) fn at_fps(fps: u32) -> Self {
        Pacer::new(Duration::from_secs(1) / fps.max(1))
    }

    pub(crate) fn wait(&mut self) {
        let due = self.start + self.period * self.n;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > self.period * 5 {
            // Far behind (the machine stalled): start counting again instead of bursting.
            self.start = now;
            self.n = 0;
        }
        self.n += 1;
    }
}

/// The synthetic camera: a moving test pattern with the barcode of the moment it is drawn.
pub struct SyntheticCamera {
    pattern: TestPattern,
    frame: VideoFrame,
    pacer: Pacer,
    fps: u32,
}

impl SyntheticCamera {
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        SyntheticCamera {
            pattern: TestPattern::new(width, height, fps),
            frame: VideoFrame::black(width, height),
            pacer: Pacer::new(Duration::from_secs(1) / fps.max(1)),
            fps,
        }
    }
}

impl VideoSource for SyntheticCamera {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        self.pacer.wait();
        let captured_at = Instant::now();
        self.pattern
            .draw_into(&mut self.frame, testsignal::now_ms());
        Ok(CapturedFrame {
            frame: self.frame.clone(),
            captured_at,
        })
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} @ {} fps",
            self.frame.width, self.frame.height, self.fps
        )
    }
}

/// The synthetic microphone: a 440 Hz tone, paced in real time, steady or with a
/// syllable-like envelope ([`MicChoice::Voice`]).
pub struct SineMicrophone {
    wave: SineWave,
    pacer: Pacer,
    /// Chunks produced, for the envelope; `None` for a steady tone.
    syllables: Option<u64>,
}

impl Default for SineMicrophone {
    fn default() -> Self {
        SineMicrophone {
            wave: SineWave::default_tone(),
            pacer: Pacer::new(Duration::from_millis(10)),
            syllables: None,
        }
    }
}

impl SineMicrophone {
    /// The tone swelling from nothing to its full level and back, twice a second
    /// (libopus's voice detector then sees speech in ~90 % of the packets).
    pub fn voice() -> Self {
        SineMicrophone {
            syllables: Some(0),
            ..Self::default()
        }
    }
}

impl AudioSource for SineMicrophone {
    fn next_chunk(&mut self) -> Result<AudioFrame, SourceError> {
        self.pacer.wait();
        let mut chunk = self.wave.next_chunk();
        if let Some(n) = self.syllables.as_mut() {
            let start = *n * chunk.samples.len() as u64;
            for (i, s) in chunk.samples.iter_mut().enumerate() {
                let t = (start + i as u64) as f64 / f64::from(chunk.sample_rate);
                let envelope = 0.5 + 0.5 * (std::f64::consts::TAU * 2.0 * t).sin();
                *s = (f64::from(*s) * envelope) as i16;
            }
            *n += 1;
        }
        Ok(chunk)
    }

    fn describe(&self) -> String {
        if self.syllables.is_some() {
            "440 Hz tone in syllables".into()
        } else {
            "440 Hz tone".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!(CameraChoice::parse("test"), CameraChoice::Test);
        assert_eq!(
            CameraChoice::parse("test:320x240"),
            CameraChoice::TestSized(320, 240)
        );
        assert_eq!(CameraChoice::parse("0"), CameraChoice::Device("0".into()));
        assert_eq!(MicChoice::parse("sine"), MicChoice::Sine);
        assert_eq!(MicChoice::parse("voice"), MicChoice::Voice);
        assert_eq!(SpeakerChoice::parse("none"), SpeakerChoice::None);
    }

    #[test]
    fn synthetic_camera_is_paced_and_carries_a_fresh_barcode() {
        let mut cam = SyntheticCamera::new(320, 240, 50);
        let start = Instant::now();
        let mut last = None;
        for _ in 0..10 {
            let f = cam.next_frame().unwrap();
            let t = testsignal::read(&f.frame).expect("barcode");
            assert!(testsignal::latency_ms(t, testsignal::now_ms()).is_some());
            last = Some(t);
        }
        assert!(last.is_some());
        // 10 frames at 50 fps: about 180 ms (the first is immediate).
        assert!(start.elapsed() >= Duration::from_millis(170));
    }
}
