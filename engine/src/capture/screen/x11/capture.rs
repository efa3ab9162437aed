//! Grabbing an X11 screen or window: MIT-SHM or `GetImage`, Composite for windows, the
//! cursor drawn in, then converted and scaled (see the module docs of [`super`]).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::ErrorKind;
use x11rb::protocol::composite::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder, Window, WindowClass};
use x11rb::rust_connection::RustConnection;

use super::listing::{monitors, parse_window_id};
use super::{Rect, conn_err, connect, has_extension, id_err, reply_err};
use crate::capture::source::{Pacer, SourceError, VideoSource};
use crate::media::frame::{CapturedFrame, VideoFrame};
use crate::media::pixels::{self, CursorImage, Resizer};

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
    resizer: Resizer,
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
        let fps = crate::capture::screen::effective_fps(fps);
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
            resizer: Resizer::default(),
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
        pixels::blend_cursor(&mut self.bgra, w * 4, w, h, &self.cursor, x, y);
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
                    pixels::bgra_to_i420(&self.bgra, self.width * 4, w, h, &mut self.full)
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
        let (ow, oh) = pixels::fit_size(w, h, self.max.0, self.max.1);
        if (ow, oh) == (w, h) {
            return Ok(self.full.clone());
        }
        self.resizer
            .resize(&self.full.view(), ow, oh)
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
        let (w, h) = pixels::fit_size(self.width, self.height, self.max.0, self.max.1);
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
    use crate::capture::screen::x11::{list_screens, list_windows};

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
}
