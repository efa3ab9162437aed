//! The timestamp barcode (BCv1, see `shared/TESTSIGNAL.md`).
//!
//! The sender draws its wall clock `T` (ms since the epoch) as a 16×4 grid of black and white
//! cells into the top half of every frame; the receiver reads it back from the decoded frame.
//! With both ends on one clock, `now − T` is the glass-to-glass latency.

use std::time::{SystemTime, UNIX_EPOCH};

use super::frame::VideoFrame;

/// Luma of a 1 cell (RGB white in limited-range I420).
pub const WHITE_Y: u8 = 235;
/// Luma of a 0 cell (RGB black in limited-range I420).
pub const BLACK_Y: u8 = 16;
/// A cell whose mean luma is below this reads as 0.
pub const READ_BLACK_BELOW: u64 = 85;
/// A cell whose mean luma is above this reads as 1.
pub const READ_WHITE_ABOVE: u64 = 166;

const COLS: usize = 16;
const ROWS: usize = 4;
/// `T` is carried as 48 bits.
const T_MASK: u64 = (1 << 48) - 1;
/// Accepted latency window; anything outside is a misread or a stale frame.
const MIN_LATENCY_MS: i64 = -50;
const MAX_LATENCY_MS: i64 = 60_000;

/// CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): poly 0x1021, init 0xFFFF, not reflected,
/// xorout 0.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 64-bit payload for `t_ms`: `T` (low 48 bits of `t_ms`, big-endian) then its CRC.
/// Payload bit `i` (0 = first cell, top left) is bit `63 − i` of the returned value, so
/// formatting it as `{:064b}` gives the cells in reading order.
pub fn encode_bits(t_ms: u64) -> u64 {
    let t = t_ms & T_MASK;
    (t << 16) | u64::from(crc_of_t(t))
}

/// The inverse of [`encode_bits`]: `T` if the CRC matches.
pub fn decode_bits(bits: u64) -> Option<u64> {
    let t = bits >> 16;
    (crc_of_t(t) == bits as u16).then_some(t)
}

fn crc_of_t(t: u64) -> u16 {
    // The 6 low bytes of T, big-endian.
    crc16_ccitt_false(&t.to_be_bytes()[2..])
}

/// Cell edges along one axis: edge `k` is `floor(k·len/parts)`.
fn edge(k: usize, len: usize, parts: usize) -> usize {
    k * len / parts
}

/// Draws the barcode of `t_ms` into the top half of `frame` (luma and chroma); the bottom half
/// is left alone. Frames whose buffer is shorter than their size claims are left untouched.
pub fn draw(frame: &mut VideoFrame, t_ms: u64) {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 || frame.data.len() < VideoFrame::byte_len(w, h) {
        return;
    }
    let bits = encode_bits(t_ms);
    let (y_plane, u_plane, v_plane) = frame.planes_mut();

    // Build each grid row's scanline once, then copy it down the row: one memcpy per line.
    let mut line = vec![BLACK_Y; w];
    for r in 0..ROWS {
        let row_bits = (bits >> (48 - 16 * r)) as u16;
        for c in 0..COLS {
            let one = row_bits & (0x8000 >> c) != 0;
            line[edge(c, w, COLS)..edge(c + 1, w, COLS)].fill(if one { WHITE_Y } else { BLACK_Y });
        }
        let (y0, y1) = (edge(r, h, 2 * ROWS), edge(r + 1, h, 2 * ROWS));
        for dst in y_plane[y0 * w..y1 * w].chunks_exact_mut(w) {
            dst.copy_from_slice(&line);
        }
    }

    // Neutral chroma under the whole grid (including a chroma row shared with the bottom half
    // when H/2 is odd: grey beats a colour fringe inside the top cells).
    let (cw, _) = VideoFrame::chroma_size(w, h);
    let chroma_rows = (h / 2).div_ceil(2);
    u_plane[..chroma_rows * cw].fill(128);
    v_plane[..chroma_rows * cw].fill(128);
}

/// Reads the barcode from a frame's Y plane; `T` if all cells are clear and the CRC matches.
pub fn read(frame: &VideoFrame) -> Option<u64> {
    let n = frame.width.checked_mul(frame.height)?;
    read_y(frame.data.get(..n)?, frame.width, frame.height, frame.width)
}

/// Reads the barcode from a strided Y plane (`stride` bytes between line starts, as decoders
/// hand them out); `T` if all 64 cells are clearly black or white and the CRC matches.
pub fn read_y(y: &[u8], width: usize, height: usize, stride: usize) -> Option<u64> {
    // Below 16×8 some cells are empty (at or above it every cell, and so every sampled
    // region below, has at least one pixel); stride and buffer must cover the picture.
    if width < COLS || height < 2 * ROWS || stride < width {
        return None;
    }
    let needed = stride.checked_mul(height - 1)?.checked_add(width)?;
    if y.len() < needed {
        return None;
    }

    let mut bits = 0u64;
    for r in 0..ROWS {
        let (cy0, cy1) = (edge(r, height, 2 * ROWS), edge(r + 1, height, 2 * ROWS));
        let ch = cy1 - cy0;
        // The middle 50%, but at least the centre pixel (tiny frames have 1-px cells).
        let my0 = cy0 + ch / 4;
        let my1 = (cy0 + 3 * ch / 4).max(my0 + 1);
        // Every line of a small cell, about 8–15 lines of a big one: plenty against noise,
        // and the read stays cheap at 1080p.
        let ystep = ((my1 - my0) / 8).max(1);
        for c in 0..COLS {
            let (cx0, cx1) = (edge(c, width, COLS), edge(c + 1, width, COLS));
            let cw = cx1 - cx0;
            let mx0 = cx0 + cw / 4;
            let mx1 = (cx0 + 3 * cw / 4).max(mx0 + 1);
            let mut sum = 0u64;
            let mut n = 0u64;
            for line in (my0..my1).step_by(ystep) {
                let start = line * stride;
                // Contiguous span: the compiler vectorises this sum.
                sum += y[start + mx0..start + mx1]
                    .iter()
                    .map(|&p| u64::from(p))
                    .sum::<u64>();
                n += (mx1 - mx0) as u64;
            }
            // mean < 85 ⇔ sum < 85·n (exact, no division).
            let bit = if sum < READ_BLACK_BELOW * n {
                0
            } else if sum > READ_WHITE_ABOVE * n {
                1
            } else {
                return None;
            };
            bits = (bits << 1) | bit;
        }
    }
    decode_bits(bits)
}

/// Latency `now_ms − t_ms` if it lies within −50 ms … 60 s (inclusive), else `None`
/// (a misread, a stale frame, or clocks that are not shared).
pub fn latency_ms(t_ms: u64, now_ms: u64) -> Option<i64> {
    let d = i128::from(now_ms) - i128::from(t_ms);
    let d = i64::try_from(d).ok()?;
    (MIN_LATENCY_MS..=MAX_LATENCY_MS).contains(&d).then_some(d)
}

/// Wall clock in ms since the Unix epoch (0 if the clock is set before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cells of a drawn frame in reading order, sampled at each cell's centre pixel.
    fn drawn_rows(frame: &VideoFrame) -> Vec<String> {
        let (w, h) = (frame.width, frame.height);
        (0..ROWS)
            .map(|r| {
                let y = (edge(r, h, 8) + edge(r + 1, h, 8)) / 2;
                (0..COLS)
                    .map(|c| {
                        let x = (edge(c, w, 16) + edge(c + 1, w, 16)) / 2;
                        match frame.y()[y * w + x] {
                            WHITE_Y => '1',
                            BLACK_Y => '0',
                            _ => '?',
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn payload_rows(bits: u64) -> Vec<String> {
        let s = format!("{bits:064b}");
        (0..4)
            .map(|r| s[16 * r..16 * (r + 1)].to_string())
            .collect()
    }

    fn drawn(w: usize, h: usize, t: u64) -> VideoFrame {
        let mut f = VideoFrame::black(w, h);
        draw(&mut f, t);
        f
    }

    /// Deterministic xorshift noise for tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const VECTORS: [(u64, u16, [&str; 4]); 2] = [
        (
            0x0123_4567_89AB,
            0xC475,
            [
                "0000000100100011",
                "0100010101100111",
                "1000100110101011",
                "1100010001110101",
            ],
        ),
        (
            1_763_950_000_123,
            0x98E3,
            [
                "0000000110011010",
                "1011001110011100",
                "1111011111111011",
                "1001100011100011",
            ],
        ),
    ];

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
        assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
    }

    #[test]
    fn spec_test_vectors() {
        assert_eq!(VECTORS[0].0, 1_250_999_896_491);
        assert_eq!(VECTORS[1].0, 0x019A_B39C_F7FB);
        for (t, crc, rows) in VECTORS {
            let bits = encode_bits(t);
            assert_eq!(bits as u16, crc, "CRC of {t}");
            assert_eq!(payload_rows(bits), rows, "payload rows of {t}");
            assert_eq!(decode_bits(bits), Some(t));
            // The drawn grid carries the same rows in the spec's cell order.
            for (w, h) in [(640, 480), (642, 362)] {
                let f = drawn(w, h, t);
                assert_eq!(drawn_rows(&f), rows, "drawn rows of {t} at {w}x{h}");
            }
        }
    }

    #[test]
    fn geometry_at_640x480() {
        // Spec: a cell is 40×60 px; bit 0 (top-left) of vector 1 is 0, cell (r=0, c=7) is 1.
        let f = drawn(640, 480, VECTORS[0].0);
        let y = f.y();
        assert_eq!(y[7 * 40], WHITE_Y);
        assert_eq!(y[7 * 40 - 1], BLACK_Y);
        assert_eq!(y[59 * 640 + 7 * 40 + 39], WHITE_Y);
        // Row 1 ("0100010101100111") starts at y = 60: col 6 is 0, col 7 is 1.
        assert_eq!(y[60 * 640 + 6 * 40 + 39], BLACK_Y);
        assert_eq!(y[60 * 640 + 7 * 40], WHITE_Y);
        assert_eq!(y[59 * 640 + 6 * 40 + 39], BLACK_Y);
        // Bottom half untouched; chroma of the top half neutral, bottom still as it was.
        assert!(y[240 * 640..].iter().all(|&p| p == BLACK_Y));
        let mut g = VideoFrame::black(640, 480);
        let n = g.data.len();
        g.data[640 * 480..n].fill(7);
        draw(&mut g, 1);
        assert!(g.u()[..320 * 120].iter().all(|&p| p == 128));
        assert!(g.u()[320 * 120..].iter().all(|&p| p == 7));
        assert!(g.v()[..320 * 120].iter().all(|&p| p == 128));
    }

    #[test]
    fn round_trips_at_many_sizes() {
        let now = now_ms();
        for (w, h) in [
            (640, 480),
            (1280, 720),
            (1920, 1080),
            (642, 362),
            (641, 361),
            (320, 180),
            (33, 17),
            (16, 8),
        ] {
            for t in [VECTORS[0].0, VECTORS[1].0, now, 0, T_MASK] {
                assert_eq!(read(&drawn(w, h, t)), Some(t), "{w}x{h} t={t}");
            }
        }
    }

    #[test]
    fn t_is_truncated_to_48_bits() {
        let t = (5u64 << 48) | 1234;
        assert_eq!(read(&drawn(640, 480, t)), Some(1234));
    }

    #[test]
    fn strided_plane_reads() {
        let (w, h, stride) = (642, 362, 704);
        let f = drawn(w, h, VECTORS[1].0);
        let mut plane = vec![128u8; stride * h];
        for (dst, src) in plane.chunks_exact_mut(stride).zip(f.y().chunks_exact(w)) {
            dst[..w].copy_from_slice(src);
        }
        assert_eq!(read_y(&plane, w, h, stride), Some(VECTORS[1].0));
        // The last line may end right after the visible width.
        let short = &plane[..stride * (h - 1) + w];
        assert_eq!(read_y(short, w, h, stride), Some(VECTORS[1].0));
        assert_eq!(read_y(&short[..short.len() - 1], w, h, stride), None);
        assert_eq!(read_y(&plane, w, h, w - 1), None);
    }

    #[test]
    fn corrupted_cell_reads_none() {
        let (w, h) = (640, 480);
        let t = VECTORS[0].0;
        // Flip each cell in turn: every single-bit error must be caught by the CRC.
        for i in 0..64 {
            let mut f = drawn(w, h, t);
            let (r, c) = (i / 16, i % 16);
            for y in edge(r, h, 8)..edge(r + 1, h, 8) {
                for p in &mut f.y_mut()[y * w + edge(c, w, 16)..y * w + edge(c + 1, w, 16)] {
                    *p = if *p == WHITE_Y { BLACK_Y } else { WHITE_Y };
                }
            }
            assert_eq!(read(&f), None, "flipped cell {i}");
        }
    }

    #[test]
    fn grey_cell_reads_none() {
        let (w, h) = (640, 480);
        let mut f = drawn(w, h, VECTORS[1].0);
        // Cell (r=2, c=5) mid-grey.
        for y in edge(2, h, 8)..edge(3, h, 8) {
            f.y_mut()[y * w + edge(5, w, 16)..y * w + edge(6, w, 16)].fill(128);
        }
        assert_eq!(read(&f), None);
    }

    #[test]
    fn thresholds_are_as_specified() {
        let (w, h) = (160, 80);
        let t = VECTORS[0].0;
        // Push every black cell to `black` and every white one to `white`.
        let with_levels = |black: u8, white: u8| {
            let mut f = drawn(w, h, t);
            for p in f.y_mut() {
                *p = if *p == WHITE_Y { white } else { black };
            }
            read(&f)
        };
        assert_eq!(with_levels(84, 167), Some(t));
        assert_eq!(with_levels(85, 235), None);
        assert_eq!(with_levels(16, 166), None);
    }

    #[test]
    fn blank_frames_read_none() {
        assert_eq!(read(&VideoFrame::black(640, 480)), None);
        let mut white = VideoFrame::black(640, 480);
        white.y_mut().fill(WHITE_Y);
        assert_eq!(read(&white), None);
        assert_eq!(read(&VideoFrame::black(15, 8)), None);
        assert_eq!(read(&VideoFrame::black(0, 0)), None);
        // A frame whose buffer is too short neither panics in draw nor reads.
        let mut bad = VideoFrame {
            width: 640,
            height: 480,
            data: vec![16; 100],
        };
        draw(&mut bad, 1);
        assert_eq!(bad.data, vec![16; 100]);
        assert_eq!(read(&bad), None);
        // Tiny frames: draw must not panic.
        for (w, h) in [(0, 0), (1, 1), (3, 2), (15, 7)] {
            let mut f = VideoFrame::black(w, h);
            draw(&mut f, 42);
        }
    }

    /// Nearest-neighbour resample of the Y plane, as a crude stand-in for encoder scaling.
    fn resample_y(f: &VideoFrame, w: usize, h: usize) -> VideoFrame {
        let mut out = VideoFrame::black(w, h);
        for y in 0..h {
            let sy = y * f.height / h;
            for x in 0..w {
                out.data[y * w + x] = f.y()[sy * f.width + x * f.width / w];
            }
        }
        out
    }

    #[test]
    fn survives_scaling() {
        let t = VECTORS[1].0;
        let src = drawn(1280, 720, t);
        for (w, h) in [(640, 360), (854, 480), (320, 180), (1920, 1080), (642, 362)] {
            assert_eq!(read(&resample_y(&src, w, h)), Some(t), "1280x720 → {w}x{h}");
        }
        // A 2×2 box-filter downscale blurs the cell edges to grey; the middles stay clear.
        let (w, h) = (640, 360);
        let mut boxed = VideoFrame::black(w, h);
        for y in 0..h {
            for x in 0..w {
                let s = |dx: usize, dy: usize| u32::from(src.y()[(2 * y + dy) * 1280 + 2 * x + dx]);
                boxed.data[y * w + x] = ((s(0, 0) + s(1, 0) + s(0, 1) + s(1, 1) + 2) / 4) as u8;
            }
        }
        assert_eq!(read(&boxed), Some(t));
    }

    #[test]
    fn survives_noise() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (w, h) in [(640, 480), (1280, 720), (642, 362)] {
            let t = VECTORS[0].0 + w as u64;
            let mut f = drawn(w, h, t);
            for p in f.y_mut() {
                let noise = (rng.next() % 41) as i32 - 20; // −20 ..= 20
                *p = (i32::from(*p) + noise).clamp(0, 255) as u8;
            }
            assert_eq!(read(&f), Some(t), "{w}x{h}");
        }
    }

    #[test]
    fn latency_window() {
        let t = 1_000_000;
        assert_eq!(latency_ms(t, t + 120), Some(120));
        assert_eq!(latency_ms(t, t), Some(0));
        assert_eq!(latency_ms(t, t - 50), Some(-50));
        assert_eq!(latency_ms(t, t - 51), None);
        assert_eq!(latency_ms(t, t + 60_000), Some(60_000));
        assert_eq!(latency_ms(t, t + 60_001), None);
        assert_eq!(latency_ms(u64::MAX, 0), None);
        assert_eq!(latency_ms(0, u64::MAX), None);
    }

    #[test]
    fn now_is_plausible() {
        let n = now_ms();
        assert!(n > 1_700_000_000_000, "{n}"); // after Nov 2023
        assert!(n < T_MASK); // fits BCv1's 48 bits for millennia
    }

    /// `cargo test --release -p huddle-engine --lib media::testsignal -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing() {
        use std::time::Instant;
        for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
            let mut f = VideoFrame::black(w, h);
            let n = 500u32;
            let start = Instant::now();
            for i in 0..n {
                draw(&mut f, 1_763_950_000_000 + u64::from(i));
            }
            let d = start.elapsed() / n;
            let start = Instant::now();
            let mut ok = 0;
            for _ in 0..n {
                ok += usize::from(read(std::hint::black_box(&f)).is_some());
            }
            let r = start.elapsed() / n;
            assert_eq!(ok, n as usize);
            println!("{w}x{h}: draw {d:?}, read {r:?}");
        }
    }
}
