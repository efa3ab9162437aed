//! Offer, answer and candidate relays between two members of a room; screen-share
//! relays only between the sharer and a viewer.

use std::str::FromStr;

use super::dispatch::Incoming;
use super::{Hub, Reply};
use crate::protocol::{self, ErrorCode, Refusal, RelayKind, RelayRequest, Relayed};
use crate::rooms::{ConnId, RoomError};

impl Hub {
    pub(super) fn relay(
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
        match self.rooms.check_relay(from, target, kind) {
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
        if !self.send(
            target,
            kind.delivered_as(),
            &Relayed::new(from.to_string(), body),
        ) {
            return Err(not_in_room());
        }
        self.metrics.relayed(kind);
        Ok(Reply::Ok)
    }
}
