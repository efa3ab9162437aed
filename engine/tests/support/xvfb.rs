//! A private Xvfb for tests that need an X display.

use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An Xvfb of our own, killed when dropped (also when a test panics).
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> Xvfb {
        // Xvfb's complaints go to a file we show if it fails to come up.
        let mut log = tempfile::tempfile().expect("temp file for Xvfb's log");
        let log_for_child = log.try_clone().expect("clone the log file");
        // `-displayfd 1`: Xvfb picks a free display number itself and writes it to stdout
        // once it accepts connections, so parallel runs cannot collide.
        let child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_for_child))
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot start Xvfb ({e}): these tests need it — install Debian's `xvfb` package"
            ),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let number = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .and_then(|l| l.trim().parse::<u32>().ok());
        let mut xvfb = Xvfb {
            child,
            display: String::new(),
        };
        let Some(number) = number else {
            let _ = xvfb.child.kill();
            let _ = xvfb.child.wait();
            let mut text = String::new();
            let _ = log.rewind();
            let _ = log.read_to_string(&mut text);
            panic!("Xvfb did not report a display number within 30 s; its log:\n{text}");
        };
        xvfb.display = format!(":{number}");
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "no socket {socket} after 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        xvfb
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM first so Xvfb removes its socket and lock file; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
