//! Encoders and decoders: VP8 (libvpx) and H.264 (OpenH264) video, Opus audio (libopus).
//!
//! Each video codec is described once, by a [`VideoCodec`] in its own file: how it is
//! named in SDP, its payload type and `fmtp`, its encoder and decoder behind the
//! [`VideoEncoder`] / [`VideoDecoder`] traits, and its RTP payload format. Everything
//! else (peer connections, the send and receive pipelines) goes through that
//! descriptor, so adding a codec means writing its file and listing it in
//! [`VIDEO_CODECS`]. One test suite ([`suite`]) runs for every codec listed.

pub mod h264;
pub mod opus;
#[cfg(test)]
pub(crate) mod suite;
#[cfg(test)]
pub(crate) mod test_pictures;
pub mod vp8;

use std::fmt;

use bytes::Bytes;
use rtc::rtp::packetizer::{Depacketizer, Payloader};

use crate::media::frame::{PictureView, VideoFrame};

/// Ticks per second of the `pts` given to encoders: 90 kHz, the RTP video clock. Rate
/// control derives the frame rate from them, so they must advance in real time.
pub const PTS_CLOCK_HZ: i64 = 90_000;

/// Every video codec the engine has, in the order our offers list them: the first is
/// what browsers send us when they have no preference of their own.
pub const VIDEO_CODECS: [&VideoCodec; 2] = [&vp8::VP8, &h264::H264];

/// The codec with this RTP mime type (`video/VP8`, any case), if we have it.
pub fn video_codec(mime: &str) -> Option<&'static VideoCodec> {
    VIDEO_CODECS
        .into_iter()
        .find(|c| c.mime.eq_ignore_ascii_case(mime))
}

/// The codec with this name (`vp8`, `H264`, any case), if we have it.
pub fn video_codec_named(name: &str) -> Option<&'static VideoCodec> {
    VIDEO_CODECS
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// One video codec: everything the rest of the engine needs to know about it.
pub struct VideoCodec {
    /// As reports and logs name it (`VP8`).
    pub name: &'static str,
    /// Its RTP mime type (`video/VP8`).
    pub mime: &'static str,
    /// The payload type our offers give it.
    pub payload_type: u8,
    /// Its SDP `a=fmtp` parameters (empty for none).
    pub fmtp: &'static str,
    pub(crate) new_encoder: fn(&EncoderSettings) -> Result<Box<dyn VideoEncoder>, CodecError>,
    pub(crate) new_decoder: fn() -> Result<Box<dyn VideoDecoder>, CodecError>,
    /// Its RTP payload format, sending and receiving.
    pub(crate) new_payloader: fn() -> Box<dyn Payloader + Send>,
    pub(crate) new_depacketizer: fn() -> Box<dyn Depacketizer + Send>,
    /// The size a `width × height` picture is coded at (and so decoded at).
    pub(crate) coded_size: fn(usize, usize) -> (usize, usize),
}

impl VideoCodec {
    /// An encoder for `settings` that follows the size of the frames it is given.
    pub(crate) fn encoder(
        &self,
        settings: &EncoderSettings,
    ) -> Result<Box<dyn VideoEncoder>, CodecError> {
        Ok(Box::new(FollowSize {
            codec: self.name,
            start: self.new_encoder,
            inner: (self.new_encoder)(settings)?,
            settings: settings.clone(),
        }))
    }

    pub(crate) fn decoder(&self) -> Result<Box<dyn VideoDecoder>, CodecError> {
        (self.new_decoder)()
    }

    pub(crate) fn payloader(&self) -> Box<dyn Payloader + Send> {
        (self.new_payloader)()
    }

    pub(crate) fn depacketizer(&self) -> Box<dyn Depacketizer + Send> {
        (self.new_depacketizer)()
    }

    /// The size a `width × height` picture arrives at once decoded.
    pub fn coded_size(&self, width: usize, height: usize) -> (usize, usize) {
        (self.coded_size)(width, height)
    }
}

impl fmt::Debug for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for VideoCodec {
    fn eq(&self, other: &Self) -> bool {
        self.mime == other.mime
    }
}

impl Eq for VideoCodec {}

/// What every video encoder is started with; codec-specific knobs keep their defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    pub width: usize,
    pub height: usize,
    /// The rate frames really arrive at.
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Tune for screen content (text, sharp edges, mostly static).
    pub screen_content: bool,
}

impl Default for EncoderSettings {
    /// A VGA camera at 30 fps and 600 kbps.
    fn default() -> Self {
        EncoderSettings {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 600,
            screen_content: false,
        }
    }
}

/// One compressed frame, ready for RTP packetisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Bytes,
    pub keyframe: bool,
    /// The `pts` the frame was submitted with ([`PTS_CLOCK_HZ`] ticks).
    pub pts: i64,
}

/// A real-time video encoder: one frame in, (normally) one frame out at once.
pub trait VideoEncoder: Send {
    /// Encodes one frame (`pts` in [`PTS_CLOCK_HZ`] ticks). A codec's own encoder takes
    /// frames of its configured size only; [`VideoCodec::encoder`] gives one that follows
    /// size changes.
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError>;

    /// Retargets the bitrate on the running encoder (no keyframe, no restart).
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError>;

    /// The bitrate in force.
    fn bitrate_kbps(&self) -> u32;

    /// The size of the frames it is configured for (it follows size changes).
    fn size(&self) -> (usize, usize);
}

/// Restarts its codec's encoder when a frame of another size comes (the output then
/// starts with a keyframe): sources change size (a camera switched, a window resized),
/// encoders are made for one.
struct FollowSize {
    codec: &'static str,
    start: fn(&EncoderSettings) -> Result<Box<dyn VideoEncoder>, CodecError>,
    inner: Box<dyn VideoEncoder>,
    settings: EncoderSettings,
}

impl VideoEncoder for FollowSize {
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, CodecError> {
        let size = (frame.width, frame.height);
        if size != self.size() {
            tracing::debug!(codec = self.codec, from = ?self.size(), to = ?size, "encoder restarting for a new frame size");
            let settings = EncoderSettings {
                width: frame.width,
                height: frame.height,
                ..self.settings.clone()
            };
            // The old encoder goes only once the new one exists.
            self.inner = (self.start)(&settings)?;
            self.settings = settings;
        }
        self.inner.encode(frame, pts, force_keyframe)
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), CodecError> {
        self.inner.set_bitrate(kbps)?;
        self.settings.bitrate_kbps = kbps;
        Ok(())
    }

    fn bitrate_kbps(&self) -> u32 {
        self.inner.bitrate_kbps()
    }

    fn size(&self) -> (usize, usize) {
        (self.settings.width, self.settings.height)
    }
}

/// A video decoder.
pub trait VideoDecoder: Send {
    /// Decodes one frame and hands the picture to `f` in place, without copying; `false`
    /// when the data produced no picture. See [`decode_with`](dyn VideoDecoder::decode_with).
    fn decode_into(
        &mut self,
        data: &[u8],
        f: &mut dyn FnMut(&PictureView<'_>),
    ) -> Result<bool, CodecError>;

    /// Whether the last picture may be damaged (a reference was missing after a loss):
    /// the caller should then ask for a keyframe.
    fn last_frame_corrupted(&mut self) -> bool;
}

impl dyn VideoDecoder + '_ {
    /// Decodes one frame and returns what `f` made of the picture, or `None` when the
    /// data produced no picture.
    pub fn decode_with<R>(
        &mut self,
        data: &[u8],
        f: impl FnOnce(&PictureView<'_>) -> R,
    ) -> Result<Option<R>, CodecError> {
        let mut f = Some(f);
        let mut out = None;
        self.decode_into(data, &mut |picture| {
            if let Some(f) = f.take() {
                out = Some(f(picture));
            }
        })?;
        Ok(out)
    }

    /// Decodes one frame into a packed copy.
    #[cfg(test)]
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>, CodecError> {
        self.decode_with(data, |picture| picture.to_frame())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("invalid {codec} encoder configuration: {detail}")]
    InvalidConfig { codec: &'static str, detail: String },
    #[error("{codec} encoder initialisation failed: {detail}")]
    EncoderInit { codec: &'static str, detail: String },
    #[error("{codec} decoder initialisation failed: {detail}")]
    DecoderInit { codec: &'static str, detail: String },
    #[error("{codec} encode failed: {detail}")]
    Encode { codec: &'static str, detail: String },
    #[error("{codec} decode failed: {detail}")]
    Decode { codec: &'static str, detail: String },
    #[error("bad frame: {width}×{height} needs {expected} bytes of I420, got {actual}")]
    BadFrameSize {
        width: usize,
        height: usize,
        expected: usize,
        actual: usize,
    },
}

impl CodecError {
    pub(crate) fn invalid(codec: &'static str, detail: impl Into<String>) -> Self {
        CodecError::InvalidConfig {
            codec,
            detail: detail.into(),
        }
    }

    pub(crate) fn encoder_init(codec: &'static str, detail: impl Into<String>) -> Self {
        CodecError::EncoderInit {
            codec,
            detail: detail.into(),
        }
    }

    pub(crate) fn decoder_init(codec: &'static str, detail: impl Into<String>) -> Self {
        CodecError::DecoderInit {
            codec,
            detail: detail.into(),
        }
    }

    pub(crate) fn encode(codec: &'static str, detail: impl Into<String>) -> Self {
        CodecError::Encode {
            codec,
            detail: detail.into(),
        }
    }

    pub(crate) fn decode(codec: &'static str, detail: impl Into<String>) -> Self {
        CodecError::Decode {
            codec,
            detail: detail.into(),
        }
    }
}

/// Checks that a frame has the size an encoder of `codec` was made for, and that its
/// buffer holds what that size says.
pub(crate) fn check_frame(
    codec: &'static str,
    frame: &VideoFrame,
    configured: (usize, usize),
) -> Result<(), CodecError> {
    check_frame_len(frame)?;
    if (frame.width, frame.height) != configured {
        return Err(CodecError::invalid(
            codec,
            format!(
                "a {}×{} frame for an encoder made for {}×{}",
                frame.width, frame.height, configured.0, configured.1
            ),
        ));
    }
    Ok(())
}

/// Checks that a frame's buffer holds what its size says.
fn check_frame_len(frame: &VideoFrame) -> Result<(), CodecError> {
    let expected = VideoFrame::byte_len(frame.width, frame.height);
    if frame.data.len() != expected {
        return Err(CodecError::BadFrameSize {
            width: frame.width,
            height: frame.height,
            expected,
            actual: frame.data.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_are_found_by_mime_and_name() {
        assert_eq!(video_codec("video/vp8"), Some(&vp8::VP8));
        assert_eq!(video_codec("VIDEO/H264"), Some(&h264::H264));
        assert_eq!(video_codec("video/AV1"), None);
        assert_eq!(video_codec_named("h264"), Some(&h264::H264));
        assert_eq!(video_codec_named("vp9"), None);
        // Payload types and mime types are unique.
        for (i, a) in VIDEO_CODECS.iter().enumerate() {
            for b in &VIDEO_CODECS[i + 1..] {
                assert_ne!(a.payload_type, b.payload_type);
                assert_ne!(a.mime, b.mime);
            }
        }
    }
}
