//! All the pixel work of the engine in one place: colour conversion into I420 (BGRA from
//! screens, the packed formats cameras deliver), drawing a cursor, and scaling. Per-pixel
//! work is integer only; floats appear only when filter tables are built.

pub mod bgra;
pub mod camera_formats;
pub mod cursor;
pub mod scale;

pub use bgra::bgra_to_i420;
pub use cursor::{CursorImage, blend_cursor};
pub use scale::{Resizer, Scaler, fit_size, scale_i420};

/// A picture buffer that does not hold what its size claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PixelError {
    #[error("{what} buffer too short: {len} bytes, need {need}")]
    ShortBuffer {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("a {}×{} picture given to a scaler for {}×{}", actual.0, actual.1, expected.0, expected.1)]
    WrongSize {
        expected: (usize, usize),
        actual: (usize, usize),
    },
}

pub(crate) fn check_len(what: &'static str, len: usize, need: usize) -> Result<(), PixelError> {
    if len < need {
        return Err(PixelError::ShortBuffer { what, len, need });
    }
    Ok(())
}

/// Shared by the pixel tests.
#[cfg(test)]
pub(crate) mod test_util {
    use crate::media::frame::VideoFrame;

    pub fn solid_bgra(bgr: [u8; 3], w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|_| [bgr[0], bgr[1], bgr[2], 0xFF])
            .collect()
    }

    pub fn planes_are(f: &VideoFrame, y: u8, u: u8, v: u8) -> bool {
        f.y().iter().all(|&p| p == y)
            && f.u().iter().all(|&p| p == u)
            && f.v().iter().all(|&p| p == v)
    }

    /// Deterministic noise for comparing code paths.
    pub fn noise(len: usize, seed: u64) -> Vec<u8> {
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
}
