//! `chat:send`: stored first (in the sender's meeting), then delivered in id order.

use super::dispatch::Incoming;
use super::state::{Rooms, Sequenced, unavailable};
use super::{Hub, Outbox, Reply, unix_ms};
use crate::protocol::{self, Acked, ChatAck, ChatSend, ErrorCode, Refusal, event};
use crate::rooms::ConnId;
use crate::storage::NewChatMessage;

impl Hub {
    pub(super) async fn chat(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let send = protocol::parse::<ChatSend>(e.payload.as_deref())?.validate(&self.limits)?;
        let not_joined = || Refusal::new(ErrorCode::NotJoined, "join a room before chatting");
        let seat = self
            .view(Some(id), None, |rooms| rooms.seat(id))
            .await?
            .ok_or_else(not_joined)?;
        // Stored and broadcast under the room's chat sequencer (here: its own lock, so
        // storage does not hold up room changes; in a cluster: the room's lock), so
        // everyone receives a room's messages in id order.
        let (in_order, sequenced) = match &self.rooms {
            Rooms::Memory(_) => (
                Some(
                    self.chat_sequencers[self.sequencer(&seat.room)]
                        .lock()
                        .await,
                ),
                None,
            ),
            Rooms::Redis(rooms) => (
                None,
                Some(Sequenced::Redis(
                    rooms
                        .lock(std::slice::from_ref(&seat.room))
                        .await
                        .map_err(unavailable)?,
                )),
            ),
        };
        let stored = self
            .store
            .append(NewChatMessage {
                room: seat.room,
                meeting: seat.meeting,
                from: id.to_string(),
                email: seat.email,
                name: seat.name,
                text: send.text,
                ts: unix_ms(),
                client_id: send.client_id,
            })
            .await;
        let message = match stored {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(%err, "chat message not stored");
                if let Some(sequenced) = sequenced {
                    sequenced.release().await;
                }
                return Err(Refusal::new(
                    ErrorCode::Internal,
                    format!("the message could not be stored ({err}); try again"),
                ));
            }
        };
        self.metrics.chat_message();
        let room = message.room.clone();
        let others: Vec<ConnId> = self
            .view(None, Some(&room), |rooms| rooms.members_of(&room))
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|m| *m != id)
            .collect();
        let mut out = Outbox::default();
        out.post(&others, event::CHAT_MESSAGE, &message);
        self.deliver(out).await;
        if let Some(sequenced) = sequenced {
            sequenced.release().await;
        }
        drop(in_order);
        Ok(Reply::Json(
            serde_json::value::to_raw_value(&Acked::new(ChatAck { message }))
                .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?,
        ))
    }
}
