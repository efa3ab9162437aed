//! Media between the devices and the peer connections: outgoing (capture → encode →
//! every peer) and incoming (RTP → decode → sink, mixer).

pub mod assembler;
pub mod incoming;
pub mod outgoing;
