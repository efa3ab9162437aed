//! H.264 video through OpenH264 (the `openh264` crate, built from its bundled source),
//! behind the engine's codec traits like [`crate::codec::vp8`].
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

use rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264;
use rtc::rtp::codec::h264::{H264Packet, H264Payloader};

use super::{
    CodecError, EncodedFrame, EncoderSettings, PTS_CLOCK_HZ, VideoCodec, VideoDecoder, VideoEncoder,
};
use crate::media::frame::{PictureView, VideoFrame};

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

type Result<T> = std::result::Result<T, CodecError>;

/// How errors name it.
const NAME: &str = "H.264";

/// H.264 constrained baseline as the rest of the engine sees it (RFC 6184 payload,
/// packetization mode 1).
pub static H264: VideoCodec = VideoCodec {
    name: "H264",
    mime: MIME_TYPE_H264,
    payload_type: 102,
    fmtp: H264_FMTP,
    new_encoder: |settings| Ok(Box::new(H264Encoder::new(settings.into())?)),
    new_decoder: || Ok(Box::new(H264Decoder::new()?)),
    new_payloader: || Box::new(H264Payloader::default()),
    new_depacketizer: || Box::new(H264Packet::default()),
    coded_size,
};

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

impl From<&EncoderSettings> for H264EncoderConfig {
    fn from(s: &EncoderSettings) -> Self {
        H264EncoderConfig {
            width: s.width,
            height: s.height,
            fps: s.fps,
            bitrate_kbps: s.bitrate_kbps,
            screen_content: s.screen_content,
        }
    }
}

impl H264EncoderConfig {
    /// The size of the coded pictures: the input size rounded down to even numbers.
    pub fn coded_size(&self) -> (usize, usize) {
        coded_size(self.width, self.height)
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(CodecError::invalid(NAME, msg));
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
        return Err(CodecError::invalid(
            NAME,
            format!("bitrate {kbps} kbps outside 1..={MAX_BITRATE_KBPS}"),
        ));
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
            .map_err(|e| CodecError::encoder_init(NAME, e.to_string()))?;
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

impl VideoEncoder for H264Encoder {
    /// Encodes one frame of the configured size. Normally yields exactly one
    /// [`EncodedFrame`] (an Annex-B access unit).
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>> {
        // Sizes themselves were checked with the config.
        super::check_frame(NAME, frame, (self.config.width, self.config.height))?;
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
            .map_err(|e| CodecError::encode(NAME, e.to_string()))?;
        self.started = true;
        let keyframe = match stream.frame_type() {
            FrameType::IDR => true,
            FrameType::I | FrameType::P | FrameType::IPMixed => false,
            // Only with frame skipping, which is off; nothing to send either way.
            FrameType::Skip => return Ok(Vec::new()),
            FrameType::Invalid => {
                return Err(CodecError::encode(NAME, "encoder produced no valid frame"));
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
    fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
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
                .map_err(|e| CodecError::encode(NAME, format!("set bitrate {kbps} kbps: {e}")))?;
        }
        self.config = config;
        Ok(())
    }

    fn bitrate_kbps(&self) -> u32 {
        self.config.bitrate_kbps
    }

    fn size(&self) -> (usize, usize) {
        (self.config.width, self.config.height)
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
            .map_err(|e| CodecError::decoder_init(NAME, e.to_string()))?;
        Ok(H264Decoder {
            inner,
            corrupted: false,
        })
    }
}

impl VideoDecoder for H264Decoder {
    /// One Annex-B access unit (what the RTP H.264 depacketizer yields).
    fn decode_into(&mut self, data: &[u8], f: &mut dyn FnMut(&PictureView<'_>)) -> Result<bool> {
        let mut has_nal = false;
        let mut has_idr = false;
        for nal_type in nal_types(data) {
            has_nal = true;
            has_idr |= nal_type == NAL_IDR;
        }
        if !has_nal {
            // Also catches the empty buffer; OpenH264 would quietly return nothing.
            return Err(CodecError::decode(
                NAME,
                "not an Annex-B access unit (no start code)",
            ));
        }
        if c_int::try_from(data.len()).is_err() {
            return Err(CodecError::decode(
                NAME,
                format!("access unit of {} bytes", data.len()),
            ));
        }
        let yuv = match self.inner.decode(data) {
            Ok(Some(yuv)) => yuv,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.corrupted = true;
                return Err(CodecError::decode(NAME, e.to_string()));
            }
        };
        let view = image_view(&yuv)?;
        if has_idr {
            self.corrupted = false;
        }
        f(&view);
        Ok(true)
    }

    /// Whether pictures may be damaged: a decode failed since the last IDR decoded
    /// (H.264 references carry damage forward until then). The caller should then
    /// request a keyframe.
    fn last_frame_corrupted(&mut self) -> bool {
        self.corrupted
    }
}

/// Borrows OpenH264's picture as plane slices, checking the layout we rely on.
fn image_view<'a>(yuv: &'a DecodedYUV<'_>) -> Result<PictureView<'a>> {
    let bad = |what: &str| {
        Err(CodecError::decode(
            NAME,
            format!("unexpected decoder output: {what}"),
        ))
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
    Ok(PictureView {
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
    //! What only H.264 has; the rest is the shared suite (`codec::suite`).
    use super::*;
    use crate::codec::test_pictures::moving_picture;

    const TICKS_30FPS: i64 = PTS_CLOCK_HZ / 30;

    const NAL_SPS: u8 = 7;
    const NAL_PPS: u8 = 8;
    const NAL_SLICE: u8 = 1;

    fn encode_one(enc: &mut H264Encoder, f: &VideoFrame, i: usize, kf: bool) -> EncodedFrame {
        let mut out = enc.encode(f, i as i64 * TICKS_30FPS, kf).unwrap();
        assert_eq!(out.len(), 1, "one access unit per frame");
        out.remove(0)
    }

    #[test]
    fn first_frame_is_idr_with_parameter_sets_in_constrained_baseline() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let first = encode_one(&mut enc, &moving_picture(640, 480, 0), 0, false);
        assert!(first.keyframe);
        assert!(first.data.starts_with(&[0, 0, 0, 1]), "Annex-B start code");
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
    fn every_idr_carries_its_parameter_sets() {
        let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        for i in 0..20 {
            let pkt = encode_one(&mut enc, &moving_picture(640, 480, i), i, i == 10);
            assert_eq!(pkt.keyframe, i == 0 || i == 10, "frame {i}");
            if pkt.keyframe {
                // So a receiver can join at any keyframe.
                let types: Vec<u8> = nal_types(&pkt.data).collect();
                assert_eq!(types, [NAL_SPS, NAL_PPS, NAL_IDR], "frame {i}");
            }
        }
    }

    #[test]
    fn sizes_outside_what_openh264_codes_are_refused() {
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
                matches!(H264Encoder::new(cfg), Err(CodecError::InvalidConfig { .. })),
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
        // Bitrates OpenH264 cannot count in its C `int` are refused.
        assert!(enc.set_bitrate(MAX_BITRATE_KBPS + 1).is_err());
    }

    #[test]
    fn a_still_screen_costs_next_to_nothing() {
        // OpenH264 codes unchanged macroblocks as skipped (libvpx's CBR keeps refining).
        let (_, still) = crate::codec::suite::screen_content_sizes(&H264);
        assert!(
            still < 1000,
            "a still screen costs next to nothing: {still} B"
        );
    }

    #[test]
    fn start_codes_with_nonsense_behind_them_are_not_a_crash() {
        let mut dec = H264.decoder().unwrap();
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
    }
}
