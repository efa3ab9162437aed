//! What every peer connection of a session has in common, whether it carries a call
//! or a screen: creating it, offers and answers, trickle ICE, failure and closing.

use std::sync::Arc;
use std::time::Instant;

use huddle_protocol::{IceCandidate, RelayBody, RelayKind, SessionDescription};
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::SessionEvent;
use super::state::State;
use crate::media::stream::{StreamId, StreamKind};
use crate::peer::{
    LinkKind, PeerError, first_mid, from_rtc_candidate, from_rtc_description, to_rtc_candidate,
    to_rtc_description,
};
use crate::pipeline::incoming;
use crate::stats::ReceivedStream;

/// Which connection: its kind and the participant at the other end.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct LinkKey {
    pub kind: LinkKind,
    pub remote: String,
}

impl LinkKey {
    pub fn call(remote: &str) -> Self {
        LinkKey {
            kind: LinkKind::Call,
            remote: remote.to_string(),
        }
    }

    pub fn share_out(viewer: &str) -> Self {
        LinkKey {
            kind: LinkKind::ShareOut,
            remote: viewer.to_string(),
        }
    }

    pub fn share_in(sharer: &str) -> Self {
        LinkKey {
            kind: LinkKind::ShareIn,
            remote: sharer.to_string(),
        }
    }

    /// The relay that carries this connection's ICE candidates.
    fn candidate_relay(&self) -> RelayKind {
        match self.kind {
            LinkKind::Call => RelayKind::IceCandidate,
            LinkKind::ShareOut | LinkKind::ShareIn => RelayKind::ShareIce,
        }
    }
}

/// One peer connection.
pub(super) struct Link {
    pub pc: Arc<dyn PeerConnection>,
    pub generation: u64,
    /// We sent the first offer (and so restart ICE when it fails).
    pub offerer: bool,
    pub remote_description_set: bool,
    pub pending_candidates: Vec<RTCIceCandidateInit>,
    /// Our candidates held back until the answer to our offer is applied (see
    /// [`State::send_candidate`]).
    pub held_local_candidates: Vec<RTCIceCandidateInit>,
    pub first_mid: Option<String>,
    pub created: Instant,
    pub making_offer: bool,
    /// Our DTLS role (`active`/`passive`) once negotiated: later answers must keep it.
    pub dtls_setup: Option<String>,
    pub ice_restarts: u32,
    pub tasks: Vec<JoinHandle<()>>,
    /// Flips to true when the connection is up; the media writers wait for it.
    pub connected: watch::Sender<bool>,
}

/// Most ICE restarts tried before a connection is given up.
const MAX_ICE_RESTARTS: u32 = 2;

impl State {
    /// A new, empty peer connection for `key` (replacing any older one).
    pub async fn open_link(
        &mut self,
        key: &LinkKey,
        offerer: bool,
    ) -> Result<&mut Link, PeerError> {
        self.close_link(key).await;
        self.generation += 1;
        let pc = crate::peer::connection::connect(
            &self.setup,
            &key.remote,
            key.kind,
            self.generation,
            self.notices.clone(),
        )
        .await?;
        let (connected, _) = watch::channel(false);
        let link = Link {
            pc,
            generation: self.generation,
            offerer,
            remote_description_set: false,
            pending_candidates: self.early_candidates.remove(key).unwrap_or_default(),
            held_local_candidates: Vec::new(),
            first_mid: None,
            created: Instant::now(),
            making_offer: false,
            dtls_setup: None,
            ice_restarts: 0,
            tasks: Vec::new(),
            connected,
        };
        Ok(self.links.entry(key.clone()).or_insert(link))
    }

    pub async fn make_offer(
        &mut self,
        key: &LinkKey,
        ice_restart: bool,
    ) -> Result<SessionDescription, PeerError> {
        let link = self
            .links
            .get_mut(key)
            .ok_or_else(|| PeerError::WebRtc("no such connection".into()))?;
        if ice_restart {
            link.pc.restart_ice().await?;
        }
        link.making_offer = true;
        let offer = link.pc.create_offer(None).await?;
        link.pc.set_local_description(offer.clone()).await?;
        link.first_mid = first_mid(&offer.sdp);
        Ok(from_rtc_description(&offer))
    }

    /// Applies a remote offer to an existing connection and answers it.
    pub async fn answer(
        &mut self,
        key: &LinkKey,
        offer: &SessionDescription,
    ) -> Result<SessionDescription, PeerError> {
        let description = to_rtc_description(offer)?;
        let link = self
            .links
            .get_mut(key)
            .ok_or_else(|| PeerError::WebRtc("no such connection".into()))?;
        link.pc.set_remote_description(description).await?;
        link.remote_description_set = true;
        let answer = link.pc.create_answer(None).await?;
        link.pc.set_local_description(answer.clone()).await?;
        link.first_mid = first_mid(&answer.sdp);
        link.making_offer = false;
        flush_candidates(link).await;
        let mut sent = from_rtc_description(&answer);
        // webrtc-rs answers a re-offer with `setup:active` even when it is the DTLS
        // server of the running association; browsers then refuse the answer. Keep the
        // role the first negotiation settled (RFC 8842 §5.5).
        match &link.dtls_setup {
            Some(role) => sent.sdp = with_dtls_setup(&sent.sdp, role),
            None => link.dtls_setup = dtls_setup(&sent.sdp),
        }
        Ok(sent)
    }

    /// An answer to our offer (`call:accepted`, `peer:nego:final`, `share:answer`).
    pub async fn on_answer(&mut self, key: LinkKey, ans: &SessionDescription) {
        let result = async {
            let description = to_rtc_description(ans)?;
            let Some(link) = self.links.get_mut(&key) else {
                return Ok(());
            };
            link.pc.set_remote_description(description).await?;
            link.remote_description_set = true;
            link.making_offer = false;
            if link.dtls_setup.is_none() {
                // We offered `actpass`; the answerer's choice decides ours.
                link.dtls_setup = dtls_setup(&ans.sdp).map(|theirs| {
                    if theirs == "passive" {
                        "active"
                    } else {
                        "passive"
                    }
                    .to_string()
                });
            }
            flush_candidates(link).await;
            Ok::<(), PeerError>(())
        }
        .await;
        if let Err(err) = result {
            let who = self.email_of(&key.remote);
            self.note_error(format!("bad answer from {who}: {err}"));
        }
        let held = self
            .links
            .get_mut(&key)
            .map(|l| std::mem::take(&mut l.held_local_candidates))
            .unwrap_or_default();
        for c in &held {
            self.relay_candidate(&key, c).await;
        }
    }

    pub async fn add_candidate(&mut self, key: LinkKey, candidate: &IceCandidate) {
        let c = to_rtc_candidate(candidate);
        match self.links.get_mut(&key) {
            Some(link) if link.remote_description_set => {
                if let Err(err) = link.pc.add_ice_candidate(c).await {
                    tracing::debug!(%err, "remote candidate refused");
                }
            }
            Some(link) => link.pending_candidates.push(c),
            None => self.early_candidates.entry(key).or_default().push(c),
        }
    }

    /// Trickles a local candidate, except while our offer is unanswered: a peer that
    /// learns our address before we know its ICE credentials sends checks we must drop
    /// ("password is empty"), and a browser then backs off for ~1.6 s before trying
    /// again. Held candidates go out as soon as the answer is applied.
    pub async fn send_candidate(&mut self, key: &LinkKey, c: &RTCIceCandidateInit) {
        if let Some(link) = self.links.get_mut(key)
            && link.offerer
            && !link.remote_description_set
        {
            link.held_local_candidates.push(c.clone());
            return;
        }
        self.relay_candidate(key, c).await;
    }

    async fn relay_candidate(&self, key: &LinkKey, c: &RTCIceCandidateInit) {
        let mid = self.links.get(key).and_then(|l| l.first_mid.clone());
        let candidate = from_rtc_candidate(c, mid.as_deref());
        self.relay(
            key.candidate_relay(),
            &key.remote,
            RelayBody::Candidate(candidate),
        )
        .await;
    }

    /// Sends a relay through signaling.
    pub async fn relay(&self, kind: RelayKind, to: &str, body: RelayBody) {
        if let Err(err) = self.signaling.relay(kind, to, body).await {
            tracing::warn!(%err, event = kind.sent_as(), "relay not sent");
        }
    }

    pub async fn close_link(&mut self, key: &LinkKey) {
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

    pub async fn on_connection_state(&mut self, key: &LinkKey, state: RTCPeerConnectionState) {
        let who = self.email_of(&key.remote);
        tracing::debug!(peer = %who, kind = ?key.kind, ?state, "connection");
        match state {
            RTCPeerConnectionState::Connected => {
                if let Some(link) = self.links.get(key) {
                    link.connected.send_replace(true);
                }
                match key.kind {
                    LinkKind::Call => {
                        tracing::info!(peer = %who, "media connected");
                        self.peers_connected.insert(key.remote.clone());
                        if let Some(v) = &self.video {
                            v.control.request_keyframe();
                        }
                        self.emit(SessionEvent::Connected {
                            id: key.remote.clone(),
                        });
                    }
                    LinkKind::ShareOut => {
                        tracing::info!(viewer = %who, "screen connected");
                        if let Some(s) = &self.screen {
                            s.sender.control.request_keyframe();
                        }
                    }
                    LinkKind::ShareIn => tracing::info!(sharer = %who, "viewing screen"),
                }
            }
            RTCPeerConnectionState::Failed => self.on_ice_failed(key).await,
            _ => {}
        }
    }

    /// Restarts ICE (the offerer offers again with new credentials); gives up after a
    /// few tries and drops the connection, leaving the others alone.
    pub async fn on_ice_failed(&mut self, key: &LinkKey) {
        let who = self.email_of(&key.remote);
        let Some(link) = self.links.get_mut(key) else {
            return;
        };
        if link.ice_restarts >= MAX_ICE_RESTARTS {
            self.close_link(key).await;
            self.note_error(format!("connection to {who} failed"));
            self.emit(SessionEvent::PeerFailed {
                id: key.remote.clone(),
                reason: "ICE failed".into(),
            });
            return;
        }
        link.ice_restarts += 1;
        if !link.offerer {
            return; // The offerer restarts; we answer its new offer.
        }
        tracing::info!(peer = %who, "connection failed; restarting ICE");
        let kind = match key.kind {
            LinkKind::Call => RelayKind::NegoNeeded,
            _ => RelayKind::ShareOffer,
        };
        match self.make_offer(key, true).await {
            Ok(offer) => self.relay(kind, &key.remote, RelayBody::Offer(offer)).await,
            Err(err) => self.note_error(format!("ICE restart with {who} failed: {err}")),
        }
    }

    pub async fn on_remote_track(&mut self, key: &LinkKey, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let email = self.email_of(&key.remote);
        let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let mime = track
            .codec(ssrc)
            .await
            .map(|c| c.mime_type)
            .unwrap_or_default();
        let codec = mime.rsplit('/').next().unwrap_or("unknown").to_string();
        let stream_kind = match (key.kind, kind) {
            (LinkKind::ShareIn, _) => StreamKind::Screen,
            (_, RtpCodecKind::Audio) => StreamKind::Audio,
            _ => StreamKind::Video,
        };
        // A screen's first frame is timed from its announcement, a camera's from the
        // connection being made.
        let since = match (stream_kind, &self.viewing) {
            (StreamKind::Screen, Some(v)) => v.announced_at,
            _ => self.links.get(key).map_or_else(Instant::now, |l| l.created),
        };
        let id = StreamId {
            remote_id: key.remote.clone(),
            kind: stream_kind,
        };
        if let Ok(mut map) = self.stats.lock() {
            let mut stream = ReceivedStream::new(&key.remote, &email, stream_kind, &codec, since);
            stream.joined_at = Some(self.joined_at);
            map.insert(id.clone(), stream);
        }
        tracing::info!(peer = %email, kind = ?stream_kind, "receiving");
        let task = match stream_kind {
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
        self.emit(SessionEvent::MediaFlowing {
            id: key.remote.clone(),
            email,
            kind: stream_kind,
        });
    }
}

/// The `a=setup:` value of an SDP (the first one; bundled m-lines share it).
fn dtls_setup(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=setup:"))
        .map(str::to_string)
}

/// The SDP with every `a=setup:` line set to `role`.
fn with_dtls_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            let ending = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str(ending);
        } else {
            out.push_str(line);
        }
    }
    out
}

async fn flush_candidates(link: &mut Link) {
    for c in link.pending_candidates.drain(..) {
        if let Err(err) = link.pc.add_ice_candidate(c).await {
            tracing::debug!(%err, "remote candidate refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dtls_role_is_read_and_rewritten() {
        let sdp =
            "v=0\r\nm=audio 9 UDP 111\r\na=setup:active\r\nm=video 9 UDP 96\r\na=setup:active\r\n";
        assert_eq!(dtls_setup(sdp).as_deref(), Some("active"));
        let fixed = with_dtls_setup(sdp, "passive");
        assert_eq!(fixed.matches("a=setup:passive\r\n").count(), 2);
        assert!(!fixed.contains("active\r\n"));
        assert_eq!(fixed.len(), sdp.len() + 2);
    }
}
