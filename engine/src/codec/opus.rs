//! Opus voice through libopus (`audiopus`): 48 kHz mono, normally 20 ms packets
//! (two of the engine's 10 ms chunks).

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Bitrate, Channels, SampleRate};
use bytes::Bytes;

use crate::media::frame::{CHUNK_SAMPLES, SAMPLE_RATE};

/// Samples in one 20 ms packet at 48 kHz mono.
pub const FRAME_SAMPLES: usize = 2 * CHUNK_SAMPLES;

pub const DEFAULT_BITRATE_BPS: u32 = 32_000;

/// With DTX on, a packet this small carries no audio: silence, not worth sending
/// (RFC 7587 §3.1.3).
pub const DTX_PACKET_BYTES: usize = 2;

/// Bitrates outside this range are clamped: below it speech falls apart, above it
/// Opus gains nothing for mono.
pub const MIN_BITRATE_BPS: u32 = 6_000;
pub const MAX_BITRATE_BPS: u32 = 510_000;

/// 0..=10; 7 keeps most of the quality of the default 10 at a fraction of the CPU.
const COMPLEXITY: u8 = 7;

/// Caps each packet below a typical MTU (libopus lowers the rate to fit; a single
/// 20 ms frame never exceeds 1275 bytes anyway).
const MAX_PACKET_BYTES: usize = 1500;

/// The longest Opus packet is 120 ms.
const MAX_PACKET_SAMPLES: usize = SAMPLE_RATE as usize * 120 / 1000;

/// Concealment and FEC work in whole 2.5 ms steps.
const CONCEAL_STEP: usize = SAMPLE_RATE as usize / 400;

#[derive(Debug, thiserror::Error)]
pub enum OpusError {
    #[error("Opus initialisation failed: {0}")]
    Init(#[source] audiopus::Error),
    #[error("Opus setting {what} failed: {source}")]
    Setting {
        what: &'static str,
        #[source]
        source: audiopus::Error,
    },
    #[error("Opus encode failed: {0}")]
    Encode(#[source] audiopus::Error),
    #[error("Opus decode failed: {0}")]
    Decode(#[source] audiopus::Error),
    #[error("{0} samples is not an Opus frame at 48 kHz mono (120/240/480/960/1920/2880)")]
    BadFrameSize(usize),
    #[error("{0} samples to conceal is not a multiple of 2.5 ms (120 samples)")]
    BadConcealLength(usize),
}

pub type Result<T, E = OpusError> = std::result::Result<T, E>;

fn setting(what: &'static str) -> impl FnOnce(audiopus::Error) -> OpusError {
    move |source| OpusError::Setting { what, source }
}

/// A VoIP Opus encoder: 48 kHz mono, in-band FEC on (it costs nothing until a loss
/// rate is set), DTX as set.
pub struct OpusEncoder {
    enc: Encoder,
    out: Vec<u8>,
    bitrate_bps: u32,
}

impl OpusEncoder {
    /// An encoder at [`DEFAULT_BITRATE_BPS`].
    pub fn new() -> Result<Self> {
        Self::with_bitrate(DEFAULT_BITRATE_BPS)
    }

    pub fn with_bitrate(bps: u32) -> Result<Self> {
        let mut enc = Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)
            .map_err(OpusError::Init)?;
        enc.set_complexity(COMPLEXITY)
            .map_err(setting("complexity"))?;
        // FEC lets the receiver rebuild a lost packet from the next one; it only kicks
        // in once a loss rate is reported through `set_packet_loss_perc`.
        enc.set_inband_fec(true).map_err(setting("inband FEC"))?;
        enc.set_encoder_ctl_request(audiopus::ffi::OPUS_SET_DTX_REQUEST, 0)
            .map_err(setting("DTX"))?;
        let mut encoder = OpusEncoder {
            enc,
            out: vec![0; MAX_PACKET_BYTES],
            bitrate_bps: 0,
        };
        encoder.set_bitrate(bps)?;
        Ok(encoder)
    }

    /// Sets the target bitrate in bits per second, clamped to
    /// [`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`]. Takes effect on the next packet.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<()> {
        let bps = bps.clamp(MIN_BITRATE_BPS, MAX_BITRATE_BPS);
        // The clamp keeps the value well inside i32.
        self.enc
            .set_bitrate(Bitrate::BitsPerSecond(bps as i32))
            .map_err(setting("bitrate"))?;
        self.bitrate_bps = bps;
        Ok(())
    }

    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "tested, not yet driven by the pipeline (loss feedback, FEC)"
        )
    )]
    pub fn bitrate(&self) -> u32 {
        self.bitrate_bps
    }

    /// The loss rate the receiver reports (0..=100, clamped); more loss makes Opus
    /// spend more on FEC.
    pub fn set_packet_loss_perc(&mut self, percent: u8) -> Result<()> {
        self.enc
            .set_packet_loss_perc(percent.min(100))
            .map_err(setting("packet loss percentage"))
    }

    /// Discontinuous transmission: in silence the encoder returns packets of at most
    /// [`DTX_PACKET_BYTES`], which need not be sent (a comfort-noise update still comes
    /// every 400 ms).
    pub fn set_dtx(&mut self, on: bool) -> Result<()> {
        self.enc
            .set_encoder_ctl_request(audiopus::ffi::OPUS_SET_DTX_REQUEST, i32::from(on))
            .map_err(setting("DTX"))?;
        Ok(())
    }

    /// Tells libopus the signal is voice (or lets it decide). Its FEC lives in the SILK
    /// layer: a signal it takes for music (a steady tone, say) is coded in CELT-only
    /// mode, which has none, unless the loss is high; declared voice, it keeps SILK.
    pub fn set_voice(&mut self, voice: bool) -> Result<()> {
        let signal = if voice {
            audiopus::ffi::OPUS_SIGNAL_VOICE
        } else {
            audiopus::ffi::OPUS_AUTO
        };
        self.enc
            .set_encoder_ctl_request(audiopus::ffi::OPUS_SET_SIGNAL_REQUEST, signal)
            .map_err(setting("signal"))?;
        Ok(())
    }

    /// Codec delay in samples: decoded audio lags the input by this much.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "tested, not yet driven by the pipeline (loss feedback, FEC)"
        )
    )]
    pub fn lookahead(&self) -> Result<usize> {
        self.enc
            .lookahead()
            .map(|n| n as usize)
            .map_err(setting("lookahead"))
    }

    /// Encodes one frame of mono PCM, normally [`FRAME_SAMPLES`] (20 ms); any Opus
    /// frame length (2.5 to 60 ms) is accepted.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Bytes> {
        if ![120, 240, 480, 960, 1920, 2880].contains(&pcm.len()) {
            return Err(OpusError::BadFrameSize(pcm.len()));
        }
        let n = self
            .enc
            .encode(pcm, &mut self.out)
            .map_err(OpusError::Encode)?;
        Ok(Bytes::copy_from_slice(&self.out[..n]))
    }
}

/// Whether a single-frame Opus packet carries in-band FEC (SILK's LBRR data) for the
/// packet before it. The SILK header flags open the range-coded data, each coded with
/// probability ½, so they are the first byte's bits from the top (RFC 6716 §4.1,
/// §4.2.3): one VAD flag per SILK frame, then the LBRR flag. CELT-only packets and
/// multi-frame packets (codes 1–3) are reported as carrying none.
pub fn opus_has_fec(packet: &[u8]) -> bool {
    let (Some(&toc), Some(&first)) = (packet.first(), packet.get(1)) else {
        return false;
    };
    let config = toc >> 3;
    if toc & 0b11 != 0 {
        return false;
    }
    let silk_frames = match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [1, 1, 2, 3][usize::from(config % 4)],
        // Hybrid: 10 or 20 ms, one SILK frame.
        12..=15 => 1,
        _ => return false,
    };
    (first >> (7 - silk_frames)) & 1 == 1
}

/// An Opus decoder to 48 kHz mono; a stereo sender is downmixed by libopus.
pub struct OpusDecoder {
    dec: Decoder,
    out: Vec<i16>,
}

impl OpusDecoder {
    pub fn new() -> Result<Self> {
        let dec = Decoder::new(SampleRate::Hz48000, Channels::Mono).map_err(OpusError::Init)?;
        Ok(OpusDecoder {
            dec,
            out: vec![0; MAX_PACKET_SAMPLES],
        })
    }

    /// Decodes one packet (any duration up to 120 ms) to mono samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>> {
        // An empty packet would mean "lost" to libopus; audiopus rejects it as an
        // error, which is what a caller handing us nothing deserves.
        let n = self
            .dec
            .decode(Some(packet), &mut self.out[..], false)
            .map_err(OpusError::Decode)?;
        Ok(self.out[..n].to_vec())
    }

    /// Packet-loss concealment: synthesises `samples` of audio (a multiple of 120,
    /// normally [`FRAME_SAMPLES`]) continuing what was decoded before.
    pub fn conceal(&mut self, samples: usize) -> Result<Vec<i16>> {
        self.decode_missing(None, samples)
    }

    /// Recovers a lost packet of `samples` from the in-band FEC carried in the packet
    /// that followed it (falls back to concealment if it carries none). Then decode
    /// `next_packet` itself as usual.
    pub fn decode_fec(&mut self, next_packet: &[u8], samples: usize) -> Result<Vec<i16>> {
        if next_packet.is_empty() {
            return self.conceal(samples);
        }
        self.decode_missing(Some(next_packet), samples)
    }

    fn decode_missing(&mut self, packet: Option<&[u8]>, samples: usize) -> Result<Vec<i16>> {
        if !samples.is_multiple_of(CONCEAL_STEP) || samples > i32::MAX as usize {
            return Err(OpusError::BadConcealLength(samples));
        }
        if samples == 0 {
            return Ok(Vec::new());
        }
        // libopus fills exactly the buffer length given for PLC/FEC.
        let mut out = vec![0i16; samples];
        let n = self
            .dec
            .decode(packet, &mut out[..], packet.is_some())
            .map_err(OpusError::Decode)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn sine(freq: f64, amplitude: f64, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| {
                (amplitude * (2.0 * PI * freq * n as f64 / f64::from(SAMPLE_RATE)).sin()) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Frequency from positive-going zero crossings.
    fn zero_crossing_hz(x: &[i16]) -> f64 {
        let crossings = x.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        crossings as f64 * f64::from(SAMPLE_RATE) / x.len() as f64
    }

    fn round_trip(enc: &mut OpusEncoder, dec: &mut OpusDecoder, pcm: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(pcm.len());
        for frame in pcm.chunks_exact(FRAME_SAMPLES) {
            let packet = enc.encode(frame).unwrap();
            assert!(!packet.is_empty() && packet.len() <= MAX_PACKET_BYTES);
            let decoded = dec.decode(&packet).unwrap();
            assert_eq!(decoded.len(), FRAME_SAMPLES);
            out.extend(decoded);
        }
        out
    }

    #[test]
    fn sine_round_trip_keeps_energy_frequency_and_timing() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let delay = enc.lookahead().unwrap();
        // 100 ms of silence, then 1 s of 440 Hz: the onset shows the codec delay.
        let lead = 5 * FRAME_SAMPLES;
        let mut input = vec![0i16; lead];
        input.extend(sine(440.0, 10_000.0, SAMPLE_RATE as usize));
        let output = round_trip(&mut enc, &mut dec, &input);
        assert_eq!(output.len(), input.len());

        let onset = output.iter().position(|s| s.abs() > 2_000).unwrap();
        println!(
            "codec delay {delay} samples, onset at {} after input onset",
            onset - lead
        );
        assert!(
            (onset as i64 - (lead + delay) as i64).abs() < 60,
            "onset {onset}, expected ≈ {}",
            lead + delay
        );

        // Compare the steady part, with the output shifted back by the codec delay.
        let steady_in = &input[lead + 4_800..input.len() - delay - 4_800];
        let steady_out = &output[lead + 4_800 + delay..input.len() - 4_800];
        let (e_in, e_out) = (rms(steady_in), rms(steady_out));
        let (f_in, f_out) = (zero_crossing_hz(steady_in), zero_crossing_hz(steady_out));
        // Waveform match near the reported delay (SILK shifts phase by a few samples).
        let snr_at = |lag: usize| {
            let n = steady_in.len() - 16;
            let b = &output[lead + 4_800 + lag..][..n];
            let err: Vec<i16> = steady_in[..n]
                .iter()
                .zip(b)
                .map(|(&x, &y)| x.saturating_sub(y))
                .collect();
            20.0 * (rms(&steady_in[..n]) / rms(&err)).log10()
        };
        let (best_lag, snr) = (delay - 8..=delay + 8)
            .map(|lag| (lag, snr_at(lag)))
            .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
        println!(
            "rms in {e_in:.0} out {e_out:.0}; {f_in:.1} Hz → {f_out:.1} Hz; \
             SNR {snr:.1} dB at lag {best_lag}"
        );
        assert!(
            (e_out / e_in - 1.0).abs() < 0.15,
            "energy ratio {}",
            e_out / e_in
        );
        assert!((f_out - 440.0).abs() < 3.0, "frequency {f_out:.1} Hz");
        assert!(snr > 15.0, "waveform SNR {snr:.1} dB");
    }

    #[test]
    fn bitrate_and_loss_settings_take_effect() {
        let input = sine(440.0, 8_000.0, SAMPLE_RATE as usize)
            .iter()
            .zip(sine(1_730.0, 3_000.0, SAMPLE_RATE as usize))
            .map(|(a, b)| a + b)
            .collect::<Vec<_>>();
        let bytes_at = |bps: u32| {
            let mut enc = OpusEncoder::with_bitrate(bps).unwrap();
            enc.set_packet_loss_perc(10).unwrap();
            input
                .chunks_exact(FRAME_SAMPLES)
                .map(|f| enc.encode(f).unwrap().len())
                .sum::<usize>()
        };
        let (low, high) = (bytes_at(12_000), bytes_at(64_000));
        println!("1 s: {low} B at 12 kbps, {high} B at 64 kbps");
        assert!(low * 2 < high);

        let mut enc = OpusEncoder::new().unwrap();
        assert_eq!(enc.bitrate(), DEFAULT_BITRATE_BPS);
        enc.set_bitrate(1).unwrap();
        assert_eq!(enc.bitrate(), MIN_BITRATE_BPS);
        enc.set_bitrate(u32::MAX).unwrap();
        assert_eq!(enc.bitrate(), MAX_BITRATE_BPS);
        enc.set_packet_loss_perc(250).unwrap();
        assert!(matches!(
            enc.encode(&[0; 100]),
            Err(OpusError::BadFrameSize(100))
        ));
        assert!(enc.encode(&[0; 480]).is_ok(), "10 ms frames are valid too");
    }

    #[test]
    fn concealment_and_fec_return_requested_lengths() {
        let mut enc = OpusEncoder::new().unwrap();
        enc.set_packet_loss_perc(20).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let input = sine(300.0, 8_000.0, 20 * FRAME_SAMPLES);
        let packets: Vec<_> = input
            .chunks_exact(FRAME_SAMPLES)
            .map(|f| enc.encode(f).unwrap())
            .collect();
        for p in &packets[..10] {
            dec.decode(p).unwrap();
        }
        // Packet 10 lost: recover it from packet 11's FEC, then carry on.
        let recovered = dec.decode_fec(&packets[11], FRAME_SAMPLES).unwrap();
        assert_eq!(recovered.len(), FRAME_SAMPLES);
        assert!(rms(&recovered) > 1_000.0, "FEC output is silent");
        assert_eq!(dec.decode(&packets[11]).unwrap().len(), FRAME_SAMPLES);
        // Packets 12 and 13 lost, nothing to recover from: conceal.
        let concealed = dec.conceal(FRAME_SAMPLES).unwrap();
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        assert!(rms(&concealed) > 100.0, "PLC should continue the tone");
        assert_eq!(dec.conceal(480).unwrap().len(), 480);
        assert_eq!(dec.conceal(0).unwrap().len(), 0);
        assert!(matches!(
            dec.conceal(100),
            Err(OpusError::BadConcealLength(100))
        ));
        assert_eq!(dec.decode(&packets[14]).unwrap().len(), FRAME_SAMPLES);
        // A fresh decoder can conceal too (silence).
        let mut fresh = OpusDecoder::new().unwrap();
        assert_eq!(fresh.conceal(FRAME_SAMPLES).unwrap().len(), FRAME_SAMPLES);
    }

    #[test]
    fn fec_is_sent_once_loss_is_expected_and_dtx_silences_silence() {
        // Syllables: libopus codes FEC only for what its voice detector takes for
        // speech, and a steady tone soon is not.
        let input: Vec<i16> = sine(300.0, 8_000.0, 50 * FRAME_SAMPLES)
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let t = i as f64 / f64::from(SAMPLE_RATE);
                (f64::from(s) * (0.55 + 0.45 * (2.0 * PI * 3.0 * t).sin())) as i16
            })
            .collect();
        let packets = |loss: u8| {
            let mut enc = OpusEncoder::new().unwrap();
            enc.set_packet_loss_perc(loss).unwrap();
            input
                .chunks_exact(FRAME_SAMPLES)
                .map(|f| enc.encode(f).unwrap())
                .collect::<Vec<_>>()
        };
        let with_fec = |ps: &[Bytes]| ps.iter().filter(|p| opus_has_fec(p)).count();
        assert_eq!(with_fec(&packets(0)), 0, "no loss expected: no FEC");
        let lossy = packets(10);
        assert!(
            with_fec(&lossy) >= 30,
            "{} of 50 carry FEC",
            with_fec(&lossy)
        );
        assert!(!opus_has_fec(&[]) && !opus_has_fec(&[0x08]));
        assert!(!opus_has_fec(&[0xf8, 0xff]), "CELT-only carries none");

        let mut enc = OpusEncoder::new().unwrap();
        enc.set_dtx(true).unwrap();
        let silent = (0..50)
            .map(|_| enc.encode(&[0; FRAME_SAMPLES]).unwrap().len())
            .filter(|&n| n <= DTX_PACKET_BYTES)
            .count();
        // The first few (and a comfort-noise update every 400 ms) are sent.
        assert!(silent >= 35, "only {silent} of 50 silent packets were DTX");
        let tone = enc.encode(&input[..FRAME_SAMPLES]).unwrap();
        assert!(tone.len() > DTX_PACKET_BYTES);
    }

    #[test]
    fn stereo_sender_is_downmixed_to_mono() {
        let stereo_enc =
            Encoder::new(SampleRate::Hz48000, Channels::Stereo, Application::Voip).unwrap();
        let mono = sine(440.0, 8_000.0, 10 * FRAME_SAMPLES);
        let interleaved: Vec<i16> = mono.iter().flat_map(|&s| [s, s]).collect();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        let mut packet = vec![0u8; MAX_PACKET_BYTES];
        for frame in interleaved.chunks_exact(2 * FRAME_SAMPLES) {
            let n = stereo_enc.encode(frame, &mut packet).unwrap();
            let decoded = dec.decode(&packet[..n]).unwrap();
            assert_eq!(decoded.len(), FRAME_SAMPLES);
            out.extend(decoded);
        }
        let ratio = rms(&out[4_800..]) / rms(&mono[4_800..]);
        assert!((ratio - 1.0).abs() < 0.2, "level ratio {ratio}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = OpusDecoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        // Code-3 packets with a zero frame count or no count byte are invalid.
        assert!(dec.decode(&[0xff, 0x00]).is_err());
        assert!(dec.decode(&[0x03]).is_err());
        // Random bytes: each may decode to noise or fail, but never crash.
        let mut state = 7u64;
        let mut errors = 0;
        for len in 1..400 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 56) as u8
                })
                .collect();
            match dec.decode(&junk) {
                Ok(pcm) => assert!(pcm.len() <= MAX_PACKET_SAMPLES),
                Err(_) => errors += 1,
            }
        }
        println!("{errors} of 399 random packets rejected");
        // And the decoder still works afterwards.
        let mut enc = OpusEncoder::new().unwrap();
        let p = enc.encode(&sine(440.0, 5_000.0, FRAME_SAMPLES)).unwrap();
        assert_eq!(dec.decode(&p).unwrap().len(), FRAME_SAMPLES);
    }

    #[test]
    fn codecs_are_send() {
        fn is_send<T: Send>() {}
        is_send::<OpusEncoder>();
        is_send::<OpusDecoder>();
    }
}
