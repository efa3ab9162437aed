//! Putting our encoded media on one peer connection: a track per kind, a task that
//! writes the shared encoded frames into it, and one that listens to the receiver's
//! feedback (keyframe requests, bandwidth).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp::codec::vp8::Vp8Payloader;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{PayloadType, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use super::connection::{PeerError, h264_codec, vp8_codec};
use crate::pipeline::outgoing::{EncodedAudio, EncodedVideo, VideoControl};

/// Largest RTP payload we send (as webrtc-rs's own packetizer).
const RTP_MTU: usize = 1200;

/// A local track on one connection.
#[derive(Clone)]
pub struct LocalTrack {
    pub track: Arc<TrackLocalStaticSample>,
    pub sender: Arc<dyn RtpSender>,
    /// The codec our encoder produces for it (e.g. `video/VP8`).
    pub mime: String,
}

/// Which way media flows on a transceiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    /// A screen to a viewer.
    SendOnly,
    /// We have no such device, but still want theirs.
    RecvOnly,
}

impl LocalTrack {
    /// Waits until media can be sent: the track's SSRC and our codec's negotiated
    /// payload type, once the connection is up.
    async fn ready(
        self,
        connected: watch::Receiver<bool>,
    ) -> Option<(Arc<TrackLocalStaticSample>, u32, PayloadType)> {
        let ssrc = self.track.ssrcs().await.first().copied()?;
        match wait_until_sendable(&self.sender, &self.mime, connected).await {
            Some(pt) => Some((self.track, ssrc, pt)),
            None => {
                tracing::warn!(codec = %self.mime, "never negotiated");
                None
            }
        }
    }
}

/// Adds a track of `kind` in the given direction; `None` for receive-only.
pub async fn add_local_track(
    pc: &Arc<dyn PeerConnection>,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    stream_id: &str,
    direction: Direction,
) -> Result<Option<LocalTrack>, PeerError> {
    if direction == Direction::RecvOnly {
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await?;
        return Ok(None);
    }
    let codec_mime = codec.mime_type.clone();
    let ssrc = rand_ssrc();
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            stream_id.to_string(),
            format!("{stream_id}-{kind}"),
            format!("{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        ),
    )?);
    let sender = if direction == Direction::SendOnly {
        let transceiver = pc
            .add_transceiver_from_track(
                track.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    ..Default::default()
                }),
            )
            .await?;
        transceiver
            .sender()
            .await?
            .ok_or_else(|| PeerError::WebRtc("the transceiver has no sender".into()))?
    } else {
        pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?
    };
    if kind == RtpCodecKind::Video {
        offer_every_video_codec(pc, &sender).await?;
    }
    Ok(Some(LocalTrack {
        track,
        sender,
        mime: codec_mime,
    }))
}

/// webrtc-rs narrows a track's transceiver to the track's own codec (VP8), so our
/// offers would not list H.264; list both again: we receive either, and send VP8.
async fn offer_every_video_codec(
    pc: &Arc<dyn PeerConnection>,
    sender: &Arc<dyn RtpSender>,
) -> Result<(), PeerError> {
    for transceiver in pc.get_transceivers().await {
        if transceiver
            .sender()
            .await?
            .is_some_and(|s| Arc::ptr_eq(&s, sender))
        {
            transceiver
                .set_codec_preferences(vec![
                    RTCRtpCodecParameters {
                        rtp_codec: vp8_codec(),
                        payload_type: 96,
                    },
                    RTCRtpCodecParameters {
                        rtp_codec: h264_codec(),
                        payload_type: 102,
                    },
                ])
                .await?;
        }
    }
    Ok(())
}

fn rand_ssrc() -> u32 {
    // Any value unique per track in a session works; mix the clock and a counter.
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos.rotate_left(13) ^ COUNTER.fetch_add(0x9E37_79B9, Ordering::Relaxed) | 1
}

/// The payload type negotiated for our codec on this sender, once it is. Not simply
/// the first codec: a peer that prefers H.264 lists it first, and we send VP8.
async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>, mime: &str) -> Option<PayloadType> {
    sender
        .get_parameters()
        .await
        .ok()?
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

/// Waits for the connection to be up (writes before DTLS completes are dropped), then
/// for the negotiated payload type.
async fn wait_until_sendable(
    sender: &Arc<dyn RtpSender>,
    mime: &str,
    mut connected: watch::Receiver<bool>,
) -> Option<PayloadType> {
    connected.wait_for(|up| *up).await.ok()?;
    for _ in 0..200 {
        if let Some(pt) = negotiated_payload_type(sender, mime).await {
            return Some(pt);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// Writes the shared encoded video into this connection's track until the sender
/// stops or the connection goes. A receiver that fell behind gets a fresh keyframe.
pub fn spawn_video_writer(
    local: &LocalTrack,
    mut frames: broadcast::Receiver<Arc<EncodedVideo>>,
    control: Arc<VideoControl>,
    connected: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let local = local.clone();
    tokio::spawn(async move {
        let Some((track, ssrc, pt)) = local.ready(connected).await else {
            return;
        };
        frames = frames.resubscribe();
        // Start on a keyframe, or the receiver waits for the next one.
        control.request_keyframe();
        let mut started = false;
        // We packetize ourselves so that every frame's RTP timestamp is its capture time
        // (a sample writer can only advance by a duration given one frame ahead, which
        // adds a frame of timing jitter a browser's jitter buffer then waits out).
        let mut payloader = Vp8Payloader::default();
        payloader.enable_picture_id = true;
        let mut sequence: u16 = (rand_ssrc() & 0x7FFF) as u16;
        let mut clock: Option<(Instant, u32)> = None;
        loop {
            let frame = match frames.recv().await {
                Ok(f) => f,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "video writer fell behind");
                    started = false;
                    control.request_keyframe();
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !started && !frame.keyframe {
                continue;
            }
            started = true;
            let (start, base) = *clock.get_or_insert((frame.captured_at, rand_ssrc()));
            let elapsed = frame.captured_at.saturating_duration_since(start);
            let timestamp = base.wrapping_add((elapsed.as_micros() * 9 / 100) as u32);
            let payloads = match payloader.payload(RTP_MTU, &frame.data) {
                Ok(p) => p,
                Err(err) => {
                    tracing::debug!(%err, "frame not packetized");
                    continue;
                }
            };
            let last = payloads.len().saturating_sub(1);
            for (i, payload) in payloads.into_iter().enumerate() {
                let packet = rtc::rtp::packet::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        marker: i == last,
                        payload_type: pt,
                        sequence_number: sequence,
                        timestamp,
                        ssrc,
                        ..Default::default()
                    },
                    payload,
                };
                sequence = sequence.wrapping_add(1);
                if let Err(err) = track.write_rtp(packet).await {
                    tracing::debug!(%err, "video write failed");
                    break;
                }
            }
        }
    })
}

pub fn spawn_audio_writer(
    local: &LocalTrack,
    mut packets: broadcast::Receiver<Arc<EncodedAudio>>,
    connected: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let local = local.clone();
    tokio::spawn(async move {
        let Some((track, ssrc, pt)) = local.ready(connected).await else {
            return;
        };
        packets = packets.resubscribe();
        loop {
            let packet = match packets.recv().await {
                Ok(p) => p,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let sample = Sample {
                data: packet.data.clone(),
                duration: packet.duration,
                ..Sample::new(Instant::now())
            };
            if let Err(err) = track.sample_writer(ssrc, pt).write_sample(&sample).await {
                tracing::debug!(%err, "audio write failed");
            }
        }
    })
}

/// Listens to what the receiver of this track says: keyframe requests go to the
/// encoder, bandwidth signals to the bitrate controller.
pub fn spawn_feedback_reader(
    local: &LocalTrack,
    control: Arc<VideoControl>,
    bitrate: Arc<BitrateController>,
    peer: String,
) -> JoinHandle<()> {
    let track = local.track.clone();
    tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                continue;
            };
            for packet in packets {
                let any = packet.as_any();
                if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                    control.request_keyframe();
                } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                    bitrate.on_remb(&peer, remb.bitrate);
                } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    for report in &rr.reports {
                        bitrate.on_loss(&peer, f32::from(report.fraction_lost) / 256.0);
                    }
                }
            }
            control.set_target_kbps(bitrate.target_kbps());
        }
        bitrate.forget(&peer);
    })
}

/// One encoder serves every receiver, so it follows the weakest: each receiver's
/// estimate moves with its REMB and its reported loss (multiplicative decrease on
/// loss, slow increase without), and the encoder gets the lowest.
pub struct BitrateController {
    min_kbps: u32,
    max_kbps: u32,
    start_kbps: u32,
    estimates: Mutex<HashMap<String, PeerEstimate>>,
}

struct PeerEstimate {
    kbps: f32,
    remb_kbps: Option<f32>,
    last_increase: Instant,
}

impl BitrateController {
    pub fn new(start_kbps: u32, min_kbps: u32, max_kbps: u32) -> Self {
        BitrateController {
            min_kbps,
            max_kbps,
            start_kbps,
            estimates: Mutex::new(HashMap::new()),
        }
    }

    fn update(&self, peer: &str, f: impl FnOnce(&mut PeerEstimate)) {
        if let Ok(mut map) = self.estimates.lock() {
            let e = map.entry(peer.to_string()).or_insert(PeerEstimate {
                kbps: self.start_kbps as f32,
                remb_kbps: None,
                last_increase: Instant::now(),
            });
            f(e);
            if let Some(remb) = e.remb_kbps {
                e.kbps = e.kbps.min(remb);
            }
            e.kbps = e.kbps.clamp(self.min_kbps as f32, self.max_kbps as f32);
        }
    }

    pub fn on_remb(&self, peer: &str, bits_per_second: f32) {
        self.update(peer, |e| {
            let remb = bits_per_second / 1000.0;
            e.remb_kbps = Some(remb);
            // REMB also allows growth up to it.
            if remb > e.kbps && e.last_increase.elapsed() > Duration::from_millis(500) {
                e.kbps = (e.kbps * 1.08).min(remb);
                e.last_increase = Instant::now();
            }
        });
    }

    pub fn on_loss(&self, peer: &str, fraction_lost: f32) {
        self.update(peer, |e| {
            if fraction_lost > 0.10 {
                e.kbps *= 1.0 - 0.5 * fraction_lost;
            } else if fraction_lost < 0.02 && e.last_increase.elapsed() > Duration::from_millis(500)
            {
                e.kbps *= 1.05;
                e.last_increase = Instant::now();
            }
        });
    }

    pub fn forget(&self, peer: &str) {
        if let Ok(mut map) = self.estimates.lock() {
            map.remove(peer);
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.estimates
            .lock()
            .ok()
            .and_then(|map| map.values().map(|e| e.kbps as u32).min())
            .unwrap_or(self.start_kbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weakest_receiver_sets_the_rate() {
        let c = BitrateController::new(600, 150, 1500);
        assert_eq!(c.target_kbps(), 600);
        c.on_loss("a", 0.0);
        c.on_loss("b", 0.3);
        assert_eq!(c.target_kbps(), 510);
        c.on_remb("a", 200_000.0);
        assert_eq!(c.target_kbps(), 200);
        c.forget("a");
        assert_eq!(c.target_kbps(), 510);
        for _ in 0..20 {
            c.on_loss("b", 0.9);
        }
        assert_eq!(c.target_kbps(), 150, "never below the floor");
    }
}
