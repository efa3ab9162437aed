//! Huddle's participant engine: everything a participant does, without a GUI.
//!
//! Folders follow the data path, from the devices out to the network and back:
//! capture → codec → peer → pipeline → playout, driven by the session.
//! - [`media`]: frames, stream identities, all pixel conversion and scaling, the test
//!   barcode and synthetic pictures;
//! - [`stats`]: what is measured and reported;
//! - [`capture`]: cameras, microphones, screens, echo processing, device info;
//! - [`playout`]: the mixer of remote audio and the speaker;
//! - [`codec`]: VP8 (libvpx), H.264 (OpenH264), Opus (libopus);
//! - [`peer`]: webrtc-rs peer connections, our tracks on them, RTCP feedback;
//! - [`pipeline`]: capture → encode once → every peer, and RTP → decode → sinks;
//! - [`signaling`]: the Socket.IO client speaking PROTOCOL.md;
//! - [`session`]: a participant in a room — the mesh of calls, commands, events;
//! - [`devices`]: choosing and opening local media.
//!
//! The rule that keeps this readable: a module uses only modules listed before it
//! (`media` uses none; `session` may use all but `devices`), never one after it. Each
//! folder's `use crate::…` lines show it; `tests/layers.rs` checks it.

pub mod capture;
pub mod codec;
pub mod devices;
pub mod media;
pub mod peer;
pub mod pipeline;
pub mod playout;
pub mod session;
pub mod signaling;
pub mod stats;

/// The signaling protocol's types, as the engine speaks them.
pub use huddle_protocol as protocol;
