//! Screen sharing sources: a whole screen or one window, captured natively (X11 on Linux and
//! the BSDs, scap on macOS and Windows), or a synthetic screen for tests and bots.
//!
//! Every source captures at the screen's real size, draws the cursor in, converts to I420
//! and scales down to fit the caller's maximum size (aspect kept, even sides), paced at the
//! requested frame rate.

use std::fmt;
use std::str::FromStr;

use super::source::{SourceError, VideoSource};
use crate::media::pixels;

pub mod barcode_window;
pub mod synthetic;
#[cfg(all(unix, not(target_os = "macos")))]
pub mod x11;

#[cfg(any(target_os = "macos", target_os = "windows"))]
mod scap_backend;

pub use synthetic::SyntheticScreen;
#[cfg(all(unix, not(target_os = "macos")))]
pub use x11::X11Capture;

/// The synthetic screen's default size.
pub const TEST_SIZE: (usize, usize) = (1280, 720);
/// The frame rate used when the caller asks for 0.
pub const DEFAULT_FPS: u32 = 30;
/// The highest frame rate a share is paced at.
pub const MAX_FPS: u32 = 60;

/// What to share, as the CLI names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareChoice {
    /// The synthetic screen (barcode on top, desktop-like content below).
    Test {
        width: usize,
        height: usize,
    },
    /// A screen: the default one, or one by id as [`list_screens`] gives it.
    Screen(Option<String>),
    /// A window by id as [`list_windows`] gives it.
    Window(String),
    None,
}

impl ShareChoice {
    /// Parses `test` (1280×720), `test:WxH`, `test1080`, `test720`, `screen`, `screen:ID`,
    /// `window:ID` and `none`.
    pub fn parse(s: &str) -> Result<ShareChoice, String> {
        let s = s.trim();
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a.trim())),
            None => (s, None),
        };
        match (kind, arg) {
            ("test", None) => Ok(ShareChoice::Test {
                width: TEST_SIZE.0,
                height: TEST_SIZE.1,
            }),
            ("test1080", None) => Ok(ShareChoice::Test {
                width: 1920,
                height: 1080,
            }),
            ("test720", None) => Ok(ShareChoice::Test {
                width: 1280,
                height: 720,
            }),
            ("test", Some(size)) => {
                parse_size(size).map(|(width, height)| ShareChoice::Test { width, height })
            }
            ("screen", None) => Ok(ShareChoice::Screen(None)),
            ("screen", Some(id)) if !id.is_empty() => Ok(ShareChoice::Screen(Some(id.to_string()))),
            ("window", Some(id)) if !id.is_empty() => Ok(ShareChoice::Window(id.to_string())),
            ("window", _) => Err("window needs an id: window:ID (see the list of windows)".into()),
            ("none", None) => Ok(ShareChoice::None),
            _ => Err(format!(
                "unknown screen share '{s}': expected test, test:WxH, test1080, screen, screen:ID, window:ID or none"
            )),
        }
    }
}

/// `WxH` with even sides between 16×8 and 7680×4320.
fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("bad size '{s}': expected WxH, e.g. 1920x1080");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    if !(16..=7680).contains(&w) || !(8..=4320).contains(&h) {
        return Err(format!("size {w}x{h} out of range (16x8 … 7680x4320)"));
    }
    if w % 2 == 1 || h % 2 == 1 {
        return Err(format!("size {w}x{h}: width and height must be even"));
    }
    Ok((w, h))
}

impl FromStr for ShareChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShareChoice::parse(s)
    }
}

impl fmt::Display for ShareChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareChoice::Test { width, height } => write!(f, "test:{width}x{height}"),
            ShareChoice::Screen(None) => write!(f, "screen"),
            ShareChoice::Screen(Some(id)) => write!(f, "screen:{id}"),
            ShareChoice::Window(id) => write!(f, "window:{id}"),
            ShareChoice::None => write!(f, "none"),
        }
    }
}

/// A screen that can be shared; `id` goes into `screen:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenInfo {
    pub id: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// A window that can be shared; `id` goes into `window:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    pub id: String,
    pub title: String,
    pub width: u32,
    pub height: u32,
}

/// The screens of this desktop (on X11: the X screens of `$DISPLAY` and their RandR monitors).
pub fn list_screens() -> Result<Vec<ScreenInfo>, SourceError> {
    backend::list_screens()
}

/// The top-level windows of this desktop.
pub fn list_windows() -> Result<Vec<WindowInfo>, SourceError> {
    backend::list_windows()
}

/// Opens the source for `choice`, scaled down to fit `max_width × max_height` and paced at
/// `fps` (0 means [`DEFAULT_FPS`]). `Ok(None)` for [`ShareChoice::None`].
pub fn open_share(
    choice: &ShareChoice,
    max_width: usize,
    max_height: usize,
    fps: u32,
) -> Result<Option<Box<dyn VideoSource>>, SourceError> {
    let fps = effective_fps(fps);
    let max = (max_width, max_height);
    match choice {
        ShareChoice::None => Ok(None),
        ShareChoice::Test { width, height } => {
            // Drawn right at the size that will be sent: the barcode is relative anyway.
            let (w, h) = pixels::fit_size(*width, *height, max_width, max_height);
            Ok(Some(Box::new(SyntheticScreen::new(w, h, fps))))
        }
        ShareChoice::Screen(id) => backend::open_screen(id.as_deref(), max, fps).map(Some),
        ShareChoice::Window(id) => backend::open_window(id, max, fps).map(Some),
    }
}

/// X11 on Linux and the BSDs.
#[cfg(all(unix, not(target_os = "macos")))]
mod backend {
    use super::*;

    pub fn list_screens() -> Result<Vec<ScreenInfo>, SourceError> {
        x11::list_screens(None)
    }

    pub fn list_windows() -> Result<Vec<WindowInfo>, SourceError> {
        x11::list_windows(None)
    }

    pub fn open_screen(
        id: Option<&str>,
        max: (usize, usize),
        fps: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        Ok(Box::new(X11Capture::screen(None, id, max.0, max.1, fps)?))
    }

    pub fn open_window(
        id: &str,
        max: (usize, usize),
        fps: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        Ok(Box::new(X11Capture::window(None, id, max.0, max.1, fps)?))
    }
}

/// ScreenCaptureKit / Windows Graphics Capture through scap.
#[cfg(any(target_os = "macos", target_os = "windows"))]
mod backend {
    use super::*;

    pub use super::scap_backend::{list_screens, list_windows};

    pub fn open_screen(
        id: Option<&str>,
        max: (usize, usize),
        fps: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        let capture = scap_backend::ScapCapture::screen(id, max.0, max.1, fps)?;
        Ok(Box::new(capture))
    }

    pub fn open_window(
        id: &str,
        max: (usize, usize),
        fps: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        Ok(Box::new(scap_backend::ScapCapture::window(
            id, max.0, max.1, fps,
        )?))
    }
}

/// Anything else: the synthetic screen only.
#[cfg(not(any(unix, target_os = "windows")))]
mod backend {
    use super::*;

    fn unsupported() -> SourceError {
        SourceError::Device("screen capture is not supported on this platform".into())
    }

    pub fn list_screens() -> Result<Vec<ScreenInfo>, SourceError> {
        Err(unsupported())
    }

    pub fn list_windows() -> Result<Vec<WindowInfo>, SourceError> {
        Err(unsupported())
    }

    pub fn open_screen(
        _: Option<&str>,
        _: (usize, usize),
        _: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        Err(unsupported())
    }

    pub fn open_window(
        _: &str,
        _: (usize, usize),
        _: u32,
    ) -> Result<Box<dyn VideoSource>, SourceError> {
        Err(unsupported())
    }
}

/// 0 → [`DEFAULT_FPS`]; otherwise clamped to 1..=[`MAX_FPS`].
pub fn effective_fps(fps: u32) -> u32 {
    if fps == 0 {
        DEFAULT_FPS
    } else {
        fps.min(MAX_FPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_choices_parse() {
        let t = |w, h| ShareChoice::Test {
            width: w,
            height: h,
        };
        assert_eq!(ShareChoice::parse("test"), Ok(t(1280, 720)));
        assert_eq!(ShareChoice::parse("test:1920x1080"), Ok(t(1920, 1080)));
        assert_eq!(ShareChoice::parse("test1080"), Ok(t(1920, 1080)));
        assert_eq!(ShareChoice::parse("test720"), Ok(t(1280, 720)));
        assert_eq!(ShareChoice::parse("test:640X360"), Ok(t(640, 360)));
        assert_eq!(ShareChoice::parse("screen"), Ok(ShareChoice::Screen(None)));
        assert_eq!(
            ShareChoice::parse("screen:1"),
            Ok(ShareChoice::Screen(Some("1".into())))
        );
        assert_eq!(
            ShareChoice::parse("screen:DP-1"),
            Ok(ShareChoice::Screen(Some("DP-1".into())))
        );
        assert_eq!(
            ShareChoice::parse("window:0x1a00003"),
            Ok(ShareChoice::Window("0x1a00003".into()))
        );
        assert_eq!(ShareChoice::parse(" none "), Ok(ShareChoice::None));
        for bad in [
            "",
            "tests",
            "test:",
            "test:1920",
            "test:1921x1080",
            "test:8x8",
            "test:99999x1080",
            "test:ax b",
            "window",
            "window:",
            "screen:",
            "none:1",
            "camera",
        ] {
            assert!(ShareChoice::parse(bad).is_err(), "{bad:?} should not parse");
        }
        // Display round-trips.
        for s in [
            "test:1280x720",
            "screen",
            "screen:DP-1",
            "window:0x400001",
            "none",
        ] {
            assert_eq!(ShareChoice::parse(s).unwrap().to_string(), s);
        }
        assert_eq!("test1080".parse::<ShareChoice>(), Ok(t(1920, 1080)));
    }

    #[test]
    fn fps_defaults_and_limits() {
        assert_eq!(effective_fps(0), 30);
        assert_eq!(effective_fps(15), 15);
        assert_eq!(effective_fps(500), MAX_FPS);
    }

    #[test]
    fn open_share_test_and_none() {
        assert!(
            open_share(&ShareChoice::None, 1280, 720, 30)
                .unwrap()
                .is_none()
        );
        let mut src = open_share(&ShareChoice::parse("test1080").unwrap(), 1280, 720, 30)
            .unwrap()
            .expect("a source");
        let f = src.next_frame().unwrap();
        assert_eq!((f.frame.width, f.frame.height), (1280, 720));
        assert!(crate::media::testsignal::read(&f.frame).is_some());
        assert!(src.describe().contains("1280x720"), "{}", src.describe());
    }
}
