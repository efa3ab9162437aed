//! Offer, answer and candidate relays between two members of a room; screen-share
//! relays only between the sharer and a viewer.

use std::str::FromStr;

use super::dispatch::Incoming;
use super::{Hub, Reply};
use crate::protocol::{self, ErrorCode, Refusal, RelayKind, RelayRequest, Relayed};
use crate::rooms::{ConnId, RoomError};

impl Hub {
    pub(super) async fn relay(
        &self,
        from: ConnId,
        kind: RelayKind,
        e: &Incoming,
    ) -> Result<Reply, Refusal> {
        let request: RelayRequest = protocol::parse(e.payload.as_deref())?;
        let (to, body) = request.validate(kind, &self.limits)?;
        let not_in_room = || {
            Refusal::new(
                ErrorCode::NotInRoom,
                format!("`{}` is not in your room", kind.sent_as()),
            )
        };
        let target = ConnId::from_str(&to).map_err(|_| not_in_room())?;
        // New calls make no sense in an SFU room; the other relays still pass, so that
        // the mesh calls of a room that just switched can wind down.
        if matches!(kind, RelayKind::UserCall | RelayKind::ShareOffer)
            && self
                .room_of(from)
                .await?
                .is_some_and(|room| self.uses_sfu(&room))
        {
            return Err(Refusal::new(
                ErrorCode::SfuActive,
                format!("the room uses the SFU: no `{}`", kind.sent_as()),
            ));
        }
        match self.check_relay(from, target, kind).await? {
            Ok(()) => {}
            Err(RoomError::NotSharer) => {
                return Err(Refusal::new(
                    ErrorCode::NotSharer,
                    format!(
                        "`{}` goes only between the room's sharer and a viewer",
                        kind.sent_as()
                    ),
                ));
            }
            Err(_) => return Err(not_in_room()),
        }
        if !self
            .send_now(
                target,
                kind.delivered_as(),
                &Relayed::new(from.to_string(), body),
            )
            .await
        {
            return Err(not_in_room());
        }
        self.metrics.relayed(kind);
        Ok(Reply::Ok)
    }
}
