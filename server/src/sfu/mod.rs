//! The SFU path (issue 16): rooms past mesh size send their media through a Janus
//! VideoRoom instead of a full mesh.
//!
//! Today this holds the Janus API client ([`janus`]); the rooms' switch to the SFU and the
//! SFU events of the protocol come on top of it.

pub mod janus;
