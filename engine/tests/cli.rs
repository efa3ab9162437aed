//! The `huddle` CLI as people and scripts run it, against the real `huddle-server`
//! binary on loopback: calls between two and three participants, chat, and the ways a
//! join can fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn huddle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_huddle"))
}

fn server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HUDDLE_SERVER_BIN") {
        return p.into();
    }
    let p = huddle_bin().with_file_name("huddle-server");
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

/// A signaling server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(server_bin())
            .args(listen)
            .args(["--db", ":memory:"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start huddle-server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            assert!(
                Instant::now() < deadline,
                "server did not say where it listens"
            );
            let line = lines.next().expect("server exited").expect("read");
            if let Some(at) = line.find("listening on ") {
                break line[at + "listening on ".len()..].trim().to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Participant {
    child: Child,
    report: PathBuf,
}

fn join(
    server: &Server,
    email: &str,
    room: &str,
    seconds: f64,
    dir: &Path,
    extra: &[&str],
) -> Participant {
    let report = dir.join(format!("{email}.json"));
    let child = Command::new(huddle_bin())
        .args([
            "join",
            "--server",
            &server.url,
            "--email",
            email,
            "--room",
            room,
        ])
        .args([
            "--camera",
            "test",
            "--mic",
            "sine",
            "--speaker",
            "none",
            "--udp-addr",
            "127.0.0.1:0",
        ])
        .args(["--duration", &seconds.to_string(), "--report"])
        .arg(&report)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start huddle");
    Participant { child, report }
}

fn finish(p: Participant) -> (Output, Value) {
    let out = p.child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "huddle failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&p.report).expect("report written"))
            .expect("report is JSON");
    (out, report)
}

fn streams<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["received"]
        .as_array()
        .expect("received")
        .iter()
        .filter(|s| s["kind"] == kind)
        .collect()
}

fn check_received_everyone(report: &Value, others: &[&str], who: &str) {
    for email in others {
        let video = streams(report, "video")
            .into_iter()
            .find(|s| s["remote_email"] == *email)
            .unwrap_or_else(|| panic!("{who} got no video from {email}: {report:#}"));
        assert!(
            video["frames_decoded"].as_u64().unwrap() >= 60,
            "{who} ← {email}: {video:#}"
        );
        assert!(
            video["barcodes_read"].as_u64().unwrap() >= 60,
            "{who} ← {email}: {video:#}"
        );
        let p50 = video["latency_ms"]["p50"]
            .as_i64()
            .expect("latency measured");
        assert!((0..1000).contains(&p50), "{who} ← {email}: p50 {p50}");
        // Connection figures from webrtc-rs's stats: loopback RTT is small but measured.
        let rtt = video["rtt_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("{who} ← {email}: no RTT: {video:#}"));
        assert!((0.0..1000.0).contains(&rtt), "{who} ← {email}: rtt {rtt}");
        assert!(
            video["jitter_ms"].as_f64().is_some(),
            "{who} ← {email}: no jitter: {video:#}"
        );
        let audio = streams(report, "audio")
            .into_iter()
            .find(|s| s["remote_email"] == *email)
            .unwrap_or_else(|| panic!("{who} got no audio from {email}: {report:#}"));
        assert!(
            audio["frames_decoded"].as_u64().unwrap() >= 100,
            "{who} ← {email}: {audio:#}"
        );
    }
    assert_eq!(
        report["peers_connected"].as_u64(),
        Some(others.len() as u64),
        "{report:#}"
    );
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
}

#[test]
fn two_participants_exchange_video_and_audio_and_chat() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = join(
        &server,
        "ada@example.com",
        "2001",
        9.0,
        dir.path(),
        &["--chat", "hello from ada"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let b = join(&server, "bob@example.com", "2001", 6.0, dir.path(), &[]);
    let (out_b, rb) = finish(b);
    let (out_a, ra) = finish(a);
    check_received_everyone(&ra, &["bob@example.com"], "ada");
    check_received_everyone(&rb, &["ada@example.com"], "bob");
    let stdout_a = String::from_utf8_lossy(&out_a.stdout);
    let stdout_b = String::from_utf8_lossy(&out_b.stdout);
    assert!(stdout_a.contains("+ bob@example.com joined"), "{stdout_a}");
    assert!(stdout_a.contains("- bob@example.com left"), "{stdout_a}");
    assert!(
        stdout_b.contains("chat (history) ada@example.com: hello from ada"),
        "{stdout_b}"
    );
    // The sent side is measured too.
    let sent_video = ra["sent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "video")
        .unwrap();
    assert!(
        sent_video["frames_encoded"].as_u64().unwrap() > 100,
        "{sent_video:#}"
    );
}

#[test]
fn three_participants_form_a_mesh() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let emails = ["a@example.com", "b@example.com", "c@example.com"];
    let a = join(&server, emails[0], "mesh", 10.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(700));
    let b = join(&server, emails[1], "mesh", 9.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(700));
    let c = join(&server, emails[2], "mesh", 8.0, dir.path(), &[]);
    let reports = [finish(a).1, finish(b).1, finish(c).1];
    for (i, report) in reports.iter().enumerate() {
        let others: Vec<&str> = emails
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, e)| *e)
            .collect();
        check_received_everyone(report, &others, emails[i]);
    }
}

fn run_to_end(args: &[&str]) -> Output {
    Command::new(huddle_bin())
        .args(args)
        .output()
        .expect("run huddle")
}

fn failure_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure: {out:?}");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_join_that_cannot_happen_fails_with_a_one_line_reason() {
    let common = [
        "--camera",
        "test",
        "--mic",
        "sine",
        "--speaker",
        "none",
        "--duration",
        "2",
    ];
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run_to_end(
        &[
            &["join", "--server", &url, "--email", "a@b.c", "--room", "1"][..],
            &common,
        ]
        .concat(),
    );
    let line = failure_line(&out);
    assert!(line.starts_with("huddle: cannot join"), "{line}");
    assert!(line.contains("cannot reach the signaling server"), "{line}");

    let server = Server::start(&["--room-size", "1"]);
    let out = run_to_end(
        &[
            &[
                "join",
                "--server",
                &server.url,
                "--email",
                "not an email",
                "--room",
                "1",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(failure_line(&out).contains("invalid_email"), "{out:?}");

    let dir = tempfile::tempdir().unwrap();
    let first = join(&server, "first@example.com", "solo", 6.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let out = run_to_end(
        &[
            &[
                "join",
                "--server",
                &server.url,
                "--email",
                "second@example.com",
                "--room",
                "solo",
            ][..],
            &common,
        ]
        .concat(),
    );
    assert!(failure_line(&out).contains("room_full"), "{out:?}");
    finish(first);
}

#[test]
fn a_missing_camera_is_reported_plainly() {
    let out = run_to_end(&["devices"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cameras:"), "{text}");
    if !Path::new("/dev/video0").exists() {
        assert!(text.contains("none found"), "{text}");
        let server = Server::start(&[]);
        let out = run_to_end(&[
            "join",
            "--server",
            &server.url,
            "--email",
            "a@b.c",
            "--room",
            "1",
            "--camera",
            "default",
            "--mic",
            "none",
            "--speaker",
            "none",
            "--duration",
            "1",
        ]);
        let line = failure_line(&out);
        assert!(line.contains("no camera found"), "{line}");
    }
}

#[test]
fn a_peer_that_vanishes_does_not_stop_the_others() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = join(&server, "a@example.com", "vanish", 9.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(700));
    let b = join(&server, "b@example.com", "vanish", 8.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(700));
    let mut c = join(&server, "c@example.com", "vanish", 30.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(4));
    // No goodbye: the process is killed.
    c.child.kill().unwrap();
    let _ = c.child.wait();
    let (out_a, ra) = finish(a);
    let (_, rb) = finish(b);
    let stdout_a = String::from_utf8_lossy(&out_a.stdout);
    assert!(stdout_a.contains("- c@example.com left"), "{stdout_a}");
    for (who, report, other) in [("a", &ra, "b@example.com"), ("b", &rb, "a@example.com")] {
        let video = streams(report, "video")
            .into_iter()
            .find(|s| s["remote_email"] == other)
            .unwrap_or_else(|| panic!("{who}: {report:#}"));
        assert!(
            video["barcodes_read"].as_u64().unwrap() >= 100,
            "{who}: {video:#}"
        );
    }
}

#[test]
fn losing_the_signaling_server_is_survived_by_reconnecting_and_rejoining() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start(&["--listen", &listen]);
    let dir = tempfile::tempdir().unwrap();
    let a = join(&server, "a@example.com", "comeback", 18.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(700));
    let b = join(&server, "b@example.com", "comeback", 17.0, dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(4));
    drop(server);
    std::thread::sleep(Duration::from_secs(1));
    let _server = Server::start(&["--listen", &listen]);
    let (out_a, ra) = finish(a);
    let (out_b, _) = finish(b);
    for out in [&out_a, &out_b] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("signaling back: rejoined"), "{stdout}");
    }
    // Bob has a new id after the rejoin: Ada receives video from both of his ids.
    let from_bob: Vec<&Value> = streams(&ra, "video")
        .into_iter()
        .filter(|s| s["remote_email"] == "b@example.com")
        .collect();
    assert_eq!(from_bob.len(), 2, "{ra:#}");
    assert!(
        from_bob
            .iter()
            .all(|s| s["barcodes_read"].as_u64().unwrap() >= 30),
        "{ra:#}"
    );
}
