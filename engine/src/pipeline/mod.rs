//! Media between the devices and the peer connections.
//!
//! Outgoing: capture → size and frame rate for the link ([`degrade`]) → encode once ([`outgoing`]),
//! a camera in a mesh also at half size for weak receivers → every peer ([`send`]), each on the
//! encoding its link carries ([`layer_switch`]), at the rates the receivers allow ([`bitrate`]). Incoming: RTP → frames ([`recovery`], [`assembler`]) → decode →
//! the application's sink and the mixer ([`incoming`]).

pub mod assembler;
pub mod bitrate;
pub mod decoding;
pub mod degrade;
pub mod guard;
pub mod incoming;
pub mod layer_switch;
pub mod outgoing;
pub mod recovery;
pub mod send;
