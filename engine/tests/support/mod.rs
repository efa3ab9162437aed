//! Shared by the integration tests: a private PulseAudio daemon with a null sink, a
//! private Xvfb, an in-process signaling server. Each test binary uses some of it.
#![allow(dead_code, unused_imports)]

pub mod inprocess;
mod xvfb;
pub use xvfb::Xvfb;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const SINK: &str = "huddle_test";

/// A PulseAudio daemon in its own runtime directory, killed on drop (also when the test
/// panics).
pub struct PulseDaemon {
    dir: PathBuf,
}

impl PulseDaemon {
    pub fn start() -> Self {
        for tool in ["pulseaudio", "pactl"] {
            if let Err(err) = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
            {
                panic!(
                    "`{tool}` cannot run ({err}): this test needs a real PulseAudio \
                     (Debian: apt-get install pulseaudio pulseaudio-utils)"
                );
            }
        }
        let dir = std::env::temp_dir().join(format!("huddle-pulse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the runtime dir");
        // PulseAudio refuses a runtime dir that others can read.
        set_mode_0700(&dir);
        // cpal's PulseAudio client sends whatever cookie it finds, and with none an empty
        // one, which the server rejects as malformed even with anonymous auth. A fresh
        // machine has no ~/.config/pulse/cookie until some libpulse client made one (the
        // reason this test failed on its first run only): bring our own.
        std::fs::write(dir.join("cookie"), [0u8; 256]).expect("write the cookie");
        let daemon = PulseDaemon { dir };
        // As root PulseAudio needs --system=false to run per-user; -n skips default.pa (no
        // hardware probing), anonymous auth spares the cookie.
        let status = daemon
            .command("pulseaudio")
            .args([
                "-D",
                "-n",
                "--system=false",
                "--exit-idle-time=-1",
                "--log-target=stderr",
                "--log-level=error",
                "--load=module-native-protocol-unix auth-anonymous=1",
            ])
            .status()
            .expect("run pulseaudio");
        assert!(status.success(), "pulseaudio -D failed: {status}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !daemon.pactl(&["info"]) {
            assert!(
                Instant::now() < deadline,
                "PulseAudio did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let sink_name = format!("sink_name={SINK}");
        assert!(
            daemon.pactl(&["load-module", "module-null-sink", &sink_name]),
            "null sink not loaded"
        );
        assert!(
            daemon.pactl(&["set-default-sink", SINK]),
            "set-default-sink failed"
        );
        let monitor = format!("{SINK}.monitor");
        assert!(
            daemon.pactl(&["set-default-source", &monitor]),
            "set-default-source failed"
        );
        daemon
    }

    pub fn cookie(&self) -> PathBuf {
        self.dir.join("cookie")
    }

    pub fn server(&self) -> String {
        format!("unix:{}", self.dir.join("pulse/native").display())
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("XDG_RUNTIME_DIR", &self.dir)
            .env("HOME", &self.dir)
            .env("PULSE_SERVER", self.server())
            .env("PULSE_COOKIE", self.cookie());
        c
    }

    pub fn pactl(&self, args: &[&str]) -> bool {
        self.command("pactl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Points this process (cpal's PulseAudio client) at the daemon.
    pub fn use_in_this_process(&self) {
        // SAFETY: the only test in this binary sets these before any audio thread exists
        // and nothing else in the process reads the environment concurrently.
        unsafe {
            std::env::set_var("XDG_RUNTIME_DIR", &self.dir);
            std::env::set_var("PULSE_SERVER", self.server());
            std::env::set_var("PULSE_COOKIE", self.cookie());
        }
    }
}

impl Drop for PulseDaemon {
    fn drop(&mut self) {
        let _ = self
            .command("pulseaudio")
            .arg("--kill")
            .stderr(Stdio::null())
            .status();
        // --kill only signals; wait for the pid file to go so the next run starts clean.
        let pid_file = self.dir.join("pulse/pid");
        let deadline = Instant::now() + Duration::from_secs(3);
        while pid_file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_mode_0700(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
}
