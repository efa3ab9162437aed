//! The packed pixel formats cameras deliver (YUYV, NV12, RGB, BGR, grey) to I420, BT.601
//! limited range (Y 16..235, U/V 16..240).

use crate::media::frame::VideoFrame;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{format} frame too short: {got} bytes, need {needed}")]
    TooShort {
        format: &'static str,
        got: usize,
        needed: usize,
    },
    #[error("MJPEG frame not decoded: {0}")]
    Mjpeg(String),
}

fn check_len(format: &'static str, data: &[u8], needed: usize) -> Result<(), ConvertError> {
    if data.len() < needed {
        return Err(ConvertError::TooShort {
            format,
            got: data.len(),
            needed,
        });
    }
    Ok(())
}

fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

fn chroma(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u as u8, v as u8)
}

/// Packed 8-bit RGB (`r`, `b` = byte offsets of red and blue in a 3-byte pixel).
fn packed_rgb_to_i420(
    data: &[u8],
    width: usize,
    height: usize,
    r: usize,
    b: usize,
) -> Result<VideoFrame, ConvertError> {
    check_len("RGB", data, width * height * 3)?;
    let mut frame = VideoFrame::black(width, height);
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let (yp, up, vp) = frame.planes_mut();
    let px = |x: usize, y: usize| {
        let i = (y * width + x) * 3;
        (
            i32::from(data[i + r]),
            i32::from(data[i + 1]),
            i32::from(data[i + b]),
        )
    };
    for y in 0..height {
        for x in 0..width {
            let (r, g, b) = px(x, y);
            yp[y * width + x] = luma(r, g, b);
        }
    }
    // Chroma from the mean colour of each 2×2 block (fewer pixels at odd edges).
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut sr, mut sg, mut sb, mut n) = (0, 0, 0, 0);
            for y in 2 * cy..(2 * cy + 2).min(height) {
                for x in 2 * cx..(2 * cx + 2).min(width) {
                    let (r, g, b) = px(x, y);
                    (sr, sg, sb, n) = (sr + r, sg + g, sb + b, n + 1);
                }
            }
            let (u, v) = chroma((sr + n / 2) / n, (sg + n / 2) / n, (sb + n / 2) / n);
            up[cy * cw + cx] = u;
            vp[cy * cw + cx] = v;
        }
    }
    Ok(frame)
}

pub fn rgb_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    packed_rgb_to_i420(data, width, height, 0, 2)
}

pub fn bgr_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    packed_rgb_to_i420(data, width, height, 2, 0)
}

/// YUYV 4:2:2 (Y0 U Y1 V per two pixels) to 4:2:0: vertical chroma pairs are averaged.
pub fn yuyv_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    let stride = width.div_ceil(2) * 4;
    check_len("YUYV", data, stride * height)?;
    let mut frame = VideoFrame::black(width, height);
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let (yp, up, vp) = frame.planes_mut();
    for y in 0..height {
        let row = &data[y * stride..(y + 1) * stride];
        for x in 0..width {
            yp[y * width + x] = row[(x / 2) * 4 + (x % 2) * 2];
        }
    }
    for cy in 0..ch {
        let top = &data[2 * cy * stride..];
        let bottom = if 2 * cy + 1 < height {
            &data[(2 * cy + 1) * stride..]
        } else {
            top
        };
        for cx in 0..cw {
            let avg = |o: usize| {
                (u16::from(top[cx * 4 + o]) + u16::from(bottom[cx * 4 + o])).div_ceil(2) as u8
            };
            up[cy * cw + cx] = avg(1);
            vp[cy * cw + cx] = avg(3);
        }
    }
    Ok(frame)
}

/// NV12: the Y plane, then one plane of interleaved U, V at quarter resolution.
pub fn nv12_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    check_len("NV12", data, width * height + 2 * cw * ch)?;
    let mut frame = VideoFrame::black(width, height);
    let (yp, up, vp) = frame.planes_mut();
    yp.copy_from_slice(&data[..width * height]);
    for (i, uv) in data[width * height..][..2 * cw * ch]
        .chunks_exact(2)
        .enumerate()
    {
        up[i] = uv[0];
        vp[i] = uv[1];
    }
    Ok(frame)
}

/// Full-range grey to limited-range luma, neutral chroma.
pub fn gray_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    check_len("GRAY", data, width * height)?;
    let mut frame = VideoFrame::black(width, height);
    for (y, &g) in frame.y_mut().iter_mut().zip(data) {
        *y = (16 + (u32::from(g) * 219 + 127) / 255) as u8;
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid_rgb(rgb: [u8; 3], width: usize, height: usize) -> Vec<u8> {
        rgb.iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect()
    }

    fn assert_solid(frame: &VideoFrame, yuv: (u8, u8, u8)) {
        assert!(
            frame.y().iter().all(|&y| y == yuv.0),
            "Y {:?}",
            &frame.y()[..4]
        );
        assert!(
            frame.u().iter().all(|&u| u == yuv.1),
            "U {:?}",
            &frame.u()[..2]
        );
        assert!(
            frame.v().iter().all(|&v| v == yuv.2),
            "V {:?}",
            &frame.v()[..2]
        );
    }

    #[test]
    fn rgb_white_black_red_give_limited_range_values() {
        for (w, h) in [(4, 2), (5, 3)] {
            assert_solid(
                &rgb_to_i420(&solid_rgb([255, 255, 255], w, h), w, h).unwrap(),
                (235, 128, 128),
            );
            assert_solid(
                &rgb_to_i420(&solid_rgb([0, 0, 0], w, h), w, h).unwrap(),
                (16, 128, 128),
            );
            assert_solid(
                &rgb_to_i420(&solid_rgb([255, 0, 0], w, h), w, h).unwrap(),
                (82, 90, 240),
            );
            assert_solid(
                &bgr_to_i420(&solid_rgb([0, 0, 255], w, h), w, h).unwrap(),
                (82, 90, 240),
            );
        }
    }

    #[test]
    fn rgb_chroma_is_the_mean_of_each_2x2_block() {
        // Left block: two red, two black pixels → mean (128, 0, 0); right block white.
        #[rustfmt::skip]
        let rgb = [
            255, 0, 0,   0, 0, 0,   255, 255, 255,   255, 255, 255,
            0, 0, 0,   255, 0, 0,   255, 255, 255,   255, 255, 255,
        ];
        let f = rgb_to_i420(&rgb, 4, 2).unwrap();
        assert_eq!(f.y(), &[82, 16, 235, 235, 16, 82, 235, 235]);
        assert_eq!(f.u(), &[chroma(128, 0, 0).0, 128]);
        assert_eq!(f.v(), &[chroma(128, 0, 0).1, 128]);
    }

    #[test]
    fn yuyv_pattern_converts_to_i420() {
        // 4×2: row 0 = Y 10 20 30 40, U/V 100/200 and 110/210; row 1 = Y 50..80, U/V 102/202, 120/220.
        #[rustfmt::skip]
        let yuyv = [
            10, 100, 20, 200,   30, 110, 40, 210,
            50, 102, 60, 202,   70, 120, 80, 220,
        ];
        let f = yuyv_to_i420(&yuyv, 4, 2).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(f.u(), &[101, 115]);
        assert_eq!(f.v(), &[201, 215]);
    }

    #[test]
    fn yuyv_with_odd_height_uses_the_last_row_alone() {
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210, 50, 102, 60, 202];
        let f = yuyv_to_i420(&yuyv, 2, 3).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40, 50, 60]);
        assert_eq!(f.u(), &[105, 102]);
        assert_eq!(f.v(), &[205, 202]);
    }

    #[test]
    fn nv12_and_gray_convert() {
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 100, 200, 110, 210];
        let f = nv12_to_i420(&nv12, 4, 2).unwrap();
        assert_eq!(f.y(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!((f.u(), f.v()), (&[100, 110][..], &[200, 210][..]));
        let g = gray_to_i420(&[0, 255, 128, 64], 2, 2).unwrap();
        assert_eq!(g.y(), &[16, 235, 126, 71]);
        assert_eq!((g.u(), g.v()), (&[128][..], &[128][..]));
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        assert!(yuyv_to_i420(&[0; 10], 4, 2).is_err());
        assert!(rgb_to_i420(&[0; 10], 4, 2).is_err());
        assert!(nv12_to_i420(&[0; 10], 4, 2).is_err());
        assert!(gray_to_i420(&[0; 3], 2, 2).is_err());
    }
}
