//! Screen sharing (PROTOCOL.md): as the sharer, one send-only connection per viewer
//! carrying the screen, encoded once; as a viewer, one receive-only connection from
//! the sharer.

use std::sync::Arc;
use std::time::Instant;

use huddle_protocol::request::{StartSharing, StopSharing};
use huddle_protocol::{ErrorCode, RelayBody, RelayKind, SessionDescription};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use super::links::LinkKey;
use super::state::{ScreenShare, State, Viewing};
use super::{SessionError, SessionEvent};
use crate::capture::source::VideoSource;
use crate::media::stream::StreamKind;
use crate::peer::connection::video_rtc_codec;
use crate::peer::tracks::{self, Direction};
use crate::peer::{LinkKind, PeerError};
use crate::pipeline::bitrate::BitrateController;
use crate::pipeline::outgoing::VideoSender;
use crate::pipeline::send;
use crate::signaling::SignalingError;

impl State {
    pub async fn start_sharing(
        &mut self,
        source: Box<dyn VideoSource>,
    ) -> Result<(), SessionError> {
        if let Some(screen) = &self.screen {
            // Already sharing: switch what is shared, nothing to renegotiate.
            screen.sender.control.replace_source(source);
            return Ok(());
        }
        match self.signaling.request(&StartSharing {}).await {
            Ok(_) => {}
            Err(SignalingError::Refused { refusal, .. })
                if refusal.code == ErrorCode::SharingConflict =>
            {
                return Err(SessionError::SharingConflict {
                    sharer_id: refusal.sharer_id.unwrap_or_default(),
                });
            }
            Err(err) => return Err(err.into()),
        }
        tracing::info!(source = %source.describe(), "sharing the screen");
        let config = self.screen_config.clone();
        self.screen = Some(ScreenShare {
            bitrate: Arc::new(BitrateController::new(
                config.start_kbps,
                config.min_kbps,
                config.max_kbps,
            )),
            sender: VideoSender::start(source, config),
        });
        self.emit(SessionEvent::SharerStarted {
            id: self.my_id.clone(),
        });
        let viewers: Vec<String> = self.participants.keys().cloned().collect();
        for viewer in viewers {
            self.offer_screen(&viewer).await;
        }
        Ok(())
    }

    pub async fn stop_sharing(&mut self) -> Result<(), SessionError> {
        let Some(mut screen) = self.screen.take() else {
            return Ok(());
        };
        let result = self.signaling.request(&StopSharing {}).await;
        let viewers: Vec<LinkKey> = self
            .links
            .keys()
            .filter(|k| k.kind == LinkKind::ShareOut)
            .cloned()
            .collect();
        for key in viewers {
            self.close_link(&key).await;
        }
        screen.sender.stop();
        if let Ok(s) = screen.sender.stats.lock() {
            let codec = screen.sender.config.codec.name;
            self.screen_reports
                .push(s.report(StreamKind::Screen, codec, Instant::now()));
        }
        tracing::info!("stopped sharing");
        self.emit(SessionEvent::SharerStopped {
            id: self.my_id.clone(),
        });
        result.map(|_| ()).map_err(Into::into)
    }

    /// Opens a send-only connection carrying the screen to `viewer` and offers it.
    async fn offer_screen(&mut self, viewer: &str) {
        let result = async {
            let key = LinkKey::share_out(viewer);
            let stream_id = format!("huddle-screen-{}", self.my_id);
            let Some((codec, frames, control, bitrate)) = self.screen.as_ref().map(|s| {
                (
                    s.sender.config.codec,
                    s.sender.frames.subscribe(),
                    s.sender.control.clone(),
                    s.bitrate.clone(),
                )
            }) else {
                return Ok(());
            };
            let link = self.open_link(&key, true).await?;
            let pc = link.pc.clone();
            let connected = link.connected.subscribe();
            let local = tracks::add_local_track(
                &pc,
                RtpCodecKind::Video,
                video_rtc_codec(codec),
                &stream_id,
                Direction::SendOnly,
            )
            .await?
            .ok_or_else(|| PeerError::WebRtc("no screen track".into()))?;
            let tasks = [
                send::spawn_video_writer(&local, codec, frames, control.clone(), connected),
                send::spawn_feedback_reader(&local, control, bitrate, viewer.to_string()),
            ];
            if let Some(link) = self.links.get_mut(&key) {
                link.tasks.extend(tasks);
            }
            let offer = self.make_offer(&key, false).await?;
            self.relay(RelayKind::ShareOffer, viewer, RelayBody::Offer(offer))
                .await;
            Ok::<(), PeerError>(())
        }
        .await;
        if let Err(err) = result {
            let who = self.email_of(viewer);
            self.note_error(format!("cannot share the screen with {who}: {err}"));
        }
    }

    /// `viewerJoined`: someone joined while we share.
    pub async fn on_viewer_joined(&mut self, viewer: &str) {
        if self.screen.is_some() {
            self.offer_screen(viewer).await;
        }
    }

    /// `sharerStarted` / `sharerAvailable`: a screen is coming; its offer follows.
    pub fn on_share_announced(&mut self, sharer: &str) {
        // Our own share, or one we already know of (a late joiner hears of it twice:
        // in its join ack and as `sharerAvailable`).
        if sharer == self.my_id || self.viewing.as_ref().is_some_and(|v| v.sharer == sharer) {
            return;
        }
        tracing::info!(sharer = %self.email_of(sharer), "screen share announced");
        self.viewing = Some(Viewing {
            sharer: sharer.to_string(),
            announced_at: Instant::now(),
        });
        self.emit(SessionEvent::SharerStarted {
            id: sharer.to_string(),
        });
    }

    /// `share:offer`: answer it; on an open share connection it renegotiates.
    pub async fn on_share_offer(&mut self, from: &str, offer: &SessionDescription) {
        let key = LinkKey::share_in(from);
        if self.viewing.as_ref().is_none_or(|v| v.sharer != from) {
            self.on_share_announced(from);
        }
        let result = async {
            if !self.links.contains_key(&key) {
                self.open_link(&key, false).await?;
            }
            self.answer(&key, offer).await
        }
        .await;
        match result {
            Ok(ans) => {
                self.relay(RelayKind::ShareAnswer, from, RelayBody::Ans(ans))
                    .await
            }
            Err(err) => {
                let who = self.email_of(from);
                self.note_error(format!("cannot view {who}'s screen: {err}"));
                self.close_link(&key).await;
            }
        }
    }

    /// `sharerStopped` (or the sharer left): the screen connection ends.
    pub async fn on_share_stopped(&mut self, sharer: &str) {
        if sharer == self.my_id {
            return;
        }
        if self.viewing.as_ref().is_some_and(|v| v.sharer == sharer) {
            self.viewing = None;
        }
        self.close_link(&LinkKey::share_in(sharer)).await;
        tracing::info!(sharer = %self.email_of(sharer), "screen share stopped");
        self.emit(SessionEvent::SharerStopped {
            id: sharer.to_string(),
        });
    }
}
