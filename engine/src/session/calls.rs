//! The camera/microphone mesh: one call per other participant.

use huddle_protocol::{JoinAck, RelayBody, RelayKind, SdpType, SessionDescription};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use super::links::LinkKey;
use super::state::{ParticipantInfo, State};
use super::{SessionEvent, request_join};
use crate::codec::vp8;
use crate::peer::PeerError;
use crate::peer::connection::{opus_codec, video_rtc_codec};
use crate::peer::tracks::{self, Direction};
use crate::pipeline::send;

impl State {
    /// After a join: remember who is here and call each of them (we are the newcomer).
    pub async fn on_joined(&mut self, joined: &JoinAck) {
        self.my_id = joined.id.clone();
        for p in &joined.participants {
            self.participants.insert(
                p.id.clone(),
                ParticipantInfo {
                    email: p.email.clone(),
                },
            );
        }
        self.emit(SessionEvent::Joined {
            id: joined.id.clone(),
            room: joined.room.clone(),
            participants: joined.participants.clone(),
            sharer_id: joined.sharer_id.clone(),
            history: joined.history.clone(),
        });
        if self.media_on != (true, true) {
            self.announce_media().await;
        }
        if let Some(sharer) = &joined.sharer_id {
            self.on_share_announced(sharer);
        }
        for p in &joined.participants {
            self.peers_met += 1;
            if let Err(err) = self.call(&p.id).await {
                self.note_error(format!("cannot call {}: {err}", p.email));
            }
        }
    }

    /// A call's connection, with our microphone and camera on it (or receive-only
    /// transceivers where we have none, so we still get theirs).
    async fn open_call(&mut self, remote: &str, caller: bool) -> Result<(), PeerError> {
        let key = LinkKey::call(remote);
        let stream_id = format!("huddle-{}", self.my_id);
        let (has_audio, has_video) = (self.audio.is_some(), self.video.is_some());
        let link = self.open_link(&key, caller).await?;
        let pc = link.pc.clone();
        let connected = link.connected.subscribe();
        let mut tasks = Vec::new();
        let audio_dir = if has_audio {
            Direction::SendRecv
        } else {
            Direction::RecvOnly
        };
        let audio = tracks::add_local_track(
            &pc,
            RtpCodecKind::Audio,
            opus_codec(),
            &stream_id,
            audio_dir,
        )
        .await?;
        if let (Some(local), Some(sender)) = (&audio, &self.audio) {
            tasks.push(send::spawn_audio_writer(
                local,
                sender.packets.subscribe(),
                connected.clone(),
            ));
        }
        let video_dir = if has_video {
            Direction::SendRecv
        } else {
            Direction::RecvOnly
        };
        let codec = self.video.as_ref().map_or(&vp8::VP8, |v| v.config.codec);
        let video = tracks::add_local_track(
            &pc,
            RtpCodecKind::Video,
            video_rtc_codec(codec),
            &stream_id,
            video_dir,
        )
        .await?;
        if let (Some(local), Some(sender)) = (&video, &self.video) {
            tasks.push(send::spawn_video_writer(
                local,
                codec,
                sender.frames.subscribe(),
                sender.control.clone(),
                connected,
            ));
            tasks.push(send::spawn_feedback_reader(
                local,
                sender.control.clone(),
                self.bitrate.clone(),
                remote.to_string(),
            ));
        }
        if let Some(link) = self.links.get_mut(&key) {
            link.tasks.extend(tasks);
        }
        Ok(())
    }

    pub async fn call(&mut self, remote: &str) -> Result<(), PeerError> {
        self.open_call(remote, true).await?;
        let offer = self.make_offer(&LinkKey::call(remote), false).await?;
        self.relay(RelayKind::UserCall, remote, RelayBody::Offer(offer))
            .await;
        Ok(())
    }

    pub async fn on_incoming_call(&mut self, from: &str, offer: &SessionDescription) {
        self.peers_met += 1;
        let result = async {
            self.open_call(from, false).await?;
            self.answer(&LinkKey::call(from), offer).await
        }
        .await;
        match result {
            Ok(ans) => {
                self.relay(RelayKind::CallAccepted, from, RelayBody::Ans(ans))
                    .await
            }
            Err(err) => {
                let who = self.email_of(from);
                self.note_error(format!("cannot answer {who}: {err}"));
                self.close_link(&LinkKey::call(from)).await;
            }
        }
    }

    /// `peer:nego:needed`: an offer on an existing call (ICE restart or new tracks).
    /// When both sides offered at once, the peer with the smaller id yields.
    pub async fn on_renegotiation(&mut self, from: &str, offer: &SessionDescription) {
        let key = LinkKey::call(from);
        let polite = self.my_id.as_str() < from;
        let Some(link) = self.links.get_mut(&key) else {
            // We have no call with them (it failed here): treat it as a new call.
            let result = async {
                self.open_call(from, false).await?;
                self.answer(&key, offer).await
            }
            .await;
            if let Ok(ans) = result {
                self.relay(RelayKind::NegoDone, from, RelayBody::Ans(ans))
                    .await;
            }
            return;
        };
        if link.making_offer {
            if !polite {
                tracing::debug!("offer collision: ours wins");
                return;
            }
            let rollback = SessionDescription {
                kind: SdpType::Rollback,
                sdp: String::new(),
            };
            if let Ok(d) = crate::peer::to_rtc_description(&rollback)
                && let Err(err) = link.pc.set_local_description(d).await
            {
                tracing::debug!(%err, "rollback failed");
            }
            link.making_offer = false;
        }
        match self.answer(&key, offer).await {
            Ok(ans) => {
                self.relay(RelayKind::NegoDone, from, RelayBody::Ans(ans))
                    .await
            }
            Err(err) => {
                let who = self.email_of(from);
                self.note_error(format!("renegotiation with {who} failed: {err}"));
            }
        }
    }

    /// After a reconnect we are a new connection to the server: everyone saw us leave,
    /// so calls start over as a newcomer's.
    pub async fn rejoin(&mut self) {
        let keys: Vec<LinkKey> = self.links.keys().cloned().collect();
        for key in keys {
            self.close_link(&key).await;
        }
        if let Some(mut screen) = self.screen.take() {
            screen.sender.stop();
        }
        self.viewing = None;
        self.participants.clear();
        self.joined_at = std::time::Instant::now();
        match request_join(&self.signaling, &self.identity).await {
            Ok(joined) => {
                tracing::info!(id = %joined.id, "rejoined");
                self.emit(SessionEvent::Rejoined {
                    id: joined.id.clone(),
                    participants: joined.participants.clone(),
                    sharer_id: joined.sharer_id.clone(),
                    history: joined.history.clone(),
                });
                self.on_joined(&joined).await;
            }
            Err(err) => self.note_error(format!("could not rejoin: {err}")),
        }
    }
}
