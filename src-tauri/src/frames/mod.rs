//! The video path to the window: decoded frames are scaled down in Rust to the size their
//! tile shows, packed as raw I420 behind a small binary header ([`packing`]), and pushed
//! over a WebSocket on 127.0.0.1 that only this window can open ([`socket`]). The WebGL
//! renderer in the UI turns them into pixels.

pub mod channel;
pub mod hub;
pub mod packing;
pub mod socket;

pub use channel::FramePath;
pub use hub::FrameHub;
pub use packing::FrameKind;
