//! Pixel work on captured screens: BGRA → I420, drawing the cursor into BGRA, and an I420
//! downscaler. Per-pixel work is integer only; floats appear only when filter tables are built.

use crate::media::frame::VideoFrame;

/// A picture buffer that does not hold what its size claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PixelError {
    #[error("{what} buffer too short: {len} bytes, need {need}")]
    ShortBuffer {
        what: &'static str,
        len: usize,
        need: usize,
    },
}

fn check_len(what: &'static str, len: usize, need: usize) -> Result<(), PixelError> {
    if len < need {
        return Err(PixelError::ShortBuffer { what, len, need });
    }
    Ok(())
}

/// The size to send a `width × height` picture at so it fits `max_width × max_height`: the
/// aspect ratio is kept, nothing is upscaled, and both sides are even (encoders want that).
/// A `max_*` of 0 means "no limit" on that side.
pub fn fit_size(
    width: usize,
    height: usize,
    max_width: usize,
    max_height: usize,
) -> (usize, usize) {
    let even = |v: usize| (v & !1).max(2);
    if width == 0 || height == 0 {
        return (0, 0);
    }
    let mw = if max_width == 0 {
        usize::MAX
    } else {
        max_width
    };
    let mh = if max_height == 0 {
        usize::MAX
    } else {
        max_height
    };
    if width <= mw && height <= mh {
        return (even(width), even(height));
    }
    // Compare aspect ratios in integers: which side hits its limit first?
    if (width as u128) * (mh as u128) > (height as u128) * (mw as u128) {
        let h = (height * mw + width / 2) / width;
        (even(mw), even(h.min(mh)))
    } else {
        let w = (width * mh + height / 2) / height;
        (even(w.min(mw)), even(mh))
    }
}

// BT.601 limited range in 8.8 fixed point (the same coefficients as the camera path).
#[inline(always)]
fn luma(b: u32, g: u32, r: u32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

/// Luma of one little-endian BGRX pixel loaded as a `u32`: one load and three masks per
/// pixel, which compilers turn into vector code.
#[inline(always)]
fn luma_px(px: u32) -> u8 {
    luma(px & 0xFF, (px >> 8) & 0xFF, (px >> 16) & 0xFF)
}

#[inline(always)]
fn load_px(p: &[u8]) -> u32 {
    u32::from_le_bytes([p[0], p[1], p[2], p[3]])
}

/// U and V of the 2×2 block of pixels `p0 p1` over `p2 p3`. B and R are summed together in
/// the two 16-bit halves of a `u32` (4 × 255 fits), G on its own.
#[inline(always)]
fn chroma_px(p0: u32, p1: u32, p2: u32, p3: u32) -> (u8, u8) {
    const BR: u32 = 0x00FF_00FF;
    let br = (p0 & BR) + (p1 & BR) + (p2 & BR) + (p3 & BR);
    let g = ((p0 >> 8) & 0xFF) + ((p1 >> 8) & 0xFF) + ((p2 >> 8) & 0xFF) + ((p3 >> 8) & 0xFF);
    chroma_of_sums((br & 0xFFFF) as i32, g as i32, (br >> 16) as i32)
}

/// Converts a BGRA (or BGRX: the 4th byte is ignored) picture with `stride` bytes per line
/// into limited-range BT.601 I420 in `dst`, which is resized if it has another size. Chroma
/// is the mean of each 2×2 block.
pub fn bgra_to_i420(
    src: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    dst: &mut VideoFrame,
) -> Result<(), PixelError> {
    if dst.width != width
        || dst.height != height
        || dst.data.len() != VideoFrame::byte_len(width, height)
    {
        *dst = VideoFrame::black(width, height);
    }
    if width == 0 || height == 0 {
        return Ok(());
    }
    check_len("BGRA stride", stride, width * 4)?;
    check_len("BGRA", src.len(), stride * (height - 1) + width * 4)?;
    let picture = Bgra {
        src,
        stride,
        width,
        height,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is all `convert_avx2` requires of the CPU, and it was just detected.
        unsafe { convert_avx2(&picture, dst) };
        return Ok(());
    }
    convert::<false>(&picture, dst);
    Ok(())
}

/// A checked BGRA picture: `stride * (height - 1) + width * 4 <= src.len()`.
struct Bgra<'a> {
    src: &'a [u8],
    stride: usize,
    width: usize,
    height: usize,
}

/// The same code compiled for AVX2 (8 pixels per instruction instead of 4): about twice as
/// fast at 1080p; chosen at run time so the binary still runs on any x86-64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn convert_avx2(p: &Bgra<'_>, dst: &mut VideoFrame) {
    convert::<true>(p, dst);
}

/// The conversion proper. `SPLIT`: luma in its own pass over each line (best with wide
/// vectors); otherwise luma and chroma in one pass over 2×2 blocks (best without).
#[inline(always)]
fn convert<const SPLIT: bool>(p: &Bgra<'_>, dst: &mut VideoFrame) {
    let (width, height, stride) = (p.width, p.height, p.stride);
    let (cw, _) = VideoFrame::chroma_size(width, height);
    let (yp, up, vp) = dst.planes_mut();
    let line = |y: usize| &p.src[y * stride..][..width * 4];
    // Two source lines per chroma line; an odd last line stands in for both of its pair.
    for cy in 0..height.div_ceil(2) {
        let (ia, ib) = (2 * cy, (2 * cy + 1).min(height - 1));
        let (a, b) = (line(ia), line(ib));
        let (ul, vl) = (
            &mut up[cy * cw..(cy + 1) * cw],
            &mut vp[cy * cw..(cy + 1) * cw],
        );
        let ys = &mut yp[ia * width..(ib + 1) * width];
        let (ya, yb) = ys.split_at_mut(width);
        // With an odd height the last "pair" is one line: its second half is empty.
        let yb: &mut [u8] = if ia == ib { &mut [] } else { yb };
        if SPLIT {
            luma_line(a, ya);
            luma_line(b, yb);
            chroma_line(a, b, ul, vl);
        } else {
            pair_line(a, b, ya, yb, ul, vl);
        }
        if width % 2 == 1 {
            // An odd width's last column: a block of two pixels, one above the other.
            let x = width - 1;
            let (pa, pb) = (load_px(&a[4 * x..]), load_px(&b[4 * x..]));
            ya[x] = luma_px(pa);
            if let Some(yb) = yb.get_mut(x) {
                *yb = luma_px(pb);
            }
            (ul[x / 2], vl[x / 2]) = chroma_px(pa, pa, pb, pb);
        }
    }
}

#[inline(always)]
fn luma_line(src: &[u8], y: &mut [u8]) {
    for (&px, out) in src.as_chunks::<4>().0.iter().zip(y.iter_mut()) {
        *out = luma_px(u32::from_le_bytes(px));
    }
}

/// U and V from the sums of four pixels' B, G and R; the division by 4 is folded into the
/// final shift.
#[inline(always)]
fn chroma_of_sums(sb: i32, sg: i32, sr: i32) -> (u8, u8) {
    let u = ((-38 * sr - 74 * sg + 112 * sb + 512) >> 10) + 128;
    let v = ((112 * sr - 94 * sg - 18 * sb + 512) >> 10) + 128;
    (u as u8, v as u8)
}

/// One chroma line from two BGRA lines, two pixels per `u64` load: B and R land in 16-bit
/// lanes of one word, G in another, so the 2×2 sums take a few adds (this vectorises far
/// better than byte loads).
#[inline(always)]
fn chroma_line(a: &[u8], b: &[u8], u: &mut [u8], v: &mut [u8]) {
    const M: u64 = 0x00FF_00FF_00FF_00FF;
    let blocks = a.as_chunks::<8>().0.iter().zip(b.as_chunks::<8>().0);
    for ((&pa, &pb), (ou, ov)) in blocks.zip(u.iter_mut().zip(v.iter_mut())) {
        let (xa, xb) = (u64::from_le_bytes(pa), u64::from_le_bytes(pb));
        let br = (xa & M) + (xb & M); // lanes: b₀ r₀ b₁ r₁ (column sums)
        let ga = ((xa >> 8) & M) + ((xb >> 8) & M); // lanes: g₀ a₀ g₁ a₁
        let (br, ga) = (br + (br >> 32), ga + (ga >> 32)); // lane 0/1: the 2×2 sums
        let (sb, sr, sg) = (br & 0xFFFF, (br >> 16) & 0xFFFF, ga & 0xFFFF);
        (*ou, *ov) = chroma_of_sums(sb as i32, sg as i32, sr as i32);
    }
}

/// Two lines → their luma (`yb` may be empty for a lone last line) and one chroma line.
#[inline(always)]
fn pair_line(a: &[u8], b: &[u8], ya: &mut [u8], yb: &mut [u8], u: &mut [u8], v: &mut [u8]) {
    if yb.is_empty() {
        luma_line(a, ya);
        chroma_line(a, b, u, v);
        return;
    }
    let blocks = a
        .as_chunks::<8>()
        .0
        .iter()
        .zip(b.as_chunks::<8>().0)
        .zip(ya.chunks_exact_mut(2).zip(yb.chunks_exact_mut(2)))
        .zip(u.iter_mut().zip(v.iter_mut()));
    for (((pa, pb), (oa, ob)), (ou, ov)) in blocks {
        let (p0, p1) = (load_px(pa), load_px(&pa[4..]));
        let (p2, p3) = (load_px(pb), load_px(&pb[4..]));
        oa[0] = luma_px(p0);
        oa[1] = luma_px(p1);
        ob[0] = luma_px(p2);
        ob[1] = luma_px(p3);
        (*ou, *ov) = chroma_px(p0, p1, p2, p3);
    }
}

/// A cursor picture as XFixes `GetCursorImage` gives it: `width × height` pixels of
/// premultiplied ARGB (alpha in the top byte), with the hotspot at (`xhot`, `yhot`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CursorImage {
    pub width: usize,
    pub height: usize,
    pub xhot: usize,
    pub yhot: usize,
    pub pixels: Vec<u32>,
}

/// Draws `cursor` over a BGRA picture (`stride` bytes per line) with its top-left pixel at
/// (`x`, `y`), which may lie partly or wholly outside the picture.
pub fn blend_cursor(
    dst: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    cursor: &CursorImage,
    x: i64,
    y: i64,
) {
    if cursor.pixels.len() < cursor.width * cursor.height || stride < width * 4 {
        return;
    }
    // The overlap of the cursor with the picture, in cursor coordinates.
    let cx0 = (-x).clamp(0, cursor.width as i64) as usize;
    let cy0 = (-y).clamp(0, cursor.height as i64) as usize;
    let cx1 = (width as i64 - x).clamp(0, cursor.width as i64) as usize;
    let cy1 = (height as i64 - y).clamp(0, cursor.height as i64) as usize;
    if cx0 >= cx1 || cy0 >= cy1 {
        return;
    }
    for cy in cy0..cy1 {
        let py = (y + cy as i64) as usize;
        let line = &cursor.pixels[cy * cursor.width..][cx0..cx1];
        let start = py * stride + (x + cx0 as i64) as usize * 4;
        let Some(out) = dst.get_mut(start..start + line.len() * 4) else {
            return;
        };
        for (&argb, px) in line.iter().zip(out.chunks_exact_mut(4)) {
            let a = argb >> 24;
            if a == 0 {
                continue;
            }
            let keep = 255 - a;
            // Premultiplied "over": out = src + dst·(1 − α).
            for (i, shift) in [(0, 0), (1, 8), (2, 16)] {
                let s = (argb >> shift) & 0xFF;
                let d = u32::from(px[i]);
                px[i] = (s + (d * keep + 127) / 255).min(255) as u8;
            }
        }
    }
}

/// Filter taps along one axis: output `i` is `Σ src[first[i] + k] · weights[i·n + k]`,
/// with `n` taps per output (unused ones weigh 0) and weights summing to `1 << WEIGHT_BITS`.
#[derive(Clone, Debug)]
struct Taps {
    n: usize,
    first: Vec<usize>,
    weights: Vec<u32>,
    /// When shrinking by `src:dst = q:p` (in lowest terms), every `p` outputs repeat the
    /// taps of the first `p`, shifted by `q` inputs. The first `periodic_chunks · p` outputs
    /// follow that pattern exactly, which lets the horizontal pass skip the per-output table
    /// lookups (3× faster).
    p: usize,
    q: usize,
    periodic_chunks: usize,
}

const WEIGHT_BITS: u32 = 14;
/// Longest pattern worth using (an odd ratio like 1919:1280 has none).
const MAX_PERIOD: usize = 64;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Taps {
    /// Area averaging when shrinking (every source pixel counts, so thin lines and text do not
    /// vanish), bilinear when growing.
    fn new(src: usize, dst: usize) -> Self {
        if src == 0 || dst == 0 {
            return Taps {
                n: 1,
                first: vec![0; dst],
                weights: vec![0; dst],
                p: 1,
                q: 1,
                periodic_chunks: 0,
            };
        }
        let one = 1u64 << WEIGHT_BITS;
        let g = gcd(src, dst);
        let (p, q) = (dst / g, src / g);
        let mut per_output: Vec<(usize, Vec<u32>)> = Vec::with_capacity(dst);
        for i in 0..dst {
            let (first, weights) = if dst <= src {
                // Output i covers [i·q, (i+1)·q) and input j covers [j·p, (j+1)·p), both in
                // units of 1/p input pixel: exact integers, so the pattern repeats exactly.
                let (a, b) = (i * q, (i + 1) * q);
                let first = a / p;
                let end = b.div_ceil(p).min(src);
                let w = (first..end)
                    .map(|j| (b.min((j + 1) * p) - a.max(j * p)) as u64)
                    .map(|overlap| ((overlap * one + q as u64 / 2) / q as u64) as u32)
                    .collect();
                (first, w)
            } else {
                let c =
                    ((i as f64 + 0.5) * src as f64 / dst as f64 - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (c.floor() as usize).min(src - 1);
                let f = ((c - j as f64) * one as f64).round() as u32;
                if j + 1 < src {
                    (j, vec![one as u32 - f, f])
                } else {
                    (j, vec![one as u32])
                }
            };
            per_output.push((first, weights));
        }
        let n = per_output.iter().map(|(_, w)| w.len()).max().unwrap_or(1);
        let mut first = Vec::with_capacity(dst);
        let mut weights = Vec::with_capacity(dst * n);
        for (f, mut w) in per_output {
            // Rounding may leave the sum a little off: settle it on the heaviest tap.
            let sum: u32 = w.iter().sum();
            if let Some(big) = (0..w.len()).max_by_key(|&k| w[k]) {
                w[big] = (w[big] + one as u32).saturating_sub(sum);
            }
            // Keep `first + n` inside the source by sliding the window left, padding with 0.
            let start = f.min(src.saturating_sub(n));
            let mut row = vec![0u32; n];
            for (k, wk) in w.into_iter().enumerate() {
                row[f - start + k] = wk;
            }
            first.push(start);
            weights.extend(row);
        }
        let mut taps = Taps {
            n,
            first,
            weights,
            p,
            q,
            periodic_chunks: 0,
        };
        if dst <= src && p <= MAX_PERIOD {
            taps.periodic_chunks = taps.count_periodic_chunks(src);
        }
        taps
    }

    /// How many leading chunks of `p` outputs follow the first chunk's pattern and read only
    /// inside `[c·q, c·q + q + n)` of a source of `src`.
    fn count_periodic_chunks(&self, src: usize) -> usize {
        let (n, p, q) = (self.n, self.p, self.q);
        let fits = src.saturating_sub(n) / q; // (c + 1)·q + n ≤ src
        let mut chunks = (self.first.len() / p).min(fits);
        'outer: for c in 1..chunks {
            for k in 0..p {
                let i = c * p + k;
                if self.first[i] != self.first[k] + c * q
                    || self.weights[i * n..(i + 1) * n] != self.weights[k * n..(k + 1) * n]
                {
                    chunks = c;
                    break 'outer;
                }
            }
        }
        // The first chunk's taps must also stay within its window of `q + n` inputs.
        if self.first[..p].iter().any(|&f| f > q) {
            return 0;
        }
        chunks
    }
}

/// One plane's scaler: vertical taps first (whole lines at once, which vectorises), then
/// horizontal taps on the few output lines.
#[derive(Clone, Debug)]
struct PlaneScaler {
    src_w: usize,
    src_h: usize,
    dst_w: usize,
    dst_h: usize,
    h: Taps,
    v: Taps,
    acc: Vec<u32>,
}

impl PlaneScaler {
    fn new(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Self {
        PlaneScaler {
            src_w,
            src_h,
            dst_w,
            dst_h,
            h: Taps::new(src_w, dst_w),
            v: Taps::new(src_h, dst_h),
            acc: vec![0; src_w],
        }
    }

    fn scale(&mut self, src: &[u8], dst: &mut [u8]) {
        if self.src_w == 0 || self.dst_w == 0 || self.src_h == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is all `scale_avx2` requires of the CPU, and it was just detected.
            unsafe { self.scale_avx2(src, dst) };
            return;
        }
        self.scale_any_cpu(src, dst);
    }

    /// The same code compiled for AVX2 (the vertical pass's 32-bit multiplies need it).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn scale_avx2(&mut self, src: &[u8], dst: &mut [u8]) {
        self.scale_any_cpu(src, dst);
    }

    #[inline(always)]
    fn scale_any_cpu(&mut self, src: &[u8], dst: &mut [u8]) {
        match self.h.n {
            1 => self.rows::<1>(src, dst),
            2 => self.rows::<2>(src, dst),
            3 => self.rows::<3>(src, dst),
            4 => self.rows::<4>(src, dst),
            _ => self.rows_any(src, dst),
        }
    }

    /// Vertical taps into `self.acc` for output line `oy`, keeping 8 fractional bits.
    #[inline(always)]
    fn vertical(&mut self, src: &[u8], oy: usize) {
        let (sw, n) = (self.src_w, self.v.n);
        let first = self.v.first[oy];
        self.acc.fill(0);
        for (k, &w) in self.v.weights[oy * n..(oy + 1) * n].iter().enumerate() {
            if w == 0 {
                continue;
            }
            let line = &src[(first + k) * sw..][..sw];
            for (a, &p) in self.acc.iter_mut().zip(line) {
                *a += u32::from(p) * w;
            }
        }
        for a in self.acc.iter_mut() {
            *a = (*a + (1 << (WEIGHT_BITS - 9))) >> (WEIGHT_BITS - 8);
        }
    }

    /// All output lines with `N` horizontal taps, so the inner loops unroll. Where the ratio
    /// has a short pattern, outputs go chunk by chunk with the pattern's fixed offsets and
    /// weights (no per-output table reads); the rest goes by the per-output table.
    #[inline(always)]
    fn rows<const N: usize>(&mut self, src: &[u8], dst: &mut [u8]) {
        let (p, q, dw) = (self.h.p, self.h.q, self.dst_w);
        let done = self.h.periodic_chunks * p;
        let pattern: Vec<(usize, [u32; N])> = (0..if done > 0 { p } else { 0 })
            .map(|k| {
                (
                    self.h.first[k],
                    std::array::from_fn(|t| self.h.weights[k * N + t]),
                )
            })
            .collect();
        // Common ratios get a chunk loop with compile-time sizes and offsets, which compilers
        // vectorise (about 3× faster with AVX2). Area taps start at `k·q/p` in each chunk;
        // the fixed loop also needs them to end inside it.
        let within = pattern
            .iter()
            .enumerate()
            .all(|(k, &(f, _))| f == k * q / p && f + N <= q);
        for (oy, out) in dst.chunks_exact_mut(dw).take(self.dst_h).enumerate() {
            self.vertical(src, oy);
            let mid = &self.acc;
            let (periodic, rest) = out.split_at_mut(done);
            match (p, q) {
                _ if done == 0 => {}
                (1, 2) if within => chunks_fixed::<1, 2, N>(mid, periodic, &pattern),
                (2, 3) if within => chunks_fixed::<2, 3, N>(mid, periodic, &pattern),
                (3, 4) if within => chunks_fixed::<3, 4, N>(mid, periodic, &pattern),
                (1, 3) if within => chunks_fixed::<1, 3, N>(mid, periodic, &pattern),
                (4, 5) if within => chunks_fixed::<4, 5, N>(mid, periodic, &pattern),
                _ => chunks_any::<N>(mid, periodic, &pattern, p, q),
            }
            let rest = rest
                .iter_mut()
                .zip(&self.h.first[done..])
                .zip(self.h.weights[done * N..].chunks_exact(N));
            for ((o, &first), w) in rest {
                let s = &mid[first..first + N];
                let mut sum = 0u32;
                for k in 0..N {
                    sum += s[k] * w[k];
                }
                *o = h_round(sum);
            }
        }
    }

    /// Any number of taps (extreme downscales).
    fn rows_any(&mut self, src: &[u8], dst: &mut [u8]) {
        for (oy, out) in dst
            .chunks_exact_mut(self.dst_w)
            .take(self.dst_h)
            .enumerate()
        {
            self.vertical(src, oy);
            horizontal_any(&self.acc, &self.h, out);
        }
    }
}

/// The periodic part of a line for a `Q:P` shrink known at compile time: `P` outputs from
/// each chunk of `Q` inputs, output `k`'s taps starting at `k·Q/P` (a constant here) and
/// ending inside the chunk.
#[inline(always)]
fn chunks_fixed<const P: usize, const Q: usize, const N: usize>(
    mid: &[u32],
    out: &mut [u8],
    pattern: &[(usize, [u32; N])],
) {
    let Ok(pattern) = <&[(usize, [u32; N]); P]>::try_from(pattern) else {
        return chunks_any::<N>(mid, out, pattern, P, Q);
    };
    let weights: [[u32; N]; P] = std::array::from_fn(|k| pattern[k].1);
    for (chunk, window) in out.chunks_exact_mut(P).zip(mid.chunks_exact(Q)) {
        for k in 0..P {
            let f = k * Q / P;
            let mut sum = 0u32;
            for t in 0..N {
                sum += window[(f + t).min(Q - 1)] * weights[k][t];
            }
            chunk[k] = h_round(sum);
        }
    }
}

/// The periodic part of a line for any short pattern: windows of `q + N` inputs, step `q`.
#[inline(always)]
fn chunks_any<const N: usize>(
    mid: &[u32],
    out: &mut [u8],
    pattern: &[(usize, [u32; N])],
    p: usize,
    q: usize,
) {
    let windows = mid.windows(q + N).step_by(q.max(1));
    for (chunk, window) in out.chunks_exact_mut(p.max(1)).zip(windows) {
        for (o, (f, w)) in chunk.iter_mut().zip(pattern) {
            let mut sum = 0u32;
            for k in 0..N {
                sum += window[f + k] * w[k];
            }
            *o = h_round(sum);
        }
    }
}

const H_SHIFT: u32 = WEIGHT_BITS + 8;

/// Weights sum to 1 and `mid` ≤ 255·256, so the result fits a byte.
#[inline(always)]
fn h_round(sum: u32) -> u8 {
    ((sum + (1 << (H_SHIFT - 1))) >> H_SHIFT) as u8
}

fn horizontal_any(mid: &[u32], taps: &Taps, out: &mut [u8]) {
    let n = taps.n;
    for ((o, &first), w) in out
        .iter_mut()
        .zip(&taps.first)
        .zip(taps.weights.chunks_exact(n))
    {
        let sum: u64 = mid[first..first + n]
            .iter()
            .zip(w)
            .map(|(&m, &wk)| u64::from(m) * u64::from(wk))
            .sum();
        *o = ((sum + (1 << (H_SHIFT - 1))) >> H_SHIFT).min(255) as u8;
    }
}

/// Resizes I420 frames of one size to another; build it once and reuse it for every frame
/// (it holds the filter tables and line buffers).
#[derive(Clone, Debug)]
pub struct Scaler {
    src: (usize, usize),
    dst: (usize, usize),
    luma: PlaneScaler,
    chroma: PlaneScaler,
}

impl Scaler {
    pub fn new(src_width: usize, src_height: usize, dst_width: usize, dst_height: usize) -> Self {
        let (scw, sch) = VideoFrame::chroma_size(src_width, src_height);
        let (dcw, dch) = VideoFrame::chroma_size(dst_width, dst_height);
        Scaler {
            src: (src_width, src_height),
            dst: (dst_width, dst_height),
            luma: PlaneScaler::new(src_width, src_height, dst_width, dst_height),
            chroma: PlaneScaler::new(scw, sch, dcw, dch),
        }
    }

    pub fn src_size(&self) -> (usize, usize) {
        self.src
    }

    pub fn dst_size(&self) -> (usize, usize) {
        self.dst
    }

    /// Scales `src` (which must have the source size) into a new frame of the target size.
    pub fn scale(&mut self, src: &VideoFrame) -> Result<VideoFrame, PixelError> {
        let (sw, sh) = self.src;
        check_len("I420 source", src.data.len(), VideoFrame::byte_len(sw, sh))?;
        if src.width != sw || src.height != sh {
            return Err(PixelError::ShortBuffer {
                what: "I420 source (size differs from the scaler's)",
                len: src.data.len(),
                need: VideoFrame::byte_len(sw, sh),
            });
        }
        let (dw, dh) = self.dst;
        let mut dst = VideoFrame {
            width: dw,
            height: dh,
            data: vec![0; VideoFrame::byte_len(dw, dh)],
        };
        if self.src == self.dst {
            dst.data.copy_from_slice(&src.data);
            return Ok(dst);
        }
        let (dy, du, dv) = dst.planes_mut();
        self.luma.scale(src.y(), dy);
        self.chroma.scale(src.u(), du);
        self.chroma.scale(src.v(), dv);
        Ok(dst)
    }
}

/// One-off convenience: `src` scaled to `width × height`.
pub fn scale_i420(src: &VideoFrame, width: usize, height: usize) -> Result<VideoFrame, PixelError> {
    Scaler::new(src.width, src.height, width, height).scale(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsignal;

    fn solid_bgra(bgr: [u8; 3], w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|_| [bgr[0], bgr[1], bgr[2], 0xFF])
            .collect()
    }

    fn planes_are(f: &VideoFrame, y: u8, u: u8, v: u8) -> bool {
        f.y().iter().all(|&p| p == y)
            && f.u().iter().all(|&p| p == u)
            && f.v().iter().all(|&p| p == v)
    }

    #[test]
    fn bgra_known_colours() {
        let mut f = VideoFrame::black(0, 0);
        for (w, h) in [(4, 2), (5, 3), (1, 1), (64, 36)] {
            bgra_to_i420(&solid_bgra([255, 255, 255], w, h), w * 4, w, h, &mut f).unwrap();
            assert!(planes_are(&f, 235, 128, 128), "white {w}x{h}: {:?}", f.data);
            bgra_to_i420(&solid_bgra([0, 0, 0], w, h), w * 4, w, h, &mut f).unwrap();
            assert!(planes_are(&f, 16, 128, 128), "black {w}x{h}");
            // Pure red and blue, as BT.601 limited range has them.
            bgra_to_i420(&solid_bgra([0, 0, 255], w, h), w * 4, w, h, &mut f).unwrap();
            assert!(planes_are(&f, 82, 90, 240), "red {w}x{h}: {:?}", f.data);
            bgra_to_i420(&solid_bgra([255, 0, 0], w, h), w * 4, w, h, &mut f).unwrap();
            assert!(planes_are(&f, 41, 240, 110), "blue {w}x{h}: {:?}", f.data);
        }
    }

    #[test]
    fn bgra_chroma_is_the_block_mean_and_stride_is_honoured() {
        // 2×2: white, black / black, white → mean grey 127.5; stride with 8 bytes of padding.
        let (w, h, stride) = (2, 2, 16);
        let mut src = vec![0xAAu8; stride * h];
        src[0..4].copy_from_slice(&[255, 255, 255, 0]);
        src[4..8].copy_from_slice(&[0, 0, 0, 0]);
        src[stride..stride + 4].copy_from_slice(&[0, 0, 0, 0]);
        src[stride + 4..stride + 8].copy_from_slice(&[255, 255, 255, 0]);
        let mut f = VideoFrame::black(0, 0);
        bgra_to_i420(&src, stride, w, h, &mut f).unwrap();
        assert_eq!(f.y(), &[235, 16, 16, 235]);
        assert_eq!((f.u(), f.v()), (&[128u8][..], &[128u8][..]));
    }

    #[test]
    fn bgra_short_buffers_are_errors() {
        let mut f = VideoFrame::black(0, 0);
        assert!(bgra_to_i420(&[0; 31], 16, 4, 2, &mut f).is_err());
        assert!(bgra_to_i420(&[0; 64], 8, 4, 2, &mut f).is_err());
        assert!(bgra_to_i420(&[0; 32], 16, 4, 2, &mut f).is_ok());
    }

    #[test]
    fn cursor_is_blended_over_a_region_and_clipped() {
        let (w, h) = (8, 6);
        let mut img = solid_bgra([100, 100, 100], w, h);
        // 3×2 cursor: opaque red, half-transparent white (premultiplied), transparent;
        // second line opaque black, opaque white, transparent.
        let cursor = CursorImage {
            width: 3,
            height: 2,
            xhot: 0,
            yhot: 0,
            pixels: vec![
                0xFFFF_0000,
                0x8080_8080,
                0x0000_0000,
                0xFF00_0000,
                0xFFFF_FFFF,
                0x0000_0000,
            ],
        };
        blend_cursor(&mut img, w * 4, w, h, &cursor, 2, 3);
        let px = |img: &[u8], x: usize, y: usize| {
            <[u8; 4]>::try_from(&img[(y * w + x) * 4..][..4]).unwrap()
        };
        assert_eq!(px(&img, 2, 3), [0, 0, 255, 255]);
        // 128 + 100·127/255 ≈ 178.
        assert_eq!(px(&img, 3, 3), [178, 178, 178, 255]);
        assert_eq!(px(&img, 4, 3), [100, 100, 100, 255]);
        assert_eq!(px(&img, 2, 4), [0, 0, 0, 255]);
        assert_eq!(px(&img, 3, 4), [255, 255, 255, 255]);
        // Nothing outside the cursor changed.
        for y in 0..h {
            for x in 0..w {
                if !((2..=4).contains(&x) && (3..=4).contains(&y)) {
                    assert_eq!(px(&img, x, y), [100, 100, 100, 255], "({x},{y})");
                }
            }
        }
        // Partly and wholly outside: clipped, no panic.
        let mut img = solid_bgra([100, 100, 100], w, h);
        blend_cursor(&mut img, w * 4, w, h, &cursor, -1, -1);
        assert_eq!(px(&img, 0, 0), [255, 255, 255, 255]);
        blend_cursor(&mut img, w * 4, w, h, &cursor, 7, 5);
        assert_eq!(px(&img, 7, 5), [0, 0, 255, 255]);
        for (x, y) in [
            (-10, 0),
            (100, 0),
            (0, -10),
            (0, 100),
            (i64::MIN / 2, i64::MAX / 2),
        ] {
            blend_cursor(&mut img, w * 4, w, h, &cursor, x, y);
        }
    }

    #[test]
    fn fit_keeps_aspect_and_even_sides() {
        assert_eq!(fit_size(1920, 1080, 1280, 720), (1280, 720));
        assert_eq!(fit_size(1280, 720, 1920, 1080), (1280, 720));
        assert_eq!(fit_size(2560, 1600, 1920, 1080), (1728, 1080));
        assert_eq!(fit_size(1366, 768, 1280, 720), (1280, 720));
        assert_eq!(fit_size(800, 601, 1920, 1080), (800, 600));
        assert_eq!(fit_size(1000, 3000, 1280, 720), (240, 720));
        assert_eq!(fit_size(3001, 1000, 1280, 720), (1280, 426));
        assert_eq!(fit_size(1920, 1080, 0, 0), (1920, 1080));
        assert_eq!(fit_size(0, 1080, 1280, 720), (0, 0));
    }

    #[test]
    fn downscale_keeps_the_barcode() {
        let t = 1_763_950_000_123;
        let mut src = VideoFrame::black(1920, 1080);
        testsignal::draw(&mut src, t);
        for (w, h) in [
            (1280, 720),
            (960, 540),
            (640, 360),
            (854, 480),
            (1278, 718),
            (320, 180),
        ] {
            let out = scale_i420(&src, w, h).unwrap();
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(testsignal::read(&out), Some(t), "1920x1080 → {w}x{h}");
        }
        // Upscaling works too (bilinear).
        let out = scale_i420(&scale_i420(&src, 640, 360).unwrap(), 1280, 720).unwrap();
        assert_eq!(testsignal::read(&out), Some(t));
    }

    #[test]
    fn downscale_preserves_flat_colours_and_means() {
        let mut src = VideoFrame::black(1920, 1080);
        src.y_mut().fill(200);
        let (_, u, v) = src.planes_mut();
        u.fill(60);
        v.fill(190);
        let out = scale_i420(&src, 1280, 720).unwrap();
        assert!(planes_are(&out, 200, 60, 190));
        // A 1-px line pattern averages to its mean instead of aliasing.
        let mut stripes = VideoFrame::black(32, 4);
        for (i, p) in stripes.y_mut().iter_mut().enumerate() {
            *p = if i % 2 == 0 { 16 } else { 236 };
        }
        let out = scale_i420(&stripes, 16, 2).unwrap();
        assert!(
            out.y().iter().all(|&p| (120..=132).contains(&p)),
            "{:?}",
            out.y()
        );
    }

    /// Deterministic noise for comparing code paths.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn vector_and_portable_conversions_agree() {
        for (w, h) in [(1920, 1080), (33, 17), (2, 1), (1, 2), (7, 7)] {
            let src = noise(w * h * 4, (w * h) as u64);
            let picture = Bgra {
                src: &src,
                stride: w * 4,
                width: w,
                height: h,
            };
            let mut portable = VideoFrame::black(w, h);
            convert::<false>(&picture, &mut portable);
            let mut split = VideoFrame::black(w, h);
            convert::<true>(&picture, &mut split);
            assert_eq!(portable, split, "{w}x{h}");
            let mut public = VideoFrame::black(0, 0);
            bgra_to_i420(&src, w * 4, w, h, &mut public).unwrap();
            assert_eq!(portable, public, "{w}x{h} (dispatched)");
        }
    }

    #[test]
    fn periodic_and_table_scaling_agree() {
        for (sw, sh, dw, dh) in [
            (1920, 1080, 1280, 720),
            (1920, 1080, 960, 540),
            (2560, 1440, 1920, 1080),
            (3840, 2160, 1280, 720),
            (1440, 900, 1152, 720),
            (1366, 768, 1280, 720),
            (1000, 600, 998, 598),
            (101, 57, 34, 20),
        ] {
            let mut src = VideoFrame::black(sw, sh);
            src.data = noise(src.data.len(), (sw + sh) as u64);
            let mut fast = Scaler::new(sw, sh, dw, dh);
            let mut slow = fast.clone();
            for plane in [&mut slow.luma, &mut slow.chroma] {
                plane.h.periodic_chunks = 0;
            }
            assert_eq!(
                fast.scale(&src).unwrap(),
                slow.scale(&src).unwrap(),
                "{sw}x{sh}→{dw}x{dh}"
            );
        }
        // Where a short pattern exists it covers (nearly) the whole line.
        let t = Taps::new(1920, 1280);
        assert_eq!((t.p, t.q, t.n), (2, 3, 2));
        assert!(t.periodic_chunks >= 639, "{}", t.periodic_chunks);
        assert_eq!(Taps::new(1366, 1280).periodic_chunks, 0);
    }

    #[test]
    fn scaler_checks_its_input() {
        let mut s = Scaler::new(64, 36, 32, 18);
        assert!(s.scale(&VideoFrame::black(32, 18)).is_err());
        assert_eq!(
            s.scale(&VideoFrame::black(64, 36)).unwrap().data.len(),
            VideoFrame::byte_len(32, 18)
        );
        // Degenerate sizes neither panic nor write out of bounds.
        for (sw, sh, dw, dh) in [(0, 0, 4, 2), (4, 2, 0, 0), (1, 1, 2, 2), (2, 2, 1, 1)] {
            let _ = Scaler::new(sw, sh, dw, dh).scale(&VideoFrame::black(sw, sh));
        }
        let same = Scaler::new(5, 3, 5, 3)
            .scale(&VideoFrame::black(5, 3))
            .unwrap();
        assert_eq!(same, VideoFrame::black(5, 3));
    }
}
