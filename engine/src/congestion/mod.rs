//! Congestion control, loss recovery and graceful degradation, as sans-IO building
//! blocks: no sockets, no clocks (every instant is an argument), no webrtc-rs types in
//! the algorithms. Each one is driven by the engine's send and receive paths and tested
//! here with synthetic inputs, including a deterministic link model ([`sim`]).
//!
//! Send side, from the encoder to the wire and back:
//! - [`feedback`]: the send history that joins transport-wide feedback (TWCC) to what left;
//! - [`delay`]: inter-arrival groups, the trendline filter and the overuse detector;
//! - [`aimd`]: the delay-based rate controller (AIMD with a link-capacity estimate);
//! - [`acked`]: the rate the receiver actually got;
//! - [`loss`]: the loss-based bound;
//! - [`estimator`]: all of the above combined into one target bitrate (GCC's family);
//! - [`pacer`]: releases packets at the estimate × a pacing factor, audio first;
//! - [`rtx`]: which NACKed packets are worth resending, within a budget;
//! - [`allocation`]: how the estimate is split between audio, video and retransmissions.
//!
//! Receive side: [`recovery`] (hold a frame for its retransmission, never decode across
//! a gap, ask for keyframes at a bounded rate) with [`vp8`] reading what it needs from
//! VP8 payload descriptors.
//!
//! Adapting the media: [`degradation`] (bitrate → resolution and frame rate, with
//! hysteresis), [`audio`] (Opus settings from loss and bitrate, the adaptive playout delay) and [`encodings`] (per-peer
//! choice between a full and a low encoding, so one weak peer does not drag a mesh down).
//!
//! The glue into webrtc-rs (interceptors) lives in `peer::congestion`; the encoder
//! follower and the receive-side recovery in `pipeline`.

pub mod acked;
pub mod aimd;
pub mod allocation;
pub mod audio;
pub mod degradation;
pub mod delay;
pub mod encodings;
pub mod estimator;
pub mod feedback;
pub mod loss;
pub mod pacer;
pub mod recovery;
pub mod rtx;
#[cfg(test)]
pub mod sim;
pub mod vp8;

/// Milliseconds of a duration as a float, the unit the delay filters work in.
pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
