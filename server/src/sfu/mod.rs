//! The SFU path (issue 16): rooms past mesh size send their media through a Janus
//! VideoRoom instead of a full mesh.
//!
//! - [`janus`]: the Janus API client (WebSocket, sessions, handles, the VideoRoom);
//! - [`mode`]: when a room uses the SFU (sans-IO);
//! - [`subscription`]: one member's subscription and its renegotiations (sans-IO);
//! - [`room`]: the task that speaks to Janus for one SFU room;
//! - [`service`]: what the signaling hub calls: joins, leaves and `sfu:*` requests.

pub mod janus;
pub mod mode;
mod room;
pub mod service;
pub mod subscription;

pub use service::{Entered, JanusSettings, Outbox, SfuConfig, SfuReply, SfuRequest, SfuService};
