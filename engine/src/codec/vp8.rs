//! VP8 video through libvpx (`vpx_sys`), tuned for real-time conferencing.
//!
//! The encoder runs one-pass CBR with no look-ahead and error resilience, so every
//! input frame yields its packet immediately and a lost packet only costs until the
//! next keyframe (which the receiver asks for with PLI/FIR; the periodic keyframe
//! interval is long on purpose).
//!
//! Timestamps (`pts`) are in [`PTS_CLOCK_HZ`] ticks (90 kHz, the RTP video clock):
//! libvpx's rate control derives the frame rate from them, so they must advance in
//! real time (3000 ticks per frame at 30 fps).

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int, c_uint, c_ulong};
use std::ptr;

use bytes::Bytes;
use vpx_sys as vpx;

use crate::media::frame::VideoFrame;

/// Ticks per second of `pts` given to [`Vp8Encoder::encode`].
pub const PTS_CLOCK_HZ: i64 = 90_000;

/// VP8 cannot code pictures larger than this in either dimension (14-bit sizes).
const MAX_DIMENSION: usize = 16_383;

#[derive(Debug, thiserror::Error)]
pub enum Vp8Error {
    #[error("invalid VP8 encoder configuration: {0}")]
    InvalidConfig(String),
    #[error("VP8 encoder initialisation failed: {0}")]
    EncoderInit(String),
    #[error("VP8 decoder initialisation failed: {0}")]
    DecoderInit(String),
    #[error("VP8 encode failed: {0}")]
    Encode(String),
    #[error("VP8 decode failed: {0}")]
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
pub type CodecError = Vp8Error;

pub type Result<T, E = Vp8Error> = std::result::Result<T, E>;

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
}

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
        }
    }
}

impl Vp8EncoderConfig {
    /// A starting point for screen sharing: screen-content mode, more bits, and extra
    /// threads for desktop-sized frames when the machine has cores to spare (half of
    /// them, up to 4: libvpx's threads spin-wait on each other, so on a busy machine
    /// with few cores a second thread made 1080p several times slower, not faster).
    pub fn screen(width: usize, height: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) / 2;
        Vp8EncoderConfig {
            width,
            height,
            fps: 15,
            bitrate_kbps: 1500,
            threads: cores.clamp(1, 4) as u32,
            screen_content: true,
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Vp8Error::InvalidConfig(msg));
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

/// One compressed VP8 frame, ready for RTP packetisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Bytes,
    pub keyframe: bool,
    /// The `pts` the frame was submitted with (90 kHz ticks).
    pub pts: i64,
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
            return Err(Vp8Error::EncoderInit(format!(
                "vpx_codec_enc_config_default: {}",
                err_to_string(res)
            )));
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
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        cfg.g_lag_in_frames = 0;
        // Never drop input frames: callers expect one packet per frame, and the pacer
        // rather than the encoder decides what to do when the link is short.
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = config.bitrate_kbps;
        cfg.rc_min_quantizer = 2;
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
            return Err(Vp8Error::EncoderInit(format!(
                "{} ({}×{} @ {} kbps)",
                err_to_string(res),
                config.width,
                config.height,
                config.bitrate_kbps
            )));
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
            encoder.control(id, value).map_err(Vp8Error::EncoderInit)?;
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

    /// The configuration in force (it follows size and bitrate changes).
    pub fn config(&self) -> &Vp8EncoderConfig {
        &self.config
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

    /// Encodes one frame. Normally yields exactly one [`EncodedFrame`]. A frame of a
    /// different size than configured restarts the encoder at that size (the output
    /// then starts with a keyframe).
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
                "VP8 encoder restarting for a new frame size"
            );
            let config = Vp8EncoderConfig {
                width: frame.width,
                height: frame.height,
                ..self.config.clone()
            };
            // The old context is dropped (destroyed) only once the new one exists.
            *self = Vp8Encoder::new(config)?;
        }

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
            return Err(Vp8Error::Encode(ctx_error(&mut self.ctx)));
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
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<()> {
        if kbps == 0 {
            return Err(Vp8Error::InvalidConfig("bitrate must be above 0".into()));
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
            return Err(Vp8Error::Encode(format!(
                "set bitrate {kbps} kbps: {}",
                ctx_error(&mut self.ctx)
            )));
        }
        self.config.bitrate_kbps = kbps;
        Ok(())
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

/// A decoded picture as libvpx holds it: strided planes, borrowed until the next
/// decode. Lets readers (scalers, renderers, analysis) skip a copy per frame.
#[derive(Clone, Copy, Debug)]
pub struct DecodedImage<'a> {
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

impl<'a> DecodedImage<'a> {
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
            return Err(Vp8Error::DecoderInit(err_to_string(res)));
        }
        Ok(Vp8Decoder { ctx, _cfg: cfg })
    }

    /// Decodes one VP8 frame into a packed I420 copy. `Ok(None)` when the data
    /// produced no picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>> {
        self.decode_with(data, |img| img.to_frame())
    }

    /// Decodes one VP8 frame and hands the picture to `f` in place, without copying.
    /// Returns what `f` returned, or `None` when the data produced no picture.
    pub fn decode_with<R>(
        &mut self,
        data: &[u8],
        f: impl FnOnce(&DecodedImage<'_>) -> R,
    ) -> Result<Option<R>> {
        if data.is_empty() {
            // An empty buffer means "flush" to libvpx; as input it is a caller bug.
            return Err(Vp8Error::Decode("empty frame".into()));
        }
        let len = c_uint::try_from(data.len())
            .map_err(|_| Vp8Error::Decode(format!("frame of {} bytes", data.len())))?;
        // SAFETY: `data` is valid for `len` bytes during the call; libvpx copies what
        // it keeps.
        let res = unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        if res != vpx::VPX_CODEC_OK {
            return Err(Vp8Error::Decode(ctx_error(&mut self.ctx)));
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
            return Ok(None);
        };
        let view = unsafe { image_view(img) }?;
        Ok(Some(f(&view)))
    }

    /// Whether libvpx flagged the last decoded frame as corrupt (a reference was
    /// missing after a loss); the caller should then request a keyframe.
    pub fn last_frame_corrupted(&mut self) -> bool {
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

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: ctx was successfully initialised in `new` and is destroyed once.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// Borrows libvpx's image as plane slices, checking the layout we rely on.
///
/// SAFETY: `img` must be a live image returned by the decoder; the slices borrow it.
unsafe fn image_view(img: &vpx::vpx_image_t) -> Result<DecodedImage<'_>> {
    let bad = |what: &str| {
        Err(Vp8Error::Decode(format!(
            "unexpected decoder output: {what}"
        )))
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
    Ok(DecodedImage {
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

fn check_frame(frame: &VideoFrame) -> Result<()> {
    let expected = VideoFrame::byte_len(frame.width, frame.height);
    if frame.width == 0
        || frame.height == 0
        || frame.width > MAX_DIMENSION
        || frame.height > MAX_DIMENSION
        || frame.data.len() != expected
    {
        return Err(Vp8Error::BadFrameSize {
            width: frame.width,
            height: frame.height,
            expected,
            actual: frame.data.len(),
        });
    }
    Ok(())
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
    use super::*;
    use crate::codec::test_pictures::{grainy_picture, moving_picture, psnr};
    use std::time::Instant;

    const TICKS_30FPS: i64 = PTS_CLOCK_HZ / 30;

    fn encode_one(enc: &mut Vp8Encoder, f: &VideoFrame, i: usize, kf: bool) -> EncodedFrame {
        let mut out = enc.encode(f, i as i64 * TICKS_30FPS, kf).unwrap();
        assert_eq!(out.len(), 1, "one packet per frame");
        out.remove(0)
    }

    #[test]
    fn round_trip_60_frames_vga() {
        let cfg = Vp8EncoderConfig {
            bitrate_kbps: 1000,
            ..Default::default()
        };
        let mut enc = Vp8Encoder::new(cfg).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let mut psnrs = Vec::new();
        for i in 0..60 {
            let input = moving_picture(640, 480, i);
            let pkt = encode_one(&mut enc, &input, i, false);
            assert_eq!(
                pkt.keyframe,
                i == 0,
                "frame {i}: only the first is a keyframe"
            );
            assert_eq!(pkt.pts, i as i64 * TICKS_30FPS);
            let out = dec.decode(&pkt.data).unwrap().expect("a picture per frame");
            assert_eq!((out.width, out.height), (640, 480));
            assert_eq!(out.data.len(), VideoFrame::byte_len(640, 480));
            assert!(!dec.last_frame_corrupted());
            psnrs.push(psnr(input.y(), out.y()));
        }
        let avg = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
        let min = psnrs.iter().cloned().fold(f64::MAX, f64::min);
        println!("VGA @ 1 Mbps: luma PSNR avg {avg:.1} dB, min {min:.1} dB");
        assert!(avg > 30.0, "average PSNR {avg:.1} dB");
        assert!(min > 25.0, "worst PSNR {min:.1} dB");
    }

    #[test]
    fn odd_size_round_trip() {
        let (w, h) = (161, 121);
        let cfg = Vp8EncoderConfig {
            width: w,
            height: h,
            bitrate_kbps: 800,
            ..Default::default()
        };
        let mut enc = Vp8Encoder::new(cfg).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        for i in 0..10 {
            let input = moving_picture(w, h, i);
            let pkt = encode_one(&mut enc, &input, i, false);
            let out = dec.decode(&pkt.data).unwrap().unwrap();
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(out.data.len(), VideoFrame::byte_len(w, h));
            let p = psnr(input.y(), out.y());
            assert!(p > 28.0, "frame {i}: luma PSNR {p:.1} dB");
            // Chroma must line up too (a stride mix-up would wreck it).
            let pu = psnr(input.u(), out.u());
            assert!(pu > 28.0, "frame {i}: U PSNR {pu:.1} dB");
        }
    }

    #[test]
    fn decode_with_gives_strided_planes_matching_the_copy() {
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig {
            width: 99,
            height: 51,
            ..Default::default()
        })
        .unwrap();
        let pkt = encode_one(&mut enc, &moving_picture(99, 51, 0), 0, false);
        let mut dec_a = Vp8Decoder::new().unwrap();
        let mut dec_b = Vp8Decoder::new().unwrap();
        let copied = dec_a.decode(&pkt.data).unwrap().unwrap();
        let (w, h, y_stride, row5) = dec_b
            .decode_with(&pkt.data, |img| {
                assert!(img.y_stride >= img.width);
                assert_eq!(img.to_frame(), copied);
                (img.width, img.height, img.y_stride, img.y_row(5).to_vec())
            })
            .unwrap()
            .unwrap();
        assert_eq!((w, h), (99, 51));
        assert!(y_stride >= 99);
        assert_eq!(row5, copied.y()[5 * 99..6 * 99]);
    }

    #[test]
    fn force_keyframe_works() {
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig::default()).unwrap();
        let mut packets = Vec::new();
        for i in 0..20 {
            let pkt = encode_one(&mut enc, &moving_picture(640, 480, i), i, i == 10);
            assert_eq!(pkt.keyframe, i == 0 || i == 10, "frame {i}");
            packets.push(pkt);
        }
        // What makes a keyframe: a decoder joining there needs nothing before it...
        let mut late = Vp8Decoder::new().unwrap();
        for p in &packets[10..] {
            assert!(late.decode(&p.data).unwrap().is_some());
        }
        // ...whereas joining on an ordinary frame fails.
        let mut early = Vp8Decoder::new().unwrap();
        assert!(early.decode(&packets[9].data).is_err());
    }

    #[test]
    fn set_bitrate_changes_frame_sizes_without_keyframe() {
        let (w, h) = (320, 240);
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig {
            width: w,
            height: h,
            bitrate_kbps: 1000,
            ..Default::default()
        })
        .unwrap();
        let mut sizes = Vec::new();
        for i in 0..80 {
            if i == 40 {
                enc.set_bitrate(150).unwrap();
                assert_eq!(enc.config().bitrate_kbps, 150);
            }
            let pkt = encode_one(&mut enc, &grainy_picture(w, h, i), i, false);
            assert_eq!(
                pkt.keyframe,
                i == 0,
                "frame {i}: retargeting must not add keyframes"
            );
            sizes.push(pkt.data.len());
        }
        let avg = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len() as f64;
        let (high, low) = (avg(&sizes[20..40]), avg(&sizes[60..80]));
        println!("grainy 320×240: {high:.0} B/frame at 1000 kbps, {low:.0} B/frame at 150 kbps");
        assert!(low < high * 0.5, "high {high:.0} B, low {low:.0} B");
        assert!(enc.set_bitrate(0).is_err());
    }

    #[test]
    fn resolution_change_mid_stream() {
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let sizes = [(640, 480), (321, 241), (1280, 720)];
        let mut i = 0;
        for &(w, h) in &sizes {
            for n in 0..8 {
                let input = moving_picture(w, h, i);
                let pkt = encode_one(&mut enc, &input, i, false);
                assert_eq!(pkt.keyframe, n == 0, "{w}×{h} frame {n}");
                let out = dec.decode(&pkt.data).unwrap().unwrap();
                assert_eq!((out.width, out.height), (w, h));
                assert!(psnr(input.y(), out.y()) > 25.0);
                i += 1;
            }
            assert_eq!((enc.config().width, enc.config().height), (w, h));
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = Vp8Encoder::new(Vp8EncoderConfig::default()).unwrap();
        let short = VideoFrame {
            width: 640,
            height: 480,
            data: vec![0; 100],
        };
        assert!(matches!(
            enc.encode(&short, 0, false),
            Err(Vp8Error::BadFrameSize { .. })
        ));
        assert!(
            Vp8Encoder::new(Vp8EncoderConfig {
                width: 0,
                ..Default::default()
            })
            .is_err()
        );

        let mut dec = Vp8Decoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(b"definitely not a VP8 frame").is_err());
        // A fake keyframe header with nonsense after it.
        let mut fake_kf = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        fake_kf.extend(std::iter::repeat_n(0xffu8, 10));
        let _ = dec.decode(&fake_kf);

        // Garbage in the middle of a real stream: Ok or Err, never a crash, and a
        // keyframe afterwards recovers.
        let mut state = 1u64;
        for i in 0..50 {
            let pkt = encode_one(&mut enc, &moving_picture(640, 480, i), i, i == 40);
            dec.decode(&pkt.data).ok();
            if i % 5 == 4 {
                let mut junk = pkt.data.to_vec();
                for b in junk.iter_mut().skip(3) {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    *b = (state >> 56) as u8;
                }
                let _ = dec.decode(&junk);
                let _ = dec.decode(&junk[..junk.len() / 3]);
            }
        }
        let pkt = encode_one(&mut enc, &moving_picture(640, 480, 50), 50, true);
        let out = dec.decode(&pkt.data).unwrap().unwrap();
        assert_eq!((out.width, out.height), (640, 480));
    }

    #[test]
    fn codecs_are_send() {
        fn is_send<T: Send>() {}
        is_send::<Vp8Encoder>();
        is_send::<Vp8Decoder>();
    }

    /// `cargo test -p huddle-engine --lib codec::vp8 -- --ignored --nocapture`
    /// (add `--release` for an optimised build; libvpx itself is always the system's
    /// optimised library, and the Rust side is only memcpy).
    #[test]
    #[ignore]
    fn timing() {
        let cases = [
            ("camera", Vp8EncoderConfig::default()),
            (
                "camera",
                Vp8EncoderConfig {
                    width: 1920,
                    height: 1080,
                    bitrate_kbps: 2500,
                    ..Default::default()
                },
            ),
            (
                "camera",
                Vp8EncoderConfig {
                    width: 1920,
                    height: 1080,
                    bitrate_kbps: 2500,
                    threads: 2,
                    ..Default::default()
                },
            ),
            ("screen", Vp8EncoderConfig::screen(1920, 1080)),
        ];
        for (label, cfg) in cases {
            let (w, h) = (cfg.width, cfg.height);
            let frames: Vec<_> = (0..30).map(|t| moving_picture(w, h, t)).collect();
            let desc = format!(
                "{label} {w}×{h} @ {} kbps, cpu_used {}, {} thread(s)",
                cfg.bitrate_kbps, cfg.cpu_used, cfg.threads
            );
            let mut enc = Vp8Encoder::new(cfg).unwrap();
            let mut dec_copy = Vp8Decoder::new().unwrap();
            let mut dec_view = Vp8Decoder::new().unwrap();
            let n = 150;
            let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
            let (mut enc_t, mut copy_t, mut view_t, mut bytes, mut first_kf) =
                (0.0, 0.0, 0.0, 0, 0.0);
            for i in 0..n {
                // Moves continuously (no jump when the 30 pictures wrap round).
                let frame = &frames[if (i / 30) % 2 == 0 {
                    i % 30
                } else {
                    29 - i % 30
                }];
                let t = Instant::now();
                let pkt = encode_one(&mut enc, frame, i, false);
                let e = ms(t);
                let t = Instant::now();
                let out = dec_copy.decode(&pkt.data).unwrap().unwrap();
                let c = ms(t);
                let t = Instant::now();
                let seen = dec_view.decode_with(&pkt.data, |img| img.y[0]).unwrap();
                let v = ms(t);
                assert_eq!((out.width, seen), (w, Some(out.data[0])));
                if i == 0 {
                    first_kf = e;
                } else {
                    (enc_t, copy_t, view_t) = (enc_t + e, copy_t + c, view_t + v);
                    bytes += pkt.data.len();
                }
            }
            let m = (n - 1) as f64;
            println!(
                "{desc}: encode {:.2} ms/frame (first keyframe {first_kf:.1} ms), \
                 decode {:.2} ms/frame zero-copy, {:.2} with packed copy, {:.0} B/frame",
                enc_t / m,
                view_t / m,
                copy_t / m,
                bytes as f64 / m
            );
        }
    }
}
