//! Talking to the signaling server: a Socket.IO client speaking the protocol of the
//! `huddle-protocol` crate.

pub mod client;
pub mod security;

pub use client::{SignalingClient, SignalingError, SignalingEvent};
