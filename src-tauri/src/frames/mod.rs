//! The video path to the window: decoded frames are scaled down in Rust to the size their
//! tile shows, packed as raw I420 behind a small binary header ([`packing`]), left newest-wins
//! per stream ([`outlet`]) and pushed over a WebSocket on 127.0.0.1 that only this window can
//! open ([`socket`]), at most a couple of frames ahead of what the window has handled. The WebGL
//! renderer in the UI turns them into pixels.

pub mod channel;
pub mod hub;
pub mod outlet;
pub mod packing;
pub mod socket;

pub use channel::FramePath;
pub use hub::FrameHub;
pub use packing::FrameKind;
