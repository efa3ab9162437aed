//! Our tracks on a peer connection: adding one per kind (or a receive-only transceiver),
//! and waiting until media can be written (connected, codec negotiated).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{PayloadType, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::watch;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use super::connection::{PeerError, video_rtc_codecs};

/// Largest RTP payload we send (as webrtc-rs's own packetizer).
pub const RTP_MTU: usize = 1200;

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
    pub async fn ready(
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

/// webrtc-rs narrows a track's transceiver to the track's own codec, so our offers would
/// list only that one; list every video codec again: we receive any of them.
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
            // A connection already narrowed to one codec by its answer (a second video
            // added later, e.g. the screen on an SFU publication) refuses the others:
            // the track's own codec stays, which is all it sends anyway.
            if let Err(err) = transceiver.set_codec_preferences(video_rtc_codecs()).await {
                tracing::debug!(%err, "codec preferences not applied");
            }
        }
    }
    Ok(())
}

pub fn rand_ssrc() -> u32 {
    // Any value unique per track in a session works; mix the clock and a counter.
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos.rotate_left(13) ^ COUNTER.fetch_add(0x9E37_79B9, Ordering::Relaxed) | 1
}

/// The payload type negotiated for our codec on this sender, once it is. Not simply
/// the first codec: a peer may prefer another one than we send.
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
