//! What a remote video stream may cost us: a peer is a stranger, and a 16383×16383
//! keyframe (or a thousand frames a second) would make the decoder allocate gigabytes
//! and burn every core. The size is read from the bitstream's own header before any
//! decoding — VP8's keyframe header, H.264's sequence parameter set — and frames beyond
//! the limits are refused (dropped, counted, logged once) until the sender behaves.

use std::time::{Duration, Instant};

/// The largest picture and frame rate we decode (4K at 60 fps, with some slack).
pub const MAX_WIDTH: usize = 3840;
pub const MAX_HEIGHT: usize = 2160;
pub const MAX_FPS: u32 = 120;

/// What to do with an assembled frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Decode,
    /// Larger than the limits: refused until a keyframe within them arrives.
    TooLarge {
        width: usize,
        height: usize,
    },
    /// More frames this second than any camera or screen sends.
    TooFast,
}

/// The limits of one received stream, as a state machine fed each frame's bytes.
#[derive(Debug)]
pub struct VideoGuard {
    h264: bool,
    max: (usize, usize),
    max_fps: u32,
    /// A too-large keyframe was refused: its delta frames are refused too.
    refusing: bool,
    window_start: Option<Instant>,
    in_window: u32,
}

impl VideoGuard {
    /// A guard for a stream in H.264 (`h264`) or VP8.
    pub fn new(h264: bool) -> Self {
        VideoGuard::with_limits(h264, (MAX_WIDTH, MAX_HEIGHT), MAX_FPS)
    }

    pub fn with_limits(h264: bool, max: (usize, usize), max_fps: u32) -> Self {
        VideoGuard {
            h264,
            max,
            max_fps,
            refusing: false,
            window_start: None,
            in_window: 0,
        }
    }

    /// Whether the frame `data` (one assembled frame) may be decoded at `now`.
    pub fn check(&mut self, now: Instant, data: &[u8]) -> Verdict {
        let size = if self.h264 {
            h264_size(data)
        } else {
            vp8_keyframe_size(data)
        };
        match size {
            Some((width, height)) if width > self.max.0 || height > self.max.1 => {
                self.refusing = true;
                return Verdict::TooLarge { width, height };
            }
            // A keyframe within the limits: the stream is decodable again.
            Some(_) => self.refusing = false,
            None if self.refusing => {
                return Verdict::TooLarge {
                    width: 0,
                    height: 0,
                };
            }
            None => {}
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < Duration::from_secs(1) => {
                self.in_window += 1;
            }
            _ => {
                self.window_start = Some(now);
                self.in_window = 1;
            }
        }
        if self.in_window > self.max_fps {
            return Verdict::TooFast;
        }
        Verdict::Decode
    }
}

/// The size a VP8 keyframe declares (RFC 6386 §9.1), `None` for an interframe or
/// something that is not VP8.
pub fn vp8_keyframe_size(data: &[u8]) -> Option<(usize, usize)> {
    // Frame tag: bit 0 of the first byte is 0 for a keyframe; then the start code.
    if data.len() < 10 || data[0] & 1 != 0 || data[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = usize::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
    let height = usize::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
    Some((width, height))
}

/// The picture size of the first sequence parameter set in an H.264 Annex B frame,
/// `None` when it carries none (or it cannot be read).
pub fn h264_size(data: &[u8]) -> Option<(usize, usize)> {
    let sps = annex_b_units(data).find(|u| u.first().is_some_and(|b| b & 0x1f == 7))?;
    sps_size(&unescape(&sps[1..]))
}

/// The NAL units of an Annex B stream (after each 00 00 01 start code).
fn annex_b_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // Trailing zeros belong to the next start code (00 00 00 01).
            let mut e = s - 3;
            while e > 0 && data[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

/// Removes emulation prevention bytes (00 00 03 → 00 00).
fn unescape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len());
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// ue(v)
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// se(v)
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Width and height from an SPS payload (ITU-T H.264 §7.3.2.1.1), cropping included.
fn sps_size(sps: &[u8]) -> Option<(usize, usize)> {
    let mut r = Bits { data: sps, pos: 0 };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma
        r.ue()?; // bit_depth_chroma
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            for _ in 0..cycle.min(256) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_allowed
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    let height_mbs = (2 - frame_mbs_only) * height_units;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    let (mut crop_w, mut crop_h) = (0u64, 0u64);
    if r.bit()? == 1 {
        let (l, rr, t, b) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let (unit_x, unit_y) = match chroma_format {
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        crop_w = unit_x * (u64::from(l) + u64::from(rr));
        crop_h = unit_y * (u64::from(t) + u64::from(b));
    }
    let width = (width_mbs * 16).saturating_sub(crop_w);
    let height = (height_mbs * 16).saturating_sub(crop_h);
    Some((usize::try_from(width).ok()?, usize::try_from(height).ok()?))
}

fn skip_scaling_list(r: &mut Bits, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8_keyframe(w: u16, h: u16) -> Vec<u8> {
        let mut f = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a];
        f.extend_from_slice(&w.to_le_bytes());
        f.extend_from_slice(&h.to_le_bytes());
        f.extend_from_slice(&[0; 20]);
        f
    }

    #[test]
    fn reads_the_size_of_a_vp8_keyframe_and_nothing_from_an_interframe() {
        assert_eq!(vp8_keyframe_size(&vp8_keyframe(640, 480)), Some((640, 480)));
        // The top two bits are the scaling mode, not the size.
        assert_eq!(
            vp8_keyframe_size(&vp8_keyframe(0xc000 | 1280, 720)),
            Some((1280, 720))
        );
        let mut inter = vp8_keyframe(640, 480);
        inter[0] |= 1;
        assert_eq!(vp8_keyframe_size(&inter), None);
        assert_eq!(vp8_keyframe_size(&[0; 4]), None);
    }

    #[test]
    fn reads_the_size_every_codec_writes_into_its_keyframes() {
        use crate::codec::{EncoderSettings, VIDEO_CODECS};
        use crate::media::frame::VideoFrame;
        for codec in VIDEO_CODECS {
            let h264 = codec.name.eq_ignore_ascii_case("h264");
            for (w, h) in [(640, 480), (1920, 1080), (320, 180)] {
                let settings = EncoderSettings {
                    width: w,
                    height: h,
                    ..EncoderSettings::default()
                };
                let mut enc = codec.encoder(&settings).expect("an encoder");
                let frame = VideoFrame {
                    width: w,
                    height: h,
                    data: vec![128; VideoFrame::byte_len(w, h)],
                };
                let out = enc.encode(&frame, 0, true).expect("encoded");
                let key = &out.first().expect("a frame").data;
                let read = if h264 {
                    h264_size(key)
                } else {
                    vp8_keyframe_size(key)
                };
                assert_eq!(read, Some((w, h)), "{} at {w}x{h}", codec.name);
                let next = enc.encode(&frame, 3000, false).expect("encoded");
                if let Some(delta) = next.first().filter(|f| !f.keyframe) {
                    let read = if h264 {
                        h264_size(&delta.data)
                    } else {
                        vp8_keyframe_size(&delta.data)
                    };
                    assert_eq!(read, None, "a delta frame declares no size");
                }
            }
        }
        // A frame without an SPS says nothing.
        assert_eq!(h264_size(&[0, 0, 1, 0x41, 0x9a]), None);
    }

    #[test]
    fn a_huge_keyframe_and_its_delta_frames_are_refused_until_a_sane_keyframe() {
        let t = Instant::now();
        let mut g = VideoGuard::new(false);
        assert_eq!(g.check(t, &vp8_keyframe(640, 480)), Verdict::Decode);
        assert_eq!(
            g.check(t, &vp8_keyframe(16383, 16383)),
            Verdict::TooLarge {
                width: 16383,
                height: 16383
            }
        );
        let mut inter = vp8_keyframe(0, 0);
        inter[0] |= 1;
        assert!(matches!(g.check(t, &inter), Verdict::TooLarge { .. }));
        assert_eq!(g.check(t, &vp8_keyframe(3840, 2160)), Verdict::Decode);
        assert_eq!(g.check(t, &inter), Verdict::Decode);
    }

    #[test]
    fn more_frames_a_second_than_the_limit_are_refused() {
        let t = Instant::now();
        let mut g = VideoGuard::with_limits(false, (MAX_WIDTH, MAX_HEIGHT), 3);
        let f = vp8_keyframe(64, 64);
        let verdicts: Vec<_> = (0..5).map(|_| g.check(t, &f)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Decode,
                Verdict::Decode,
                Verdict::Decode,
                Verdict::TooFast,
                Verdict::TooFast
            ]
        );
        assert_eq!(g.check(t + Duration::from_secs(1), &f), Verdict::Decode);
    }
}
