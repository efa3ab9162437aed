//! One sharer per room: `startSharing` and `stopSharing`.

use socketioxide::extract::SocketRef;

use super::{Hub, Reply};
use crate::protocol::{ErrorCode, Refusal, event};
use crate::rooms::{ConnId, RoomError};

impl Hub {
    pub(super) fn start_sharing(&self, socket: &SocketRef) -> Result<Reply, Refusal> {
        let id = socket.id;
        let room = self
            .rooms
            .room_of(id)
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "join a room before sharing"))?;
        let _sequenced = self.sequence(&[&room]);
        match self.rooms.start_sharing(id) {
            Ok(others) => {
                self.send_all(&others, event::SHARER_STARTED, &id.to_string());
                Ok(Reply::Ok)
            }
            Err(RoomError::SharingConflict { sharer }) => {
                let sharer = sharer.to_string();
                self.send(id, event::SHARING_CONFLICT, &sharer);
                Err(Refusal {
                    code: ErrorCode::SharingConflict,
                    message: "someone else is already sharing in this room".into(),
                    sharer_id: Some(sharer),
                })
            }
            Err(_) => Err(Refusal::new(
                ErrorCode::NotJoined,
                "join a room before sharing",
            )),
        }
    }

    pub(super) fn stop_sharing(&self, id: ConnId) -> Result<Reply, Refusal> {
        let not_sharer = || Refusal::new(ErrorCode::NotSharer, "you are not sharing");
        let room = self.rooms.room_of(id).ok_or_else(not_sharer)?;
        let _sequenced = self.sequence(&[&room]);
        let others = self.rooms.stop_sharing(id).map_err(|_| not_sharer())?;
        self.send_all(&others, event::SHARER_STOPPED, &id.to_string());
        Ok(Reply::Ok)
    }
}
