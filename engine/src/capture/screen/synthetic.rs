//! A synthetic screen share: the BCv1 barcode of the capture time in the top half, and a
//! desktop below — a window full of text-like blocks, a line being typed and a moving arrow
//! cursor — so the encoder sees what it sees on a real desktop: mostly static, with small
//! sharp-edged changes.

use std::time::Instant;

use crate::capture::source::{Pacer, SourceError, VideoSource};
use crate::media::frame::{CapturedFrame, VideoFrame};
use crate::media::testsignal;

/// Limited-range YUV colours of the desktop.
type Yuv = (u8, u8, u8);
const DESKTOP: Yuv = (90, 150, 105);
const TASKBAR: Yuv = (40, 128, 128);
const TITLE_BAR: Yuv = (70, 140, 120);
const BUTTON: Yuv = (150, 110, 170);
const PAGE: Yuv = (230, 128, 128);
const INK: Yuv = (45, 128, 128);
const LINK: Yuv = (80, 180, 100);
const CURSOR_FILL: u8 = 235;
const CURSOR_EDGE: u8 = 16;

/// Characters typed per frame on the changing line, and frames the full line stays up.
const TYPE_EVERY_FRAMES: u64 = 2;
const LINE_PAUSE_FRAMES: u64 = 30;
/// Below this size only the barcode is drawn.
const MIN_SIZE: (usize, usize) = (64, 36);

pub struct SyntheticScreen {
    width: usize,
    height: usize,
    fps: u32,
    /// The static desktop, drawn once; every frame starts as a copy of its bottom half.
    desktop: VideoFrame,
    frame: VideoFrame,
    frame_index: u64,
    layout: Layout,
    pacer: Pacer,
}

/// Where things are, in luma pixels.
#[derive(Clone, Debug)]
struct Layout {
    /// First luma line below the barcode.
    top: usize,
    /// Size of one text character cell.
    char_w: usize,
    char_h: usize,
    line_h: usize,
    /// The typed line: its left edge, baseline top, and its words as character spans.
    typed_x: usize,
    typed_y: usize,
    typed_words: Vec<(usize, usize)>,
    typed_chars: usize,
    /// The cursor roams this rectangle (its top-left corner does).
    roam: (usize, usize, usize, usize),
    cursor_h: usize,
}

impl SyntheticScreen {
    /// A `width × height` synthetic screen paced at `fps` (0 means 30).
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        let fps = super::effective_fps(fps);
        let (desktop, layout) = draw_desktop(width, height);
        SyntheticScreen {
            width,
            height,
            fps,
            frame: desktop.clone(),
            desktop,
            frame_index: 0,
            layout,
            pacer: Pacer::at_fps(fps),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Draws the next frame stamped with `t_ms` (wall clock ms since the epoch), unpaced.
    pub fn render(&mut self, t_ms: u64) -> &VideoFrame {
        let (w, h) = (self.width, self.height);
        let l = &self.layout;
        if w >= MIN_SIZE.0 && h >= MIN_SIZE.1 {
            // Restore the static desktop under everything that moves.
            let (cw, _) = VideoFrame::chroma_size(w, h);
            let ctop = l.top.div_ceil(2);
            let luma_from = l.top * w;
            let chroma_from = w * h + ctop * cw;
            let (cu_end, total) = (w * h + cw * h.div_ceil(2), self.frame.data.len());
            self.frame.data[luma_from..w * h].copy_from_slice(&self.desktop.data[luma_from..w * h]);
            self.frame.data[chroma_from..cu_end]
                .copy_from_slice(&self.desktop.data[chroma_from..cu_end]);
            let v_from = cu_end + ctop * cw;
            self.frame.data[v_from..total].copy_from_slice(&self.desktop.data[v_from..total]);
            draw_typing(&mut self.frame, l, self.frame_index);
            draw_cursor(&mut self.frame, l, self.frame_index, self.fps);
        }
        testsignal::draw(&mut self.frame, t_ms);
        self.frame_index = self.frame_index.wrapping_add(1);
        &self.frame
    }
}

impl VideoSource for SyntheticScreen {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        self.pacer.wait();
        let captured_at = Instant::now();
        let frame = self.render(testsignal::now_ms()).clone();
        Ok(CapturedFrame { frame, captured_at })
    }

    fn describe(&self) -> String {
        format!(
            "synthetic screen {}x{} @ {} fps",
            self.width, self.height, self.fps
        )
    }
}

/// Fills `[x0, x1) × [y0, y1)` (clipped to the frame and to lines ≥ `top`) with a colour.
fn fill(f: &mut VideoFrame, top: usize, rect: (usize, usize, usize, usize), c: Yuv) {
    let (w, h) = (f.width, f.height);
    let (x0, y0) = (rect.0.min(w), rect.1.clamp(top, h));
    let (x1, y1) = (rect.2.min(w), rect.3.min(h));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let (cw, _) = VideoFrame::chroma_size(w, h);
    let (yp, up, vp) = f.planes_mut();
    for line in yp[y0 * w..y1 * w].chunks_exact_mut(w) {
        line[x0..x1].fill(c.0);
    }
    // Chroma blocks the rectangle touches, but never a block shared with the barcode.
    let (cy0, cy1) = (y0.max(top.div_ceil(2) * 2) / 2, y1.div_ceil(2));
    for cy in cy0..cy1 {
        up[cy * cw + x0 / 2..cy * cw + x1.div_ceil(2)].fill(c.1);
        vp[cy * cw + x0 / 2..cy * cw + x1.div_ceil(2)].fill(c.2);
    }
}

/// Word lengths (in characters) from a tiny deterministic generator: text that looks like
/// text without any font.
fn words(seed: u64, chars: usize) -> Vec<(usize, usize)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 2 + (state % 8) as usize;
        if at + len > chars {
            return out;
        }
        out.push((at, at + len));
        at += len + 1;
    }
}

/// Draws the static desktop (bottom half) and works out where the moving parts go.
fn draw_desktop(w: usize, h: usize) -> (VideoFrame, Layout) {
    let mut f = VideoFrame::black(w, h);
    let top = h / 2;
    if w < MIN_SIZE.0 || h < MIN_SIZE.1 {
        // Too small for a desktop: the barcode alone.
        let layout = Layout {
            top,
            char_w: 1,
            char_h: 1,
            line_h: 1,
            typed_x: 0,
            typed_y: top,
            typed_words: Vec::new(),
            typed_chars: 0,
            roam: (0, 0, 0, 0),
            cursor_h: 0,
        };
        return (f, layout);
    }
    let bh = h - top;
    let char_h = (bh / 28).max(2);
    let char_w = (char_h * 3 / 5).max(1);
    let line_h = char_h * 2;
    let bar_h = (bh / 14).max(2);

    fill(&mut f, top, (0, top, w, h), DESKTOP);
    fill(&mut f, top, (0, h - bar_h, w, h), TASKBAR);
    for i in 0..4 {
        let x = bar_h / 2 + i * bar_h * 2;
        fill(
            &mut f,
            top,
            (x, h - bar_h + bar_h / 5, x + bar_h * 3 / 2, h - bar_h / 5),
            BUTTON,
        );
    }

    // A window: title bar, then a page of text.
    let (wx0, wx1) = (w / 16, w - w / 16);
    let (wy0, wy1) = (top + bh / 14, h - bar_h - bh / 14);
    let title_h = (bh / 16).max(2);
    fill(&mut f, top, (wx0, wy0, wx1, wy0 + title_h), TITLE_BAR);
    for i in 0..3 {
        let x = wx1 - (i + 1) * title_h * 3 / 2;
        fill(
            &mut f,
            top,
            (x, wy0 + title_h / 4, x + title_h, wy0 + title_h * 3 / 4),
            BUTTON,
        );
    }
    fill(
        &mut f,
        top,
        (
            wx0 + 8,
            wy0 + title_h / 3,
            wx0 + 8 + 20 * char_w,
            wy0 + title_h * 2 / 3,
        ),
        PAGE,
    );
    fill(&mut f, top, (wx0, wy0 + title_h, wx1, wy1), PAGE);

    let margin = 2 * char_w;
    let text_x = wx0 + margin;
    let chars = (wx1 - wx0).saturating_sub(2 * margin) / char_w;
    let first_line = wy0 + title_h + line_h / 2;
    let lines = (wy1.saturating_sub(first_line) / line_h).max(1);
    // All lines but the last hold static text; the last is typed frame by frame.
    for line in 0..lines - 1 {
        let y = first_line + line * line_h;
        // Ragged right edge, like a paragraph.
        let len = chars - (line * 7 % 11).min(chars);
        for (k, (a, b)) in words(line as u64 + 1, len).into_iter().enumerate() {
            let ink = if (line + k) % 13 == 5 { LINK } else { INK };
            fill(
                &mut f,
                top,
                (
                    text_x + a * char_w,
                    y,
                    text_x + b * char_w - char_w / 4,
                    y + char_h,
                ),
                ink,
            );
        }
    }
    let typed_y = first_line + (lines - 1) * line_h;
    let typed_words = words(0xC0FFEE, chars.saturating_sub(1));
    let cursor_h = (bh / 10).max(6);
    let layout = Layout {
        top,
        char_w,
        char_h,
        line_h,
        typed_x: text_x,
        typed_y,
        typed_words,
        typed_chars: chars.saturating_sub(1),
        roam: (
            0,
            top,
            w.saturating_sub(cursor_h),
            h.saturating_sub(cursor_h),
        ),
        cursor_h,
    };
    (f, layout)
}

/// The changing line: words appear a character at a time, with a caret, then start over.
fn draw_typing(f: &mut VideoFrame, l: &Layout, frame: u64) {
    let cycle = l.typed_chars as u64 * TYPE_EVERY_FRAMES + LINE_PAUSE_FRAMES;
    let shown = ((frame % cycle.max(1)) / TYPE_EVERY_FRAMES) as usize;
    let shown = shown.min(l.typed_chars);
    let y = l.typed_y;
    for &(a, b) in &l.typed_words {
        if a >= shown {
            break;
        }
        let b = b.min(shown);
        let x0 = l.typed_x + a * l.char_w;
        fill(
            f,
            l.top,
            (x0, y, l.typed_x + b * l.char_w - l.char_w / 4, y + l.char_h),
            INK,
        );
    }
    // The caret blinks twice a second or so.
    if (frame / 8).is_multiple_of(2) {
        let x = l.typed_x + shown * l.char_w;
        let caret_w = (l.char_w / 4).max(1);
        fill(
            f,
            l.top,
            (
                x,
                y - l.line_h / 8,
                x + caret_w,
                y + l.char_h + l.line_h / 8,
            ),
            INK,
        );
    }
}

/// An arrow cursor gliding over the desktop on a slow Lissajous path.
fn draw_cursor(f: &mut VideoFrame, l: &Layout, frame: u64, fps: u32) {
    let (x0, y0, x1, y1) = l.roam;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    // Integer triangle waves: the x path repeats every 7 s, y every 5 s.
    let tri = |period: u64, span: usize| {
        let p = frame % period.max(1);
        let half = (period / 2).max(1);
        let along = if p < half { p } else { period - p };
        (along.min(half) as usize * span) / half as usize
    };
    let fps = u64::from(fps.max(1));
    let cx = x0 + tri(7 * fps, x1 - x0);
    let cy = y0 + tri(5 * fps, y1 - y0);
    let (w, h) = (f.width, f.height);
    let ah = l.cursor_h;
    let yp = f.y_mut();
    // Rows of an arrow: a right triangle whose slanted edge has slope 2/3 (capped at half
    // its height), white with a black edge.
    for r in 0..ah {
        let y = cy + r;
        if y < l.top || y >= h {
            continue;
        }
        let span = (r * 2 / 3 + 1).min(ah / 2 + 1);
        let line = &mut yp[y * w..(y + 1) * w];
        let x_end = (cx + span + 1).min(w);
        if cx >= x_end {
            continue;
        }
        line[cx..x_end].fill(CURSOR_EDGE);
        if r > 0 && r + 1 < ah && span > 1 {
            let inner_end = (cx + span).min(w);
            if cx + 1 < inner_end {
                line[cx + 1..inner_end].fill(CURSOR_FILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn carries_the_barcode_and_keeps_it_clean() {
        for (w, h) in [(1280, 720), (1920, 1080), (642, 362), (320, 180)] {
            let mut s = SyntheticScreen::new(w, h, 30);
            for i in 0..200u64 {
                let t = 1_763_950_000_000 + i * 33;
                let f = s.render(t);
                assert_eq!((f.width, f.height), (w, h));
                assert_eq!(f.data.len(), VideoFrame::byte_len(w, h));
                assert_eq!(testsignal::read(f), Some(t), "{w}x{h} frame {i}");
            }
        }
    }

    #[test]
    fn content_changes_a_little_every_frame() {
        let (w, h) = (1280, 720);
        let mut s = SyntheticScreen::new(w, h, 30);
        let a = s.render(1).clone();
        let b = s.render(1).clone();
        let changed = a.y().iter().zip(b.y()).filter(|(p, q)| p != q).count();
        // Something moved (cursor, typing), but most of the desktop stayed as it was.
        assert!(changed > 0, "nothing changed");
        assert!(changed < w * h / 50, "{changed} pixels changed");
        // The bottom half is not flat: there is text-like detail.
        let bottom = &b.y()[(h / 2) * w..];
        let distinct = (0..=255u8).filter(|v| bottom.contains(v)).count();
        assert!(distinct >= 5, "{distinct} luma levels");
    }

    #[test]
    fn paces_and_describes() {
        let mut s = SyntheticScreen::new(320, 180, 50);
        let start = Instant::now();
        for _ in 0..6 {
            let f = s.next_frame().unwrap();
            assert!(testsignal::read(&f.frame).is_some());
        }
        assert!(start.elapsed() >= Duration::from_millis(95));
        assert_eq!(s.describe(), "synthetic screen 320x180 @ 50 fps");
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        for (w, h) in [(0, 0), (2, 2), (16, 8), (17, 9), (3, 100)] {
            let mut s = SyntheticScreen::new(w, h, 30);
            for _ in 0..3 {
                s.render(5);
            }
        }
    }
}
