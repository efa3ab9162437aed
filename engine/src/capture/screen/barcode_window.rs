//! A window that shows the live timestamp barcode (TESTSIGNAL.md) on an X11 display,
//! covering the screen: what a real screen capture of it reads measures the whole
//! capture → encode → network → decode path. Used by tests and benchmarks
//! (`huddle show-barcode`).

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, Rectangle,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;

use crate::capture::source::SourceError;
use crate::media::testsignal;

fn x11_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::Device(format!("X11: {e}"))
}

/// Shows the barcode of the current time, redrawn `fps` times a second, until
/// `duration` has passed (or forever).
pub fn show(
    display: Option<&str>,
    fps: u32,
    duration: Option<Duration>,
) -> Result<(), SourceError> {
    let (conn, screen_num) = RustConnection::connect(display).map_err(|e| {
        SourceError::Device(format!("cannot open the X display ({e}); is DISPLAY set?"))
    })?;
    let screen = &conn.setup().roots[screen_num];
    let (w, h) = (screen.width_in_pixels, screen.height_in_pixels);
    let (white, black) = (screen.white_pixel, screen.black_pixel);
    let window = conn.generate_id().map_err(x11_error)?;
    conn.create_window(
        screen.root_depth,
        window,
        screen.root,
        0,
        0,
        w,
        h,
        0,
        WindowClass::INPUT_OUTPUT,
        screen.root_visual,
        // Override-redirect: cover the screen exactly, with or without a window manager.
        &CreateWindowAux::new()
            .background_pixel(black)
            .override_redirect(1)
            .event_mask(EventMask::EXPOSURE),
    )
    .map_err(x11_error)?;
    conn.map_window(window).map_err(x11_error)?;
    let gc = conn.generate_id().map_err(x11_error)?;
    conn.create_gc(gc, window, &CreateGCAux::new().foreground(white))
        .map_err(x11_error)?;
    conn.flush().map_err(x11_error)?;

    let period = Duration::from_secs(1) / fps.max(1);
    let start = Instant::now();
    let mut frame: u32 = 0;
    loop {
        let bits = testsignal::encode_bits(testsignal::now_ms());
        let (mut ones, mut zeros) = (Vec::new(), Vec::new());
        for i in 0..64u32 {
            let (r, c) = (i / 16, i % 16);
            let x0 = u32::from(w) * c / 16;
            let x1 = u32::from(w) * (c + 1) / 16;
            let y0 = u32::from(h) * r / 8;
            let y1 = u32::from(h) * (r + 1) / 8;
            let cell = Rectangle {
                x: x0 as i16,
                y: y0 as i16,
                width: (x1 - x0) as u16,
                height: (y1 - y0) as u16,
            };
            if (bits >> (63 - i)) & 1 == 1 {
                ones.push(cell);
            } else {
                zeros.push(cell);
            }
        }
        // Something that moves below, as on a real desktop.
        let half = h / 2;
        let box_w = w / 8;
        let x = ((frame * 8) % u32::from(w - box_w)) as i16;
        let bottom = Rectangle {
            x: 0,
            y: half as i16,
            width: w,
            height: h - half,
        };
        let moving = Rectangle {
            x,
            y: (half + half / 4) as i16,
            width: box_w,
            height: half / 2,
        };
        let fill = |color: u32, rects: &[Rectangle]| -> Result<(), SourceError> {
            conn.change_gc(gc, &ChangeGCAux::new().foreground(color))
                .map_err(x11_error)?;
            conn.poly_fill_rectangle(window, gc, rects)
                .map_err(x11_error)?;
            Ok(())
        };
        fill(black, &zeros)?;
        fill(white, &ones)?;
        fill(black, &[bottom])?;
        fill(white, &[moving])?;
        conn.flush().map_err(x11_error)?;
        // Wait until the server has drawn it, so the timestamp is what is on screen.
        conn.get_input_focus()
            .map_err(x11_error)?
            .reply()
            .map_err(x11_error)?;
        frame = frame.wrapping_add(1);
        if duration.is_some_and(|d| start.elapsed() >= d) {
            return Ok(());
        }
        let due = start + period * frame;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
