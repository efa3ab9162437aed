//! Sharing a real X11 screen end to end: a private Xvfb shows the live timestamp
//! barcode (`huddle show-barcode`), one `huddle` shares that screen (MIT-SHM capture,
//! cursor, scaling), another views it and must read the barcodes it captured.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::Xvfb;

fn huddle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_huddle"))
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_viewer_reads_the_barcodes_shown_on_the_shared_x_screen() {
    let xvfb = Xvfb::start(1280, 720);
    let server_bin = std::env::var("HUDDLE_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| huddle_bin().with_file_name("huddle-server"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new(server_bin)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db", ":memory:"])
            .stderr(Stdio::null())
            .spawn()
            .expect("server"),
    );
    let _barcode = Killed(
        Command::new(huddle_bin())
            .args(["show-barcode", "--display", &xvfb.display, "--fps", "30"])
            .spawn()
            .expect("show-barcode"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let report = dir.path().join("viewer.json");
    let common = [
        "--camera",
        "none",
        "--mic",
        "none",
        "--speaker",
        "none",
        "--udp-addr",
        "127.0.0.1:0",
    ];
    let sharer = Command::new(huddle_bin())
        .env("DISPLAY", &xvfb.display)
        .args([
            "join",
            "--server",
            &url,
            "--email",
            "sharer@example.com",
            "--room",
            "x11",
        ])
        .args(common)
        .args(["--share", "screen", "--duration", "12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sharer");
    std::thread::sleep(Duration::from_millis(800));
    let viewer = Command::new(huddle_bin())
        .args([
            "join",
            "--server",
            &url,
            "--email",
            "viewer@example.com",
            "--room",
            "x11",
        ])
        .args(common)
        .args(["--duration", "9", "--report"])
        .arg(&report)
        .output()
        .expect("viewer");
    let sharer = sharer.wait_with_output().unwrap();
    let sharer_out = String::from_utf8_lossy(&sharer.stdout);
    assert!(
        sharer.status.success(),
        "{sharer_out}\n{}",
        String::from_utf8_lossy(&sharer.stderr)
    );
    assert!(
        sharer_out.contains("MIT-SHM"),
        "captured through shared memory: {sharer_out}"
    );
    assert!(
        viewer.status.success(),
        "{}",
        String::from_utf8_lossy(&viewer.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let screen = report["received"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "screen")
        .unwrap_or_else(|| panic!("no screen received: {report:#}"));
    assert_eq!(
        (screen["width"].as_u64(), screen["height"].as_u64()),
        (Some(1280), Some(720)),
        "{screen:#}"
    );
    // Debug builds capture and encode slowly; what matters is that the pictures on the
    // X screen are the ones decoded, with their own capture time.
    assert!(
        screen["barcodes_read"].as_u64().unwrap() >= 10,
        "{screen:#}"
    );
    assert!(screen["latency_ms"]["p50"].as_i64().is_some(), "{screen:#}");
}
