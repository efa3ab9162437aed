//! Splitting one estimate between audio, video and retransmissions, so that everything
//! together stays within it: audio first (it is small and matters most), then what
//! retransmissions are actually using, and the video encoder gets the rest.

/// Bytes a video packet carries on the wire beyond its payload (IP, UDP, SRTP, RTP and
/// its extensions) relative to a ~1200-byte payload.
const VIDEO_PACKET_OVERHEAD: f64 = 0.05;
/// The encoder aims a little under what is left: its rate control overshoots on
/// keyframes and sudden motion, and the pacer would queue the excess.
const ENCODER_HEADROOM: f64 = 0.95;
/// Retransmissions may take at most this share of the estimate.
pub const RTX_SHARE: f64 = 0.25;
/// Opus at 32 kbit/s in 20 ms packets, with its packet overhead.
pub const AUDIO_BPS: f64 = 50_000.0;

/// The video encoder's target, given the estimate, what audio sends and what
/// retransmissions have recently sent (all in bits per second on the wire).
pub fn video_target_bps(estimate_bps: f64, audio_bps: f64, rtx_bps: f64) -> f64 {
    let left = estimate_bps - audio_bps - rtx_bps.min(RTX_SHARE * estimate_bps);
    (left * ENCODER_HEADROOM / (1.0 + VIDEO_PACKET_OVERHEAD)).max(0.0)
}

/// The rate retransmissions may use right now.
pub fn rtx_budget_bps(estimate_bps: f64) -> f64 {
    RTX_SHARE * estimate_bps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_gets_what_audio_and_retransmissions_leave() {
        let v = video_target_bps(500_000.0, 50_000.0, 0.0);
        assert!((v - 407_142.0).abs() < 1.0, "{v}");
        let with_rtx = video_target_bps(500_000.0, 50_000.0, 50_000.0);
        assert!(with_rtx < v);
        // Retransmissions are counted only up to their share.
        assert_eq!(
            video_target_bps(500_000.0, 50_000.0, 1e9),
            video_target_bps(500_000.0, 50_000.0, 125_000.0)
        );
        assert_eq!(video_target_bps(30_000.0, 50_000.0, 0.0), 0.0);
    }
}
