//! Janus for tests: Debian's `janus`, configured by `deploy/janus/render.sh` (the deployment
//! configuration itself), running in a network namespace of its own (Janus gathers no ICE
//! candidates on loopback, so it needs an address: a veth pair inside the namespace).
//!
//! The test code talks to it from a thread that joined the namespace ([`JanusLab::run`]),
//! over the deployment's default WebSocket address, 127.0.0.1:8188 of that namespace.
//! Everything goes away on drop (and namespaces of crashed runs at the next start).
//! Needs root; [`JanusLab::skip_reason`] says why not when it cannot run.

use std::fs::File;
use std::future::Future;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const PREFIX: &str = "hsfu";
/// Janus's address inside its namespace (the namespace's own veth pair).
pub const JANUS_IP: &str = "10.99.0.1";
const PEER_IP: &str = "10.99.0.2";
pub const WS_PORT: u16 = 8188;

static COUNT: AtomicU32 = AtomicU32::new(0);

pub struct Options {
    pub session_timeout: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            session_timeout: 60,
        }
    }
}

pub struct JanusLab {
    ns: String,
    dir: tempfile::TempDir,
    janus: Mutex<Option<Child>>,
    pub api_secret: String,
    pub admin_key: String,
}

fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Namespaces left by runs that died (their pid is in the name).
fn clean_stale() {
    let Ok(list) = sh("ip", &["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !alive(pid) {
            delete_namespace(name);
        }
    }
}

fn delete_namespace(ns: &str) {
    if let Ok(pids) = sh("ip", &["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = sh("kill", &["-9", pid]);
        }
    }
    let _ = sh("ip", &["netns", "del", ns]);
}

impl JanusLab {
    /// Why these tests cannot run here, or None (probed once per test binary).
    pub fn skip_reason() -> Option<String> {
        static REASON: OnceLock<Option<String>> = OnceLock::new();
        REASON.get_or_init(Self::probe).clone()
    }

    fn probe() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("Janus tests need root (network namespaces)".into());
        }
        let probe = format!("{PREFIX}{}-probe", std::process::id());
        if let Err(e) = sh("ip", &["netns", "add", &probe]) {
            return Some(format!("network namespaces unavailable: {e}"));
        }
        let _ = sh("ip", &["netns", "del", &probe]);
        None
    }

    /// Builds the namespace, renders the deployment config and starts Janus; panics with
    /// Janus's log when it does not come up.
    pub fn start(options: Options) -> JanusLab {
        clean_stale();
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let ns = format!("{PREFIX}{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("huddle-janus-")
            .tempdir()
            .expect("a temporary directory");
        let lab = JanusLab {
            ns,
            dir,
            janus: Mutex::new(None),
            api_secret: format!("secret-{}-{n}", std::process::id()),
            admin_key: format!("admin-{}-{n}", std::process::id()),
        };
        lab.build_namespace().expect("the Janus namespace");
        let render = sh(
            "bash",
            &[
                repo_root()
                    .join("deploy/janus/render.sh")
                    .to_str()
                    .expect("a UTF-8 path"),
                "--out",
                lab.config_dir().to_str().expect("a UTF-8 path"),
                "--api-secret",
                &lab.api_secret,
                "--admin-key",
                &lab.admin_key,
                "--ice-address",
                JANUS_IP,
                "--session-timeout",
                &options.session_timeout.to_string(),
            ],
        );
        if let Err(e) = render {
            panic!("deploy/janus/render.sh failed: {e}");
        }
        lab.start_janus();
        lab
    }

    fn build_namespace(&self) -> Result<(), String> {
        let ns = self.ns.as_str();
        sh("ip", &["netns", "add", ns])?;
        sh("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        sh(
            "ip",
            &[
                "-n", ns, "link", "add", "jv0", "type", "veth", "peer", "name", "jv1",
            ],
        )?;
        sh(
            "ip",
            &[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{JANUS_IP}/24"),
                "dev",
                "jv0",
            ],
        )?;
        sh(
            "ip",
            &[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{PEER_IP}/24"),
                "dev",
                "jv1",
            ],
        )?;
        sh("ip", &["-n", ns, "link", "set", "jv0", "up"])?;
        sh("ip", &["-n", ns, "link", "set", "jv1", "up"])?;
        // Janus picks its "local IP" from the default route.
        sh("ip", &["-n", ns, "route", "add", "default", "via", PEER_IP])?;
        Ok(())
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("janus")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("janus.log")
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{WS_PORT}")
    }

    /// Janus's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts Janus (again) and waits until its WebSocket port accepts.
    pub fn start_janus(&self) {
        let mut janus = self.janus.lock().expect("the Janus process lock");
        assert!(janus.is_none(), "Janus is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the Janus log file");
        let config = self.config_dir();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "janus", "-o", "-C"])
            .arg(config.join("janus.jcfg"))
            .arg("-F")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .spawn()
            .expect("janus runs (scripts/setup.sh installs it)");
        let child = janus.insert(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("janus exited ({status}) before listening:\n{}", self.log());
            }
            if self.in_namespace(|| {
                TcpStream::connect_timeout(
                    &format!("127.0.0.1:{WS_PORT}").parse().expect("an address"),
                    Duration::from_millis(200),
                )
                .is_ok()
            }) {
                return;
            }
            if Instant::now() > deadline {
                panic!("janus did not listen within 20 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops Janus (SIGKILL: a crash, as far as its clients can tell).
    pub fn kill_janus(&self) {
        let taken = self.janus.lock().map(|mut j| j.take());
        if let Ok(Some(mut child)) = taken {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn in_namespace<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).expect("the namespace file");
                // SAFETY: setns on a valid namespace fd affects only this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs a future to completion on a runtime whose sockets live in the namespace.
    pub fn run<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        self.in_namespace(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(future)
        })
    }
}

impl Drop for JanusLab {
    fn drop(&mut self) {
        self.kill_janus();
        delete_namespace(&self.ns);
    }
}
