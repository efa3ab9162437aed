//! Opus settings from what the link does: the loss rate goes to the encoder so its
//! in-band FEC engages (libopus adds redundancy only when told to expect loss), the
//! bitrate leaves FEC room when there is loss and shrinks on very thin links, and DTX
//! (nothing sent in silence) is used only where every bit counts.

/// Settings for [`crate::codec::opus::OpusEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    pub bitrate_bps: u32,
    /// What the encoder should expect to lose, 0–100 (`OPUS_SET_PACKET_LOSS_PERC`).
    pub packet_loss_perc: u8,
    pub fec: bool,
    pub dtx: bool,
}

/// Loss above this turns FEC on.
const FEC_LOSS: f64 = 0.01;
/// The encoder is told at most this much loss: beyond, FEC cannot keep up anyway and
/// would only crowd out the primary encoding.
const MAX_LOSS_PERC: u8 = 25;

/// `loss` is the fraction the receiver reports lost, `estimate_bps` the connection's
/// bandwidth estimate.
pub fn opus_settings(loss: f64, estimate_bps: f64) -> OpusSettings {
    let fec = loss > FEC_LOSS;
    let packet_loss_perc = ((loss * 100.0).ceil() as u8).min(MAX_LOSS_PERC);
    let bitrate_bps = if estimate_bps < 80_000.0 {
        16_000
    } else if estimate_bps < 150_000.0 {
        24_000
    } else if fec {
        // LBRR is coded at a lower rate inside the same packet: give it room.
        40_000
    } else {
        32_000
    };
    OpusSettings {
        bitrate_bps,
        packet_loss_perc,
        fec,
        dtx: estimate_bps < 150_000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_engages_fec_and_thin_links_shrink_the_voice() {
        let clean = opus_settings(0.0, 1e6);
        assert_eq!(
            (
                clean.bitrate_bps,
                clean.packet_loss_perc,
                clean.fec,
                clean.dtx
            ),
            (32_000, 0, false, false)
        );
        let lossy = opus_settings(0.05, 1e6);
        assert_eq!(
            (lossy.bitrate_bps, lossy.packet_loss_perc, lossy.fec),
            (40_000, 5, true)
        );
        assert_eq!(opus_settings(0.6, 1e6).packet_loss_perc, MAX_LOSS_PERC);
        let thin = opus_settings(0.05, 100_000.0);
        assert_eq!((thin.bitrate_bps, thin.fec, thin.dtx), (24_000, true, true));
        assert_eq!(opus_settings(0.0, 50_000.0).bitrate_bps, 16_000);
    }
}
