//! Encoders and decoders: VP8 video (libvpx) and Opus audio (libopus).

pub mod h264;
pub mod opus;
pub mod vp8;
