//! The SFU path's I/O (docs/protocol.md "The SFU path"): one send-only publisher
//! connection (camera, microphone, and the screen while sharing; we offer, `sfu:publish`)
//! and one receive-only subscriber connection for everyone else (the server offers,
//! `sfu:offer`; we answer). What each subscriber m-line carries comes from the offer's
//! stream list ([`Routing`]), never from track events: the SFU reuses m-lines.
//!
//! Mesh calls of a room that switched keep running until the SFU carries each member
//! (make before break): its media bound and the subscriber connected for a moment, or
//! 10 s after the switch at the latest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_protocol::{SfuAnswer, SfuIce, SfuLink, SfuOffer, SfuPc, SfuPublish, SfuView};
use rtc::rtp_transceiver::RTCRtpTransceiverDirection;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::Shell;
use crate::media::stream::{StreamId, StreamKind};
use crate::peer::connection::{opus_codec, video_rtc_codec};
use crate::peer::tracks::{self, Direction, LocalTrack};
use crate::peer::{PeerError, PeerEvent, from_rtc_description, to_rtc_description};
use crate::pipeline::{incoming, send};
use crate::session::core::Input;
use crate::session::sfu::{CameraView, PublishRetry, Route, Routing, ViewSync, publication};
use crate::stats::ReceivedStream;

/// How long after the first SFU packet of a member's camera our mesh call with it ends:
/// a keyframe must have come (the SFU asks publishers for one every 2 s at the latest).
const CARRY_GRACE: Duration = Duration::from_millis(2500);
/// Mesh calls left this long after the switch end anyway.
const MESH_WIND_DOWN: Duration = Duration::from_secs(10);

/// A connection event of the SFU path, tagged with its connection and epoch.
pub(super) struct SfuNotice {
    pub pc: SfuPc,
    pub epoch: u64,
    pub event: PeerEvent,
}

struct Publisher {
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
    connected: watch::Sender<bool>,
    camera: Option<LocalTrack>,
    microphone: Option<LocalTrack>,
    /// The screen while we share: its track and the tasks that feed it.
    screen: Option<(LocalTrack, Vec<JoinHandle<()>>)>,
    /// Whether the SFU accepted a publication on this connection.
    published: bool,
}

impl Publisher {
    fn close(self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        if let Some((_, tasks)) = self.screen {
            tasks.iter().for_each(JoinHandle::abort);
        }
        let pc = self.pc;
        tokio::spawn(async move {
            let _ = pc.close().await;
        });
    }
}

struct Subscriber {
    pc: Arc<dyn PeerConnection>,
    /// Remote tracks by mid, once webrtc-rs announced them.
    tracks: HashMap<String, Arc<dyn TrackRemote>>,
    /// The task receiving each bound mid.
    receivers: HashMap<String, JoinHandle<()>>,
}

/// What the stats say of one SFU connection (the app's "via SFU" leg).
#[derive(Default)]
struct Leg {
    connect_ms: Option<f64>,
    pair_types: Option<(String, String)>,
}

/// Everything the SFU path owns.
pub(super) struct SfuIo {
    epoch: u64,
    started: Instant,
    publisher: Option<Publisher>,
    subscriber: Option<Subscriber>,
    routing: Routing,
    /// Members whose camera packets come through the SFU, since when (for ending their
    /// mesh calls); written by the receiving tasks.
    carrying: Arc<std::sync::Mutex<HashMap<String, Instant>>>,
    /// Members whose mesh call was ended (or never was).
    carried: std::collections::HashSet<String>,
    /// Per connection: when it first came up, and its selected candidate pair's types.
    legs: HashMap<SfuPc, Leg>,
    /// Retries of a refused first publication.
    retry: PublishRetry,
    /// The cameras `sfu:view` last named.
    view: ViewSync,
}

impl SfuIo {
    fn new(epoch: u64) -> Self {
        SfuIo {
            epoch,
            started: Instant::now(),
            publisher: None,
            subscriber: None,
            routing: Routing::default(),
            carrying: Default::default(),
            carried: Default::default(),
            legs: HashMap::new(),
            retry: PublishRetry::default(),
            view: ViewSync::default(),
        }
    }

    fn close(&mut self) {
        if let Some(p) = self.publisher.take() {
            p.close();
        }
        if let Some(s) = self.subscriber.take() {
            for t in s.receivers.values() {
                t.abort();
            }
            let pc = s.pc;
            tokio::spawn(async move {
                let _ = pc.close().await;
            });
        }
        self.routing.clear();
    }
}

impl Shell {
    /// The room uses the SFU (join ack, `sfu:mode`, or a rebuilt room's new epoch):
    /// publish on a fresh connection and wait for the server's offer.
    pub(super) async fn sfu_start(&mut self, epoch: u64) {
        if self.sfu.as_ref().is_some_and(|s| s.epoch == epoch) {
            return;
        }
        if let Some(mut old) = self.sfu.take() {
            old.close();
        }
        tracing::info!(epoch, "the room uses the SFU");
        self.sfu = Some(SfuIo::new(epoch));
        self.drive(Input::SfuMode).await;
        self.sfu_publish_first().await;
    }

    /// The first publication of this epoch; a refused one is retried on a fresh
    /// connection (the SFU dropped the refused one's ICE agent), then reported.
    async fn sfu_publish_first(&mut self) {
        let Err(err) = self.sfu_publish().await else {
            return;
        };
        let Some(sfu) = self.sfu.as_mut() else { return };
        if sfu.publisher.as_ref().is_some_and(|p| p.published) {
            // Refused after the SFU had accepted us: not a first publication.
            self.core.note_error(format!("SFU publish: {err}"));
            return;
        }
        if let Some(p) = sfu.publisher.take() {
            p.close();
        }
        match sfu.retry.failed(Instant::now()) {
            Some(at) => tracing::warn!(
                %err,
                attempt = sfu.retry.failures(),
                in_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
                "SFU publish refused; trying again on a fresh connection"
            ),
            None => self.core.note_error(format!("SFU publish: {err}")),
        }
    }

    pub(super) fn sfu_stop(&mut self) {
        if let Some(mut sfu) = self.sfu.take() {
            sfu.close();
        }
    }

    fn sfu_events(&self, pc: SfuPc, epoch: u64) -> crate::peer::connection::PeerEvents {
        let notices: mpsc::UnboundedSender<SfuNotice> = self.sfu_notices.clone();
        Box::new(move |event| {
            let _ = notices.send(SfuNotice { pc, epoch, event });
        })
    }

    /// Offers our publication (creating the connection the first time) and applies the
    /// SFU's answer. Also how the screen is added and dropped.
    pub(super) async fn sfu_publish(&mut self) -> Result<(), PeerError> {
        let Some(epoch) = self.sfu.as_ref().map(|s| s.epoch) else {
            return Ok(());
        };
        if self.sfu.as_ref().is_some_and(|s| s.publisher.is_none()) {
            let publisher = self.sfu_open_publisher(epoch).await?;
            if let Some(sfu) = self.sfu.as_mut() {
                sfu.publisher = Some(publisher);
            }
        }
        self.sfu_sync_screen().await?;
        let Some(p) = self.sfu.as_ref().and_then(|s| s.publisher.as_ref()) else {
            return Ok(());
        };
        if p.camera.is_none() && p.microphone.is_none() && p.screen.is_none() {
            return Ok(()); // nothing to send: a receive-only participant
        }
        let pc = p.pc.clone();
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        let mid_of = |t: &Option<LocalTrack>| {
            let sender = t.as_ref().map(|t| t.sender.id());
            let pc = pc.clone();
            async move {
                let sender = sender?;
                for tr in pc.get_transceivers().await {
                    if tr
                        .sender()
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|s| s.id() == sender)
                    {
                        return tr.mid().await.ok().flatten();
                    }
                }
                None
            }
        };
        let screen = p.screen.as_ref().map(|(t, _)| t.clone());
        let streams = publication(
            mid_of(&p.camera).await,
            mid_of(&p.microphone).await,
            mid_of(&screen).await,
        );
        let request = SfuPublish {
            offer: from_rtc_description(&offer),
            streams,
        };
        let ack = self
            .signaling
            .request(&request)
            .await
            .map_err(|e| PeerError::WebRtc(format!("sfu:publish: {e}")))?;
        let (rtx_codec, rtx_streams) = rtx_in(&ack.answer.sdp);
        tracing::debug!(rtx_codec, rtx_streams, "the SFU answered our publication");
        pc.set_remote_description(to_rtc_description(&ack.answer)?)
            .await?;
        if let Some(p) = self.sfu.as_mut().and_then(|s| s.publisher.as_mut()) {
            p.published = true;
        }
        Ok(())
    }

    async fn sfu_open_publisher(&mut self, epoch: u64) -> Result<Publisher, PeerError> {
        // Paced and budgeted like a call; the camera's encoder follows the estimate.
        let congestion = crate::peer::congestion::CongestionHandle::for_call();
        let pc = crate::peer::connection::connect(
            &self.setup,
            self.sfu_events(SfuPc::Publisher, epoch),
            &congestion,
        )
        .await?;
        let (connected, _) = watch::channel(false);
        let stream_id = format!("huddle-{}", self.core.my_id());
        let mut tasks = Vec::new();
        let mut microphone = None;
        if let Some(sender) = &self.audio {
            let local = tracks::add_local_track(
                &pc,
                RtpCodecKind::Audio,
                opus_codec(),
                &stream_id,
                Direction::SendOnly,
            )
            .await?;
            if let Some(local) = local {
                tasks.push(send::spawn_audio_writer(
                    &local,
                    sender.packets.subscribe(),
                    connected.subscribe(),
                ));
                // Opus FEC follows the loss on our upload to the SFU, the one hop we
                // see (Janus forwards the FEC as it is to every subscriber).
                tasks.push(send::spawn_audio_follower(
                    congestion.clone(),
                    sender.control.clone(),
                    "sfu".into(),
                ));
                microphone = Some(local);
            }
        }
        let mut camera = None;
        if let Some(sender) = &self.video {
            let codec = sender.config.codec;
            let local = tracks::add_local_track(
                &pc,
                RtpCodecKind::Video,
                video_rtc_codec(codec),
                &stream_id,
                Direction::SendOnly,
            )
            .await?;
            if let Some(local) = local {
                // One publisher connection: the SFU gets the full encoding, which must
                // fit it, whatever mesh peers there still are.
                self.bitrate.pin_full("sfu");
                tasks.push(send::spawn_video_writer(
                    &local,
                    codec,
                    sender.frames.subscribe(),
                    sender.control.clone(),
                    connected.subscribe(),
                    None,
                ));
                tasks.push(send::spawn_feedback_reader(
                    &local,
                    sender.control.clone(),
                    self.bitrate.clone(),
                    "sfu".into(),
                ));
                // One upload whatever the room size: the camera takes what the estimate
                // leaves after audio and retransmissions, as on a mesh call. (A shared
                // screen on this connection keeps its own controller, steered by the
                // SFU's feedback.)
                tasks.push(send::spawn_estimate_follower(
                    congestion.clone(),
                    sender.control.clone(),
                    self.bitrate.clone(),
                    "sfu".into(),
                ));
                camera = Some(local);
            }
        }
        Ok(Publisher {
            pc,
            tasks,
            connected,
            camera,
            microphone,
            screen: None,
            published: false,
        })
    }

    /// Puts the screen on the publisher while we share, takes it off when we stop.
    async fn sfu_sync_screen(&mut self) -> Result<(), PeerError> {
        let stream_id = format!("huddle-screen-{}", self.core.my_id());
        let screen = self.screen.as_ref().map(|s| {
            (
                s.sender.config.codec,
                s.sender.frames.subscribe(),
                s.sender.control.clone(),
                s.bitrate.clone(),
            )
        });
        let Some(p) = self.sfu.as_mut().and_then(|s| s.publisher.as_mut()) else {
            return Ok(());
        };
        match (screen, p.screen.is_some()) {
            (Some((codec, frames, control, bitrate)), false) => {
                let local = tracks::add_local_track(
                    &p.pc,
                    RtpCodecKind::Video,
                    video_rtc_codec(codec),
                    &stream_id,
                    Direction::SendOnly,
                )
                .await?
                .ok_or_else(|| PeerError::WebRtc("no screen track".into()))?;
                let tasks = vec![
                    send::spawn_video_writer(
                        &local,
                        codec,
                        frames,
                        control.clone(),
                        p.connected.subscribe(),
                        None,
                    ),
                    send::spawn_feedback_reader(&local, control, bitrate, "sfu".into()),
                ];
                p.screen = Some((local, tasks));
            }
            (None, true) => {
                if let Some((local, tasks)) = p.screen.take() {
                    tasks.iter().for_each(JoinHandle::abort);
                    for tr in p.pc.get_transceivers().await {
                        if tr
                            .sender()
                            .await
                            .ok()
                            .flatten()
                            .is_some_and(|s| s.id() == local.sender.id())
                        {
                            tr.set_direction(RTCRtpTransceiverDirection::Inactive)
                                .await?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `sfu:offer`: answer it on the subscriber connection, and receive what each m-line
    /// carries now.
    pub(super) async fn sfu_on_offer(&mut self, offer: SfuOffer) {
        if let Err(err) = self.sfu_answer(offer).await {
            self.core.note_error(format!("SFU subscription: {err}"));
        }
    }

    async fn sfu_answer(&mut self, offer: SfuOffer) -> Result<(), PeerError> {
        let Some(epoch) = self.sfu.as_ref().map(|s| s.epoch) else {
            return Ok(());
        };
        if self.sfu.as_ref().is_some_and(|s| s.subscriber.is_none()) {
            let pc = crate::peer::connection::connect(
                &self.setup,
                self.sfu_events(SfuPc::Subscriber, epoch),
                &crate::peer::congestion::CongestionHandle::for_call(),
            )
            .await?;
            if let Some(sfu) = self.sfu.as_mut() {
                sfu.subscriber = Some(Subscriber {
                    pc,
                    tracks: HashMap::new(),
                    receivers: HashMap::new(),
                });
            }
        }
        let Some(pc) = self.sfu_subscriber_pc() else {
            return Ok(());
        };
        let (rtx_codec, rtx_streams) = rtx_in(&offer.offer.sdp);
        tracing::debug!(rtx_codec, rtx_streams, "the SFU offered a subscription");
        pc.set_remote_description(to_rtc_description(&offer.offer)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        let routes = match self.sfu.as_mut() {
            Some(sfu) => sfu.routing.apply(&offer.streams),
            None => Vec::new(),
        };
        for route in routes {
            match route {
                Route::Unbind { mid } => self.sfu_unbind(&mid),
                Route::Bind { mid, .. } => self.sfu_bind(&mid).await,
            }
        }
        // Before the answer: a camera that is not shown never starts flowing.
        self.sfu_sync_view().await;
        let request = SfuAnswer {
            version: offer.version,
            answer: from_rtc_description(&answer),
        };
        if let Err(err) = self.signaling.request(&request).await {
            // A stale answer: a newer offer is on its way and supersedes this one.
            tracing::debug!(%err, version = offer.version, "sfu:answer");
        }
        Ok(())
    }

    fn sfu_subscriber_pc(&self) -> Option<Arc<dyn PeerConnection>> {
        self.sfu
            .as_ref()
            .and_then(|s| s.subscriber.as_ref())
            .map(|s| s.pc.clone())
    }

    fn sfu_unbind(&mut self, mid: &str) {
        if let Some(task) = self
            .sfu
            .as_mut()
            .and_then(|s| s.subscriber.as_mut())
            .and_then(|s| s.receivers.remove(mid))
        {
            task.abort();
        }
    }

    /// Starts receiving `mid` as what the routing says it carries, once its track is
    /// known (a recycled m-line's track is; a new one's comes with webrtc-rs's event).
    async fn sfu_bind(&mut self, mid: &str) {
        self.sfu_unbind(mid);
        let Some(sfu) = self.sfu.as_mut() else { return };
        let Some(binding) = sfu.routing.binding(mid).cloned() else {
            return;
        };
        let Some(sub) = sfu.subscriber.as_mut() else {
            return;
        };
        let track = match sub.tracks.get(mid) {
            Some(t) => t.clone(),
            None => match track_of(&sub.pc, mid).await {
                Some(t) => t,
                None => return,
            },
        };
        sub.tracks.insert(mid.to_owned(), track.clone());
        let (from, kind) = (binding.from.clone(), binding.kind);
        let id = StreamId {
            remote_id: binding.from.clone(),
            kind: binding.kind,
        };
        let email = self.core.email_of_member(&binding.from);
        if let Ok(mut map) = self.stats.lock() {
            // A member we had a mesh call with keeps its figures across the switch (its
            // frame times then show the switch's interruption); the codec is known once
            // packets come (below).
            map.entry(id.clone()).or_insert_with(|| {
                ReceivedStream::new(&binding.from, &email, binding.kind, "", sfu.started)
            });
        }
        let (stats, mixer, sink) = (self.stats.clone(), self.mixer.clone(), self.sink.clone());
        let carrying = (kind == StreamKind::Video).then(|| sfu.carrying.clone());
        let task = tokio::spawn(async move {
            // Keyframe requests name the stream's SSRC: wait until the first packets
            // have told it (the SFU asks its publisher for a keyframe meanwhile).
            let ssrc = loop {
                if let Some(ssrc) = track.ssrcs().await.first().copied() {
                    break ssrc;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if let Some(carrying) = carrying
                && let Ok(mut c) = carrying.lock()
            {
                c.entry(from).or_insert_with(Instant::now);
            }
            let mime = track.codec(ssrc).await.map(|c| c.mime_type);
            let codec = mime.as_deref().and_then(|m| m.rsplit('/').next());
            if let (Some(codec), Ok(mut map)) = (codec, stats.lock())
                && let Some(s) = map.get_mut(&id)
            {
                s.codec = codec.to_lowercase();
            }
            match binding.kind {
                StreamKind::Audio => incoming::receive_audio(track, id, stats, mixer).await,
                _ => incoming::receive_video(track, id, stats, sink).await,
            }
        });
        sub.receivers.insert(mid.to_owned(), task);
    }

    /// The application shows these cameras now.
    pub(super) async fn sfu_set_view(&mut self, view: CameraView) {
        self.camera_view = view;
        self.sfu_sync_view().await;
    }

    /// Tells the SFU which cameras to send when that changed (`sfu:view`).
    async fn sfu_sync_view(&mut self) {
        let Some(sfu) = self.sfu.as_mut() else { return };
        let cameras: Vec<(String, String)> = sfu
            .routing
            .cameras()
            .into_iter()
            .map(|id| {
                let email = self.core.email_of_member(&id);
                (id, email)
            })
            .collect();
        let Some(video) = sfu.view.next(&self.camera_view, &cameras) else {
            return;
        };
        tracing::info!(?video, "SFU view");
        if let Err(err) = self.signaling.request(&SfuView { video }).await {
            // Said again on the next change; the SFU keeps the previous view meanwhile.
            sfu_view_failed(self.sfu.as_mut());
            tracing::warn!(%err, "sfu:view");
        }
    }

    /// Every second: the candidate pair each SFU connection uses.
    pub(super) async fn sfu_poll_stats(&mut self) {
        let Some(sfu) = self.sfu.as_ref() else { return };
        let pcs: Vec<(SfuPc, Arc<dyn PeerConnection>)> = [
            sfu.publisher
                .as_ref()
                .map(|p| (SfuPc::Publisher, p.pc.clone())),
            sfu.subscriber
                .as_ref()
                .map(|s| (SfuPc::Subscriber, s.pc.clone())),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (which, pc) in pcs {
            let report = pc
                .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
                .await;
            let types = super::links::selected_pair_types(&report);
            if let (Some(types), Some(sfu)) = (types, self.sfu.as_mut()) {
                sfu.legs.entry(which).or_default().pair_types = Some(types);
            }
        }
    }

    /// The SFU leg in the session's connections: the publisher and the subscriber.
    pub(super) fn sfu_connection_reports(&self) -> Vec<crate::session::ConnectionReport> {
        let Some(sfu) = self.sfu.as_ref() else {
            return Vec::new();
        };
        [
            (SfuPc::Publisher, sfu.publisher.is_some(), "sfu-publisher"),
            (
                SfuPc::Subscriber,
                sfu.subscriber.is_some(),
                "sfu-subscriber",
            ),
        ]
        .into_iter()
        .filter(|(_, open, _)| *open)
        .map(|(which, _, purpose)| {
            let leg = sfu.legs.get(&which);
            let types = leg.and_then(|l| l.pair_types.clone());
            crate::session::ConnectionReport {
                remote_id: String::new(),
                remote_email: "SFU".into(),
                purpose,
                local_candidate_type: types.as_ref().map(|t| t.0.clone()),
                remote_candidate_type: types.map(|t| t.1),
                connect_ms: leg.and_then(|l| l.connect_ms),
                ice_restarts: 0,
            }
        })
        .collect()
    }

    /// `sfu:ice` from the server (only when the SFU trickles).
    pub(super) async fn sfu_on_ice(&mut self, ice: SfuIce) {
        let pc = match ice.pc {
            SfuPc::Publisher => self
                .sfu
                .as_ref()
                .and_then(|s| s.publisher.as_ref())
                .map(|p| p.pc.clone()),
            SfuPc::Subscriber => self.sfu_subscriber_pc(),
        };
        if let (Some(pc), Some(c)) = (pc, ice.candidate)
            && let Err(err) = pc
                .add_ice_candidate(crate::peer::to_rtc_candidate(&c))
                .await
        {
            tracing::debug!(%err, "SFU candidate refused");
        }
    }

    pub(super) fn sfu_on_link(&mut self, link: SfuLink) {
        tracing::info!(pc = ?link.pc, state = ?link.state, reason = ?link.reason, "SFU link");
    }

    /// A connection event of the SFU path.
    pub(super) async fn sfu_on_notice(&mut self, notice: SfuNotice) {
        if self.sfu.as_ref().is_none_or(|s| s.epoch != notice.epoch) {
            return; // an older epoch's connection
        }
        match notice.event {
            PeerEvent::Candidate(c) => {
                let ice = SfuIce {
                    pc: notice.pc,
                    candidate: Some(crate::peer::from_rtc_candidate(&c)),
                };
                if let Err(err) = self.signaling.notify(&ice).await {
                    tracing::debug!(%err, "sfu:ice not sent");
                }
            }
            PeerEvent::State(state) => {
                tracing::debug!(pc = ?notice.pc, ?state, "SFU connection");
                let up = state == RTCPeerConnectionState::Connected;
                if up {
                    self.drive(Input::SfuConnected).await;
                }
                let Some(sfu) = self.sfu.as_mut() else { return };
                if up {
                    let since = sfu.started.elapsed().as_secs_f64() * 1000.0;
                    let leg = sfu.legs.entry(notice.pc).or_default();
                    leg.connect_ms.get_or_insert(since);
                }
                if notice.pc == SfuPc::Publisher {
                    if let Some(p) = &sfu.publisher {
                        p.connected.send_replace(up);
                    }
                    if up && let Some(v) = &self.video {
                        // Writes before the connection was up were dropped.
                        v.control.request_keyframe();
                    }
                    if up && let Some(s) = &self.screen {
                        s.sender.control.request_keyframe();
                    }
                }
                if state == RTCPeerConnectionState::Failed {
                    self.core
                        .note_error(format!("SFU {:?} connection failed", notice.pc));
                }
            }
            PeerEvent::Ice(_) | PeerEvent::GatheringComplete => {}
            PeerEvent::CandidateError { url, code, text } => {
                tracing::warn!(pc = ?notice.pc, %url, code, %text, "SFU connection: an ICE server failed");
            }
            PeerEvent::Track(track) => {
                if notice.pc != SfuPc::Subscriber {
                    return;
                }
                let Some(pc) = self.sfu_subscriber_pc() else {
                    return;
                };
                let Some(mid) = mid_of_track(&pc, &track).await else {
                    return;
                };
                let waiting = self.sfu.as_mut().and_then(|s| {
                    let sub = s.subscriber.as_mut()?;
                    sub.tracks.insert(mid.clone(), track.clone());
                    let bound = s.routing.binding(&mid).is_some();
                    (bound && !sub.receivers.contains_key(&mid)).then_some(())
                });
                if waiting.is_some() {
                    self.sfu_bind(&mid).await;
                }
            }
        }
    }

    /// Every tick: end the mesh calls of members the SFU carries (make before break).
    pub(super) async fn sfu_tick(&mut self) {
        let now = Instant::now();
        if self.sfu.as_mut().is_some_and(|s| s.retry.take_due(now)) {
            self.sfu_publish_first().await;
        }
        self.sfu_sync_view().await;
        let Some(sfu) = self.sfu.as_mut() else { return };
        let wind_down = now.duration_since(sfu.started) >= MESH_WIND_DOWN;
        let mut done = Vec::new();
        if let Ok(carrying) = sfu.carrying.lock() {
            for (member, since) in carrying.iter() {
                if !sfu.carried.contains(member) && now.duration_since(*since) >= CARRY_GRACE {
                    done.push(member.clone());
                }
            }
        }
        if wind_down {
            for member in self.core.call_peers() {
                if !sfu.carried.contains(&member) && !done.contains(&member) {
                    done.push(member);
                }
            }
        }
        sfu.carried.extend(done.iter().cloned());
        for member in done {
            self.drive(Input::SfuCarries(member)).await;
        }
    }
}

/// A refused `sfu:view`: forget what was sent, so the next tick says it again.
fn sfu_view_failed(sfu: Option<&mut SfuIo>) {
    if let Some(sfu) = sfu {
        sfu.view = ViewSync::default();
    }
}

/// The remote track of the subscriber m-line `mid`.
async fn track_of(pc: &Arc<dyn PeerConnection>, mid: &str) -> Option<Arc<dyn TrackRemote>> {
    for tr in pc.get_transceivers().await {
        if tr.mid().await.ok().flatten().as_deref() == Some(mid) {
            let receiver = tr.receiver().await.ok().flatten()?;
            return Some(receiver.track().clone());
        }
    }
    None
}

/// The mid of the m-line a remote track arrived on.
async fn mid_of_track(
    pc: &Arc<dyn PeerConnection>,
    track: &Arc<dyn TrackRemote>,
) -> Option<String> {
    for tr in pc.get_transceivers().await {
        let Some(receiver) = tr.receiver().await.ok().flatten() else {
            continue;
        };
        if std::ptr::addr_eq(Arc::as_ptr(receiver.track()), Arc::as_ptr(track)) {
            return tr.mid().await.ok().flatten();
        }
    }
    None
}

/// RTX (RFC 4588) in a description, for the logs: whether it keeps an `rtx` codec (an
/// answer accepting our retransmissions on RTX), and whether it pairs a stream it sends
/// with a repair stream (`a=ssrc-group:FID`: it will resend on RTX).
fn rtx_in(sdp: &str) -> (bool, bool) {
    (
        sdp.lines().any(|l| l.contains(" rtx/90000")),
        sdp.lines().any(|l| l.starts_with("a=ssrc-group:FID ")),
    )
}
