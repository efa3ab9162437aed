//! Real audio devices through cpal, against a private PulseAudio daemon with a null
//! sink: what the speaker plays comes back on the sink's monitor, the default microphone.
//!
//! Needs `pulseaudio` and `pactl` (Debian: pulseaudio, pulseaudio-utils). Without them
//! the test fails: it must not pass by skipping.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use huddle_engine::devices::{
    AudioProcessing, AudioSource, CaptureProcessor, CpalMicrophone, CpalSpeaker, Mixer,
    list_microphones, list_speakers,
};
use huddle_engine::frames::{CHUNK_SAMPLES, SAMPLE_RATE};
use huddle_engine::{StreamId, StreamKind};
use support::{PulseDaemon, SINK};

const TONE_HZ: f64 = 440.0;

/// Keeps the mixer ~100 ms ahead of real time with a 440 Hz tone, like a remote peer.
fn feed_tone(mixer: Arc<Mixer>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let id = StreamId {
            remote_id: "tone".into(),
            kind: StreamKind::Audio,
        };
        let start = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * f64::from(SAMPLE_RATE)) as u64
                + 10 * CHUNK_SAMPLES as u64;
            while n < due {
                let chunk: Vec<i16> = (n..n + CHUNK_SAMPLES as u64)
                    .map(|i| {
                        let t = i as f64 / f64::from(SAMPLE_RATE);
                        (10_000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16
                    })
                    .collect();
                mixer.push(&id, &chunk);
                n += CHUNK_SAMPLES as u64;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// Frequency from the median spacing of upward zero crossings (interpolated between
/// samples). The median ignores the odd dropout a loaded machine causes.
fn dominant_hz(samples: &[i16]) -> f64 {
    let crossings: Vec<f64> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
        .map(|(i, w)| i as f64 + f64::from(w[0]) / (f64::from(w[0]) - f64::from(w[1])))
        .collect();
    let mut periods: Vec<f64> = crossings.windows(2).map(|c| c[1] - c[0]).collect();
    if periods.is_empty() {
        return 0.0;
    }
    periods.sort_by(f64::total_cmp);
    f64::from(SAMPLE_RATE) / periods[periods.len() / 2]
}

/// Silent stretches (≥ 1 ms) in the signal: underruns on the way.
fn dropouts(samples: &[i16]) -> usize {
    let quiet: Vec<bool> = samples.iter().map(|s| s.unsigned_abs() < 50).collect();
    quiet
        .split(|&q| !q)
        .filter(|run| run.len() >= (SAMPLE_RATE / 1000) as usize)
        .count()
}

#[test]
fn speaker_to_microphone_through_a_null_sink() {
    let daemon = PulseDaemon::start();
    daemon.use_in_this_process();

    let mics = list_microphones().expect("list microphones");
    let speakers = list_speakers().expect("list speakers");
    eprintln!("microphones: {mics:?}\nspeakers: {speakers:?}");
    let monitor = mics
        .iter()
        .find(|m| m.id.ends_with(&format!("{SINK}.monitor")))
        .unwrap_or_else(|| panic!("the monitor is not among the microphones: {mics:?}"));
    assert!(
        monitor.is_default,
        "the monitor should be the default microphone"
    );
    let sink = speakers
        .iter()
        .find(|s| s.id.ends_with(SINK))
        .unwrap_or_else(|| panic!("the null sink is not among the speakers: {speakers:?}"));
    assert!(
        sink.is_default,
        "the null sink should be the default speaker"
    );

    // What the speaker plays also goes to the echo canceller, as in a call.
    let (mut apm, echo_reference) = AudioProcessing::new().expect("audio processing");
    let mixer = Arc::new(Mixer::new());
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = feed_tone(mixer.clone(), stop.clone());
    let speaker = CpalSpeaker::open(None, mixer, Some(echo_reference)).expect("open the speaker");
    // The null sink sleeps in 2 s blocks while idle: the first capture can take that long.
    let mut mic = CpalMicrophone::open(None).expect("open the microphone");
    eprintln!("{} → {}", speaker.describe(), mic.describe());
    assert!(mic.is_device());

    // 4 s: the first seconds let the loop start and the canceller converge; the last
    // second is measured.
    let mut raw = Vec::new();
    let mut processed = Vec::new();
    for _ in 0..400 {
        let chunk = mic.next_chunk().expect("microphone chunk");
        assert_eq!(
            (chunk.sample_rate, chunk.channels, chunk.samples.len()),
            (SAMPLE_RATE, 1, CHUNK_SAMPLES)
        );
        raw.extend_from_slice(&chunk.samples);
        let mut cleaned = chunk;
        apm.process(&mut cleaned);
        processed.extend_from_slice(&cleaned.samples);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let closing = Instant::now();
    drop(mic);
    drop(speaker);
    let closing = closing.elapsed();

    let last = raw.len() - SAMPLE_RATE as usize;
    let (raw, processed) = (&raw[last..], &processed[last..]);
    let level = rms(raw);
    let hz = dominant_hz(raw);
    let gaps = dropouts(raw);
    let erle = 20.0 * (level / rms(processed).max(1.0)).log10();
    eprintln!(
        "captured: rms {level:.0}, {hz:.1} Hz, {gaps} dropouts; echo canceller took off {erle:.1} dB; \
         closing took {closing:?}"
    );
    // The tone is played at 10 000 peak (rms ~7 000); silence would be ~0.
    assert!(level > 3_000.0, "captured level too low: rms {level:.0}");
    assert!(
        (hz - TONE_HZ).abs() < 5.0,
        "captured {hz:.1} Hz, expected {TONE_HZ} Hz"
    );
    // Only a check of the wiring speaker → echo reference → processor: without it the
    // gain control would make the output louder, not quieter. Measured 14-23 dB.
    assert!(erle > 6.0, "echo canceller took off only {erle:.1} dB");
    assert!(
        closing < Duration::from_secs(2),
        "closing the devices took {closing:?}"
    );
}
