//! One sharer per room: `startSharing` and `stopSharing`.

use super::{Hub, Outbox, Reply};
use crate::protocol::{ErrorCode, Refusal, event};
use crate::rooms::{ConnId, RoomError};

impl Hub {
    pub(super) async fn start_sharing(&self, id: ConnId) -> Result<Reply, Refusal> {
        let (result, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.start_sharing(id))
            .await?;
        let mut out = Outbox::default();
        let reply = match result {
            Ok(others) => {
                out.post(&others, event::SHARER_STARTED, &id.to_string());
                Ok(Reply::Ok)
            }
            Err(RoomError::SharingConflict { sharer }) => {
                let sharer = sharer.to_string();
                out.post_one(id, event::SHARING_CONFLICT, &sharer);
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
        };
        self.deliver(out).await;
        sequenced.release().await;
        reply
    }

    pub(super) async fn stop_sharing(&self, id: ConnId) -> Result<Reply, Refusal> {
        let (result, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.stop_sharing(id))
            .await?;
        let mut out = Outbox::default();
        let reply = match result {
            Ok(others) => {
                out.post(&others, event::SHARER_STOPPED, &id.to_string());
                Ok(Reply::Ok)
            }
            Err(_) => Err(Refusal::new(ErrorCode::NotSharer, "you are not sharing")),
        };
        self.deliver(out).await;
        sequenced.release().await;
        reply
    }
}
