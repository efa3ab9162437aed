//! `chat:send`: stored first (in the sender's meeting), then delivered in id order.

use socketioxide::extract::SocketRef;

use super::dispatch::Incoming;
use super::{Hub, Reply, unix_ms};
use crate::protocol::{self, Acked, ChatAck, ChatSend, ErrorCode, Refusal, event};
use crate::rooms::ConnId;
use crate::storage::NewChatMessage;

impl Hub {
    pub(super) async fn chat(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        let send = protocol::parse::<ChatSend>(e.payload.as_deref())?.validate(&self.limits)?;
        let seat = self
            .rooms
            .seat(socket.id)
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "join a room before chatting"))?;
        let _in_order = self.chat_sequencers[self.sequencer(&seat.room)]
            .lock()
            .await;
        let message = self
            .store
            .append(NewChatMessage {
                room: seat.room,
                meeting: seat.meeting,
                from: socket.id.to_string(),
                email: seat.email,
                name: seat.name,
                text: send.text,
                ts: unix_ms(),
                client_id: send.client_id,
            })
            .await
            .map_err(|err| {
                tracing::error!(%err, "chat message not stored");
                Refusal::new(ErrorCode::Internal, "the message could not be stored")
            })?;
        self.metrics.chat_message();
        let others: Vec<ConnId> = self
            .rooms
            .members_of(&message.room)
            .into_iter()
            .filter(|m| *m != socket.id)
            .collect();
        self.send_all(&others, event::CHAT_MESSAGE, &message);
        Reply::json(&Acked::new(ChatAck { message }))
    }
}
