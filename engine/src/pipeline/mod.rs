//! Media between the devices and the peer connections.
//!
//! Outgoing: capture → size and frame rate for the link ([`degrade`]) → encode once ([`outgoing`]) → every peer ([`send`]), at the rate the
//! receivers allow ([`bitrate`]). Incoming: RTP → frames ([`recovery`], [`assembler`]) → decode →
//! the application's sink and the mixer ([`incoming`]).

pub mod assembler;
pub mod bitrate;
pub mod decoding;
pub mod degrade;
pub mod guard;
pub mod incoming;
pub mod outgoing;
pub mod recovery;
pub mod send;
