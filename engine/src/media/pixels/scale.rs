//! Resizing I420 pictures (area filter when shrinking, bilinear when growing), and the size
//! a picture is sent at to fit a maximum.

use super::{PixelError, check_len};
use crate::media::frame::{PictureView, VideoFrame};

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

/// A source plane: line `r` starts at `r * stride`.
#[derive(Clone, Copy)]
struct Plane<'a> {
    data: &'a [u8],
    stride: usize,
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

    /// Scales a plane whose line `r` starts at `r * stride` (`stride >= src_w`, and `src`
    /// holds at least `stride * (src_h - 1) + src_w` bytes, as [`PictureView`] promises).
    fn scale(&mut self, src: &[u8], stride: usize, dst: &mut [u8]) {
        if self.src_w == 0 || self.dst_w == 0 || self.src_h == 0 {
            return;
        }
        let src = Plane { data: src, stride };
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
    fn scale_avx2(&mut self, src: Plane<'_>, dst: &mut [u8]) {
        self.scale_any_cpu(src, dst);
    }

    #[inline(always)]
    fn scale_any_cpu(&mut self, src: Plane<'_>, dst: &mut [u8]) {
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
    fn vertical(&mut self, src: Plane<'_>, oy: usize) {
        let (sw, n) = (self.src_w, self.v.n);
        let first = self.v.first[oy];
        self.acc.fill(0);
        for (k, &w) in self.v.weights[oy * n..(oy + 1) * n].iter().enumerate() {
            if w == 0 {
                continue;
            }
            let line = &src.data[(first + k) * src.stride..][..sw];
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
    fn rows<const N: usize>(&mut self, src: Plane<'_>, dst: &mut [u8]) {
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
    fn rows_any(&mut self, src: Plane<'_>, dst: &mut [u8]) {
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
        self.scale_view(&src.view())
    }

    /// Scales a strided picture (a decoder's, without copying it first) into a new frame
    /// of the target size: the only copy made.
    pub fn scale_view(&mut self, src: &PictureView<'_>) -> Result<VideoFrame, PixelError> {
        let (sw, sh) = self.src;
        if (src.width, src.height) != (sw, sh) {
            return Err(PixelError::WrongSize {
                expected: (sw, sh),
                actual: (src.width, src.height),
            });
        }
        if self.src == self.dst {
            return Ok(src.to_frame());
        }
        let (dw, dh) = self.dst;
        let mut dst = VideoFrame {
            width: dw,
            height: dh,
            data: vec![0; VideoFrame::byte_len(dw, dh)],
        };
        let (dy, du, dv) = dst.planes_mut();
        self.luma.scale(src.y, src.y_stride, dy);
        self.chroma.scale(src.u, src.u_stride, du);
        self.chroma.scale(src.v, src.v_stride, dv);
        Ok(dst)
    }
}

/// Scales pictures to the size wanted for each, keeping its filter tables while the
/// sizes stay the same (one per stream).
#[derive(Clone, Debug, Default)]
pub struct Resizer {
    scaler: Option<Scaler>,
}

impl Resizer {
    /// `picture` at `width × height`, in a new frame (a copy when the size is the same).
    pub fn resize(
        &mut self,
        picture: &PictureView<'_>,
        width: usize,
        height: usize,
    ) -> Result<VideoFrame, PixelError> {
        let src = (picture.width, picture.height);
        let scaler = match &mut self.scaler {
            Some(s) if s.src_size() == src && s.dst_size() == (width, height) => s,
            slot => slot.insert(Scaler::new(src.0, src.1, width, height)),
        };
        scaler.scale_view(picture)
    }
}

/// One-off convenience: `src` scaled to `width × height`.
pub fn scale_i420(src: &VideoFrame, width: usize, height: usize) -> Result<VideoFrame, PixelError> {
    Scaler::new(src.width, src.height, width, height).scale(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::pixels::test_util::{noise, planes_are};
    use crate::media::testsignal;

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
    fn strided_views_scale_like_packed_frames() {
        let (w, h) = (101, 57);
        let mut packed = VideoFrame::black(w, h);
        packed.data = noise(packed.data.len(), 7);
        // The same picture with 13 bytes of junk after every line of every plane.
        let pad = |plane: &[u8], width: usize| -> Vec<u8> {
            plane
                .chunks(width)
                .flat_map(|line| line.iter().copied().chain([0xEE; 13]))
                .collect()
        };
        let (cw, _) = VideoFrame::chroma_size(w, h);
        let (y, u, v) = (pad(packed.y(), w), pad(packed.u(), cw), pad(packed.v(), cw));
        let strided = PictureView {
            width: w,
            height: h,
            y: &y,
            u: &u,
            v: &v,
            y_stride: w + 13,
            u_stride: cw + 13,
            v_stride: cw + 13,
        };
        for (dw, dh) in [(50, 28), (w, h), (160, 90)] {
            let mut scaler = Scaler::new(w, h, dw, dh);
            assert_eq!(
                scaler.scale_view(&strided).unwrap(),
                scaler.scale(&packed).unwrap(),
                "{w}x{h}→{dw}x{dh}"
            );
        }
        assert!(matches!(
            Scaler::new(64, 36, 32, 18).scale_view(&packed.view()),
            Err(PixelError::WrongSize { .. })
        ));
        // A resizer follows both sizes.
        let mut resizer = Resizer::default();
        assert_eq!(
            resizer.resize(&strided, 50, 28).unwrap(),
            scale_i420(&packed, 50, 28).unwrap()
        );
        let small = scale_i420(&packed, 20, 10).unwrap();
        assert_eq!(resizer.resize(&small.view(), 20, 10).unwrap(), small);
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
