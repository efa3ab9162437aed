//! H.264 video through OpenH264 (the `openh264` crate, built from its bundled source),
//! shaped like [`crate::codec::vp8`] so the pipeline can use either codec.
//!
//! The encoder writes what WebRTC peers expect: constrained baseline profile, Annex-B
//! byte streams (start codes), one access unit per [`EncodedFrame`], and SPS + PPS in
//! front of every IDR so a receiver can join at any keyframe. Rate control is one-pass
//! bitrate mode with frame skipping off (every input frame yields a picture), and the
//! periodic IDR interval is long on purpose: receivers ask for keyframes (PLI/FIR).
//!
//! Sizes: H.264 codes 4:2:0 pictures in whole luma pairs, so an odd width or height
//! cannot be signalled. An odd frame is coded without its last column and/or row (the
//! receiver sees e.g. 640×360 for 641×361 input); the crop is free, done with strides.
//! Even sizes that are not multiples of 16 (642×362) are exact: the SPS crops them.
//!
//! Timestamps (`pts`) are in [`PTS_CLOCK_HZ`] ticks (90 kHz), as for VP8; OpenH264
//! gets them in milliseconds.

use std::os::raw::{c_int, c_void};

use bytes::Bytes;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

pub use crate::codec::vp8::{DecodedImage, EncodedFrame, PTS_CLOCK_HZ};
use crate::media::frame::VideoFrame;

/// The SDP `fmtp` browsers negotiate for constrained baseline, packetization mode 1
/// (FU-A fragments, so one large slice per picture is fine).
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// OpenH264 codes up to level 5.2: 3840×2160 either way round, and refuses pictures
/// under 16 pixels wide or high.
const MIN_SIDE: usize = 16;
const MAX_LONG_SIDE: usize = 3840;
const MAX_SHORT_SIDE: usize = 2160;

/// Frames between unrequested IDRs (100 s at 30 fps): a safety net only; each IDR is a
/// bitrate spike and receivers ask for one when they need it.
const KEYFRAME_INTERVAL: u32 = 3000;

/// Largest bitrate OpenH264 takes (it counts bits per second in a C `int`).
const MAX_BITRATE_KBPS: u32 = (i32::MAX / 1000) as u32;

// OpenH264 option ids and layer selector (codec_app_def.h; a stable C ABI). The
// `openh264` crate has no setter for a running encoder's bitrate, so `set_bitrate`
// goes through its raw API with these.
const ENCODER_OPTION_BITRATE: c_int = 5;
const ENCODER_OPTION_MAX_BITRATE: c_int = 6;
const ENCODER_OPTION_TRACE_LEVEL: c_int = 25;
const WELS_LOG_ERROR: u32 = 1;
const SPATIAL_LAYER_0: c_int = 0;
const SPATIAL_LAYER_ALL: c_int = 4;

/// `SBitrateInfo` from codec_app_def.h: `{ LAYER_NUM iLayer; int iBitrate; }`.
#[repr(C)]
struct BitrateInfo {
    layer: c_int,
    bitrate: c_int,
}

#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    #[error("invalid H.264 encoder configuration: {0}")]
    InvalidConfig(String),
    #[error("H.264 encoder initialisation failed: {0}")]
    EncoderInit(String),
    #[error("H.264 decoder initialisation failed: {0}")]
    DecoderInit(String),
    #[error("H.264 encode failed: {0}")]
    Encode(String),
    #[error("H.264 decode failed: {0}")]
    Decode(String),
    #[error("bad frame: {width}×{height} needs {expected} bytes of I420, got {actual}")]
    BadFrameSize {
        width: usize,
        height: usize,
        expected: usize,
        actual: usize,
    },
}

/// Same type under the codec-neutral name.
pub type CodecError = H264Error;

pub type Result<T, E = H264Error> = std::result::Result<T, E>;

/// Encoder settings. `Default` is a VGA camera at 30 fps and 600 kbps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H264EncoderConfig {
    /// Size of the input frames; the coded size is this rounded down to even numbers
    /// (see [`H264EncoderConfig::coded_size`]).
    pub width: usize,
    pub height: usize,
    /// Frame rate the frames really arrive at (OpenH264 clamps it to 1..=60). Unlike
    /// libvpx, OpenH264's bitrate mode budgets bits per frame from this, not from the
    /// timestamps: at half the rate the stream gets half the bitrate.
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// OpenH264's screen-content mode (text, sharp edges, mostly static): about twice
    /// camera mode's CPU time at 1080p (measured here: ~14–19 ms static, 18–25 ms
    /// moving, against ~5–9 and 10–12 ms; see the `timing` test).
    pub screen_content: bool,
}

impl Default for H264EncoderConfig {
    fn default() -> Self {
        H264EncoderConfig {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 600,
            screen_content: false,
        }
    }
}

impl H264EncoderConfig {
    /// A starting point for screen sharing, as [`Vp8EncoderConfig::screen`]: screen
    /// content mode, 15 fps, more bits.
    ///
    /// [`Vp8EncoderConfig::screen`]: crate::codec::vp8::Vp8EncoderConfig::screen
    pub fn screen(width: usize, height: usize) -> Self {
        H264EncoderConfig {
            width,
            height,
            fps: 15,
            bitrate_kbps: 1500,
            screen_content: true,
        }
    }

    /// The size of the coded pictures: the input size rounded down to even numbers.
    pub fn coded_size(&self) -> (usize, usize) {
        coded_size(self.width, self.height)
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(H264Error::InvalidConfig(msg));
        let (w, h) = self.coded_size();
        if w.min(h) < MIN_SIDE || w.max(h) > MAX_LONG_SIDE || w.min(h) > MAX_SHORT_SIDE {
            return bad(format!(
                "size {}×{} (coded {w}×{h}) outside {MIN_SIDE}×{MIN_SIDE}..={MAX_LONG_SIDE}×\
                 {MAX_SHORT_SIDE} (either orientation)",
                self.width, self.height
            ));
        }
        if self.fps == 0 || i64::from(self.fps) > PTS_CLOCK_HZ {
            return bad(format!("fps {} out of range", self.fps));
        }
        check_bitrate(self.bitrate_kbps)
    }

    fn to_openh264(&self) -> EncoderConfig {
        EncoderConfig::new()
            .usage_type(if self.screen_content {
                UsageType::ScreenContentRealTime
            } else {
                UsageType::CameraVideoRealTime
            })
            // Baseline with OpenH264 sets constraint_set0 and 1: constrained baseline
            // (profile-level-id 42c0xx), which every WebRTC endpoint decodes.
            .profile(Profile::Baseline)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(self.bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(self.fps as f32))
            // A skipped frame is a stall to the viewer; latency matters more here.
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(KEYFRAME_INTERVAL))
            // Browsers expect fixed parameter-set ids (as libwebrtc's encoder sends).
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            // Camera: no IDR of its own on a scene change (a cut costs a big P frame
            // instead of an unrequested keyframe). Screen content: OpenH264 insists on
            // detection and may then code an IDR (a slide change is a new picture).
            .scene_change_detect(self.screen_content)
            // OpenH264's own threads gave no speed-up on this kind of machine, and a
            // single slice per picture needs none.
            .num_threads(1)
            // Medium over Low (libwebrtc's): ~10–15% more CPU, but it keeps closer to
            // the target on hard content (1080p full motion: +11% vs +23% camera,
            // +62% vs +119% screen) and a little sharper at the same rate.
            .complexity(Complexity::Medium)
            // The engine's frames are BT.601 limited range (capture converts so).
            .vui(VuiConfig::bt601())
    }
}

fn check_bitrate(kbps: u32) -> Result<()> {
    if kbps == 0 || kbps > MAX_BITRATE_KBPS {
        return Err(H264Error::InvalidConfig(format!(
            "bitrate {kbps} kbps outside 1..={MAX_BITRATE_KBPS}"
        )));
    }
    Ok(())
}

/// Input size rounded down to even numbers (whole 4:2:0 chroma samples).
fn coded_size(width: usize, height: usize) -> (usize, usize) {
    (width & !1, height & !1)
}

/// A real-time H.264 encoder.
///
/// `Send` without any `unsafe impl` here: the `openh264` crate declares its encoder
/// `Send` (OpenH264 keeps no thread-local state, and `&mut self` serialises calls).
pub struct H264Encoder {
    inner: Encoder,
    config: H264EncoderConfig,
    /// OpenH264 initialises on the first frame (the `openh264` crate takes the size
    /// from it); runtime options can only be set after that.
    started: bool,
}

impl H264Encoder {
    pub fn new(config: H264EncoderConfig) -> Result<Self> {
        config.validate()?;
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config.to_openh264())
            .map_err(|e| H264Error::EncoderInit(e.to_string()))?;
        tracing::debug!(
            width = config.width,
            height = config.height,
            kbps = config.bitrate_kbps,
            screen = config.screen_content,
            "H.264 encoder ready"
        );
        let mut encoder = H264Encoder {
            inner,
            config,
            started: false,
        };
        // OpenH264 warns on stderr at every start that bitrate mode without frame
        // skipping can overshoot; that is the choice made here, so keep only errors
        // (the `openh264` crate silences everything once started).
        let mut level = WELS_LOG_ERROR;
        // SAFETY: the trace level is a `uint32_t`, read during the call; OpenH264
        // accepts it before initialisation.
        if let Err(e) = unsafe { encoder.set_option(ENCODER_OPTION_TRACE_LEVEL, &mut level) } {
            tracing::debug!(%e, "OpenH264 trace level not set");
        }
        Ok(encoder)
    }

    /// The configuration in force (it follows size and bitrate changes).
    pub fn config(&self) -> &H264EncoderConfig {
        &self.config
    }

    /// Encodes one frame. Normally yields exactly one [`EncodedFrame`] (an Annex-B
    /// access unit). A frame of a different size than configured restarts the encoder
    /// at that size (the output then starts with an IDR).
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>> {
        check_frame(frame)?;
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            tracing::debug!(
                from = ?(self.config.width, self.config.height),
                to = ?(frame.width, frame.height),
                "H.264 encoder restarting for a new frame size"
            );
            let config = H264EncoderConfig {
                width: frame.width,
                height: frame.height,
                ..self.config.clone()
            };
            // A fresh encoder rather than OpenH264's in-place reconfiguration: its
            // first frame is certain to be an IDR with new parameter sets.
            *self = H264Encoder::new(config)?;
        }
        // Before the first frame there is nothing to force: it is an IDR anyway.
        if force_keyframe && self.started {
            self.inner.force_intra_frame();
        }

        let (width, height) = self.config.coded_size();
        let input = CodedView {
            frame,
            width,
            height,
        };
        // OpenH264 counts milliseconds; in bitrate mode without skipping they pace
        // nothing (the budget per frame comes from `fps`).
        let millis = pts.max(0) / (PTS_CLOCK_HZ / 1000);
        let stream = self
            .inner
            .encode_at(&input, Timestamp::from_millis(millis as u64))
            .map_err(|e| H264Error::Encode(e.to_string()))?;
        self.started = true;
        let keyframe = match stream.frame_type() {
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
            // Only with frame skipping, which is off; nothing to send either way.
            FrameType::Skip => return Ok(Vec::new()),
            FrameType::Invalid => {
                return Err(H264Error::Encode("encoder produced no valid frame".into()));
            }
        };
        // Layers in order: parameter sets (before an IDR), then the picture's slices;
        // OpenH264 writes each NAL unit with its 4-byte start code.
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![EncodedFrame {
            data: Bytes::from(data),
            keyframe,
            pts,
        }])
    }

    /// Retargets the bitrate on the running encoder (no keyframe, no restart).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
        check_bitrate(kbps)?;
        if kbps == self.config.bitrate_kbps {
            return Ok(());
        }
        let config = H264EncoderConfig {
            bitrate_kbps: kbps,
            ..self.config.clone()
        };
        if !self.started {
            // Not initialised yet: a new encoder costs nothing and takes the new rate.
            *self = H264Encoder::new(config)?;
            return Ok(());
        }
        let bps = (kbps * 1000) as c_int;
        // OpenH264 refuses a layer maximum below its target, so move the maximum first
        // when going up and last when going down. Maximum = target, as the `openh264`
        // crate sets at start (it only matters for frame skipping, which is off).
        let mut steps = [
            (ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0),
            (ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL),
        ];
        if kbps < self.config.bitrate_kbps {
            steps.reverse();
        }
        for (option, layer) in steps {
            self.set_bitrate_option(option, layer, bps)
                .map_err(|e| H264Error::Encode(format!("set bitrate {kbps} kbps: {e}")))?;
        }
        self.config = config;
        Ok(())
    }

    fn set_bitrate_option(
        &mut self,
        option: c_int,
        layer: c_int,
        bps: c_int,
    ) -> std::result::Result<(), String> {
        let mut info = BitrateInfo {
            layer,
            bitrate: bps,
        };
        // SAFETY: the encoder is initialised (`started`); both options take one
        // `SBitrateInfo` (mirrored with its C layout above). They change only the
        // rate targets, which the `openh264` crate does not cache.
        unsafe { self.set_option(option, &mut info) }
            .map_err(|e| format!("layer {layer}, {bps} bps: {e}"))
    }

    /// Sets an OpenH264 encoder option through the crate's raw API.
    ///
    /// SAFETY: `T` must be the C type OpenH264 expects for `option`, and the option
    /// must be valid in the encoder's state (most need an initialised encoder). It is
    /// read during the call only; OpenH264 keeps no pointer to it.
    unsafe fn set_option<T>(
        &mut self,
        option: c_int,
        value: &mut T,
    ) -> std::result::Result<(), String> {
        // SAFETY: per this function's contract; the encoder object exists from `new`.
        let res = unsafe {
            self.inner
                .raw_api()
                .set_option(option, (value as *mut T).cast::<c_void>())
        };
        if res == 0 {
            Ok(())
        } else {
            Err(format!("OpenH264 option {option}: error {res}"))
        }
    }
}

/// A packed I420 frame as OpenH264 input at its coded (even) size. Dropping an odd
/// last column/row needs no copy: the strides stay those of the full frame.
struct CodedView<'a> {
    frame: &'a VideoFrame,
    width: usize,
    height: usize,
}

impl YUVSource for CodedView<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let (cw, _) = VideoFrame::chroma_size(self.frame.width, self.frame.height);
        (self.frame.width, cw, cw)
    }

    fn y(&self) -> &[u8] {
        self.frame.y()
    }

    fn u(&self) -> &[u8] {
        self.frame.u()
    }

    fn v(&self) -> &[u8] {
        self.frame.v()
    }
}

fn check_frame(frame: &VideoFrame) -> Result<()> {
    let expected = VideoFrame::byte_len(frame.width, frame.height);
    if frame.data.len() != expected {
        return Err(H264Error::BadFrameSize {
            width: frame.width,
            height: frame.height,
            expected,
            actual: frame.data.len(),
        });
    }
    // Sizes themselves are checked with the config when the encoder (re)starts.
    Ok(())
}

/// An H.264 decoder for Annex-B access units (what the RTP H.264 depacketizer yields).
///
/// `Send` without any `unsafe impl` here: the `openh264` crate's decoder is `Send`.
pub struct H264Decoder {
    inner: Decoder,
    /// A decode failed and no IDR has decoded since: H.264 pictures reference earlier
    /// ones, so everything up to the next IDR may be damaged.
    corrupted: bool,
}

impl H264Decoder {
    pub fn new() -> Result<Self> {
        // Error concealment stays off (`DecoderConfig::new`): a damaged picture is an
        // error the caller answers with a keyframe request, not a smeared picture.
        let inner = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| H264Error::DecoderInit(e.to_string()))?;
        Ok(H264Decoder {
            inner,
            corrupted: false,
        })
    }

    /// Decodes one access unit into a packed I420 copy. `Ok(None)` when the data
    /// produced no picture (e.g. parameter sets alone).
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>> {
        self.decode_with(data, |img| img.to_frame())
    }

    /// Decodes one access unit and hands the picture to `f` in place, without copying.
    /// Returns what `f` returned, or `None` when the data produced no picture.
    pub fn decode_with<R>(
        &mut self,
        data: &[u8],
        f: impl FnOnce(&DecodedImage<'_>) -> R,
    ) -> Result<Option<R>> {
        let mut has_nal = false;
        let mut has_idr = false;
        for nal_type in nal_types(data) {
            has_nal = true;
            has_idr |= nal_type == NAL_IDR;
        }
        if !has_nal {
            // Also catches the empty buffer; OpenH264 would quietly return nothing.
            return Err(H264Error::Decode(
                "not an Annex-B access unit (no start code)".into(),
            ));
        }
        if c_int::try_from(data.len()).is_err() {
            return Err(H264Error::Decode(format!(
                "access unit of {} bytes",
                data.len()
            )));
        }
        let yuv = match self.inner.decode(data) {
            Ok(Some(yuv)) => yuv,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.corrupted = true;
                return Err(H264Error::Decode(e.to_string()));
            }
        };
        let view = image_view(&yuv)?;
        if has_idr {
            self.corrupted = false;
        }
        Ok(Some(f(&view)))
    }

    /// Whether pictures may be damaged: a decode failed since the last IDR decoded
    /// (H.264 references carry damage forward until then). The caller should then
    /// request a keyframe. Mirrors [`Vp8Decoder::last_frame_corrupted`].
    ///
    /// [`Vp8Decoder::last_frame_corrupted`]: crate::codec::vp8::Vp8Decoder::last_frame_corrupted
    pub fn last_frame_corrupted(&mut self) -> bool {
        self.corrupted
    }
}

/// Borrows OpenH264's picture as plane slices, checking the layout we rely on.
fn image_view<'a>(yuv: &'a DecodedYUV<'_>) -> Result<DecodedImage<'a>> {
    let bad = |what: &str| {
        Err(H264Error::Decode(format!(
            "unexpected decoder output: {what}"
        )))
    };
    let (width, height) = yuv.dimensions();
    if width == 0 || height == 0 {
        return bad("empty picture");
    }
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let (y_stride, u_stride, v_stride) = yuv.strides();
    let planes = [
        (yuv.y(), y_stride, width, height),
        (yuv.u(), u_stride, cw, ch),
        (yuv.v(), v_stride, cw, ch),
    ];
    for (plane, stride, w, h) in planes {
        // Rows `0..h` of `w` bytes each must lie inside the slice.
        if stride < w || plane.len() < stride * (h - 1) + w {
            return bad("plane layout");
        }
    }
    Ok(DecodedImage {
        width,
        height,
        y: yuv.y(),
        u: yuv.u(),
        v: yuv.v(),
        y_stride,
        u_stride,
        v_stride,
    })
}

/// NAL unit type of an IDR slice.
const NAL_IDR: u8 = 5;

/// The `nal_unit_type` of each NAL unit in an Annex-B byte stream, in order.
fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    // A NAL header follows every 00 00 01 (a 4-byte start code ends the same way).
    data.windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3] & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_pictures::{grainy_picture, moving_picture, psnr};
    use crate::media::synthetic::TestPattern;
    use crate::media::testsignal;
    use std::time::Instant;

    const TICKS_30FPS: i64 = PTS_CLOCK_HZ / 30;

    const NAL_SPS: u8 = 7;
    const NAL_PPS: u8 = 8;
    const NAL_SLICE: u8 = 1;

    /// `frame` cut to `w × h` (top-left), packed: what the encoder codes of odd sizes.
    fn crop(frame: &VideoFrame, w: usize, h: usize) -> VideoFrame {
        let (fcw, _) = VideoFrame::chroma_size(frame.width, frame.height);
        let (cw, ch) = VideoFrame::chroma_size(w, h);
        let mut data = Vec::with_capacity(VideoFrame::byte_len(w, h));
        for r in 0..h {
            data.extend_from_slice(&frame.y()[r * frame.width..][..w]);
        }
        for plane in [frame.u(), frame.v()] {
            for r in 0..ch {
                data.extend_from_slice(&plane[r * fcw..][..cw]);
            }
        }
        VideoFrame {
            width: w,
            height: h,
            data,
        }
    }

    fn encode_one(enc: &mut H264Encoder, f: &VideoFrame, i: usize, kf: bool) -> EncodedFrame {
        let mut out = enc.encode(f, i as i64 * TICKS_30FPS, kf).unwrap();
        assert_eq!(out.len(), 1, "one access unit per frame");
        out.remove(0)
    }

    #[test]
    fn round_trip_60_frames_vga() {
        let cfg = H264EncoderConfig {
            bitrate_kbps: 1000,
            ..Default::default()
        };
        let mut enc = H264Encoder::new(cfg).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut psnrs = Vec::new();
        let mut bytes = 0;
        for i in 0..60 {
            let input = moving_picture(640, 480, i);
            let pkt = encode_one(&mut enc, &input, i, false);
            assert_eq!(
                pkt.keyframe,
                i == 0,
                "frame {i}: only the first is a keyframe"
            );
            assert_eq!(pkt.pts, i as i64 * TICKS_30FPS);
            assert!(pkt.data.starts_with(&[0, 0, 0, 1]), "Annex-B start code");
            bytes += pkt.data.len();
            let out = dec.decode(&pkt.data).unwrap().expect("a picture per frame");
            assert_eq!((out.width, out.height), (640, 480));
            assert_eq!(out.data.len(), VideoFrame::byte_len(640, 480));
            assert!(!dec.last_frame_corrupted());
            psnrs.push(psnr(input.y(), out.y()));
        }
        let avg = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
        let min = psnrs.iter().cloned().fold(f64::MAX, f64::min);
        let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
        println!("VGA @ 1 Mbps: luma PSNR avg {avg:.1} dB, min {min:.1} dB, {kbps:.0} kbps");
        assert!(avg > 30.0, "average PSNR {avg:.1} dB");
        assert!(min > 25.0, "worst PSNR {min:.1} dB");
    }

    #[test]
    fn first_frame_is_idr_with_parameter_sets_in_constrained_baseline() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let first = encode_one(&mut enc, &moving_picture(640, 480, 0), 0, false);
        assert!(first.keyframe);
        let types: Vec<u8> = nal_types(&first.data).collect();
        assert_eq!(
            types,
            [NAL_SPS, NAL_PPS, NAL_IDR],
            "SPS, PPS, then the IDR slice"
        );

        // profile_idc 66 (baseline) with constraint_set1: constrained baseline, which
        // is what profile-level-id 42e01f asks for.
        let sps = first.data[4..].to_vec();
        assert_eq!(sps[0] & 0x1f, NAL_SPS);
        assert_eq!(sps[1], 0x42, "profile_idc");
        assert_ne!(sps[2] & 0x40, 0, "constraint_set1_flag");
        println!(
            "SPS profile-level-id {:02x}{:02x}{:02x}",
            sps[1], sps[2], sps[3]
        );

        let next = encode_one(&mut enc, &moving_picture(640, 480, 1), 1, false);
        assert!(!next.keyframe);
        assert_eq!(nal_types(&next.data).collect::<Vec<_>>(), [NAL_SLICE]);
        assert!(H264_FMTP.contains("profile-level-id=42e01f"));
        assert!(H264_FMTP.contains("packetization-mode=1"));
    }

    #[test]
    fn force_keyframe_works() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let mut packets = Vec::new();
        for i in 0..20 {
            let pkt = encode_one(&mut enc, &moving_picture(640, 480, i), i, i == 10);
            assert_eq!(pkt.keyframe, i == 0 || i == 10, "frame {i}");
            if pkt.keyframe {
                // Every IDR carries its parameter sets, so a receiver can join there.
                let types: Vec<u8> = nal_types(&pkt.data).collect();
                assert_eq!(types, [NAL_SPS, NAL_PPS, NAL_IDR], "frame {i}");
            }
            packets.push(pkt);
        }
        // What makes a keyframe: a decoder joining there needs nothing before it...
        let mut late = H264Decoder::new().unwrap();
        for p in &packets[10..] {
            assert!(late.decode(&p.data).unwrap().is_some());
        }
        // ...whereas joining on an ordinary frame fails.
        let mut early = H264Decoder::new().unwrap();
        assert!(early.decode(&packets[9].data).is_err());
    }

    #[test]
    fn set_bitrate_changes_frame_sizes_without_keyframe() {
        let (w, h) = (320, 240);
        let mut enc = H264Encoder::new(H264EncoderConfig {
            width: w,
            height: h,
            bitrate_kbps: 1000,
            ..Default::default()
        })
        .unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut sizes = Vec::new();
        for i in 0..120 {
            match i {
                40 => enc.set_bitrate(150).unwrap(),
                80 => enc.set_bitrate(1000).unwrap(),
                _ => {}
            }
            let pkt = encode_one(&mut enc, &grainy_picture(w, h, i), i, false);
            assert_eq!(
                pkt.keyframe,
                i == 0,
                "frame {i}: retargeting must not add keyframes"
            );
            assert!(dec.decode(&pkt.data).unwrap().is_some());
            sizes.push(pkt.data.len());
        }
        assert_eq!(enc.config().bitrate_kbps, 1000);
        let avg = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len() as f64;
        let (high, low, back) = (avg(&sizes[20..40]), avg(&sizes[60..80]), avg(&sizes[100..]));
        println!(
            "grainy 320×240: {high:.0} B/frame at 1000 kbps, {low:.0} at 150 kbps, \
             {back:.0} at 1000 again"
        );
        assert!(low < high * 0.5, "high {high:.0} B, low {low:.0} B");
        assert!(back > low * 2.0, "low {low:.0} B, back up {back:.0} B");
        assert!(enc.set_bitrate(0).is_err());
        assert_eq!(enc.config().bitrate_kbps, 1000);

        // Before the first frame the change is taken at start-up.
        let mut fresh = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        fresh.set_bitrate(300).unwrap();
        assert_eq!(fresh.config().bitrate_kbps, 300);
        encode_one(&mut fresh, &moving_picture(640, 480, 0), 0, false);
    }

    #[test]
    fn resolution_change_mid_stream() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let sizes = [(640, 480), (321, 241), (1280, 720), (642, 362)];
        let mut i = 0;
        for &(w, h) in &sizes {
            let (cw, ch) = coded_size(w, h);
            for n in 0..8 {
                let input = moving_picture(w, h, i);
                let pkt = encode_one(&mut enc, &input, i, false);
                assert_eq!(pkt.keyframe, n == 0, "{w}×{h} frame {n}");
                let out = dec.decode(&pkt.data).unwrap().unwrap();
                assert_eq!((out.width, out.height), (cw, ch), "{w}×{h}");
                let p = psnr(crop(&input, cw, ch).y(), out.y());
                assert!(p > 25.0, "{w}×{h} frame {n}: {p:.1} dB");
                i += 1;
            }
            assert_eq!((enc.config().width, enc.config().height), (w, h));
        }
    }

    #[test]
    fn odd_and_unaligned_sizes() {
        // 642×362: even but not a multiple of 16 (the SPS crops); exact size back.
        // 641×361, 161×121, 17×17: odd, coded without the last column and row (16×16
        // is the smallest picture OpenH264 codes).
        for (w, h) in [(642, 362), (641, 361), (161, 121), (17, 17)] {
            let (cw, ch) = coded_size(w, h);
            let mut enc = H264Encoder::new(H264EncoderConfig {
                width: w,
                height: h,
                bitrate_kbps: 1500,
                ..Default::default()
            })
            .unwrap();
            assert_eq!(enc.config().coded_size(), (cw, ch));
            let mut dec = H264Decoder::new().unwrap();
            for i in 0..10 {
                let input = moving_picture(w, h, i);
                let pkt = encode_one(&mut enc, &input, i, false);
                let out = dec.decode(&pkt.data).unwrap().unwrap();
                assert_eq!((out.width, out.height), (cw, ch), "{w}×{h}");
                assert_eq!(out.data.len(), VideoFrame::byte_len(cw, ch));
                let expected = crop(&input, cw, ch);
                let p = psnr(expected.y(), out.y());
                assert!(p > 28.0, "{w}×{h} frame {i}: luma PSNR {p:.1} dB");
                // Chroma must line up too (a stride mix-up would wreck it).
                let pu = psnr(expected.u(), out.u());
                assert!(pu > 28.0, "{w}×{h} frame {i}: U PSNR {pu:.1} dB");
            }
        }
        // Too small or too large to code: a clear error, before any frame.
        for (w, h) in [
            (1, 1),
            (1, 480),
            (15, 480),
            (640, 14),
            (0, 0),
            (3842, 2160),
            (3840, 2162),
            (4096, 64),
        ] {
            let cfg = H264EncoderConfig {
                width: w,
                height: h,
                ..Default::default()
            };
            assert!(
                matches!(H264Encoder::new(cfg), Err(H264Error::InvalidConfig(_))),
                "{w}×{h}"
            );
        }
        // Portrait 4K is fine.
        assert!(
            H264Encoder::new(H264EncoderConfig {
                width: 2160,
                height: 3840,
                ..Default::default()
            })
            .is_ok()
        );
        // A 1-pixel-wide frame mid-stream is refused, not a crash.
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        assert!(enc.encode(&VideoFrame::black(1, 8), 0, false).is_err());
    }

    #[test]
    fn decode_with_gives_strided_planes_matching_the_copy() {
        let mut enc = H264Encoder::new(H264EncoderConfig {
            width: 98,
            height: 50,
            ..Default::default()
        })
        .unwrap();
        let pkt = encode_one(&mut enc, &moving_picture(98, 50, 0), 0, false);
        let mut dec_a = H264Decoder::new().unwrap();
        let mut dec_b = H264Decoder::new().unwrap();
        let copied = dec_a.decode(&pkt.data).unwrap().unwrap();
        let (w, h, y_stride, row5) = dec_b
            .decode_with(&pkt.data, |img| {
                assert!(img.y_stride >= img.width);
                assert_eq!(img.to_frame(), copied);
                (img.width, img.height, img.y_stride, img.y_row(5).to_vec())
            })
            .unwrap()
            .unwrap();
        assert_eq!((w, h), (98, 50));
        assert!(y_stride >= 98);
        assert_eq!(row5, copied.y()[5 * 98..6 * 98]);
    }

    #[test]
    fn testsignal_barcode_survives_the_round_trip() {
        let (w, h) = (640, 480);
        let mut pattern = TestPattern::new(w, h, 30);
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let t0 = 1_790_000_000_000u64;
        for i in 0..60 {
            let t = t0 + i as u64 * 33;
            let input = pattern.next_frame(t);
            assert_eq!(testsignal::read(&input), Some(t));
            let pkt = encode_one(&mut enc, &input, i, false);
            let out = dec.decode(&pkt.data).unwrap().unwrap();
            assert_eq!(testsignal::read(&out), Some(t), "frame {i}");
            // The zero-copy path reads it straight from the strided plane as well.
            if pkt.keyframe {
                let mut again = H264Decoder::new().unwrap();
                let read = again
                    .decode_with(&pkt.data, |img| {
                        testsignal::read_y(img.y, img.width, img.height, img.y_stride)
                    })
                    .unwrap();
                assert_eq!(read, Some(Some(t)));
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let short = VideoFrame {
            width: 640,
            height: 480,
            data: vec![0; 100],
        };
        assert!(matches!(
            enc.encode(&short, 0, false),
            Err(H264Error::BadFrameSize { .. })
        ));
        assert!(
            H264Encoder::new(H264EncoderConfig {
                fps: 0,
                ..Default::default()
            })
            .is_err()
        );

        let mut dec = H264Decoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(b"definitely not an H.264 access unit").is_err());
        // Start codes with nonsense behind them: Ok or Err, never a crash.
        for junk in [
            &[0u8, 0, 0, 1][..],
            &[0, 0, 1, 0x67, 0xff, 0xff, 0xff],
            &[0, 0, 0, 1, 0x65, 0x88, 0x80, 0, 0, 1, 0x68],
            &[
                0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xff, 0, 0, 1, 0x65, 0xff, 0xff,
            ],
        ] {
            let _ = dec.decode(junk);
        }

        // Garbage in the middle of a real stream: Ok or Err, never a crash, and a
        // keyframe afterwards recovers.
        let mut state = 1u64;
        let mut corrupted_seen = false;
        for i in 0..50 {
            let pkt = encode_one(&mut enc, &moving_picture(640, 480, i), i, i == 40);
            dec.decode(&pkt.data).ok();
            corrupted_seen |= dec.last_frame_corrupted();
            if i % 5 == 4 {
                let mut junk = pkt.data.to_vec();
                // Keep the start code and NAL header; scramble the rest.
                for b in junk.iter_mut().skip(5) {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    *b = (state >> 56) as u8;
                }
                let _ = dec.decode(&junk);
                let _ = dec.decode(&junk[..junk.len() / 3]);
                let _ = dec.decode(&pkt.data[..pkt.data.len() / 2]);
            }
        }
        assert!(corrupted_seen, "damage must be reported");
        let pkt = encode_one(&mut enc, &moving_picture(640, 480, 50), 50, true);
        let out = dec.decode(&pkt.data).unwrap().unwrap();
        assert_eq!((out.width, out.height), (640, 480));
        assert!(!dec.last_frame_corrupted(), "an IDR clears the damage");
        let pkt = encode_one(&mut enc, &moving_picture(640, 480, 51), 51, false);
        assert!(dec.decode(&pkt.data).unwrap().is_some());
        assert!(!dec.last_frame_corrupted());
    }

    #[test]
    fn screen_content_round_trip() {
        let mut enc = H264Encoder::new(H264EncoderConfig::screen(640, 480)).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut sizes = Vec::new();
        for i in 0..30 {
            // Moves for 10 frames, then holds still: a typical shared screen.
            let input = moving_picture(640, 480, i.min(10));
            let pkt = encode_one(&mut enc, &input, i, false);
            if i == 0 {
                assert!(pkt.keyframe);
            }
            let out = dec.decode(&pkt.data).unwrap().unwrap();
            let p = psnr(input.y(), out.y());
            assert!(p > 30.0, "frame {i}: {p:.1} dB");
            sizes.push(pkt.data.len());
        }
        let still = sizes[20..].iter().sum::<usize>() / 10;
        println!("screen 640×480: static frames {still} B on average");
        assert!(
            still < 1000,
            "a still screen costs next to nothing: {still} B"
        );
    }

    #[test]
    fn codecs_are_send() {
        fn is_send<T: Send>() {}
        is_send::<H264Encoder>();
        is_send::<H264Decoder>();
    }

    /// CPU time this thread has run, in ns (Linux): unlike wall time, barely moved by
    /// other processes competing for the cores.
    fn thread_cpu_ns() -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// `cargo test -p huddle-engine --lib codec::h264 -- --ignored --nocapture`
    /// (add `--release`: in a dev build the build script compiles OpenH264's C++ at
    /// -O0, which doubles to triples the times; its assembly needs `nasm`).
    #[test]
    #[ignore]
    fn timing() {
        let hd = |screen_content| H264EncoderConfig {
            width: 1920,
            height: 1080,
            bitrate_kbps: 2500,
            screen_content,
            ..Default::default()
        };
        let cases = [
            ("camera", H264EncoderConfig::default()),
            (
                "screen",
                H264EncoderConfig {
                    screen_content: true,
                    ..Default::default()
                },
            ),
            ("camera", hd(false)),
            ("screen", hd(true)),
            ("screen", H264EncoderConfig::screen(1920, 1080)),
        ];
        // "gradient": every pixel moves every frame (a worst case, like scrolling);
        // "pattern": the synthetic camera (barcode, scrolling stripes, a sliding box).
        for content in ["gradient", "pattern"] {
            for (label, cfg) in cases.clone() {
                timing_case(label, cfg, content);
            }
        }
    }

    fn timing_case(label: &str, cfg: H264EncoderConfig, content: &str) {
        let (w, h) = (cfg.width, cfg.height);
        let desc = format!(
            "{label} {w}×{h} @ {} kbps, {} fps, {content}",
            cfg.bitrate_kbps, cfg.fps
        );
        let mut pattern = TestPattern::new(w, h, cfg.fps);
        let mut picture = |i: usize| {
            if content == "pattern" {
                pattern.next_frame(1_790_000_000_000 + i as u64 * 33)
            } else {
                // Back and forth over 30 pictures: continuous motion.
                moving_picture(
                    w,
                    h,
                    if (i / 30).is_multiple_of(2) {
                        i % 30
                    } else {
                        29 - i % 30
                    },
                )
            }
        };
        let still = picture(0);
        let mut enc = H264Encoder::new(cfg).unwrap();
        let mut dec_copy = H264Decoder::new().unwrap();
        let mut dec_view = H264Decoder::new().unwrap();
        let n = 150;
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        let (mut enc_t, mut copy_t, mut view_t, mut bytes, mut first_kf) = (0.0, 0.0, 0.0, 0, 0.0);
        let (mut static_t, mut static_n, mut static_bytes, mut psnr_sum) = (0.0, 0, 0, 0.0);
        let fps = f64::from(enc.config().fps);
        let mut enc_cpu = 0.0;
        for i in 0..n {
            // Moves, then holds still for the last 30 frames (a static screen).
            let moving;
            let frame = if i >= n - 30 {
                &still
            } else {
                moving = picture(i);
                &moving
            };
            let (t, cpu) = (Instant::now(), thread_cpu_ns());
            let pkt = encode_one(&mut enc, frame, i, false);
            let e = ms(t);
            let e_cpu = (thread_cpu_ns() - cpu) as f64 / 1e6;
            let t = Instant::now();
            let out = dec_copy.decode(&pkt.data).unwrap().unwrap();
            let c = ms(t);
            let t = Instant::now();
            let seen = dec_view.decode_with(&pkt.data, |img| img.y[0]).unwrap();
            let v = ms(t);
            assert_eq!((out.width, seen), (w, Some(out.data[0])));
            if i == 0 {
                first_kf = e;
            } else if i > n - 25 {
                // Static frames, after a few to settle.
                static_t += e;
                static_n += 1;
                static_bytes += pkt.data.len();
            } else if i < n - 30 {
                (enc_t, copy_t, view_t) = (enc_t + e, copy_t + c, view_t + v);
                enc_cpu += e_cpu;
                bytes += pkt.data.len();
                psnr_sum += psnr(frame.y(), out.y());
            }
        }
        let m = (n - 31) as f64;
        let sn = static_n as f64;
        println!(
            "{desc}: encode {:.2} ms/frame moving ({:.2} CPU), {:.2} static (first IDR \
                 {first_kf:.1} ms); \
                 decode {:.2} ms/frame zero-copy, {:.2} with packed copy; moving {:.0} kbps \
                 at {:.1} dB, static {:.0} kbps",
            enc_t / m,
            enc_cpu / m,
            static_t / sn,
            view_t / m,
            copy_t / m,
            bytes as f64 / m * 8.0 * fps / 1000.0,
            psnr_sum / m,
            static_bytes as f64 / sn * 8.0 * fps / 1000.0,
        );
    }
}
