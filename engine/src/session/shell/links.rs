//! The peer connections themselves: creating one with our media on it, the offer and
//! answer operations the rules ask for, closing, the tracks received, and the figures
//! webrtc-rs keeps about each.

use std::sync::Arc;
use std::time::Instant;

use huddle_protocol::{IceCandidate, SdpType, SessionDescription};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::PeerConnection;

use super::{Notice, Shell};
use crate::codec::vp8;
use crate::media::stream::{StreamId, StreamKind};
use crate::peer::congestion::CongestionHandle;
use crate::peer::connection::{opus_codec, video_rtc_codec};
use crate::peer::tracks::{self, Direction};
use crate::peer::{PeerError, from_rtc_description, to_rtc_candidate, to_rtc_description};
use crate::pipeline::incoming;
use crate::pipeline::send;
use crate::session::core::{LinkKey, LinkKind};
use crate::stats::ReceivedStream;

/// webrtc-rs 0.21 files the receiver report's jitter, which is in RTP clock units
/// (RFC 3550), as seconds: convert with the stream's clock rate.
fn jitter_ms(r: &rtc::statistics::stats::rtp_stream::received::RTCReceivedRtpStreamStats) -> f64 {
    let clock_hz = match r.rtp_stream_stats.kind {
        RtpCodecKind::Audio => 48_000.0,
        _ => 90_000.0,
    };
    r.jitter * 1000.0 / clock_hz
}

/// One peer connection and what runs for it.
pub(super) struct LinkIo {
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
    /// The connection's send-side bandwidth estimate, which its encoder follows.
    congestion: CongestionHandle,
    /// Flips to true when the connection is up; the media writers wait for it.
    pub connected: watch::Sender<bool>,
    pub generation: u64,
    /// A relay candidate was gathered (TURN worked).
    pub relay_gathered: bool,
    /// What STUN/TURN servers answered with errors.
    pub candidate_errors: Vec<String>,
}

fn no_connection() -> PeerError {
    PeerError::WebRtc("no such connection".into())
}

impl Shell {
    fn pc(&self, key: &LinkKey) -> Result<Arc<dyn PeerConnection>, PeerError> {
        self.links
            .get(key)
            .map(|l| l.pc.clone())
            .ok_or_else(no_connection)
    }

    /// A new peer connection for `key` (replacing any older one), with our media on it:
    /// microphone and camera for a call, the screen for a viewer, nothing to view one.
    pub(super) async fn open_link(
        &mut self,
        key: &LinkKey,
        generation: u64,
    ) -> Result<(), PeerError> {
        self.close_link(key).await;
        let notices = self.notices.clone();
        let tag = key.clone();
        let events = Box::new(move |event| {
            let _ = notices.send(Notice {
                key: tag.clone(),
                generation,
                event,
            });
        });
        let congestion = match key.kind {
            LinkKind::ShareOut => CongestionHandle::for_screen(),
            LinkKind::Call | LinkKind::ShareIn => CongestionHandle::for_call(),
        };
        let pc = crate::peer::connection::connect(&self.setup, events, &congestion).await?;
        let (connected, _) = watch::channel(false);
        self.links.insert(
            key.clone(),
            LinkIo {
                pc: pc.clone(),
                tasks: Vec::new(),
                congestion,
                connected,
                generation,
                relay_gathered: false,
                candidate_errors: Vec::new(),
            },
        );
        let tasks = match key.kind {
            LinkKind::Call => self.put_call_media(&pc, key).await?,
            LinkKind::ShareOut => self.put_screen(&pc, key).await?,
            LinkKind::ShareIn => Vec::new(),
        };
        if let Some(link) = self.links.get_mut(key) {
            link.tasks.extend(tasks);
        }
        Ok(())
    }

    fn congestion(&self, key: &LinkKey) -> Result<CongestionHandle, PeerError> {
        self.links
            .get(key)
            .map(|l| l.congestion.clone())
            .ok_or_else(no_connection)
    }

    fn connected(&self, key: &LinkKey) -> Result<watch::Receiver<bool>, PeerError> {
        self.links
            .get(key)
            .map(|l| l.connected.subscribe())
            .ok_or_else(no_connection)
    }

    /// Our microphone and camera on a call (or receive-only transceivers where we have
    /// none, so we still get theirs), with the tasks that write and steer them.
    async fn put_call_media(
        &self,
        pc: &Arc<dyn PeerConnection>,
        key: &LinkKey,
    ) -> Result<Vec<JoinHandle<()>>, PeerError> {
        let stream_id = format!("huddle-{}", self.core.my_id());
        let connected = self.connected(key)?;
        let direction = |has: bool| {
            if has {
                Direction::SendRecv
            } else {
                Direction::RecvOnly
            }
        };
        let mut tasks = Vec::new();
        let audio = tracks::add_local_track(
            pc,
            RtpCodecKind::Audio,
            opus_codec(),
            &stream_id,
            direction(self.audio.is_some()),
        )
        .await?;
        if let (Some(local), Some(sender)) = (&audio, &self.audio) {
            tasks.push(send::spawn_audio_writer(
                local,
                sender.packets.subscribe(),
                connected.clone(),
            ));
            tasks.push(send::spawn_audio_follower(
                self.congestion(key)?,
                sender.control.clone(),
                key.remote.clone(),
            ));
        }
        let codec = self.video.as_ref().map_or(&vp8::VP8, |v| v.config.codec);
        let video = tracks::add_local_track(
            pc,
            RtpCodecKind::Video,
            video_rtc_codec(codec),
            &stream_id,
            direction(self.video.is_some()),
        )
        .await?;
        if let (Some(local), Some(sender)) = (&video, &self.video) {
            tasks.push(send::spawn_video_writer(
                local,
                codec,
                sender.frames.subscribe(),
                sender.control.clone(),
                connected,
                Some(send::LayerFollow::of(&sender.control, &key.remote)),
            ));
            tasks.push(send::spawn_feedback_reader(
                local,
                sender.control.clone(),
                self.bitrate.clone(),
                key.remote.clone(),
            ));
            tasks.push(send::spawn_estimate_follower(
                self.congestion(key)?,
                sender.control.clone(),
                self.bitrate.clone(),
                key.remote.clone(),
            ));
        }
        Ok(tasks)
    }

    /// Our screen on a send-only connection to a viewer.
    async fn put_screen(
        &self,
        pc: &Arc<dyn PeerConnection>,
        key: &LinkKey,
    ) -> Result<Vec<JoinHandle<()>>, PeerError> {
        let screen = self
            .screen
            .as_ref()
            .ok_or_else(|| PeerError::WebRtc("not sharing".into()))?;
        let stream_id = format!("huddle-screen-{}", self.core.my_id());
        let codec = screen.sender.config.codec;
        let local = tracks::add_local_track(
            pc,
            RtpCodecKind::Video,
            video_rtc_codec(codec),
            &stream_id,
            Direction::SendOnly,
        )
        .await?
        .ok_or_else(|| PeerError::WebRtc("no screen track".into()))?;
        let control = screen.sender.control.clone();
        Ok(vec![
            send::spawn_video_writer(
                &local,
                codec,
                screen.sender.frames.subscribe(),
                control.clone(),
                self.connected(key)?,
                // A screen has one encoding (see `start_sharing`).
                None,
            ),
            send::spawn_feedback_reader(
                &local,
                control.clone(),
                screen.bitrate.clone(),
                key.remote.clone(),
            ),
            send::spawn_estimate_follower(
                self.congestion(key)?,
                control,
                screen.bitrate.clone(),
                key.remote.clone(),
            ),
        ])
    }

    pub(super) async fn close_link(&mut self, key: &LinkKey) {
        if let Some(link) = self.links.remove(key) {
            for t in &link.tasks {
                t.abort();
            }
            if let Err(err) = link.pc.close().await {
                tracing::debug!(%err, "close");
            }
            self.bitrate.forget(&key.remote);
            if let Some(screen) = &self.screen {
                screen.bitrate.forget(&key.remote);
            }
        }
    }

    /// Gives every connection the setup's ICE servers (used from their next restart).
    pub(super) async fn reconfigure_links(&self) {
        let config = crate::peer::connection::rtc_configuration(&self.setup);
        for (key, link) in &self.links {
            if let Err(err) = link.pc.set_configuration(config.clone()).await {
                tracing::warn!(peer = %key.remote, %err, "new ICE servers not applied");
            }
        }
    }

    /// Our offer, made our local description.
    pub(super) async fn create_offer(
        &self,
        key: &LinkKey,
        ice_restart: bool,
    ) -> Result<SessionDescription, PeerError> {
        let pc = self.pc(key)?;
        if ice_restart {
            pc.restart_ice().await?;
        }
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        Ok(from_rtc_description(&offer))
    }

    /// Applies a remote offer and answers it; the answer is our local description.
    pub(super) async fn answer(
        &self,
        key: &LinkKey,
        offer: &SessionDescription,
    ) -> Result<SessionDescription, PeerError> {
        let description = to_rtc_description(offer)?;
        let pc = self.pc(key)?;
        pc.set_remote_description(description).await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        Ok(from_rtc_description(&answer))
    }

    pub(super) async fn apply_answer(
        &self,
        key: &LinkKey,
        answer: &SessionDescription,
    ) -> Result<(), PeerError> {
        let description = to_rtc_description(answer)?;
        self.pc(key)?.set_remote_description(description).await?;
        Ok(())
    }

    /// Drops our unanswered offer.
    pub(super) async fn rollback(&self, key: &LinkKey) {
        let rollback = SessionDescription {
            kind: SdpType::Rollback,
            sdp: String::new(),
        };
        if let (Ok(pc), Ok(d)) = (self.pc(key), to_rtc_description(&rollback))
            && let Err(err) = pc.set_local_description(d).await
        {
            tracing::debug!(%err, "rollback failed");
        }
    }

    pub(super) async fn add_remote_candidates(&self, key: &LinkKey, candidates: &[IceCandidate]) {
        let Ok(pc) = self.pc(key) else {
            return;
        };
        for c in candidates {
            if let Err(err) = pc.add_ice_candidate(to_rtc_candidate(c)).await {
                tracing::debug!(%err, "remote candidate refused");
            }
        }
    }

    /// Decodes and measures a track that arrived (audio into the mixer, video to the sink).
    pub(super) async fn receive(
        &mut self,
        key: &LinkKey,
        track: Arc<dyn TrackRemote>,
        kind: StreamKind,
        since: Instant,
        joined_at: Instant,
        email: &str,
    ) {
        let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let mime = track
            .codec(ssrc)
            .await
            .map(|c| c.mime_type)
            .unwrap_or_default();
        let codec = mime.rsplit('/').next().unwrap_or("unknown").to_string();
        let id = StreamId {
            remote_id: key.remote.clone(),
            kind,
        };
        if let Ok(mut map) = self.stats.lock() {
            let mut stream = ReceivedStream::new(&key.remote, email, kind, &codec, since);
            stream.joined_at = Some(joined_at);
            map.insert(id.clone(), stream);
        }
        let task = match kind {
            StreamKind::Audio => tokio::spawn(incoming::receive_audio(
                track,
                id,
                self.stats.clone(),
                self.mixer.clone(),
            )),
            _ => tokio::spawn(incoming::receive_video(
                track,
                id,
                self.stats.clone(),
                self.sink.clone(),
            )),
        };
        if let Some(link) = self.links.get_mut(key) {
            link.tasks.push(task);
        }
    }

    /// RTT (the nominated ICE pair) and jitter (inbound RTP) of every connection, into
    /// the figures of the streams it carries.
    pub(super) async fn poll_connection_stats(&mut self) {
        use rtc::statistics::report::RTCStatsReportEntry as Entry;
        for (key, link) in &self.links {
            let report = link
                .pc
                .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
                .await;
            let mut rtt = None;
            let mut jitter = Vec::new();
            if let Some(types) = selected_pair_types(&report) {
                self.pair_types.insert(link.generation, types);
            }
            for entry in report.iter() {
                match entry {
                    Entry::IceCandidatePair(pair)
                        if pair.nominated && pair.current_round_trip_time > 0.0 =>
                    {
                        rtt = Some(pair.current_round_trip_time * 1000.0);
                    }
                    Entry::InboundRtp(inbound) => {
                        let r = &inbound.received_rtp_stream_stats;
                        jitter.push((r.rtp_stream_stats.kind, jitter_ms(r)));
                    }
                    _ => {}
                }
            }
            let Ok(mut map) = self.stats.lock() else {
                continue;
            };
            for (id, stream) in map.iter_mut().filter(|(id, _)| id.remote_id == key.remote) {
                let matches_link =
                    (id.kind == StreamKind::Screen) == (key.kind == LinkKind::ShareIn);
                if !matches_link {
                    continue;
                }
                stream.rtt_ms = rtt.or(stream.rtt_ms);
                if id.kind != StreamKind::Audio {
                    stream.rtx_packets = link.congestion.rtx_restored();
                }
                let kind = if id.kind == StreamKind::Audio {
                    RtpCodecKind::Audio
                } else {
                    RtpCodecKind::Video
                };
                if let Some((_, j)) = jitter.iter().find(|(k, _)| *k == kind) {
                    stream.jitter_ms = Some(*j);
                }
            }
        }
    }
}

/// The candidate types (local, remote) of the transport's selected pair, as WebRTC
/// stats name them: host, srflx, prflx, relay.
pub(super) fn selected_pair_types(
    report: &webrtc::peer_connection::RTCStatsReport,
) -> Option<(String, String)> {
    use rtc::statistics::report::RTCStatsReportEntry as Entry;
    let pair_id = report.iter().find_map(|e| match e {
        Entry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
            Some(t.selected_candidate_pair_id.clone())
        }
        _ => None,
    });
    let pair = report.iter().find_map(|e| match e {
        Entry::IceCandidatePair(p) if pair_id.as_ref().is_some_and(|id| *id == p.stats.id) => {
            Some(p)
        }
        _ => None,
    });
    // Without a selected pair id, the nominated pair.
    let pair = pair.or_else(|| {
        report.iter().find_map(|e| match e {
            Entry::IceCandidatePair(p) if p.nominated => Some(p),
            _ => None,
        })
    })?;
    // Candidate stats are named `RTCLocalIceCandidate_<id>` / `RTCRemoteIceCandidate_<id>`,
    // the pair refers to the bare ids.
    let named =
        |id: &str, candidate: &str| id == candidate || id.ends_with(&format!("_{candidate}"));
    let local = report.iter().find_map(|e| match e {
        Entry::LocalCandidate(c) if named(&c.stats.id, &pair.local_candidate_id) => {
            Some(c.candidate_type.to_string())
        }
        _ => None,
    })?;
    // A remote candidate never signaled was learned from the peer's checks: peer-reflexive.
    let remote = report
        .iter()
        .find_map(|e| match e {
            Entry::RemoteCandidate(c) if named(&c.stats.id, &pair.remote_candidate_id) => {
                Some(c.candidate_type.to_string())
            }
            _ => None,
        })
        .unwrap_or_else(|| "prflx".to_string());
    Some((local, remote))
}
