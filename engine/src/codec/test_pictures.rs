//! Pictures and a quality measure shared by the codec tests.

use crate::media::frame::VideoFrame;

/// A diagonal gradient scrolling each frame, with a textured box moving across it.
pub fn moving_picture(width: usize, height: usize, t: usize) -> VideoFrame {
    let mut f = VideoFrame::black(width, height);
    let (cw, _) = VideoFrame::chroma_size(width, height);
    let (y, u, v) = f.planes_mut();
    let (bx, by) = ((t * 7) % width.max(1), (t * 3) % height.max(1));
    for r in 0..height {
        for c in 0..width {
            let mut p = 16 + ((c + r + 4 * t) % 440) / 2;
            if (bx..bx + width / 6).contains(&c) && (by..by + height / 6).contains(&r) {
                p = if ((c - bx) / 8 + (r - by) / 8) % 2 == 0 {
                    40
                } else {
                    220
                };
            }
            y[r * width + c] = p as u8;
        }
    }
    for (i, (pu, pv)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
        let (r, c) = (i / cw, i % cw);
        *pu = (64 + (c + t) % 128) as u8;
        *pv = (64 + (r + 2 * t) % 128) as u8;
    }
    f
}

/// The moving picture with light grain: detailed enough that the rate controller
/// spends whatever it is given.
pub fn grainy_picture(width: usize, height: usize, t: usize) -> VideoFrame {
    let mut f = moving_picture(width, height, t);
    let mut state = (t as u64).wrapping_mul(6364136223846793005).wrapping_add(1);
    for p in f.y_mut() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *p = (i32::from(*p) + ((state >> 59) as i32 - 16)).clamp(16, 235) as u8;
    }
    f
}

pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        return 99.0;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}
