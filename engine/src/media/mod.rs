//! Media sources and the raw frames they produce.

pub mod audio_device;
pub mod barcode_window;
pub mod camera;
pub mod echo;
pub mod frame;
pub mod screen;
pub mod source;
pub mod synthetic;
pub mod testsignal;

pub use frame::{AudioFrame, CapturedFrame, VideoFrame};
