//! Remote media: RTP in, decoded frames and audio out, measured on the way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::decoding::{DecodeFn, DecodeWorker};
use super::guard::{Verdict, VideoGuard};
use super::recovery::{FrameSource, Recovered};
use crate::codec::opus::{OpusDecoder, opus_has_fec};
use crate::codec::{self, VideoDecoder, vp8};
use crate::congestion::audio::PlayoutDelay;
use crate::media::frame::{CHUNK_SAMPLES, SAMPLE_RATE, VideoFrame};
use crate::media::pixels::Resizer;
use crate::media::stream::StreamId;
use crate::media::testsignal;
use crate::playout::mixer::Mixer;
use crate::stats::{ReceivedStream, RecoveryCounts};

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Where decoded video goes (the app draws it; headless, nothing does). The sink says
/// the size it wants each frame at, so the engine scales straight from the decoder's
/// picture: the frame the sink gets is the one copy made.
pub trait FrameSink: Send + Sync {
    /// The size to hand over a `width × height` frame of `stream` at, or `None` for no
    /// frame now (nothing shows it, or whoever draws it is behind).
    fn frame_size(
        &self,
        _stream: &StreamId,
        _width: usize,
        _height: usize,
    ) -> Option<(usize, usize)> {
        None
    }

    /// A decoded frame at the size asked for; `decoded_at` is when its decoding ended.
    fn on_frame(&self, _stream: &StreamId, _frame: VideoFrame, _decoded_at: SystemTime) {}

    fn on_stream_ended(&self, _stream: &StreamId) {}
}

/// A sink that keeps nothing.
pub struct DiscardFrames;
impl FrameSink for DiscardFrames {}

/// Shared, live statistics of every received stream.
pub type ReceivedStats = Arc<Mutex<HashMap<StreamId, ReceivedStream>>>;

fn with_stats(stats: &ReceivedStats, id: &StreamId, f: impl FnOnce(&mut ReceivedStream)) {
    if let Ok(mut map) = stats.lock()
        && let Some(s) = map.get_mut(id)
    {
        f(s);
    }
}

/// Receives a remote video track until it ends: reassembles frames in the codec it
/// negotiated (VP8 with loss recovery: `pipeline::recovery`), decodes them, reads the
/// barcode and hands the picture to the sink. Asks for a keyframe (PLI) at the start and
/// whenever the picture is broken, NACKs what recovery asks for.
pub async fn receive_video(
    track: Arc<dyn TrackRemote>,
    id: StreamId,
    stats: ReceivedStats,
    sink: Arc<dyn FrameSink>,
) {
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    // A codec we do not know cannot have been negotiated; VP8 is what every peer has.
    let codec = match track.codec(media_ssrc).await {
        Some(c) => codec::video_codec(&c.mime_type).unwrap_or(&vp8::VP8),
        None => &vp8::VP8,
    };
    let decoder = match codec.decoder() {
        Ok(d) => d,
        Err(err) => {
            tracing::error!(%err, "cannot start the video decoder");
            return;
        }
    };
    let worker = {
        let (id, stats, end_id, end_sink) = (id.clone(), stats.clone(), id.clone(), sink.clone());
        DecodeWorker::start(
            format!("decode-{}", id.remote_id),
            decode_fn(decoder, id, stats, sink),
            Box::new(move || end_sink.on_stream_ended(&end_id)),
        )
    };
    let worker = match worker {
        Ok(w) => w,
        Err(err) => {
            tracing::error!(%err, "cannot start the video decoding thread");
            return;
        }
    };
    let mut source = FrameSource::new(codec);
    let mut guard = VideoGuard::new(codec.name.eq_ignore_ascii_case("h264"));
    let mut said_refused = false;
    let mut last_pli: Option<Instant> = None;
    loop {
        // A held frame is given up (and a keyframe asked for) when its time comes, even
        // if no packet does.
        let deadline = source.next_timeout();
        let packet = tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(p)) => Some(p),
                None | Some(TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError) => break,
                Some(_) => continue,
            },
            () = sleep_until(deadline) => None,
        };
        let now = Instant::now();
        let mut rtt = None;
        with_stats(&stats, &id, |s| {
            if let Some(p) = &packet {
                s.on_packet(now, p.header.sequence_number, p.payload.len());
            }
            rtt = s.rtt_ms;
        });
        if let Some(ms) = rtt.filter(|ms| ms.is_finite() && *ms > 0.0) {
            source.set_rtt(Duration::from_secs_f64(ms / 1000.0));
        }
        if let Some(packet) = packet {
            source.push(now, packet);
        }
        while let Some(recovered) = source.poll(now) {
            let data = match recovered {
                Recovered::Frame(data) => data,
                Recovered::Lost => {
                    with_stats(&stats, &id, |s| s.decode_errors += 1);
                    worker.picture_broken();
                    continue;
                }
                Recovered::Keyframe => {
                    worker.picture_broken();
                    continue;
                }
                Recovered::Nack(seqs) => {
                    let nack = TransportLayerNack {
                        sender_ssrc: 0,
                        media_ssrc,
                        nacks: nack_pairs_from_sequence_numbers(&seqs),
                    };
                    if let Err(err) = track.write_rtcp(vec![Box::new(nack)]).await {
                        tracing::debug!(%err, "NACK not sent");
                    }
                    continue;
                }
            };
            match guard.check(now, &data) {
                Verdict::Decode => worker.submit(data),
                refused => {
                    // Logged once per stream: a hostile sender must not flood the log.
                    if !said_refused {
                        said_refused = true;
                        tracing::warn!(remote = %id.remote_id, ?refused, "remote video refused before decoding: beyond the limits");
                    }
                    with_stats(&stats, &id, |s| s.frames_refused += 1);
                }
            }
        }
        if let Some(r) = source.stats() {
            with_stats(&stats, &id, |s| {
                s.recovery = Some(RecoveryCounts {
                    frames_lost: r.frames_lost,
                    frames_skipped: r.frames_skipped,
                    frames_repaired: r.frames_repaired,
                    nacks: r.nacks,
                    keyframe_requests: r.keyframe_requests,
                    late_packets: r.late_packets,
                })
            });
        }
        // VP8's recovery paces its own keyframe requests; this bounds the rest.
        if worker.take_keyframe_wanted()
            && last_pli.is_none_or(|t| t.elapsed() > Duration::from_millis(250))
        {
            last_pli = Some(now);
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            if let Err(err) = track.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!(%err, "PLI not sent");
            }
        }
    }
    if let Some(r) = source.stats() {
        tracing::info!(remote = %id.remote_id, stats = ?r, "video recovery");
    }
    // Dropping the worker ends its thread once the queue is drained; it then tells the
    // sink the stream ended.
    drop(worker);
    tracing::debug!(remote = %id.remote_id, "video track ended");
}

/// What the decoding thread does with each frame: decode, read the barcode, measure,
/// scale for the sink straight from the decoder's picture, hand it over.
fn decode_fn(
    mut decoder: Box<dyn VideoDecoder>,
    id: StreamId,
    stats: ReceivedStats,
    sink: Arc<dyn FrameSink>,
) -> DecodeFn {
    let mut resizer = Resizer::default();
    Box::new(move |data| {
        let decoded = decoder.decode_with(data, |img| {
            let barcode = testsignal::read_y(img.y, img.width, img.height, img.y_stride);
            // Decoded now: what scaling for the sink costs is not part of it.
            let (at, now_ms, decoded_at) =
                (Instant::now(), testsignal::now_ms(), SystemTime::now());
            let frame =
                sink.frame_size(&id, img.width, img.height)
                    .and_then(|(w, h)| match resizer.resize(img, w, h) {
                        Ok(frame) => Some(frame),
                        Err(err) => {
                            tracing::debug!(%err, "frame not scaled for the sink");
                            None
                        }
                    });
            (
                img.width, img.height, barcode, at, now_ms, frame, decoded_at,
            )
        });
        match decoded {
            Ok(Some((w, h, barcode, at, now_ms, frame, decoded_at))) => {
                with_stats(&stats, &id, |s| s.on_frame(at, w, h, barcode, now_ms));
                if let Some(frame) = frame {
                    sink.on_frame(&id, frame, decoded_at);
                }
                Some(!decoder.last_frame_corrupted())
            }
            Ok(None) => None,
            Err(err) => {
                tracing::debug!(%err, "undecodable frame");
                with_stats(&stats, &id, |s| s.decode_errors += 1);
                Some(false)
            }
        }
    })
}

/// Losses longer than this many packets are not made up: the stream paused or jumped.
const MAX_CONCEALED_RUN: u16 = 10;

/// Receives a remote Opus track until it ends, into the mixer. A lost packet is rebuilt
/// from the in-band FEC of the one after it when that one carries some, and concealed
/// otherwise; the mixer holds as much as the measured jitter asks for
/// ([`PlayoutDelay`]).
pub async fn receive_audio(
    track: Arc<dyn TrackRemote>,
    id: StreamId,
    stats: ReceivedStats,
    mixer: Arc<Mixer>,
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(err) => {
            tracing::error!(%err, "cannot start the Opus decoder");
            return;
        }
    };
    let mut playout = PlayoutDelay::new(SAMPLE_RATE);
    let mut last_seq: Option<u16> = None;
    // The length of a lost packet is taken to be that of the last one decoded.
    let mut frame_samples = 2 * CHUNK_SAMPLES;
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(p) => p,
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => continue,
        };
        let now = Instant::now();
        let seq = packet.header.sequence_number;
        with_stats(&stats, &id, |s| s.on_packet(now, seq, packet.payload.len()));
        let lost = match last_seq.map(|last| seq.wrapping_sub(last)) {
            Some(0) => continue,                    // duplicate
            Some(gap) if gap >= 0x8000 => continue, // late: its time has passed
            Some(gap) if gap <= MAX_CONCEALED_RUN => gap - 1,
            _ => 0,
        };
        last_seq = Some(seq);
        playout.on_packet(now, packet.header.timestamp);
        let target = playout.target();
        mixer.set_target(&id, target.as_micros() as usize * CHUNK_SAMPLES / 10_000);
        // Make up what was lost so the playout keeps its rhythm: all but the last
        // missing packet by concealment, the last one from this packet's FEC.
        let (mut concealed, mut rebuilt) = (0, 0);
        for k in 0..lost {
            let pcm = if k + 1 == lost {
                decoder.decode_fec(&packet.payload, frame_samples)
            } else {
                decoder.conceal(frame_samples)
            };
            match pcm {
                Ok(pcm) => {
                    mixer.push(&id, &pcm);
                    if k + 1 == lost {
                        rebuilt += 1;
                    } else {
                        concealed += 1;
                    }
                }
                Err(err) => tracing::debug!(%err, "lost audio not made up"),
            }
        }
        if lost > 0 {
            // libopus falls back to concealment when the next packet has no FEC data
            // (the sender saw no loss yet); that frame counts as concealed.
            let has_fec = opus_has_fec(&packet.payload);
            tracing::debug!(lost, has_fec, seq, "audio lost");
            with_stats(&stats, &id, |s| {
                if has_fec {
                    s.audio_fec_recovered += rebuilt;
                    s.audio_concealed += concealed;
                } else {
                    s.audio_concealed += concealed + rebuilt;
                }
            });
        }
        match decoder.decode(&packet.payload) {
            Ok(pcm) => {
                frame_samples = pcm.len().max(CHUNK_SAMPLES / 4);
                let level = rms_level(&pcm);
                with_stats(&stats, &id, |s| {
                    s.on_audio(now, &pcm, level);
                    s.playout_target_ms = Some(target.as_secs_f64() * 1000.0);
                });
                mixer.push(&id, &pcm);
            }
            Err(err) => {
                tracing::debug!(%err, "undecodable audio");
                with_stats(&stats, &id, |s| s.decode_errors += 1);
            }
        }
    }
    mixer.remove(&id);
}

/// Audio level in 0..=1 (RMS relative to full scale).
pub fn rms_level(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    ((sum / pcm.len() as f64).sqrt() / 32768.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(rms_level(&[]), 0.0);
        assert!((rms_level(&[16384; 10]) - 0.5).abs() < 1e-3);
    }
}
