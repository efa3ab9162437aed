//! Raw media as it moves between capture, codecs and sinks.

use std::time::Instant;

/// A picture in I420 (YUV 4:2:0, limited range), planes packed one after another:
/// Y is `width × height`, U and V are `ceil(width/2) × ceil(height/2)` each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl VideoFrame {
    /// A black frame (Y = 16, U = V = 128).
    pub fn black(width: usize, height: usize) -> Self {
        let (cw, ch) = Self::chroma_size(width, height);
        let mut data = vec![16u8; width * height + 2 * cw * ch];
        data[width * height..].fill(128);
        VideoFrame {
            width,
            height,
            data,
        }
    }

    /// Width and height of each chroma plane.
    pub fn chroma_size(width: usize, height: usize) -> (usize, usize) {
        (width.div_ceil(2), height.div_ceil(2))
    }

    /// Bytes of an I420 frame of this size.
    pub fn byte_len(width: usize, height: usize) -> usize {
        let (cw, ch) = Self::chroma_size(width, height);
        width * height + 2 * cw * ch
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.width * self.height]
    }

    pub fn y_mut(&mut self) -> &mut [u8] {
        let n = self.width * self.height;
        &mut self.data[..n]
    }

    pub fn u(&self) -> &[u8] {
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        let start = self.width * self.height;
        &self.data[start..start + cw * ch]
    }

    pub fn v(&self) -> &[u8] {
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        let start = self.width * self.height + cw * ch;
        &self.data[start..start + cw * ch]
    }

    /// The picture as strided planes (here the strides are the widths).
    pub fn view(&self) -> PictureView<'_> {
        let (cw, _) = Self::chroma_size(self.width, self.height);
        PictureView {
            width: self.width,
            height: self.height,
            y: self.y(),
            u: self.u(),
            v: self.v(),
            y_stride: self.width,
            u_stride: cw,
            v_stride: cw,
        }
    }

    /// The three planes, mutably.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        let (y, rest) = self.data.split_at_mut(self.width * self.height);
        let (u, v) = rest.split_at_mut(cw * ch);
        (y, u, v)
    }
}

/// An I420 picture with strided planes, borrowed: what a decoder holds until its next
/// decode, or a [`VideoFrame`] seen through [`VideoFrame::view`]. Lets readers (scalers,
/// analysis) skip a copy per frame.
#[derive(Clone, Copy, Debug)]
pub struct PictureView<'a> {
    pub width: usize,
    pub height: usize,
    /// Each plane slice covers all its rows: row `r` starts at `r * stride`.
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    pub u_stride: usize,
    pub v_stride: usize,
}

impl<'a> PictureView<'a> {
    /// Width and height of the chroma planes.
    pub fn chroma_size(&self) -> (usize, usize) {
        VideoFrame::chroma_size(self.width, self.height)
    }

    pub fn y_row(&self, row: usize) -> &'a [u8] {
        &self.y[row * self.y_stride..][..self.width]
    }

    pub fn u_row(&self, row: usize) -> &'a [u8] {
        &self.u[row * self.u_stride..][..self.chroma_size().0]
    }

    pub fn v_row(&self, row: usize) -> &'a [u8] {
        &self.v[row * self.v_stride..][..self.chroma_size().0]
    }

    /// Copies into `frame`, reusing its buffer's allocation.
    pub fn copy_into(&self, frame: &mut VideoFrame) {
        let (_, ch) = self.chroma_size();
        frame.width = self.width;
        frame.height = self.height;
        // Appending rows (memcpy) rather than resizing first avoids zero-filling
        // megabytes that are about to be overwritten.
        frame.data.clear();
        frame
            .data
            .reserve(VideoFrame::byte_len(self.width, self.height));
        for r in 0..self.height {
            frame.data.extend_from_slice(self.y_row(r));
        }
        for r in 0..ch {
            frame.data.extend_from_slice(self.u_row(r));
        }
        for r in 0..ch {
            frame.data.extend_from_slice(self.v_row(r));
        }
    }

    /// A packed I420 copy.
    pub fn to_frame(&self) -> VideoFrame {
        let mut frame = VideoFrame {
            width: 0,
            height: 0,
            data: Vec::new(),
        };
        self.copy_into(&mut frame);
        frame
    }
}

/// A captured picture with the moment it was captured.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    pub frame: VideoFrame,
    pub captured_at: Instant,
}

/// Interleaved signed 16-bit PCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<i16>,
}

impl AudioFrame {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// The audio format inside the engine: 48 kHz mono in 10 ms chunks (WebRTC's audio
/// processing works on 10 ms; Opus packs two chunks into one 20 ms packet).
pub const SAMPLE_RATE: u32 = 48_000;
pub const CHUNK_SAMPLES: usize = 480;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_sizes_round_up_for_odd_dimensions() {
        let f = VideoFrame::black(5, 3);
        assert_eq!(f.y().len(), 15);
        assert_eq!(f.u().len(), 6);
        assert_eq!(f.v().len(), 6);
        assert_eq!(f.data.len(), VideoFrame::byte_len(5, 3));
        assert!(f.y().iter().all(|&p| p == 16));
        assert!(f.u().iter().chain(f.v()).all(|&p| p == 128));
    }
}
