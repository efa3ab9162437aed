//! `chat:send`: stored first, then delivered in id order.

use socketioxide::extract::SocketRef;

use super::dispatch::Incoming;
use super::{Hub, Reply, to_json};
use crate::chat::NewChatMessage;
use crate::protocol::{self, Acked, ChatAck, ChatSend, ErrorCode, Refusal};
use crate::rooms::ConnId;

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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let message = self
            .chat
            .append(NewChatMessage {
                room: seat.room,
                from: socket.id.to_string(),
                email: seat.email,
                name: seat.name,
                text: send.text,
                ts: now,
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
        self.send_all(&others, "chat:message", &message);
        Ok(Reply::Json(to_json(&Acked::new(ChatAck { message }))?))
    }
}
