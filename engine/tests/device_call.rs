//! A call through real audio devices: a tone played into a PulseAudio null sink is
//! captured from its monitor as Ada's microphone (through echo cancellation and the
//! rest), sent, and heard by Bob, who plays it through his speaker (cpal playback into
//! a second null sink).
//! Needs `pulseaudio`, `pactl` and `pacat`; without them the test fails.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{PulseDaemon, SINK};

fn huddle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_huddle"))
}

fn server_bin() -> PathBuf {
    std::env::var("HUDDLE_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| huddle_bin().with_file_name("huddle-server"))
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Plays a 440 Hz tone into the null sink for `seconds` through `pacat`.
fn play_tone(pulse: &PulseDaemon, seconds: u32) -> Killed {
    let mut pacat = pulse
        .command("pacat")
        .args([
            "--playback",
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .arg(format!("--device={SINK}"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("pacat (pulseaudio-utils) must be installed");
    let mut stdin = pacat.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        let samples = 48_000 * seconds as usize;
        let mut bytes = Vec::with_capacity(samples * 2);
        for i in 0..samples {
            let v =
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 48_000.0).sin()) as i16;
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let _ = stdin.write_all(&bytes);
    });
    Killed(pacat)
}

#[test]
fn a_tone_from_a_real_microphone_is_heard_by_the_other_participant() {
    let pulse = PulseDaemon::start();
    // Bob plays into a sink of his own: on one shared sink his playback would loop back
    // into Ada's microphone and howl (her echo canceller only knows her own speaker).
    assert!(
        pulse.pactl(&["load-module", "module-null-sink", "sink_name=huddle_bob"]),
        "second null sink not loaded"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new(server_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db", ":memory:"])
            .stderr(Stdio::null())
            .spawn()
            .expect("server"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _tone = play_tone(&pulse, 30);
    let url = format!("http://127.0.0.1:{port}");
    let join = |email: &str, mic: &str, speaker: &str, seconds: &str| {
        pulse
            .command(huddle_bin().to_str().unwrap())
            .args([
                "join", "--server", &url, "--email", email, "--room", "devices",
            ])
            .args([
                "--camera",
                "none",
                "--mic",
                mic,
                "--speaker",
                speaker,
                "--udp-addr",
                "127.0.0.1:0",
            ])
            .args(["--duration", seconds, "--report"])
            .arg(dir.path().join(format!("{email}.json")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("huddle")
    };
    let ada = join("ada@example.com", "default", "none", "12");
    std::thread::sleep(Duration::from_secs(1));
    let bob = join("bob@example.com", "none", "huddle_bob", "9");
    for (who, child) in [("bob", bob), ("ada", ada)] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{who} failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("bob@example.com.json")).unwrap(),
    )
    .unwrap();
    let audio = report["received"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "audio" && s["remote_email"] == "ada@example.com")
        .unwrap_or_else(|| panic!("no audio from ada: {report:#}"));
    // Switching the speaker mid-call opens the new one on the same mixer.
    pulse.use_in_this_process();
    let mut opened = huddle_engine::devices::open(
        &huddle_engine::devices::CameraChoice::None,
        &huddle_engine::devices::MicChoice::None,
        &huddle_engine::devices::SpeakerChoice::Default,
    )
    .expect("open the default speaker");
    opened
        .playback
        .switch(&huddle_engine::devices::SpeakerChoice::Device(
            "huddle_bob".into(),
        ))
        .expect("switch speakers");
    assert_ne!(opened.playback.describe(), "none");
    let missing = huddle_engine::devices::SpeakerChoice::Device("no-such-speaker".into());
    assert!(
        opened.playback.switch(&missing).is_err(),
        "a missing speaker is an error"
    );
    assert_ne!(
        opened.playback.describe(),
        "none",
        "and the current one keeps playing"
    );

    let level = audio["audio_level"].as_f64().unwrap_or(0.0);
    let hz = audio["audio_frequency_hz"].as_f64().unwrap_or(0.0);
    assert!(level > 0.01, "bob hears ada too quietly: {audio:#}");
    assert!(
        (400.0..480.0).contains(&hz),
        "bob hears {hz} Hz, not the 440 Hz tone: {audio:#}"
    );
}
