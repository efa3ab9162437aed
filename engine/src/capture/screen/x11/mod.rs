//! X11 screen and window capture on x11rb.
//!
//! - Pixels come through MIT-SHM when the server offers it (version 1.2: the server creates the
//!   segment and passes its fd): `ShmGetImage` writes into the shared segment and only a tiny
//!   reply crosses the socket. We read the segment with `pread` (std only). An `mmap` would
//!   save that copy (about 1–1.5 ms of CPU at 1080p here) but needs `libc`, `memmap2` or
//!   `rustix` with `mm`. Without SHM (a remote display, an old server) plain `GetImage`
//!   carries the image through the socket.
//! - A window is captured through Composite: it is redirected (automatic mode, so nothing
//!   changes on screen) and its backing pixmap is read, which works when it is partly
//!   off-screen or covered. Without Composite, `GetImage` on the window itself.
//! - The cursor is not part of the image: XFixes `GetCursorImage` gives it, and it is drawn in.
//!
//! [`listing`] finds screens, monitors and windows; [`capture`] grabs their pixels.

use std::ffi::OsString;

use x11rb::connection::RequestConnection;
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::rust_connection::RustConnection;

use crate::capture::source::SourceError;

pub mod capture;
pub mod listing;

pub use capture::X11Capture;
pub use listing::{list_screens, list_windows, parse_window_id};

/// The display name to connect to: `$DISPLAY`, or a clear error without one.
pub fn display_from_env(value: Option<OsString>) -> Result<String, SourceError> {
    match value {
        Some(v) if !v.is_empty() => v
            .into_string()
            .map_err(|_| SourceError::Device("DISPLAY is not valid UTF-8".into())),
        _ => Err(SourceError::Device(
            "no display (DISPLAY is not set): screen capture needs an X11 session".into(),
        )),
    }
}

pub(super) fn connect(
    display: Option<&str>,
) -> Result<(RustConnection, usize, String), SourceError> {
    let name = match display {
        Some(d) => d.to_string(),
        None => display_from_env(std::env::var_os("DISPLAY"))?,
    };
    // x11rb 0.14 panics on some odd display names (":65000" overflows its TCP port).
    let connected = std::panic::catch_unwind(|| x11rb::connect(Some(&name)))
        .map_err(|_| SourceError::Device(format!("bad X display name {name}")))?;
    let (conn, screen) = connected
        .map_err(|e| SourceError::Device(format!("cannot connect to X display {name}: {e}")))?;
    Ok((conn, screen, name))
}

pub(super) fn conn_err(e: ConnectionError) -> SourceError {
    SourceError::Stopped(format!("X connection lost: {e}"))
}

pub(super) fn reply_err(what: &str, e: ReplyError) -> SourceError {
    match e {
        ReplyError::ConnectionError(e) => conn_err(e),
        ReplyError::X11Error(e) => {
            SourceError::Device(format!("{what}: X error {:?}", e.error_kind))
        }
    }
}

pub(super) fn id_err(e: ReplyOrIdError) -> SourceError {
    match e {
        ReplyOrIdError::ConnectionError(e) => conn_err(e),
        other => SourceError::Device(format!("X resource id: {other}")),
    }
}

/// Whether the server has an extension (and the connection still works).
pub(super) fn has_extension(
    conn: &RustConnection,
    name: &'static str,
) -> Result<bool, SourceError> {
    Ok(conn
        .extension_information(name)
        .map_err(conn_err)?
        .is_some())
}

/// A rectangle in root-window coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rect {
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_display_is_a_clear_error() {
        for v in [None, Some(OsString::new())] {
            let err = display_from_env(v).unwrap_err().to_string();
            assert!(err.contains("no display (DISPLAY is not set)"), "{err}");
        }
        assert_eq!(display_from_env(Some(":7".into())).unwrap(), ":7");
    }
}
