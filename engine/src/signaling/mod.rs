//! Talking to the signaling server: the Socket.IO client and the protocol's messages.

pub mod client;
pub mod messages;

pub use client::{SignalingClient, SignalingError};
pub use messages::ServerEvent;
