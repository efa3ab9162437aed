//! Huddle's participant engine: everything a participant does, without a GUI.
//!
//! Layout, from the network inwards:
//! - [`signaling`]: the Socket.IO client speaking PROTOCOL.md;
//! - [`session`]: a participant in a room — the mesh of calls, commands, events;
//! - [`peer`]: webrtc-rs peer connections, our tracks on them, feedback;
//! - [`pipeline`]: capture → encode → peers, and RTP → decode → sinks;
//! - [`codec`]: VP8 (libvpx) and Opus (libopus);
//! - [`media`]: frames, sources (devices and synthetic), the test barcode;
//! - [`stats`]: what is measured and reported.

pub mod codec;
pub mod devices;
pub mod media;
pub mod peer;
pub mod pipeline;
pub mod session;
pub mod signaling;
pub mod stats;

/// The signaling protocol's types, as the engine speaks them.
pub use huddle_protocol as protocol;
