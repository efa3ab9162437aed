//! BGRA (what X11 and the screen-capture APIs give) to limited-range BT.601 I420.

use super::{PixelError, check_len};
use crate::media::frame::VideoFrame;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::pixels::test_util::{noise, planes_are, solid_bgra};

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
}
