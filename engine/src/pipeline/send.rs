//! Our encoded media onto each peer connection: a task per track that packetizes the
//! shared encoded frames into it, and one that turns the receiver's feedback (keyframe
//! requests, bandwidth) into instructions for the encoder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

use super::bitrate::BitrateController;
use super::layer_switch::LayerSwitch;
use super::outgoing::{AudioControl, EncodedAudio, EncodedVideo, VideoControl};
use crate::codec::VideoCodec;
use crate::congestion::allocation;
use crate::congestion::audio::RecentLoss;
use crate::congestion::encodings::Layer;
use crate::congestion::rtx::KeyframeOnRefusal;
use crate::peer::congestion::CongestionHandle;
use crate::peer::tracks::{LocalTrack, RTP_MTU, rand_ssrc};

/// A writer that follows the encoding chosen for its peer (a mesh camera).
pub struct LayerFollow {
    pub peer: String,
    pub layer: watch::Receiver<Layer>,
}

impl LayerFollow {
    pub fn of(control: &VideoControl, peer: &str) -> Self {
        LayerFollow {
            peer: peer.to_string(),
            layer: control.layer_of(peer),
        }
    }
}

/// Writes the shared encoded video (in `codec`) into this connection's track until the
/// sender stops or the connection goes. A receiver that fell behind gets a fresh keyframe.
/// With `follow`, the writer sends the layer chosen for its peer, and changes layer at a
/// keyframe of the new one, on the same SSRC with sequence numbers and timestamps running
/// on (a VP8 keyframe carries its size: decoders take the new one there); without, the
/// full encoding.
pub fn spawn_video_writer(
    local: &LocalTrack,
    codec: &'static VideoCodec,
    mut frames: broadcast::Receiver<Arc<EncodedVideo>>,
    control: Arc<VideoControl>,
    connected: watch::Receiver<bool>,
    follow: Option<LayerFollow>,
) -> JoinHandle<()> {
    let local = local.clone();
    tokio::spawn(async move {
        let Some((track, ssrc, pt)) = local.ready(connected).await else {
            return;
        };
        frames = frames.resubscribe();
        let want = || follow.as_ref().map_or(Layer::Full, |f| *f.layer.borrow());
        // Start on a keyframe, or the receiver waits for the next one.
        let mut switch = LayerSwitch::new(want());
        control.request_keyframe_of(switch.layer());
        // We packetize ourselves so that every frame's RTP timestamp is its capture time
        // (a sample writer can only advance by a duration given one frame ahead, which
        // adds a frame of timing jitter a browser's jitter buffer then waits out).
        let mut payloader = codec.payloader();
        let mut sequence: u16 = (rand_ssrc() & 0x7FFF) as u16;
        let mut clock: Option<(Instant, u32)> = None;
        loop {
            let frame = match frames.recv().await {
                Ok(f) => f,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "video writer fell behind");
                    switch.restart();
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let step = switch.on_frame(want(), frame.layer, frame.keyframe);
            if let Some(layer) = step.keyframe_wanted {
                control.request_keyframe_of(layer);
            }
            if !step.send {
                continue;
            }
            if let Some(f) = &follow {
                if step.switched {
                    tracing::info!(peer = %f.peer, layer = frame.layer.name(), "video layer switched");
                }
                control.note_sent(&f.peer, frame.layer, frame.data.len(), step.switched);
            }
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

/// Writes the shared Opus packets into this connection's track. Packetized here (one
/// packet per RTP packet) so that the RTP timestamp is the packet's place on the
/// sender's sample clock: across a DTX silence it jumps while sequence numbers stay
/// contiguous, which is how the receiver tells silence from loss.
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
        let mut sequence: u16 = (rand_ssrc() & 0x7FFF) as u16;
        let base = rand_ssrc();
        let mut first = true;
        loop {
            let packet = match packets.recv().await {
                Ok(p) => p,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let rtp = rtc::rtp::packet::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    marker: packet.after_silence || first,
                    payload_type: pt,
                    sequence_number: sequence,
                    // The RTP clock of Opus is 48 kHz, our sample clock too.
                    timestamp: base.wrapping_add(packet.sample_index as u32),
                    ssrc,
                    ..Default::default()
                },
                payload: packet.data.clone(),
            };
            first = false;
            sequence = sequence.wrapping_add(1);
            if let Err(err) = track.write_rtp(rtp).await {
                tracing::debug!(%err, "audio write failed");
            }
        }
    })
}

/// Listens to what the receiver of this track says: keyframe requests go to the
/// encoder of the layer this receiver gets, bandwidth signals to the bitrate controller.
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
                    control.request_keyframe_for(&peer);
                } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                    bitrate.on_remb(&peer, remb.bitrate);
                } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    for report in &rr.reports {
                        bitrate.on_loss(&peer, f32::from(report.fraction_lost) / 256.0);
                    }
                }
            }
            bitrate.steer(&control);
        }
        bitrate.forget(&peer);
    })
}

/// Tells the audio encoder what one connection sees (the loss of our packets per its
/// transport-wide feedback, remembered a while by [`RecentLoss`], and its estimate)
/// every 500 ms, so Opus's FEC follows the loss; forgets the connection when it goes or
/// the task is aborted.
pub fn spawn_audio_follower(
    handle: CongestionHandle,
    control: Arc<AudioControl>,
    peer: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _forget = ForgetLink {
            control: control.clone(),
            peer: peer.clone(),
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut loss = RecentLoss::new();
        loop {
            tick.tick().await;
            let Some((estimate, stats, _, _)) = handle.snapshot() else {
                return;
            };
            let expected = loss.update(Instant::now(), stats.loss_fraction);
            control.set_link(&peer, expected, estimate);
        }
    })
}

/// Removes a peer's link from the audio encoder's view when its follower ends, however
/// it ends (an aborted task is dropped, not returned from).
struct ForgetLink {
    control: Arc<AudioControl>,
    peer: String,
}

impl Drop for ForgetLink {
    fn drop(&mut self) {
        self.control.forget_link(&self.peer);
    }
}

/// Makes the encoder follow one connection's send-side estimate: every 100 ms, what audio
/// and recent retransmissions leave of it becomes this peer's video rate, until the task
/// is aborted; and sends a keyframe when a NACKed packet was refused for good
/// ([`KeyframeOnRefusal`]). Logs the estimate every 2 s.
pub fn spawn_estimate_follower(
    handle: CongestionHandle,
    control: Arc<VideoControl>,
    bitrate: Arc<BitrateController>,
    peer: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_rtx: Option<(Instant, u64)> = None;
        let mut rtx_bps = 0.0;
        let mut repair = KeyframeOnRefusal::new();
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let Some((estimate, stats, rtx_bytes, queue)) = handle.snapshot() else {
                return;
            };
            let now = Instant::now();
            let (lost_sent_at, rtt) = handle.lost_for_good();
            if repair.on_tick(now, lost_sent_at, rtt) {
                control.request_keyframe_for(&peer);
            }
            if let Some((at, bytes)) = last_rtx {
                let dt = now.saturating_duration_since(at).as_secs_f64().max(1e-3);
                let sample = (rtx_bytes.saturating_sub(bytes)) as f64 * 8.0 / dt;
                rtx_bps = 0.7 * rtx_bps + 0.3 * sample;
            }
            last_rtx = Some((now, rtx_bytes));
            let video = allocation::video_target_bps(estimate, allocation::AUDIO_BPS, rtx_bps);
            bitrate.on_estimate(&peer, (video / 1000.0) as u32);
            bitrate.steer(&control);
            n += 1;
            if n.is_multiple_of(20) {
                tracing::info!(
                    %peer,
                    estimate_kbps = (estimate / 1000.0) as u32,
                    video_kbps = (video / 1000.0) as u32,
                    acked_kbps = stats.acked_bps.map(|a| (a / 1000.0) as u32),
                    loss = stats.loss_fraction,
                    rtt_ms = stats.rtt.map(|r| r.as_millis() as u64),
                    rtx_kbps = (rtx_bps / 1000.0) as u32,
                    pacer_queue_ms = queue.as_millis() as u64,
                    usage = ?stats.usage,
                    refused = ?handle.refused(),
                    repair_keyframes = repair.forced,
                    "congestion estimate"
                );
            }
        }
    })
}
