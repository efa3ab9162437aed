//! Where local media comes from: cameras, microphones and screens (devices or synthetic),
//! the echo processing a real microphone gets, and what the system calls its devices.
//!
//! - [`source`]: the source traits, the user's choices, the synthetic camera and tone;
//! - [`camera`], [`microphone`]: nokhwa cameras and cpal microphones;
//! - [`audio_host`]: the sound server (device listing, streams on their own thread),
//!   shared with the speaker in `playout`;
//! - [`echo`]: echo cancellation, noise suppression, gain control;
//! - [`screen`]: screens and windows to share (X11, scap), the synthetic screen;
//! - [`device_info`]: a device as listings name it.

pub mod audio_host;
pub mod camera;
pub mod device_info;
pub mod echo;
pub mod microphone;
pub mod screen;
pub mod source;
