//! VP8 video through libvpx (`vpx_sys`), tuned for real-time conferencing.
//!
//! The encoder runs one-pass CBR with no look-ahead, so every input frame yields its
//! packet immediately. Like WebRTC's single-layer VP8 it is not error-resilient: our
//! receivers (and browsers) never decode across a gap — they wait for the
//! retransmission or ask for a keyframe (PLI/FIR; the periodic keyframe interval is
//! long on purpose) — so resetting the entropy contexts every frame would buy nothing.
//!
//! A camera's quantizer has a floor ([`CAMERA_MIN_QUANTIZER`]): CBR otherwise spends
//! the whole target on an easy picture for gains nobody can see.
//!
//! Timestamps (`pts`) are in [`PTS_CLOCK_HZ`] ticks (90 kHz, the RTP video clock):
//! libvpx's rate control derives the frame rate from them, so they must advance in
//! real time (3000 ticks per frame at 30 fps).

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int, c_uint, c_ulong};
use std::ptr;

use bytes::Bytes;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use rtc::rtp::codec::vp8::{Vp8Packet, Vp8Payloader};
use vpx_sys as vpx;

use super::{
    CodecError, EncodedFrame, EncoderSettings, PTS_CLOCK_HZ, VideoCodec, VideoDecoder, VideoEncoder,
};
use crate::media::frame::{PictureView, VideoFrame};

/// VP8 cannot code pictures larger than this in either dimension (14-bit sizes).
const MAX_DIMENSION: usize = 16_383;

type Result<T> = std::result::Result<T, CodecError>;

const NAME: &str = "VP8";

/// VP8 as the rest of the engine sees it (RFC 7741 payload, with picture ids).
pub static VP8: VideoCodec = VideoCodec {
    name: NAME,
    mime: MIME_TYPE_VP8,
    payload_type: 96,
    fmtp: "",
    new_encoder: |settings| Ok(Box::new(Vp8Encoder::new(settings.into())?)),
    new_decoder: || Ok(Box::new(Vp8Decoder::new()?)),
    new_payloader: || {
        let mut payloader = Vp8Payloader::default();
        payloader.enable_picture_id = true;
        Box::new(payloader)
    },
    new_depacketizer: || Box::new(Vp8Packet::default()),
    // VP8 codes any size exactly.
    coded_size: |width, height| (width, height),
};

/// Encoder settings. `Default` is a VGA camera at 30 fps and 600 kbps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vp8EncoderConfig {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// libvpx speed, -16..=16. Negative: fixed speed `-cpu_used` (higher is faster
    /// and a little worse). Positive `n`: libvpx adapts its speed to spend up to
    /// (16 - n)/16 of the frame interval, so CPU use grows with the picture size
    /// (measured at 1080p: +8 took 16 ms/frame, -6 took 11.6 ms).
    pub cpu_used: i32,
    /// Encoder threads (macroblock rows in parallel); 0 is taken as 1. More than one
    /// pays off only on an otherwise idle core: the threads spin-wait on each other.
    pub threads: u32,
    /// Longest run of frames without a keyframe. Large on purpose: receivers ask for
    /// keyframes (PLI/FIR) when they need one, and each keyframe is a bitrate spike.
    pub keyframe_max_interval: u32,
    /// Tune for screen content (text, sharp edges, mostly static).
    pub screen_content: bool,
    /// libvpx's error-resilient mode: later frames decodable after a loss, at the cost of
    /// resetting the entropy contexts every frame (5–15 % of the bits on our pictures).
    pub error_resilient: bool,
    /// The finest quantizer the rate control may choose (libvpx's 0–63 scale).
    pub min_quantizer: u32,
}

/// A camera's finest quantizer. Measured on the synthetic camera (VGA, 1.5 Mbit/s target,
/// `cargo test -p huddle-engine --lib bits_against_quality -- --ignored --nocapture`): at
/// WebRTC's floor of 2 CBR spent 1404 kbit/s for 54.1 dB luma PSNR; at 10, 554 kbit/s for
/// 50.9 dB — both far past what an eye tells apart (~45 dB). A detailed picture never
/// reaches the floor at conferencing rates, so it costs nothing there.
pub const CAMERA_MIN_QUANTIZER: u32 = 10;
/// Screens keep WebRTC's floor: static text is cheap and wants every bit of sharpness.
pub const SCREEN_MIN_QUANTIZER: u32 = 2;

impl Default for Vp8EncoderConfig {
    fn default() -> Self {
        Vp8EncoderConfig {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 600,
            // WebRTC's desktop default: fixed, predictable cost per frame.
            cpu_used: -6,
            threads: 1,
            keyframe_max_interval: 3000,
            screen_content: false,
            error_resilient: false,
            min_quantizer: CAMERA_MIN_QUANTIZER,
        }
    }
}

impl From<&EncoderSettings> for Vp8EncoderConfig {
    fn from(s: &EncoderSettings) -> Self {
        Vp8EncoderConfig {
            width: s.width,
            height: s.height,
            fps: s.fps,
            bitrate_kbps: s.bitrate_kbps,
            screen_content: s.screen_content,
            min_quantizer: if s.screen_content {
                SCREEN_MIN_QUANTIZER
            } else {
                CAMERA_MIN_QUANTIZER
            },
            ..Vp8EncoderConfig::default()
        }
    }
}

impl Vp8EncoderConfig {
    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(CodecError::invalid(NAME, msg));
        if !(1..=MAX_DIMENSION).contains(&self.width) || !(1..=MAX_DIMENSION).contains(&self.height)
        {
            return bad(format!(
                "size {}×{} outside 1..={MAX_DIMENSION}",
                self.width, self.height
            ));
        }
        if self.fps == 0 || i64::from(self.fps) > PTS_CLOCK_HZ {
            return bad(format!("fps {} out of range", self.fps));
        }
        if self.bitrate_kbps == 0 {
            return bad("bitrate must be above 0".into());
        }
        if !(-16..=16).contains(&self.cpu_used) {
            return bad(format!("cpu_used {} outside -16..=16", self.cpu_used));
        }
        if self.keyframe_max_interval == 0 {
            return bad("keyframe_max_interval must be above 0".into());
        }
        Ok(())
    }
}

/// Rate-control buffer, in milliseconds of data at the target rate. Small keeps the
/// sender's queue (and so latency) short; these are WebRTC's values.
const RC_BUF_INITIAL_MS: c_uint = 500;
const RC_BUF_OPTIMAL_MS: c_uint = 600;
const RC_BUF_MS: c_uint = 1000;

/// A real-time VP8 encoder.
pub struct Vp8Encoder {
    // Boxed so the addresses libvpx may keep (the context, the config it was given)
    // stay put when the encoder is moved.
    ctx: Box<vpx::vpx_codec_ctx_t>,
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    config: Vp8EncoderConfig,
}

// SAFETY: the libvpx context holds raw pointers only to its own heap state; it has no
// thread affinity and is safe to use from any thread as long as calls are not
// concurrent, which `&mut self` on every call guarantees.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(config: Vp8EncoderConfig) -> Result<Self> {
        config.validate()?;
        // SAFETY: plain FFI; `cfg` is only read after libvpx reports it filled it in.
        let iface = unsafe { vpx::vpx_codec_vp8_cx() };
        let mut cfg = Box::new(MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::uninit());
        let res = unsafe { vpx::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        if res != vpx::VPX_CODEC_OK {
            return Err(CodecError::encoder_init(
                NAME,
                format!("vpx_codec_enc_config_default: {}", err_to_string(res)),
            ));
        }
        // SAFETY: vpx_codec_enc_config_default succeeded, so the whole struct is set.
        // (`mem::zeroed` is not an option: `vpx_bit_depth` has no zero variant.)
        let mut cfg: Box<vpx::vpx_codec_enc_cfg_t> =
            unsafe { Box::from_raw(Box::into_raw(cfg).cast()) };

        cfg.g_w = config.width as c_uint;
        cfg.g_h = config.height as c_uint;
        cfg.g_timebase = vpx::vpx_rational {
            num: 1,
            den: PTS_CLOCK_HZ as c_int,
        };
        cfg.g_threads = config.threads.max(1);
        cfg.g_error_resilient = if config.error_resilient {
            vpx::VPX_ERROR_RESILIENT_DEFAULT
        } else {
            0
        };
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.g_lag_in_frames = 0;
        // Never drop input frames: callers expect one packet per frame, and the pacer
        // rather than the encoder decides what to do when the link is short.
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        cfg.rc_min_quantizer = config.min_quantizer;
        cfg.rc_max_quantizer = if config.screen_content { 52 } else { 56 };
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = RC_BUF_INITIAL_MS;
        cfg.rc_buf_optimal_sz = RC_BUF_OPTIMAL_MS;
        cfg.rc_buf_sz = RC_BUF_MS;
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = config.keyframe_max_interval;

        // SAFETY: an all-zero context is valid (null pointers, err = VPX_CODEC_OK) and
        // is what libvpx expects before init.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        let res = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &*cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if res != vpx::VPX_CODEC_OK {
            // libvpx has already torn the context down; its detail string pointed into
            // the freed state, so only the error code is safe to report.
            return Err(CodecError::encoder_init(
                NAME,
                format!(
                    "{} ({}×{} @ {} kbps)",
                    err_to_string(res),
                    config.width,
                    config.height,
                    config.bitrate_kbps
                ),
            ));
        }
        let mut encoder = Vp8Encoder { ctx, cfg, config };

        use vpx::vp8e_enc_control_id::*;
        let c = &encoder.config;
        // Keyframes are capped relative to an average frame so a PLI answer does not
        // flood the link (WebRTC's formula: half the optimal buffer, in %).
        let max_intra_pct = (RC_BUF_OPTIMAL_MS as u64 * 50 * u64::from(c.fps) / 1000).max(300);
        let controls = [
            (VP8E_SET_CPUUSED as c_int, c.cpu_used),
            (VP8E_SET_NOISE_SENSITIVITY as c_int, 0),
            // Skip coding blocks that barely changed: big savings on static screens, no
            // visible loss at this threshold.
            (VP8E_SET_STATIC_THRESHOLD as c_int, 1),
            (
                VP8E_SET_MAX_INTRA_BITRATE_PCT as c_int,
                max_intra_pct.min(c_int::MAX as u64) as c_int,
            ),
            (
                VP8E_SET_SCREEN_CONTENT_MODE as c_int,
                c_int::from(c.screen_content),
            ),
        ];
        for (id, value) in controls {
            encoder
                .control(id, value)
                .map_err(|e| CodecError::encoder_init(NAME, e))?;
        }
        tracing::debug!(
            width = encoder.config.width,
            height = encoder.config.height,
            kbps = encoder.config.bitrate_kbps,
            cpu_used = encoder.config.cpu_used,
            screen = encoder.config.screen_content,
            "VP8 encoder ready"
        );
        Ok(encoder)
    }

    fn control(&mut self, id: c_int, value: c_int) -> std::result::Result<(), String> {
        // SAFETY: every control used here takes a single `int` argument.
        let res = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id, value) };
        if res == vpx::VPX_CODEC_OK {
            Ok(())
        } else {
            Err(format!(
                "control {id} = {value}: {}",
                ctx_error(&mut self.ctx)
            ))
        }
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: ctx was successfully initialised in `new` and is destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

impl VideoEncoder for Vp8Encoder {
    /// Encodes one frame of the configured size. Normally yields exactly one
    /// [`EncodedFrame`].
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>> {
        super::check_frame(NAME, frame, (self.config.width, self.config.height))?;

        let img = wrap_i420(frame);
        let flags = if force_keyframe {
            vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t
        } else {
            0
        };
        let duration = (PTS_CLOCK_HZ / i64::from(self.config.fps)) as c_ulong;
        // SAFETY: `img` points into `frame`, which outlives the call; libvpx copies the
        // picture before returning (no lag) and never writes through the pointers.
        let res = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        if res != vpx::VPX_CODEC_OK {
            return Err(CodecError::encode(NAME, ctx_error(&mut self.ctx)));
        }

        let mut out = Vec::with_capacity(1);
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: packets stay valid until the next encode call; we copy them out.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            let Some(pkt) = (unsafe { pkt.as_ref() }) else {
                break;
            };
            if pkt.kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: `kind` says the union holds a frame.
            let f = unsafe { pkt.data.frame };
            let data = if f.buf.is_null() || f.sz == 0 {
                Bytes::new()
            } else {
                // SAFETY: libvpx guarantees `sz` readable bytes at `buf`.
                Bytes::copy_from_slice(unsafe {
                    std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize)
                })
            };
            out.push(EncodedFrame {
                data,
                keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                pts: f.pts,
            });
        }
        Ok(out)
    }

    /// Retargets the bitrate on the running encoder (no keyframe, no restart).
    fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
        if kbps == 0 {
            return Err(CodecError::invalid(NAME, "bitrate must be above 0"));
        }
        if kbps == self.cfg.rc_target_bitrate {
            return Ok(());
        }
        let previous = self.cfg.rc_target_bitrate;
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: ctx is initialised; libvpx copies the config.
        let res = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        if res != vpx::VPX_CODEC_OK {
            self.cfg.rc_target_bitrate = previous;
            return Err(CodecError::encode(
                NAME,
                format!("set bitrate {kbps} kbps: {}", ctx_error(&mut self.ctx)),
            ));
        }
        self.config.bitrate_kbps = kbps;
        Ok(())
    }

    fn bitrate_kbps(&self) -> u32 {
        self.config.bitrate_kbps
    }

    fn size(&self) -> (usize, usize) {
        (self.config.width, self.config.height)
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    // Boxed for the same reason as the encoder's: libvpx may keep these addresses.
    ctx: Box<vpx::vpx_codec_ctx_t>,
    _cfg: Box<vpx::vpx_codec_dec_cfg_t>,
}

// SAFETY: as for `Vp8Encoder`: no thread affinity, and `&mut self` serialises calls.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self> {
        let cfg = Box::new(vpx::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        });
        // SAFETY: as in `Vp8Encoder::new`.
        let mut ctx: Box<vpx::vpx_codec_ctx_t> =
            Box::new(unsafe { MaybeUninit::zeroed().assume_init() });
        let res = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &*cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if res != vpx::VPX_CODEC_OK {
            return Err(CodecError::decoder_init(NAME, err_to_string(res)));
        }
        Ok(Vp8Decoder { ctx, _cfg: cfg })
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: ctx was successfully initialised in `new` and is destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

impl VideoDecoder for Vp8Decoder {
    fn decode_into(&mut self, data: &[u8], f: &mut dyn FnMut(&PictureView<'_>)) -> Result<bool> {
        if data.is_empty() {
            // An empty buffer means "flush" to libvpx; as input it is a caller bug.
            return Err(CodecError::decode(NAME, "empty frame"));
        }
        let len = c_uint::try_from(data.len())
            .map_err(|_| CodecError::decode(NAME, format!("frame of {} bytes", data.len())))?;
        // SAFETY: `data` is valid for `len` bytes during the call; libvpx copies what
        // it keeps.
        let res = unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        if res != vpx::VPX_CODEC_OK {
            return Err(CodecError::decode(NAME, ctx_error(&mut self.ctx)));
        }

        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        let mut last = ptr::null_mut();
        // VP8 outputs at most one picture per frame, but drain the queue regardless.
        loop {
            // SAFETY: ctx is initialised; returned images live until the next decode.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            last = img;
        }
        // SAFETY: non-null images from libvpx are valid until the next decode call,
        // and `&mut self` keeps anyone from decoding while `f` runs.
        let Some(img) = (unsafe { last.as_ref() }) else {
            return Ok(false);
        };
        let view = unsafe { image_view(img) }?;
        f(&view);
        Ok(true)
    }

    /// Whether libvpx flagged the last decoded frame as corrupt (a reference was
    /// missing after a loss); the caller should then request a keyframe.
    fn last_frame_corrupted(&mut self) -> bool {
        let mut corrupted: c_int = 0;
        // SAFETY: VP8D_GET_FRAME_CORRUPTED writes one int through the pointer.
        let res = unsafe {
            vpx::vpx_codec_control_(
                &mut *self.ctx,
                vpx::vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupted as *mut c_int,
            )
        };
        res == vpx::VPX_CODEC_OK && corrupted != 0
    }
}

/// Borrows libvpx's image as plane slices, checking the layout we rely on.
///
/// SAFETY: `img` must be a live image returned by the decoder; the slices borrow it.
unsafe fn image_view(img: &vpx::vpx_image_t) -> Result<PictureView<'_>> {
    let bad = |what: &str| {
        Err(CodecError::decode(
            NAME,
            format!("unexpected decoder output: {what}"),
        ))
    };
    if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420
        || img.x_chroma_shift != 1
        || img.y_chroma_shift != 1
    {
        return bad(&format!("format {:?}", img.fmt));
    }
    let (width, height) = (img.d_w as usize, img.d_h as usize);
    if width == 0 || height == 0 {
        return bad("empty picture");
    }
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let mut planes: [&[u8]; 3] = [&[]; 3];
    let mut strides = [0usize; 3];
    for (i, (w, h)) in [(width, height), (cw, ch), (cw, ch)]
        .into_iter()
        .enumerate()
    {
        let Ok(stride) = usize::try_from(img.stride[i]) else {
            return bad("negative stride");
        };
        if stride < w || img.planes[i].is_null() {
            return bad("plane layout");
        }
        // Only up to the end of the last row is guaranteed to be allocated.
        let len = stride * (h - 1) + w;
        // SAFETY: libvpx allocated `h` rows of `stride` bytes (at least `w` used).
        planes[i] = unsafe { std::slice::from_raw_parts(img.planes[i], len) };
        strides[i] = stride;
    }
    Ok(PictureView {
        width,
        height,
        y: planes[0],
        u: planes[1],
        v: planes[2],
        y_stride: strides[0],
        u_stride: strides[1],
        v_stride: strides[2],
    })
}

/// Describes a packed I420 frame to libvpx without copying it. Built by hand rather
/// than with `vpx_img_wrap`, whose plane offsets assume even dimensions.
fn wrap_i420(frame: &VideoFrame) -> vpx::vpx_image_t {
    let (w, h) = (frame.width, frame.height);
    let (cw, ch) = VideoFrame::chroma_size(w, h);
    // libvpx's API takes `*mut` but only reads an input picture.
    let base = frame.data.as_ptr() as *mut u8;
    // SAFETY: offsets stay within `data`, whose length `check_frame` verified.
    let (u, v) = unsafe { (base.add(w * h), base.add(w * h + cw * ch)) };
    vpx::vpx_image_t {
        fmt: vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
        cs: vpx::vpx_color_space::VPX_CS_BT_601,
        range: vpx::vpx_color_range::VPX_CR_STUDIO_RANGE,
        w: (2 * cw) as c_uint,
        h: (2 * ch) as c_uint,
        bit_depth: 8,
        d_w: w as c_uint,
        d_h: h as c_uint,
        r_w: 0,
        r_h: 0,
        x_chroma_shift: 1,
        y_chroma_shift: 1,
        planes: [base, u, v, ptr::null_mut()],
        stride: [w as c_int, cw as c_int, cw as c_int, 0],
        bps: 12,
        user_priv: ptr::null_mut(),
        img_data: base,
        img_data_owner: 0,
        self_allocd: 0,
        fb_priv: ptr::null_mut(),
    }
}

fn err_to_string(err: vpx::vpx_codec_err_t) -> String {
    // SAFETY: libvpx returns a static NUL-terminated string for every code.
    unsafe { c_string(vpx::vpx_codec_err_to_string(err)) }.unwrap_or_else(|| format!("{err:?}"))
}

/// libvpx's message for the context's last error, with its detail when there is one.
fn ctx_error(ctx: &mut vpx::vpx_codec_ctx_t) -> String {
    // SAFETY: ctx is initialised; both strings are owned by libvpx and copied here.
    let (msg, detail) = unsafe {
        (
            c_string(vpx::vpx_codec_error(ctx)),
            c_string(vpx::vpx_codec_error_detail(ctx)),
        )
    };
    match (msg, detail) {
        (Some(m), Some(d)) if !d.is_empty() => format!("{m}: {d}"),
        (Some(m), _) => m,
        (None, _) => "unknown libvpx error".into(),
    }
}

/// SAFETY: `p` must be null or a valid NUL-terminated string.
unsafe fn c_string(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    //! What only VP8 has; the rest is the shared suite (`codec::suite`).
    use super::*;
    use crate::codec::suite;

    #[test]
    fn a_fake_keyframe_header_is_an_error_not_a_panic() {
        let mut dec = VP8.decoder().unwrap();
        // A keyframe start code with nonsense after it.
        let mut fake_kf = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        fake_kf.extend(std::iter::repeat_n(0xffu8, 10));
        let _ = dec.decode(&fake_kf);
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig {
            width: 0,
            ..Default::default()
        });
        assert!(matches!(enc, Err(CodecError::InvalidConfig { .. })));
        enc = Vp8Encoder::new(Vp8EncoderConfig {
            cpu_used: 17,
            ..Default::default()
        });
        assert!(enc.is_err());
    }

    fn available_cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// `cargo test -p huddle-engine --lib codec::vp8 -- --ignored --nocapture`: VP8's own
    /// knobs (threads, the screen preset); every codec's common cases are in the suite's
    /// `timing`. libvpx itself is always the system's optimised library.
    #[test]
    #[ignore]
    fn timing_of_vp8_settings() {
        let hd = Vp8EncoderConfig {
            width: 1920,
            height: 1080,
            bitrate_kbps: 2500,
            ..Default::default()
        };
        let cases = [
            (
                "camera, 2 threads",
                Vp8EncoderConfig {
                    threads: 2,
                    ..hd.clone()
                },
            ),
            // Screen content with extra threads for desktop-sized frames when the machine
            // has cores to spare (half of them, up to 4: libvpx's threads spin-wait on
            // each other, so on a busy machine with few cores a second thread made 1080p
            // several times slower, not faster).
            (
                "screen, threads for spare cores",
                Vp8EncoderConfig {
                    fps: 15,
                    bitrate_kbps: 1500,
                    threads: (available_cores() / 2).clamp(1, 4) as u32,
                    screen_content: true,
                    ..hd.clone()
                },
            ),
        ];
        for (label, cfg) in cases {
            let desc = format!(
                "VP8 {label} {}×{} @ {} kbps, cpu_used {}, {} thread(s)",
                cfg.width, cfg.height, cfg.bitrate_kbps, cfg.cpu_used, cfg.threads
            );
            let fps = cfg.fps;
            let encoder = Box::new(Vp8Encoder::new(cfg).unwrap());
            suite::timing_case(&VP8, &desc, encoder, fps, "gradient");
        }
    }

    /// Encodes `seconds` of a picture at `kbps` and decodes it: (kbit/s spent, mean luma
    /// PSNR), both from the third second on (after the keyframe and the rate control's start).
    fn bits_and_quality(
        config: Vp8EncoderConfig,
        seconds: usize,
        mut picture: impl FnMut(usize) -> VideoFrame,
    ) -> (f64, f64) {
        use crate::codec::test_pictures::psnr;
        let fps = config.fps as usize;
        let mut enc = Vp8Encoder::new(config).unwrap();
        let mut dec = VP8.decoder().unwrap();
        let (skip, frames) = (2 * fps, seconds * fps);
        let (mut bytes, mut sum, mut n) = (0, 0.0, 0);
        for i in 0..frames {
            let input = picture(i);
            let pts = (i * 3000) as i64;
            for pkt in enc.encode(&input, pts, i == 0).unwrap() {
                let out = dec.decode(&pkt.data).unwrap().expect("a picture per frame");
                if i >= skip {
                    bytes += pkt.data.len();
                    sum += psnr(input.y(), out.y());
                    n += 1;
                }
            }
        }
        let kbps = bytes as f64 * 8.0 / ((frames - skip) as f64 / fps as f64) / 1000.0;
        (kbps, sum / n.max(1) as f64)
    }

    #[test]
    fn an_easy_camera_picture_does_not_get_the_whole_target() {
        use crate::media::synthetic::TestPattern;
        let mut pattern = TestPattern::new(640, 480, 30);
        let config = Vp8EncoderConfig {
            bitrate_kbps: 1500,
            ..Vp8EncoderConfig::from(&EncoderSettings {
                width: 640,
                height: 480,
                fps: 30,
                bitrate_kbps: 1500,
                screen_content: false,
            })
        };
        let (kbps, psnr) = bits_and_quality(config, 5, |i| pattern.next_frame(i as u64 * 33));
        // With WebRTC's quantizer floor of 2 this spent ~1400 kbit/s for 54 dB.
        assert!(kbps < 900.0, "{kbps:.0} kbit/s on the synthetic camera");
        assert!(psnr > 45.0, "luma PSNR {psnr:.1} dB");
    }

    /// `cargo test -p huddle-engine --lib bits_against_quality -- --ignored --nocapture`:
    /// kbit/s spent and luma PSNR for the camera's quantizer floor and error resilience,
    /// on the synthetic camera and a detailed moving picture (VGA, 10 s each).
    #[test]
    #[ignore]
    fn bits_against_quality() {
        use crate::codec::test_pictures::moving_picture;
        use crate::media::synthetic::TestPattern;
        for kbps in [700, 1500] {
            for (min_quantizer, error_resilient) in
                [(2, true), (2, false), (6, false), (10, false), (14, false)]
            {
                let config = Vp8EncoderConfig {
                    bitrate_kbps: kbps,
                    min_quantizer,
                    error_resilient,
                    ..Vp8EncoderConfig::default()
                };
                let mut pattern = TestPattern::new(640, 480, 30);
                let (a, pa) =
                    bits_and_quality(config.clone(), 10, |i| pattern.next_frame(i as u64 * 33));
                let (b, pb) = bits_and_quality(config, 10, |i| moving_picture(640, 480, i));
                println!(
                    "target {kbps:4} kbit/s, min quantizer {min_quantizer:2}, error resilient {error_resilient:5}: \
                     synthetic camera {a:5.0} kbit/s {pa:.1} dB; moving picture {b:5.0} kbit/s {pb:.1} dB"
                );
            }
        }
    }
}
