//! Screen capture on macOS (ScreenCaptureKit) and Windows (Windows Graphics Capture) through
//! scap 0.0.8.
//!
//! scap panics on many failures (missing permission, a vanished window, a failed start) and
//! its platform callbacks `unwrap`, so every call into it runs under `catch_unwind`, on a
//! thread of our own that owns the `Capturer` (its platform handles need not be `Send`). That
//! thread keeps the newest frame; `next_frame` paces, converts and scales it, repeating the
//! last one while the screen is idle (ScreenCaptureKit sends nothing new for a still screen).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use scap::Target;
use scap::capturer::{Capturer, Options};
use scap::frame::{Frame, FrameType};

use super::{ScreenInfo, WindowInfo};
use crate::capture::source::{Pacer, SourceError, VideoSource};
use crate::media::frame::{CapturedFrame, VideoFrame};
use crate::media::pixels::{self, Resizer};

/// How long opening waits for the capturer to start and for its first frame.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(3);

fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic inside scap into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, SourceError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        SourceError::Device(format!("{what} failed (panicked: {})", panic_message(&*p)))
    })
}

fn ready() -> Result<(), SourceError> {
    if !guarded("scap::is_supported", scap::is_supported)? {
        return Err(SourceError::Device(
            "screen capture is not supported on this system version".into(),
        ));
    }
    if !guarded("scap::has_permission", scap::has_permission)? {
        // macOS: this shows the system prompt once; the grant applies after a restart.
        let _ = guarded("scap::request_permission", scap::request_permission);
        return Err(SourceError::Device(
            "screen recording permission is not granted (macOS: System Settings → Privacy & \
             Security → Screen Recording, then restart Huddle)"
                .into(),
        ));
    }
    Ok(())
}

fn all_targets() -> Result<Vec<Target>, SourceError> {
    ready()?;
    guarded("scap::get_all_targets", scap::get_all_targets)
}

/// The size scap will deliver for `target` (`None`: the main display), if it can tell.
fn size_of(target: Option<Target>) -> Option<(u32, u32)> {
    let options = Options {
        target,
        ..Default::default()
    };
    guarded("scap::get_output_frame_size", || {
        scap::capturer::get_output_frame_size(&options)
    })
    .ok()
    .map(|[w, h]| (w, h))
}

pub fn list_screens() -> Result<Vec<ScreenInfo>, SourceError> {
    let mut out = Vec::new();
    for t in all_targets()? {
        if let Target::Display(d) = &t {
            let (id, name) = (d.id.to_string(), d.title.clone());
            let (width, height) = size_of(Some(t)).unwrap_or((0, 0));
            out.push(ScreenInfo {
                id,
                name,
                width,
                height,
            });
        }
    }
    Ok(out)
}

pub fn list_windows() -> Result<Vec<WindowInfo>, SourceError> {
    let mut out = Vec::new();
    for t in all_targets()? {
        if let Target::Window(w) = &t {
            let (id, title) = (w.id.to_string(), w.title.clone());
            let (width, height) = size_of(Some(t)).unwrap_or((0, 0));
            out.push(WindowInfo {
                id,
                title,
                width,
                height,
            });
        }
    }
    Ok(out)
}

/// What to capture, as plain data that can cross to the capture thread.
#[derive(Clone, Debug)]
enum Wanted {
    MainDisplay,
    Display(String),
    Window(String),
}

/// Finds the target by numeric id or, failing that, by title (case-insensitive).
fn resolve(wanted: &Wanted) -> Result<Option<Target>, SourceError> {
    let (want_display, id) = match wanted {
        Wanted::MainDisplay => return Ok(None),
        Wanted::Display(id) => (true, id.trim()),
        Wanted::Window(id) => (false, id.trim()),
    };
    let targets = all_targets()?;
    let matches = |t: &Target, by_title: bool| {
        let (is_display, tid, title) = match t {
            Target::Display(d) => (true, d.id, d.title.as_str()),
            Target::Window(w) => (false, w.id, w.title.as_str()),
        };
        is_display == want_display
            && if by_title {
                title.eq_ignore_ascii_case(id)
            } else {
                id.parse::<u32>().ok() == Some(tid)
            }
    };
    let found = targets
        .iter()
        .find(|t| matches(t, false))
        .or_else(|| targets.iter().find(|t| matches(t, true)));
    match found {
        Some(t) => Ok(Some(t.clone())),
        None => Err(SourceError::Device(format!(
            "no {} '{id}' (see the list of {}s)",
            if want_display { "screen" } else { "window" },
            if want_display { "screen" } else { "window" },
        ))),
    }
}

/// The newest frame, shared between the capture thread and `next_frame`.
#[derive(Default)]
struct Latest {
    bgra: Vec<u8>,
    width: usize,
    height: usize,
    seq: u64,
    error: Option<String>,
}

struct Shared {
    latest: Mutex<Latest>,
    stop: AtomicBool,
}

/// A screen or window captured by scap, as paced and scaled I420 frames.
pub struct ScapCapture {
    shared: Arc<Shared>,
    what: String,
    seen: u64,
    full: VideoFrame,
    resizer: Resizer,
    max: (usize, usize),
    fps: u32,
    pacer: Pacer,
}

impl ScapCapture {
    pub fn screen(
        id: Option<&str>,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        let wanted = match id {
            None => Wanted::MainDisplay,
            Some(id) => Wanted::Display(id.to_string()),
        };
        Self::open(wanted, max_width, max_height, fps)
    }

    pub fn window(
        id: &str,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        Self::open(Wanted::Window(id.to_string()), max_width, max_height, fps)
    }

    fn open(
        wanted: Wanted,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        ready()?;
        // Fail early, on the caller's thread, if the target does not exist.
        resolve(&wanted)?;
        let fps = super::effective_fps(fps);
        let shared = Arc::new(Shared {
            latest: Mutex::new(Latest::default()),
            stop: AtomicBool::new(false),
        });
        let (started_tx, started_rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_wanted = wanted.clone();
        thread::Builder::new()
            .name("scap-capture".into())
            .spawn(move || capture_thread(thread_wanted, fps, &thread_shared, &started_tx))
            .map_err(|e| SourceError::Device(format!("cannot start the capture thread: {e}")))?;
        match started_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                return Err(SourceError::Device("screen capture did not start".into()));
            }
        }
        // Wait briefly for a first picture so the first frame is not black.
        let deadline = Instant::now() + FIRST_FRAME_TIMEOUT;
        while Instant::now() < deadline {
            if lock(&shared).seq > 0 {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let what = match &wanted {
            Wanted::MainDisplay => "main screen".to_string(),
            Wanted::Display(id) => format!("screen {id}"),
            Wanted::Window(id) => format!("window {id}"),
        };
        Ok(ScapCapture {
            shared,
            what,
            seen: 0,
            full: VideoFrame::black(2, 2),
            resizer: Resizer::default(),
            max: (max_width, max_height),
            fps,
            pacer: Pacer::at_fps(fps),
        })
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Latest> {
    // A poisoned lock only means a panic elsewhere mid-update; the data is still usable.
    shared.latest.lock().unwrap_or_else(|p| p.into_inner())
}

fn capture_thread(
    wanted: Wanted,
    fps: u32,
    shared: &Shared,
    started: &mpsc::Sender<Result<(), SourceError>>,
) {
    let target = match resolve(&wanted) {
        Ok(t) => t,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let options = Options {
        fps,
        show_cursor: true,
        show_highlight: false,
        target,
        output_type: FrameType::BGRAFrame,
        ..Default::default()
    };
    let mut capturer = match guarded("scap Capturer::build", || Capturer::build(options)) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let _ = started.send(Err(SourceError::Device(format!("screen capture: {e}"))));
            return;
        }
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    if let Err(e) = guarded("scap start_capture", || capturer.start_capture()) {
        let _ = started.send(Err(e));
        return;
    }
    let _ = started.send(Ok(()));

    while !shared.stop.load(Ordering::Relaxed) {
        match guarded("scap get_next_frame", || capturer.get_next_frame()) {
            Ok(Ok(Frame::BGRA(f))) if f.width > 0 && f.height > 0 => {
                let (w, h) = (f.width as usize, f.height as usize);
                if f.data.len() < w * h * 4 {
                    continue;
                }
                let mut latest = lock(shared);
                latest.bgra = f.data;
                latest.width = w;
                latest.height = h;
                latest.seq += 1;
            }
            // An idle marker (0×0: nothing changed) or a format we did not ask for.
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                lock(shared).error = Some("the capture ended".into());
                break;
            }
            Err(e) => {
                lock(shared).error = Some(e.to_string());
                break;
            }
        }
    }
    let _ = guarded("scap stop_capture", || capturer.stop_capture());
}

impl VideoSource for ScapCapture {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        self.pacer.wait();
        let captured_at = Instant::now();
        {
            let latest = lock(&self.shared);
            if let Some(e) = &latest.error {
                return Err(SourceError::Stopped(e.clone()));
            }
            if latest.seq != self.seen && latest.width >= 2 && latest.height >= 2 {
                let (w, h) = (latest.width & !1, latest.height & !1);
                pixels::bgra_to_i420(&latest.bgra, latest.width * 4, w, h, &mut self.full)
                    .map_err(|e| SourceError::Device(e.to_string()))?;
                self.seen = latest.seq;
            }
        }
        let (w, h) = (self.full.width, self.full.height);
        let (ow, oh) = pixels::fit_size(w, h, self.max.0, self.max.1);
        let frame = if (ow, oh) == (w, h) {
            self.full.clone()
        } else {
            self.resizer
                .resize(&self.full.view(), ow, oh)
                .map_err(|e| SourceError::Device(e.to_string()))?
        };
        Ok(CapturedFrame { frame, captured_at })
    }

    fn describe(&self) -> String {
        format!("{} via scap @ {} fps", self.what, self.fps)
    }
}

impl Drop for ScapCapture {
    fn drop(&mut self) {
        // The thread stops after its next frame; it holds only its own Arc.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}
