//! The SFU path's events (`sfu:*`) and the hub's hooks into the SFU service: joins and
//! leaves move rooms between modes, mesh-only events are refused in SFU rooms.

use super::dispatch::Incoming;
use super::{Hub, Reply};
use crate::protocol::{
    self, Acked, ErrorCode, MediaMode, Refusal, SfuAnswer, SfuIce, SfuMode, SfuPublish,
    SfuPublishAck, SfuRestart, SfuView, StreamSource, event,
};
use crate::rooms::ConnId;
use crate::sfu::{Outbox, SfuReply, SfuRequest};

/// Whether an event belongs to the SFU path.
pub(super) fn is_sfu_event(name: &str) -> bool {
    matches!(
        name,
        event::SFU_PUBLISH
            | event::SFU_ANSWER
            | event::SFU_ICE
            | event::SFU_VIEW
            | event::SFU_RESTART
    )
}

// The SFU path runs on one node (`--janus-url` and `--redis` exclude each other), so its
// events go straight to local sockets.
impl Outbox for Hub {
    fn deliver(&self, to: ConnId, event: &'static str, payload: serde_json::Value) {
        self.send_local(&[to], event, &payload);
    }
}

impl Hub {
    /// Before a join has any effect: a room on the SFU takes only clients that speak it.
    pub(super) fn sfu_admits(
        &self,
        id: ConnId,
        room: &str,
        sfu: Option<u32>,
    ) -> Result<(), Refusal> {
        match &self.sfu {
            Some(s) => s.admits(id, room, sfu.is_some_and(|v| v >= 1)),
            None => Ok(()),
        }
    }

    /// A member entered (under the room's sequencer): the room may switch to the SFU,
    /// and those already in it then hear `sfu:mode`. True when the room uses the SFU.
    pub(super) fn sfu_entered(&self, out: &mut super::Outbox, room: &str, id: ConnId) -> bool {
        let Some(s) = &self.sfu else { return false };
        let entered = s.entered(room, id);
        if let Some(epoch) = entered.epoch
            && !entered.switched.is_empty()
        {
            out.post(
                &entered.switched,
                event::SFU_MODE,
                &SfuMode {
                    mode: MediaMode::Sfu,
                    epoch,
                },
            );
        }
        self.uses_sfu(room)
    }

    /// A member left (under the room's sequencer).
    pub(super) fn sfu_left(&self, room: &str, id: ConnId) {
        if let Some(s) = &self.sfu {
            s.left(room, id);
        }
    }

    pub(super) fn sfu_forget(&self, id: ConnId) {
        if let Some(s) = &self.sfu {
            s.forget(id);
        }
    }

    /// The media mode a join ack announces.
    pub(super) fn sfu_media(&self, room: &str) -> (MediaMode, Option<u64>) {
        match &self.sfu {
            Some(s) => s.media(room),
            None => (MediaMode::Mesh, None),
        }
    }

    /// Whether `room` uses the SFU.
    pub(super) fn uses_sfu(&self, room: &str) -> bool {
        self.sfu_media(room).0 == MediaMode::Sfu
    }

    /// `sfu:publish`, `sfu:answer`, `sfu:ice`, `sfu:view`, `sfu:restart`.
    pub(super) async fn sfu_event(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let payload = e.payload.as_deref();
        let request = match e.event.as_str() {
            event::SFU_PUBLISH => {
                SfuRequest::Publish(protocol::parse::<SfuPublish>(payload)?.validate(&self.limits)?)
            }
            event::SFU_ANSWER => {
                SfuRequest::Answer(protocol::parse::<SfuAnswer>(payload)?.validate(&self.limits)?)
            }
            event::SFU_ICE => {
                SfuRequest::Ice(protocol::parse::<SfuIce>(payload)?.validate(&self.limits)?)
            }
            event::SFU_VIEW => {
                SfuRequest::View(protocol::parse::<SfuView>(payload)?.validate(&self.limits)?)
            }
            _ => {
                protocol::parse::<SfuRestart>(payload)?;
                SfuRequest::Restart
            }
        };
        let room = self
            .room_of(id)
            .await?
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "not in a room"))?;
        let Some(sfu) = &self.sfu else {
            return Err(Refusal::new(
                ErrorCode::SfuInactive,
                "this server has no SFU",
            ));
        };
        // The screen goes only from the room's sharer (arbitration stays here).
        if let SfuRequest::Publish(p) = &request
            && p.has(StreamSource::Screen)
            && !self.is_sharer(&room, id).await?
        {
            return Err(Refusal::new(
                ErrorCode::NotSharer,
                "only the room's sharer publishes a screen",
            ));
        }
        match sfu.request(&room, id, request).await? {
            SfuReply::Ok => Ok(Reply::Ok),
            SfuReply::Answer(answer) => Reply::json(&Acked::new(SfuPublishAck { answer })),
        }
    }

    async fn is_sharer(&self, room: &str, id: ConnId) -> Result<bool, Refusal> {
        self.view(Some(id), None, |rooms| {
            rooms
                .summaries()
                .into_iter()
                .any(|s| s.room == room && s.sharer == Some(id))
        })
        .await
    }
}
