//! Synthetic sources for tests, bots and benchmarks: a moving test pattern that carries the
//! timestamp barcode, and a sine tone.

use std::f64::consts::TAU;

use super::frame::{AudioFrame, CHUNK_SAMPLES, SAMPLE_RATE, VideoFrame};
use super::testsignal;

/// The background stripes repeat every this many pixels (diagonally).
const STRIPE_PERIOD: usize = 256;
/// Background stripes move this many pixels per frame.
const STRIPE_SPEED: u64 = 4;
/// The box crosses the frame in this many seconds, then comes back.
const BOX_CROSSING_S: u64 = 2;

/// The sliding box's colour (a warm orange in limited-range YUV).
const BOX_Y: u8 = 170;
const BOX_U: u8 = 64;
const BOX_V: u8 = 196;

/// 3×5 glyphs of the digits 0–9, one row per entry, bit 2 = left column.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// A synthetic camera: the BCv1 barcode of the capture time in the top half; in the bottom
/// half scrolling diagonal stripes, a box sliding back and forth and the frame number in
/// blocky digits, so the encoder has real work and a person can see the stream is live.
#[derive(Clone, Debug)]
pub struct TestPattern {
    width: usize,
    height: usize,
    fps: u32,
    frame_index: u64,
    /// A luma ramp every bottom-half line copies a shifted window of (one memcpy per line).
    stripes: Vec<u8>,
    /// One line of bottom-half U (a horizontal tint), copied to every chroma line.
    u_line: Vec<u8>,
}

impl TestPattern {
    /// A pattern of `width × height` pixels; `fps` sets how fast the box moves per frame
    /// (0 is treated as 1).
    pub fn new(width: usize, height: usize, fps: u32) -> Self {
        let stripes = (0..width + STRIPE_PERIOD)
            .map(|i| {
                // Triangle wave, 48..=175: smooth stripes without hard edges.
                let t = i % STRIPE_PERIOD;
                let tri = if t < STRIPE_PERIOD / 2 {
                    t
                } else {
                    STRIPE_PERIOD - 1 - t
                };
                (48 + tri) as u8
            })
            .collect();
        let (cw, _) = VideoFrame::chroma_size(width, height);
        let u_line = (0..cw)
            .map(|x| (96 + x * 64 / cw.max(1)) as u8) // 96..160
            .collect();
        TestPattern {
            width,
            height,
            fps: fps.max(1),
            frame_index: 0,
            stripes,
            u_line,
        }
    }

    /// Draws the next frame, stamped with `t_ms` (wall clock ms since the epoch), into a new
    /// buffer.
    #[cfg(test)]
    pub fn next_frame(&mut self, t_ms: u64) -> VideoFrame {
        // Zeroed memory is the cheapest fresh buffer; `draw_into` writes every byte.
        let mut frame = VideoFrame {
            width: self.width,
            height: self.height,
            data: vec![0; VideoFrame::byte_len(self.width, self.height)],
        };
        self.draw_into(&mut frame, t_ms);
        frame
    }

    /// Draws the next frame, stamped with `t_ms`, into `frame`, reusing its buffer. Every
    /// byte is overwritten; a frame of the wrong size is replaced by one of the right size.
    pub fn draw_into(&mut self, frame: &mut VideoFrame, t_ms: u64) {
        let len = VideoFrame::byte_len(self.width, self.height);
        if frame.width != self.width || frame.height != self.height || frame.data.len() != len {
            *frame = VideoFrame::black(self.width, self.height);
        }
        self.draw_bottom(frame);
        testsignal::draw(frame, t_ms);
        self.frame_index = self.frame_index.wrapping_add(1);
    }

    fn draw_bottom(&self, frame: &mut VideoFrame) {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return;
        }
        // The barcode owns luma lines [0, h/2) and the chroma lines under them.
        let top = h / 2;
        let bh = h - top;
        let (cw, chh) = VideoFrame::chroma_size(w, h);
        let ctop = top.div_ceil(2);
        let (yp, up, vp) = frame.planes_mut();

        // Diagonal stripes scrolling with the frame index.
        let scroll = ((self.frame_index % STRIPE_PERIOD as u64) * STRIPE_SPEED) as usize;
        for (i, line) in yp[top * w..].chunks_exact_mut(w).enumerate() {
            let off = (top + i + scroll) % STRIPE_PERIOD;
            line.copy_from_slice(&self.stripes[off..off + w]);
        }
        // Static colour wash: U varies left to right, V top to bottom.
        let crows = chh - ctop;
        for line in up[ctop * cw..].chunks_exact_mut(cw) {
            line.copy_from_slice(&self.u_line);
        }
        for (i, line) in vp[ctop * cw..].chunks_exact_mut(cw).enumerate() {
            line.fill((96 + i * 64 / crows.max(1)) as u8);
        }

        // A box sliding left and right, BOX_CROSSING_S seconds each way.
        let box_w = (w / 8).max(1);
        let box_h = (bh * 3 / 8).max(1);
        let travel = (w - box_w) as u64;
        let leg = BOX_CROSSING_S * u64::from(self.fps); // frames per crossing, ≥ 1
        let p = self.frame_index % (2 * leg);
        let along = if p < leg { p } else { 2 * leg - p }; // 0..=leg, there and back
        let bx = (along * travel / leg) as usize;
        let by = top + bh / 2;
        let rect = Rect::new(bx, by, bx + box_w, by + box_h);
        rect.fill(yp, w, BOX_Y);
        let crect = rect.chroma().clip_top(ctop);
        crect.fill(up, cw, BOX_U);
        crect.fill(vp, cw, BOX_V);

        self.draw_counter(yp, up, vp, top, ctop);
    }

    /// The frame number in white blocky digits on a black plate, top left of the bottom half.
    fn draw_counter(&self, yp: &mut [u8], up: &mut [u8], vp: &mut [u8], top: usize, ctop: usize) {
        let (w, h) = (self.width, self.height);
        let s = ((h - top) / 20).max(1); // size of one glyph pixel
        let mut digits = [0u8; 20]; // u64::MAX has 20 digits
        let mut n = self.frame_index;
        let mut count = 0;
        loop {
            digits[count] = (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let (x0, y0) = (2 * s, top + 2 * s);
        let plate = Rect::new(x0 - s, y0 - s, x0 + count * 4 * s, y0 + 6 * s);
        plate.fill(yp, w, testsignal::BLACK_Y);
        let cplate = plate.chroma().clip_top(ctop);
        cplate.fill(up, w.div_ceil(2), 128);
        cplate.fill(vp, w.div_ceil(2), 128);
        for (k, &d) in digits[..count].iter().rev().enumerate() {
            let gx = x0 + k * 4 * s;
            for (row, &bits) in DIGITS[usize::from(d)].iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        let (px, py) = (gx + col * s, y0 + row * s);
                        Rect::new(px, py, px + s, py + s).fill(yp, w, testsignal::WHITE_Y);
                    }
                }
            }
        }
    }
}

/// A half-open pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Rect {
    fn new(x0: usize, y0: usize, x1: usize, y1: usize) -> Self {
        Rect { x0, y0, x1, y1 }
    }

    /// The chroma samples this luma rectangle touches (4:2:0).
    fn chroma(self) -> Self {
        Rect::new(
            self.x0 / 2,
            self.y0 / 2,
            self.x1.div_ceil(2),
            self.y1.div_ceil(2),
        )
    }

    /// Keeps the rectangle out of the lines above `y`.
    fn clip_top(self, y: usize) -> Self {
        Rect {
            y0: self.y0.max(y),
            ..self
        }
    }

    /// Fills the rectangle in a plane of `stride`-byte lines, clipped to the plane.
    fn fill(self, plane: &mut [u8], stride: usize, value: u8) {
        if stride == 0 {
            return;
        }
        let rows = plane.len() / stride;
        let (x1, y1) = (self.x1.min(stride), self.y1.min(rows));
        if self.x0 >= x1 {
            return;
        }
        for y in self.y0..y1 {
            plane[y * stride + self.x0..y * stride + x1].fill(value);
        }
    }
}

/// A phase-continuous sine tone in 10 ms chunks of 48 kHz mono.
#[derive(Clone, Debug)]
pub struct SineWave {
    freq_hz: f32,
    amplitude: i16,
    /// Position within the current cycle, in cycles [0, 1). Kept wrapped and in f64 so the
    /// tone neither drifts nor loses precision over hours.
    phase: f64,
}

impl SineWave {
    /// A tone of `freq_hz` with peak `amplitude` (full scale is 32767), starting at phase 0.
    pub fn new(freq_hz: f32, amplitude: i16) -> Self {
        SineWave {
            freq_hz,
            amplitude,
            phase: 0.0,
        }
    }

    /// 440 Hz with a peak of −12 dBFS (32767 · 10^(−12/20) ≈ 8231).
    pub fn default_tone() -> Self {
        SineWave::new(440.0, 8231)
    }

    /// The next 10 ms ([`CHUNK_SAMPLES`] samples at [`SAMPLE_RATE`], mono), continuing the
    /// previous chunk's phase.
    pub fn next_chunk(&mut self) -> AudioFrame {
        let step = f64::from(self.freq_hz) / f64::from(SAMPLE_RATE);
        let amp = f64::from(self.amplitude);
        let samples = (0..CHUNK_SAMPLES)
            .map(|_| {
                // `as` saturates, so even amplitude = i16::MIN cannot wrap.
                let s = (amp * (TAU * self.phase).sin()).round() as i16;
                self.phase += step;
                self.phase -= self.phase.floor();
                s
            })
            .collect();
        AudioFrame {
            sample_rate: SAMPLE_RATE,
            channels: 1,
            samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [(usize, usize); 6] = [
        (640, 480),
        (1280, 720),
        (1920, 1080),
        (642, 362),
        (641, 361),
        (320, 240),
    ];

    #[test]
    fn pattern_barcode_reads_back() {
        let t0 = 1_763_950_000_123;
        for (w, h) in SIZES {
            let mut p = TestPattern::new(w, h, 30);
            for i in 0..40u64 {
                let t = t0 + i * 33;
                let f = p.next_frame(t);
                assert_eq!((f.width, f.height), (w, h));
                assert_eq!(f.data.len(), VideoFrame::byte_len(w, h));
                assert_eq!(testsignal::read(&f), Some(t), "{w}x{h} frame {i}");
            }
            assert_eq!(p.frame_index, 40);
        }
    }

    #[test]
    fn consecutive_frames_differ_only_below_the_barcode() {
        for (w, h) in SIZES {
            let mut p = TestPattern::new(w, h, 30);
            let mut prev = p.next_frame(1000);
            for _ in 0..10 {
                let f = p.next_frame(1000);
                let top = h / 2 * w;
                // Same timestamp: the top half is byte-identical, the bottom half moves.
                assert_eq!(f.y()[..top], prev.y()[..top], "{w}x{h}");
                assert_ne!(f.y()[top..], prev.y()[top..], "{w}x{h}");
                prev = f;
            }
        }
    }

    #[test]
    fn draw_into_overwrites_everything() {
        let (w, h) = (642, 362);
        let mut a = TestPattern::new(w, h, 25);
        let mut b = a.clone();
        let mut fa = VideoFrame::black(w, h);
        fa.data.fill(0x00);
        let mut fb = VideoFrame::black(w, h);
        fb.data.fill(0xFF);
        for t in [5, 6, 7] {
            a.draw_into(&mut fa, t);
            b.draw_into(&mut fb, t);
            assert_eq!(fa, fb);
        }
        // Luma and chroma stay within limited range.
        assert!(fa.y().iter().all(|&p| (16..=235).contains(&p)));
        assert!(
            fa.u()
                .iter()
                .chain(fa.v())
                .all(|&p| (16..=240).contains(&p))
        );
        // And next_frame draws the same as draw_into.
        let mut c = TestPattern::new(w, h, 25);
        let mut fc = VideoFrame::black(1, 1); // wrong size: replaced
        for t in [5, 6, 7] {
            c.draw_into(&mut fc, t);
        }
        assert_eq!(fc, fa);
        let mut d = TestPattern::new(w, h, 25);
        d.next_frame(5);
        d.next_frame(6);
        assert_eq!(d.next_frame(7), fa);
    }

    #[test]
    fn box_moves_and_counter_counts() {
        let (w, h) = (640, 480);
        let mut p = TestPattern::new(w, h, 30);
        // The box's top line: find its left edge by colour in the U plane.
        let box_x = |f: &VideoFrame| {
            let cy = (h / 2 + (h - h / 2) / 2) / 2 + 1;
            let line = &f.u()[cy * (w / 2)..(cy + 1) * (w / 2)];
            line.iter().position(|&u| u == BOX_U)
        };
        let f0 = p.next_frame(0);
        let f1 = p.next_frame(0);
        assert_eq!(box_x(&f0), Some(0));
        let x1 = box_x(&f1).unwrap_or(0);
        assert!(x1 > 0, "box did not move");
        // After one crossing (2 s) the box is at the right edge, after two back at the left.
        for _ in 2..60 {
            p.next_frame(0);
        }
        assert_eq!(box_x(&p.next_frame(0)), Some((w - w / 8) / 2));
        for _ in 61..120 {
            p.next_frame(0);
        }
        assert_eq!(box_x(&p.next_frame(0)), Some(0));
        // The counter's first glyph differs between frames 0 and 1 (a "0" vs a "1").
        let s = (h - h / 2) / 20;
        let glyph = |f: &VideoFrame| {
            let (x0, y0) = (2 * s, h / 2 + 2 * s);
            (0..5 * s)
                .map(|dy| f.y()[(y0 + dy) * w + x0..(y0 + dy) * w + x0 + 3 * s].to_vec())
                .collect::<Vec<_>>()
        };
        assert_ne!(glyph(&f0), glyph(&f1));
        assert!(glyph(&f0).concat().contains(&testsignal::WHITE_Y));
    }

    #[test]
    fn tiny_and_odd_sizes_do_not_panic() {
        for (w, h) in [
            (0, 0),
            (1, 1),
            (2, 3),
            (3, 2),
            (15, 7),
            (16, 8),
            (17, 9),
            (7, 100),
        ] {
            for fps in [0, 1, 60] {
                let mut p = TestPattern::new(w, h, fps);
                for t in 0..5 {
                    let f = p.next_frame(t);
                    assert_eq!(f.data.len(), VideoFrame::byte_len(w, h));
                }
            }
        }
        let mut p = TestPattern::new(16, 8, 30);
        assert_eq!(testsignal::read(&p.next_frame(77)), Some(77));
        // A large frame number still fits (the digits are clipped at the right edge).
        let mut p = TestPattern::new(64, 48, 30);
        p.frame_index = u64::MAX - 1;
        p.next_frame(1);
    }

    fn tone(chunks: usize, mut s: SineWave) -> Vec<i16> {
        (0..chunks).flat_map(|_| s.next_chunk().samples).collect()
    }

    #[test]
    fn sine_chunk_format() {
        let c = SineWave::default_tone().next_chunk();
        assert_eq!(c.sample_rate, SAMPLE_RATE);
        assert_eq!(c.channels, 1);
        assert_eq!(c.samples.len(), CHUNK_SAMPLES);
        assert_eq!(c.frames(), CHUNK_SAMPLES);
    }

    #[test]
    fn sine_is_phase_continuous() {
        let (f, a) = (440.0f32, 8231i16);
        let s = tone(5, SineWave::new(f, a));
        // Every sample, including those right after a chunk boundary, matches one unbroken
        // sine within rounding.
        for (n, &x) in s.iter().enumerate() {
            let ideal = f64::from(a) * (TAU * f64::from(f) * n as f64 / 48_000.0).sin();
            assert!(
                (f64::from(x) - ideal).abs() <= 1.0,
                "sample {n}: {x} vs {ideal}"
            );
        }
        // No jump at the boundaries larger than the largest step inside a chunk.
        let max_step = |w: &[i16]| w.windows(2).map(|p| (p[1] - p[0]).abs()).max().unwrap_or(0);
        let inside = max_step(&s[..CHUNK_SAMPLES]);
        for k in 1..5 {
            let b = k * CHUNK_SAMPLES;
            assert!((s[b] - s[b - 1]).abs() <= inside + 1, "jump at chunk {k}");
        }
    }

    #[test]
    fn sine_frequency_and_level() {
        let s = tone(100, SineWave::default_tone()); // 1 s
        let crossings = s.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
        assert!(
            (878..=882).contains(&crossings),
            "{crossings} zero crossings"
        );
        let peak = s.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
        assert!((8200..=8231).contains(&peak), "peak {peak}");
        // −12 dBFS peak.
        let db = 20.0 * (f64::from(peak) / 32767.0).log10();
        assert!((db + 12.0).abs() < 0.05, "{db} dBFS");

        let s = tone(100, SineWave::new(1000.0, 1000));
        let crossings = s.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count();
        assert!(
            (1998..=2002).contains(&crossings),
            "{crossings} zero crossings"
        );
    }

    #[test]
    fn sine_extremes_do_not_panic() {
        for (f, a) in [
            (0.0, i16::MAX),
            (24_000.0, i16::MIN),
            (f32::NAN, 100),
            (-440.0, 1),
        ] {
            let mut s = SineWave::new(f, a);
            for _ in 0..3 {
                assert_eq!(s.next_chunk().samples.len(), CHUNK_SAMPLES);
            }
        }
    }

    /// `cargo test --release -p huddle-engine --lib media::synthetic -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        use std::time::Instant;
        for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
            let n = 300u32;
            let mut p = TestPattern::new(w, h, 30);
            let mut f = VideoFrame::black(w, h);
            let start = Instant::now();
            for i in 0..n {
                p.draw_into(&mut f, u64::from(i));
            }
            let d = start.elapsed() / n;
            let start = Instant::now();
            for i in 0..n {
                std::hint::black_box(p.next_frame(u64::from(i)));
            }
            let nf = start.elapsed() / n;
            println!("{w}x{h}: draw_into {d:?}, next_frame {nf:?}");
        }
        let mut s = SineWave::default_tone();
        let start = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(s.next_chunk());
        }
        println!("sine: {:?} per 10 ms chunk", start.elapsed() / 1000);
    }
}
