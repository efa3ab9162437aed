//! Encoders and decoders: VP8 (libvpx) and H.264 (OpenH264) video, Opus audio (libopus).

pub mod h264;
pub mod opus;
#[cfg(test)]
mod test_pictures;
pub mod vp8;
