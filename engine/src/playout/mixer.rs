//! Every remote participant's audio, mixed for the speaker.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::media::frame::CHUNK_SAMPLES;
use crate::media::stream::StreamId;

/// Mixes every remote participant's audio for playback. Each source has a playout
/// buffer with its own target (set by its receiver from the jitter it sees,
/// `congestion::audio::PlayoutDelay`); a source that runs dry is silent until it has
/// its target again, and one that holds well over its target is trimmed back to it.
#[derive(Default)]
pub struct Mixer {
    sources: Mutex<HashMap<StreamId, Playout>>,
}

struct Playout {
    samples: VecDeque<i16>,
    started: bool,
    /// Samples buffered before the source starts playing: absorbs network jitter.
    target: usize,
}

impl Default for Playout {
    fn default() -> Self {
        Playout {
            samples: VecDeque::new(),
            started: false,
            target: PLAYOUT_START,
        }
    }
}

/// The target until the receiver sets one (40 ms).
const PLAYOUT_START: usize = 4 * CHUNK_SAMPLES;
/// Beyond this (300 ms) the oldest audio is dropped, so latency cannot pile up.
const PLAYOUT_MAX: usize = 30 * CHUNK_SAMPLES;
/// A playing source holding more than its target plus this (30 ms) loses a little of
/// its oldest audio on each pull until it is back (a burst after a stall would
/// otherwise keep the extra delay for the rest of the call).
const TRIM_ABOVE: usize = 3 * CHUNK_SAMPLES;
/// At most this much (2.5 ms) is trimmed per pull: small steps are barely audible.
const TRIM_STEP: usize = CHUNK_SAMPLES / 4;

impl Mixer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, id: &StreamId, pcm: &[i16]) {
        let Ok(mut sources) = self.sources.lock() else {
            return;
        };
        let playout = sources.entry(id.clone()).or_default();
        playout.samples.extend(pcm);
        let excess = playout.samples.len().saturating_sub(PLAYOUT_MAX);
        playout.samples.drain(..excess);
    }

    /// How much of `id`'s audio to hold before playing it, in samples.
    pub fn set_target(&self, id: &StreamId, samples: usize) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.entry(id.clone()).or_default().target = samples.min(PLAYOUT_MAX / 2);
        }
    }

    pub fn remove(&self, id: &StreamId) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.remove(id);
        }
    }

    /// Fills `out` with the mix of every source (silence where there is none).
    pub fn pull(&self, out: &mut [i16]) {
        let mut mix = vec![0i32; out.len()];
        if let Ok(mut sources) = self.sources.lock() {
            for playout in sources.values_mut() {
                if !playout.started {
                    if playout.samples.len() < playout.target {
                        continue;
                    }
                    playout.started = true;
                }
                let excess = playout
                    .samples
                    .len()
                    .saturating_sub(playout.target + TRIM_ABOVE + out.len());
                playout.samples.drain(..excess.min(TRIM_STEP));
                if playout.samples.len() < out.len() {
                    playout.started = false;
                }
                for (m, s) in mix.iter_mut().zip(
                    playout
                        .samples
                        .drain(..out.len().min(playout.samples.len())),
                ) {
                    *m += i32::from(s);
                }
            }
        }
        for (o, m) in out.iter_mut().zip(mix) {
            *o = m.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::stream::StreamKind;

    fn id(name: &str) -> StreamId {
        StreamId {
            remote_id: name.into(),
            kind: StreamKind::Audio,
        }
    }

    #[test]
    fn mixer_waits_for_a_little_audio_then_sums_and_clips() {
        let m = Mixer::new();
        m.push(&id("a"), &vec![1000; CHUNK_SAMPLES]);
        let mut out = vec![7; CHUNK_SAMPLES];
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0), "not started yet");
        m.push(&id("a"), &vec![1000; 4 * CHUNK_SAMPLES]);
        m.push(&id("b"), &vec![32000; 5 * CHUNK_SAMPLES]);
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == i16::MAX));
        m.remove(&id("b"));
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 1000));
    }

    #[test]
    fn each_source_starts_at_its_own_target_and_is_trimmed_back_to_it() {
        let m = Mixer::new();
        m.set_target(&id("a"), 8 * CHUNK_SAMPLES);
        m.push(&id("a"), &vec![1000; 6 * CHUNK_SAMPLES]);
        let mut out = vec![0; CHUNK_SAMPLES];
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0), "6 of 8 chunks: not yet");
        m.push(&id("a"), &vec![1000; 2 * CHUNK_SAMPLES]);
        m.pull(&mut out);
        assert!(out.iter().all(|&s| s == 1000), "target reached: plays");
        let held = |m: &Mixer| m.sources.lock().unwrap()[&id("a")].samples.len();
        assert_eq!(
            held(&m),
            7 * CHUNK_SAMPLES,
            "nothing trimmed within the target"
        );

        // A burst of 150 ms more: trimmed by small steps down to target + 30 ms.
        m.push(&id("a"), &vec![1000; 15 * CHUNK_SAMPLES]);
        for _ in 0..60 {
            m.pull(&mut out);
            m.push(&id("a"), &vec![1000; CHUNK_SAMPLES]);
        }
        let settled = held(&m);
        assert!(
            (8 * CHUNK_SAMPLES..=(8 + 3 + 1) * CHUNK_SAMPLES).contains(&settled),
            "{settled} samples held"
        );
    }
}
