//! Screen sharing (PROTOCOL.md): as the sharer, one send-only connection per viewer
//! carrying the screen, encoded once; as a viewer, one receive-only connection from
//! the sharer.

use std::time::Instant;

use huddle_protocol::SessionDescription;

use super::link::{LinkKind, Purpose};
use super::sdp::dtls_fingerprint;
use super::{Core, LinkKey, Viewing};
use crate::session::event::SessionEvent;

impl Core {
    /// The server made us the sharer: offer the screen to everyone in the room.
    pub(super) fn on_sharing_started(&mut self, now: Instant) {
        self.sharing = true;
        self.emit(SessionEvent::SharerStarted {
            id: self.my_id.clone(),
        });
        if self.sfu {
            // The screen is a stream of our SFU publication: no per-viewer connections.
            return;
        }
        let mut viewers: Vec<String> = self.participants.keys().cloned().collect();
        viewers.sort();
        for viewer in viewers {
            self.offer_screen(now, &viewer);
        }
    }

    /// We stopped sharing: every viewer's connection ends.
    pub(super) fn on_sharing_stopped(&mut self) {
        self.sharing = false;
        for key in self.keys(|k| k.kind == LinkKind::ShareOut) {
            self.close(&key);
        }
        tracing::info!("stopped sharing");
        self.emit(SessionEvent::SharerStopped {
            id: self.my_id.clone(),
        });
    }

    /// A send-only connection carrying the screen to `viewer`, offered.
    fn offer_screen(&mut self, now: Instant, viewer: &str) {
        self.open(
            now,
            LinkKey::share_out(viewer),
            true,
            Purpose::ShareScreen,
            None,
        );
    }

    /// `viewerJoined`: someone joined while we share.
    pub(super) fn on_viewer_joined(&mut self, now: Instant, viewer: &str) {
        if self.sharing && !self.sfu {
            self.offer_screen(now, viewer);
        }
    }

    /// `sharerStarted` / `sharerAvailable`: a screen is coming; its offer follows.
    pub(super) fn on_share_announced(&mut self, now: Instant, sharer: &str) {
        // Our own share, or one we already know of (a late joiner hears of it twice:
        // in its join ack and as `sharerAvailable`).
        if sharer == self.my_id || self.viewing.as_ref().is_some_and(|v| v.sharer == sharer) {
            return;
        }
        tracing::info!(%sharer, "screen share announced");
        self.viewing = Some(Viewing {
            sharer: sharer.to_string(),
            announced_at: now,
        });
        self.emit(SessionEvent::SharerStarted {
            id: sharer.to_string(),
        });
    }

    /// `share:offer`: answer it; on an open share connection it renegotiates. Only the
    /// room's sharer (announced by the server before its offer) may push a screen into
    /// our view; the server enforces it too (PROTOCOL.md 1.1).
    pub(super) fn on_share_offer(&mut self, now: Instant, from: &str, offer: SessionDescription) {
        let key = LinkKey::share_in(from);
        if self.viewing.as_ref().is_none_or(|v| v.sharer != from) {
            self.note_error(format!(
                "refused a screen offer from {from}: not the room's sharer"
            ));
            return;
        }
        // Another certificate is another connection: the sharer rebuilt one whose DTLS
        // handshake stalled (see `Core::check_handshakes`).
        let fingerprint = dtls_fingerprint(&offer.sdp);
        if self
            .links
            .get(&key)
            .is_some_and(|l| l.remote_fingerprint == fingerprint)
        {
            self.answer(&key, Purpose::ViewScreen, offer);
        } else {
            self.open(now, key, false, Purpose::ViewScreen, Some(offer));
        }
    }

    /// `sharerStopped` (or the sharer left): the screen connection ends.
    pub(super) fn on_share_stopped(&mut self, sharer: &str) {
        if sharer == self.my_id {
            return;
        }
        if self.viewing.as_ref().is_some_and(|v| v.sharer == sharer) {
            self.viewing = None;
        }
        self.close(&LinkKey::share_in(sharer));
        tracing::info!(%sharer, "screen share stopped");
        self.emit(SessionEvent::SharerStopped {
            id: sharer.to_string(),
        });
    }
}
