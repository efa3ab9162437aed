//! Every remote participant's audio, mixed for the speaker.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::media::frame::CHUNK_SAMPLES;
use crate::media::stream::StreamId;

/// Mixes every remote participant's audio for playback. Each source has a small
/// playout buffer; a source that runs dry is silent until it has a little again.
#[derive(Default)]
pub struct Mixer {
    sources: Mutex<HashMap<StreamId, Playout>>,
}

#[derive(Default)]
struct Playout {
    samples: VecDeque<i16>,
    started: bool,
}

/// Samples buffered before a source starts playing (40 ms): absorbs network jitter.
const PLAYOUT_START: usize = 4 * CHUNK_SAMPLES;
/// Beyond this (200 ms) the oldest audio is dropped, so latency cannot pile up.
const PLAYOUT_MAX: usize = 20 * CHUNK_SAMPLES;

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
                    if playout.samples.len() < PLAYOUT_START {
                        continue;
                    }
                    playout.started = true;
                }
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
}
