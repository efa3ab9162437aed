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

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::ErrorKind;
use x11rb::protocol::composite::{self, ConnectionExt as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, ImageFormat, ImageOrder, MapState, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use super::scale::{self, CursorImage, Scaler};
use super::{Pacer, ScreenInfo, WindowInfo};
use crate::media::frame::{CapturedFrame, VideoFrame};
use crate::media::source::{SourceError, VideoSource};

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

fn connect(display: Option<&str>) -> Result<(RustConnection, usize, String), SourceError> {
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

fn conn_err(e: ConnectionError) -> SourceError {
    SourceError::Stopped(format!("X connection lost: {e}"))
}

fn reply_err(what: &str, e: ReplyError) -> SourceError {
    match e {
        ReplyError::ConnectionError(e) => conn_err(e),
        ReplyError::X11Error(e) => {
            SourceError::Device(format!("{what}: X error {:?}", e.error_kind))
        }
    }
}

fn id_err(e: ReplyOrIdError) -> SourceError {
    match e {
        ReplyOrIdError::ConnectionError(e) => conn_err(e),
        other => SourceError::Device(format!("X resource id: {other}")),
    }
}

/// Whether the server has an extension (and the connection still works).
fn has_extension(conn: &RustConnection, name: &'static str) -> Result<bool, SourceError> {
    Ok(conn
        .extension_information(name)
        .map_err(conn_err)?
        .is_some())
}

/// A rectangle in root-window coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: i16,
    y: i16,
    width: u16,
    height: u16,
}

/// The RandR monitors of one root window (empty without RandR 1.5).
fn monitors(conn: &RustConnection, root: Window) -> Result<Vec<(String, bool, Rect)>, SourceError> {
    if !has_extension(conn, randr::X11_EXTENSION_NAME)? {
        return Ok(Vec::new());
    }
    let version = conn
        .randr_query_version(1, 5)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("RandR version", e))?;
    if (version.major_version, version.minor_version) < (1, 5) {
        return Ok(Vec::new());
    }
    let reply = conn
        .randr_get_monitors(root, true)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("RandR monitors", e))?;
    let mut out = Vec::with_capacity(reply.monitors.len());
    for m in reply.monitors {
        let name = conn
            .get_atom_name(m.name)
            .map_err(conn_err)?
            .reply()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .unwrap_or_else(|_| format!("monitor-{}", m.name));
        let rect = Rect {
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
        };
        out.push((name, m.primary, rect));
    }
    Ok(out)
}

/// The X screens of `display` (ids "0", "1", …) and their RandR monitors (ids = names).
pub fn list_screens(display: Option<&str>) -> Result<Vec<ScreenInfo>, SourceError> {
    let (conn, _, _) = connect(display)?;
    let mut out = Vec::new();
    for (i, screen) in conn.setup().roots.iter().enumerate() {
        out.push(ScreenInfo {
            id: i.to_string(),
            name: format!("X screen {i}"),
            width: u32::from(screen.width_in_pixels),
            height: u32::from(screen.height_in_pixels),
        });
    }
    let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();
    for (i, root) in roots.into_iter().enumerate() {
        for (name, primary, r) in monitors(&conn, root)? {
            out.push(ScreenInfo {
                name: format!(
                    "monitor {name} of X screen {i}{} at {}x{}+{}+{}",
                    if primary { " (primary)" } else { "" },
                    r.width,
                    r.height,
                    r.x,
                    r.y
                ),
                id: name,
                width: u32::from(r.width),
                height: u32::from(r.height),
            });
        }
    }
    Ok(out)
}

/// Interns an atom if it exists (`None` when no client ever created it).
fn atom(conn: &RustConnection, name: &[u8]) -> Result<Option<u32>, SourceError> {
    let a = conn
        .intern_atom(true, name)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("InternAtom", e))?
        .atom;
    Ok((a != u32::from(AtomEnum::NONE)).then_some(a))
}

/// A window's title: `_NET_WM_NAME` (UTF-8), else `WM_NAME` (Latin-1 or UTF-8).
fn window_title(
    conn: &RustConnection,
    win: Window,
    net_wm_name: Option<u32>,
    utf8: Option<u32>,
) -> String {
    if let (Some(name), Some(utf8)) = (net_wm_name, utf8)
        && let Ok(Ok(r)) = conn
            .get_property(false, win, name, utf8, 0, 1024)
            .map(|c| c.reply())
        && !r.value.is_empty()
    {
        return String::from_utf8_lossy(&r.value).into_owned();
    }
    let cookie = conn.get_property(false, win, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024);
    match cookie.map(|c| c.reply()) {
        Ok(Ok(r)) if r.type_ == u32::from(AtomEnum::STRING) => {
            r.value.iter().map(|&b| char::from(b)).collect()
        }
        Ok(Ok(r)) => String::from_utf8_lossy(&r.value).into_owned(),
        _ => String::new(),
    }
}

/// The top-level windows: `_NET_CLIENT_LIST` when a window manager keeps one, else the
/// viewable children of each root window (no window manager, e.g. bare Xvfb).
pub fn list_windows(display: Option<&str>) -> Result<Vec<WindowInfo>, SourceError> {
    let (conn, _, _) = connect(display)?;
    let client_list = atom(&conn, b"_NET_CLIENT_LIST")?;
    let net_wm_name = atom(&conn, b"_NET_WM_NAME")?;
    let utf8 = atom(&conn, b"UTF8_STRING")?;
    let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();

    let mut candidates = Vec::new();
    for root in roots {
        let managed = match client_list {
            Some(a) => conn
                .get_property(false, root, a, AtomEnum::WINDOW, 0, 1 << 16)
                .map_err(conn_err)?
                .reply()
                .ok()
                .and_then(|r| r.value32().map(|v| v.collect::<Vec<u32>>()))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        if !managed.is_empty() {
            candidates.extend(managed);
            continue;
        }
        let children = conn
            .query_tree(root)
            .map_err(conn_err)?
            .reply()
            .map_err(|e| reply_err("QueryTree", e))?
            .children;
        // Ask for every child's attributes at once, then read the replies.
        let cookies = children
            .iter()
            .map(|&w| conn.get_window_attributes(w).map(|c| (w, c)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(conn_err)?;
        for (w, cookie) in cookies {
            // A window may vanish while we look: skip it.
            let Ok(attrs) = cookie.reply() else { continue };
            if attrs.map_state == MapState::VIEWABLE
                && attrs.class == WindowClass::INPUT_OUTPUT
                && !attrs.override_redirect
            {
                candidates.push(w);
            }
        }
    }

    let mut out = Vec::with_capacity(candidates.len());
    for w in candidates {
        let Ok(Ok(geom)) = conn.get_geometry(w).map(|c| c.reply()) else {
            continue;
        };
        out.push(WindowInfo {
            id: format!("0x{w:x}"),
            title: window_title(&conn, w, net_wm_name, utf8),
            width: u32::from(geom.width),
            height: u32::from(geom.height),
        });
    }
    Ok(out)
}

/// A window id as `list_windows` prints it (`0x…`) or in decimal.
pub fn parse_window_id(id: &str) -> Result<Window, SourceError> {
    let id = id.trim();
    let parsed = match id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => id.parse(),
    };
    parsed.ok().filter(|&w| w != 0).ok_or_else(|| {
        SourceError::Device(format!("bad window id '{id}': expected 0x… or decimal"))
    })
}

/// A server-created shared memory segment and our handle on it.
struct ShmSegment {
    seg: shm::Seg,
    file: File,
    size: usize,
}

enum Target {
    /// A rectangle of a root window; `follow_root` re-reads the root's size every frame
    /// (a whole screen can change resolution).
    Screen {
        root: Window,
        rect: Rect,
        follow_root: bool,
    },
    /// One window, through its Composite pixmap when `composite`.
    Window { id: Window, composite: bool },
}

/// What one grab got.
enum Grab {
    Image,
    /// The window exists but is not viewable (unmapped, minimised): nothing new to show.
    /// Its size, for a black stand-in when nothing was ever captured.
    Hidden(Rect),
}

/// Captures an X11 screen or window as paced, scaled I420 frames. See the module docs.
pub struct X11Capture {
    conn: RustConnection,
    display: String,
    root: Window,
    target: Target,
    shm_available: bool,
    shm: Option<ShmSegment>,
    cursor_available: bool,
    draw_cursor: bool,
    cursor: CursorImage,
    /// The last image, BGRX with `width * 4` bytes per line.
    bgra: Vec<u8>,
    width: usize,
    height: usize,
    /// The last image in I420 at capture size (even sides), reused when a window is hidden.
    full: VideoFrame,
    have_full: bool,
    scaler: Option<Scaler>,
    max: (usize, usize),
    fps: u32,
    pacer: Pacer,
}

impl X11Capture {
    /// Captures a screen of `display` (`None`: `$DISPLAY`). `id`: `None` for the display's
    /// default screen, an X screen number, or a RandR monitor name from [`list_screens`].
    pub fn screen(
        display: Option<&str>,
        id: Option<&str>,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        let (conn, default_screen, name) = connect(display)?;
        let roots: Vec<(Window, Rect)> = conn
            .setup()
            .roots
            .iter()
            .map(|s| {
                let rect = Rect {
                    x: 0,
                    y: 0,
                    width: s.width_in_pixels,
                    height: s.height_in_pixels,
                };
                (s.root, rect)
            })
            .collect();
        // (root window, rectangle on it, whether it is the whole root)
        let (root, rect, follow_root) = match id {
            None => {
                let (root, rect) = *roots.get(default_screen).ok_or_else(|| {
                    SourceError::Device(format!("X screen {default_screen} does not exist"))
                })?;
                (root, rect, true)
            }
            Some(id) => match id.trim().parse::<usize>().ok().and_then(|n| roots.get(n)) {
                Some(&(root, rect)) => (root, rect, true),
                None => {
                    let mut found = None;
                    let mut known = Vec::new();
                    for &(root, _) in &roots {
                        for (mname, _, rect) in monitors(&conn, root)? {
                            if mname.eq_ignore_ascii_case(id.trim()) && found.is_none() {
                                found = Some((root, rect, false));
                            }
                            known.push(mname);
                        }
                    }
                    found.ok_or_else(|| {
                        SourceError::Device(format!(
                            "no screen '{id}' on {name}: screens are 0..{}, monitors [{}]",
                            roots.len().saturating_sub(1),
                            known.join(", ")
                        ))
                    })?
                }
            },
        };
        let target = Target::Screen {
            root,
            rect,
            follow_root,
        };
        Self::finish(conn, name, root, target, max_width, max_height, fps)
    }

    /// Captures one window of `display` (`None`: `$DISPLAY`), `id` in hex (`0x…`) or decimal.
    pub fn window(
        display: Option<&str>,
        id: &str,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        let win = parse_window_id(id)?;
        let (conn, _, name) = connect(display)?;
        // A root window is a whole screen (and cannot be redirected).
        if let Some(n) = conn.setup().roots.iter().position(|s| s.root == win) {
            drop(conn);
            return Self::screen(
                Some(&name),
                Some(&n.to_string()),
                max_width,
                max_height,
                fps,
            );
        }
        let geom = conn
            .get_geometry(win)
            .map_err(conn_err)?
            .reply()
            .map_err(|e| match e {
                ReplyError::X11Error(_) => SourceError::Device(format!("no window {id} on {name}")),
                ReplyError::ConnectionError(e) => conn_err(e),
            })?;
        let composite = has_extension(&conn, composite::X11_EXTENSION_NAME)? && {
            let v = conn
                .composite_query_version(0, 4)
                .map_err(conn_err)?
                .reply()
                .map_err(|e| reply_err("Composite version", e))?;
            // NameWindowPixmap arrived in 0.2.
            (v.major_version, v.minor_version) >= (0, 2)
        };
        if composite {
            // Automatic redirection: the server still draws the window on screen, and keeps
            // all of it in an off-screen pixmap we can read.
            conn.composite_redirect_window(win, composite::Redirect::AUTOMATIC)
                .map_err(conn_err)?
                .check()
                .map_err(|e| reply_err("Composite RedirectWindow", e))?;
        }
        let target = Target::Window { id: win, composite };
        Self::finish(conn, name, geom.root, target, max_width, max_height, fps)
    }

    fn finish(
        conn: RustConnection,
        display: String,
        root: Window,
        target: Target,
        max_width: usize,
        max_height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        check_pixel_format(&conn, root, &target)?;
        let cursor_available = has_extension(&conn, xfixes::X11_EXTENSION_NAME)? && {
            // XFixes answers nothing before the client has announced its version.
            conn.xfixes_query_version(4, 0)
                .map_err(conn_err)?
                .reply()
                .map(|v| v.major_version >= 1)
                .unwrap_or(false)
        };
        let shm_available = has_extension(&conn, shm::X11_EXTENSION_NAME)? && {
            conn.shm_query_version()
                .map_err(conn_err)?
                .reply()
                .map(|v| (v.major_version, v.minor_version) >= (1, 2))
                .unwrap_or(false)
        };
        let fps = super::effective_fps(fps);
        let mut capture = X11Capture {
            conn,
            display,
            root,
            target,
            shm_available,
            shm: None,
            cursor_available,
            draw_cursor: true,
            cursor: CursorImage::default(),
            bgra: Vec::new(),
            width: 0,
            height: 0,
            full: VideoFrame::black(2, 2),
            have_full: false,
            scaler: None,
            max: (max_width, max_height),
            fps,
            pacer: Pacer::at_fps(fps),
        };
        // Fail now, not on the first frame, if the target cannot be captured at all.
        capture.grab()?;
        Ok(capture)
    }

    /// Whether images come through MIT-SHM.
    pub fn uses_shm(&self) -> bool {
        self.shm_available && self.shm.is_some()
    }

    /// Turns MIT-SHM on or off (for measurements); returns whether it is now in use (it stays
    /// off when the server cannot do it).
    pub fn set_shm(&mut self, on: bool) -> Result<bool, SourceError> {
        if !on {
            self.drop_shm();
            self.shm_available = false;
            return Ok(false);
        }
        self.shm_available = has_extension(&self.conn, shm::X11_EXTENSION_NAME)?;
        self.grab()?;
        Ok(self.uses_shm())
    }

    /// Whether the cursor is drawn into the frames (on by default where XFixes exists).
    pub fn set_cursor(&mut self, on: bool) {
        self.draw_cursor = on;
    }

    /// Size of the last captured image (before scaling).
    pub fn capture_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The last captured image: BGRX, `4 × width` bytes per line.
    pub fn bgra(&self) -> &[u8] {
        self.bgra
            .get(..self.width * self.height * 4)
            .unwrap_or_default()
    }

    fn drop_shm(&mut self) {
        if let Some(old) = self.shm.take()
            && let Ok(cookie) = self.conn.shm_detach(old.seg)
        {
            cookie.ignore_error();
        }
    }

    /// A segment of at least `size` bytes, made by the server (MIT-SHM 1.2), or `None` when
    /// that fails (e.g. a display over TCP cannot pass the fd): then plain GetImage is used.
    fn ensure_shm(&mut self, size: usize) -> Result<(), SourceError> {
        if !self.shm_available || self.shm.as_ref().is_some_and(|s| s.size >= size) {
            return Ok(());
        }
        self.drop_shm();
        let Ok(size32) = u32::try_from(size) else {
            self.shm_available = false;
            return Ok(());
        };
        let seg = self.conn.generate_id().map_err(id_err)?;
        match self
            .conn
            .shm_create_segment(seg, size32, false)
            .map_err(conn_err)?
            .reply()
        {
            Ok(reply) => {
                self.shm = Some(ShmSegment {
                    seg,
                    file: File::from(reply.shm_fd),
                    size,
                });
            }
            Err(ReplyError::ConnectionError(e)) => return Err(conn_err(e)),
            Err(ReplyError::X11Error(e)) => {
                tracing::info!(display = %self.display, error = ?e.error_kind, "MIT-SHM segment refused; using plain GetImage");
                self.shm_available = false;
            }
        }
        Ok(())
    }

    /// Fetches the current image (with the cursor drawn in) into the BGRA buffer, without
    /// pacing or conversion. `Ok(false)`: the window is not viewable right now.
    pub fn grab(&mut self) -> Result<bool, SourceError> {
        Ok(matches!(self.grab_inner()?, Grab::Image))
    }

    fn grab_inner(&mut self) -> Result<Grab, SourceError> {
        let conn = &self.conn;
        // Where the picture is: drawable, the rectangle in it, and its origin on the root.
        let (drawable, src_x, src_y, rect, pixmap) = match self.target {
            Target::Screen {
                root,
                rect,
                follow_root,
            } => {
                let rect = if follow_root {
                    let g = conn
                        .get_geometry(root)
                        .map_err(conn_err)?
                        .reply()
                        .map_err(|e| reply_err("root geometry", e))?;
                    Rect {
                        x: 0,
                        y: 0,
                        width: g.width,
                        height: g.height,
                    }
                } else {
                    rect
                };
                (root, rect.x, rect.y, rect, None)
            }
            Target::Window { id, composite } => {
                let geom = conn.get_geometry(id).map_err(conn_err)?;
                let pos = conn
                    .translate_coordinates(id, self.root, 0, 0)
                    .map_err(conn_err)?;
                let geom = geom.reply().map_err(window_err)?;
                let pos = pos.reply().map_err(window_err)?;
                let rect = Rect {
                    x: pos.dst_x,
                    y: pos.dst_y,
                    width: geom.width,
                    height: geom.height,
                };
                if composite {
                    // The window's current backing pixmap (a new one after every resize or
                    // remap, hence named per frame). It includes the border.
                    let pix = conn.generate_id().map_err(id_err)?;
                    match conn
                        .composite_name_window_pixmap(id, pix)
                        .map_err(conn_err)?
                        .check()
                    {
                        Ok(()) => {}
                        Err(ReplyError::X11Error(e)) if e.error_kind == ErrorKind::Match => {
                            return Ok(Grab::Hidden(rect));
                        }
                        Err(e) => return Err(window_err(e)),
                    }
                    let b = geom.border_width as i16;
                    (pix, b, b, rect, Some(pix))
                } else {
                    (id, 0, 0, rect, None)
                }
            }
        };
        let result = self.read_image(drawable, src_x, src_y, rect);
        if let Some(pix) = pixmap
            && let Ok(cookie) = self.conn.free_pixmap(pix)
        {
            cookie.ignore_error();
        }
        match result? {
            Grab::Hidden(r) => Ok(Grab::Hidden(r)),
            Grab::Image => {
                if self.draw_cursor && self.cursor_available {
                    self.overlay_cursor(rect)?;
                }
                Ok(Grab::Image)
            }
        }
    }

    /// Reads `rect.width × rect.height` pixels at (`x`, `y`) of `drawable` into `self.bgra`.
    fn read_image(
        &mut self,
        drawable: u32,
        x: i16,
        y: i16,
        rect: Rect,
    ) -> Result<Grab, SourceError> {
        let (w, h) = (usize::from(rect.width), usize::from(rect.height));
        let bytes = w * h * 4;
        if bytes == 0 {
            return Ok(Grab::Hidden(rect));
        }
        self.ensure_shm(bytes)?;
        let is_window = matches!(self.target, Target::Window { .. });
        let classify = |e: ReplyError| match e {
            // A window gone or unmapped between the geometry and the image.
            ReplyError::X11Error(ref x) if is_window && x.error_kind == ErrorKind::Match => {
                Ok(Grab::Hidden(rect))
            }
            e if is_window => Err(window_err(e)),
            e => Err(reply_err("GetImage", e)),
        };
        let format = u8::from(ImageFormat::Z_PIXMAP);
        if let Some(seg) = &self.shm {
            let cookie = self
                .conn
                .shm_get_image(
                    drawable,
                    x,
                    y,
                    rect.width,
                    rect.height,
                    !0,
                    format,
                    seg.seg,
                    0,
                )
                .map_err(conn_err)?;
            if let Err(e) = cookie.reply() {
                return classify(e);
            }
            self.bgra.resize(bytes, 0);
            seg.file
                .read_exact_at(&mut self.bgra[..bytes], 0)
                .map_err(|e| SourceError::Device(format!("reading the MIT-SHM segment: {e}")))?;
        } else {
            let cookie = self
                .conn
                .get_image(
                    ImageFormat::Z_PIXMAP,
                    drawable,
                    x,
                    y,
                    rect.width,
                    rect.height,
                    !0,
                )
                .map_err(conn_err)?;
            match cookie.reply() {
                Ok(reply) if reply.data.len() >= bytes => self.bgra = reply.data,
                Ok(reply) => {
                    return Err(SourceError::Device(format!(
                        "GetImage returned {} bytes for {w}x{h}",
                        reply.data.len()
                    )));
                }
                Err(e) => return classify(e),
            }
        }
        self.width = w;
        self.height = h;
        Ok(Grab::Image)
    }

    /// Draws the cursor into the BGRA buffer; `rect` is where that buffer lies on the root.
    fn overlay_cursor(&mut self, rect: Rect) -> Result<(), SourceError> {
        let reply = match self
            .conn
            .xfixes_get_cursor_image()
            .map_err(conn_err)?
            .reply()
        {
            Ok(r) => r,
            Err(ReplyError::ConnectionError(e)) => return Err(conn_err(e)),
            // No cursor to draw is not worth failing a frame for.
            Err(ReplyError::X11Error(_)) => return Ok(()),
        };
        self.cursor.width = usize::from(reply.width);
        self.cursor.height = usize::from(reply.height);
        self.cursor.xhot = usize::from(reply.xhot);
        self.cursor.yhot = usize::from(reply.yhot);
        self.cursor.pixels = reply.cursor_image;
        let x = i64::from(reply.x) - i64::from(reply.xhot) - i64::from(rect.x);
        let y = i64::from(reply.y) - i64::from(reply.yhot) - i64::from(rect.y);
        let (w, h) = (self.width, self.height);
        scale::blend_cursor(&mut self.bgra, w * 4, w, h, &self.cursor, x, y);
        Ok(())
    }

    /// Grabs, converts and scales one frame now, without pacing.
    pub fn capture(&mut self) -> Result<CapturedFrame, SourceError> {
        let captured_at = Instant::now();
        match self.grab_inner()? {
            Grab::Image => {
                // Even sides: an odd last column or line is dropped rather than scaled.
                let (w, h) = ((self.width & !1).max(2), (self.height & !1).max(2));
                if self.width < 2 || self.height < 2 {
                    self.full = VideoFrame::black(w, h);
                } else {
                    scale::bgra_to_i420(&self.bgra, self.width * 4, w, h, &mut self.full)
                        .map_err(|e| SourceError::Device(e.to_string()))?;
                }
                self.have_full = true;
            }
            Grab::Hidden(_) if self.have_full => {}
            // Hidden from the start: black at its size until it shows up.
            Grab::Hidden(r) => {
                let even = |v: u16| (usize::from(v) & !1).max(2);
                self.full = VideoFrame::black(even(r.width), even(r.height));
            }
        }
        let frame = self.scaled()?;
        Ok(CapturedFrame { frame, captured_at })
    }

    /// `self.full` scaled down to fit the maximum size.
    fn scaled(&mut self) -> Result<VideoFrame, SourceError> {
        let (w, h) = (self.full.width, self.full.height);
        let (ow, oh) = scale::fit_size(w, h, self.max.0, self.max.1);
        if (ow, oh) == (w, h) {
            return Ok(self.full.clone());
        }
        let scaler = match &mut self.scaler {
            Some(s) if s.src_size() == (w, h) && s.dst_size() == (ow, oh) => s,
            slot => slot.insert(Scaler::new(w, h, ow, oh)),
        };
        scaler
            .scale(&self.full)
            .map_err(|e| SourceError::Device(e.to_string()))
    }
}

/// A window that fails a request has been destroyed (or was never ours to read).
fn window_err(e: ReplyError) -> SourceError {
    match e {
        ReplyError::ConnectionError(e) => conn_err(e),
        ReplyError::X11Error(x) => match x.error_kind {
            ErrorKind::Window | ErrorKind::Drawable | ErrorKind::Pixmap => {
                SourceError::Stopped("the shared window was closed".into())
            }
            kind => SourceError::Device(format!("window capture: X error {kind:?}")),
        },
    }
}

/// Only 32-bit little-endian pixels with 8-bit R, G, B in the usual places are converted
/// (every current X server on x86/ARM at depth 24 or 32); say so instead of sending garbage.
fn check_pixel_format(
    conn: &RustConnection,
    root: Window,
    target: &Target,
) -> Result<(), SourceError> {
    let (depth, visual) = match *target {
        Target::Screen { .. } => {
            let s = conn.setup().roots.iter().find(|s| s.root == root);
            let s = s.ok_or_else(|| SourceError::Device("unknown root window".into()))?;
            (s.root_depth, s.root_visual)
        }
        Target::Window { id, .. } => {
            let attrs = conn.get_window_attributes(id).map_err(conn_err)?;
            let geom = conn.get_geometry(id).map_err(conn_err)?;
            let attrs = attrs.reply().map_err(window_err)?;
            let geom = geom.reply().map_err(window_err)?;
            if attrs.class != WindowClass::INPUT_OUTPUT {
                return Err(SourceError::Device(
                    "an InputOnly window has no pixels".into(),
                ));
            }
            (geom.depth, attrs.visual)
        }
    };
    let setup = conn.setup();
    let bpp = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == depth)
        .map(|f| f.bits_per_pixel);
    let vt = setup
        .roots
        .iter()
        .flat_map(|s| &s.allowed_depths)
        .flat_map(|d| &d.visuals)
        .find(|v| v.visual_id == visual);
    let masks = vt.map(|v| (v.red_mask, v.green_mask, v.blue_mask));
    if bpp != Some(32)
        || setup.image_byte_order != ImageOrder::LSB_FIRST
        || masks != Some((0xFF_0000, 0xFF00, 0xFF))
    {
        return Err(SourceError::Device(format!(
            "unsupported X pixel format: depth {depth}, {bpp:?} bits per pixel, byte order {:?}, masks {masks:x?}",
            setup.image_byte_order
        )));
    }
    Ok(())
}

impl VideoSource for X11Capture {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        self.pacer.wait();
        self.capture()
    }

    fn describe(&self) -> String {
        let what = match self.target {
            Target::Screen {
                root,
                rect,
                follow_root: true,
            } => {
                let n = self
                    .conn
                    .setup()
                    .roots
                    .iter()
                    .position(|s| s.root == root)
                    .unwrap_or(0);
                format!(
                    "X11 screen {n} of {} ({}x{})",
                    self.display, rect.width, rect.height
                )
            }
            Target::Screen { rect, .. } => format!(
                "X11 monitor {}x{}+{}+{} of {}",
                rect.width, rect.height, rect.x, rect.y, self.display
            ),
            Target::Window { id, composite } => format!(
                "X11 window 0x{id:x} of {}{}",
                self.display,
                if composite { " (Composite)" } else { "" }
            ),
        };
        let (w, h) = scale::fit_size(self.width, self.height, self.max.0, self.max.1);
        format!(
            "{what} → {w}x{h} @ {} fps, {}",
            self.fps,
            if self.uses_shm() {
                "MIT-SHM"
            } else {
                "GetImage"
            }
        )
    }
}

impl Drop for X11Capture {
    fn drop(&mut self) {
        // Politeness: the server frees all of it when the connection closes anyway.
        self.drop_shm();
        if let Target::Window {
            id,
            composite: true,
        } = self.target
            && let Ok(cookie) = self
                .conn
                .composite_unredirect_window(id, composite::Redirect::AUTOMATIC)
        {
            cookie.ignore_error();
        }
        let _ = self.conn.flush();
    }
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

    #[test]
    fn unreachable_display_is_an_error_not_a_panic() {
        // A display number nobody runs: the socket does not exist.
        let err = X11Capture::screen(Some(":59001"), None, 1280, 720, 30).err();
        assert!(matches!(err, Some(SourceError::Device(_))));
        assert!(list_screens(Some(":59001")).is_err());
        // One x11rb itself panics on (debug builds): caught.
        assert!(list_windows(Some(":65000")).is_err());
        assert!(X11Capture::window(Some(":65000"), "0x400001", 1280, 720, 30).is_err());
    }

    #[test]
    fn window_ids_parse() {
        assert_eq!(parse_window_id("0x1a00003").unwrap(), 0x1a0_0003);
        assert_eq!(parse_window_id("0X1A00003").unwrap(), 0x1a0_0003);
        assert_eq!(parse_window_id("4194305").unwrap(), 4_194_305);
        for bad in ["", "0", "0x", "zz", "0xfffffffff", "-1"] {
            assert!(parse_window_id(bad).is_err(), "{bad}");
        }
    }
}
