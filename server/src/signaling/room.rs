//! Joining, leaving and media state.

use socketioxide::extract::SocketRef;

use super::dispatch::Incoming;
use super::{Hub, Reply, to_json};
use crate::protocol::{
    self, Acked, ErrorCode, JoinAck, JoinRequest, MediaState, MediaStateChanged, Participant,
    Refusal, UserJoined, UserLeft,
};
use crate::rooms::{ConnId, Left, Member, RoomError};

impl Hub {
    pub(super) async fn join(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        let request =
            protocol::parse::<JoinRequest>(e.payload.as_deref())?.validate(&self.limits)?;
        let id = socket.id;
        let id_text = id.to_string();
        let current = self.rooms.room_of(id);
        let joined = {
            let mut rooms = vec![request.room.as_str()];
            rooms.extend(current.as_deref());
            let _sequenced = self.sequence(&rooms);
            let member = Member::new(id, request.email.clone(), request.name.clone());
            let joined = self
                .rooms
                .join(member, &request.room, self.limits.room_size)
                .map_err(|err| match err {
                    RoomError::RoomFull { capacity } => Refusal::new(
                        ErrorCode::RoomFull,
                        format!("room {} is full ({capacity} participants)", request.room),
                    ),
                    other => Refusal::new(ErrorCode::Internal, other.to_string()),
                })?;
            if !joined.already_member {
                if let Some(left) = &joined.left {
                    self.announce_left(left);
                }
                let others: Vec<ConnId> = joined.others.iter().map(|m| m.id).collect();
                self.send_all(
                    &others,
                    "user:joined",
                    &UserJoined {
                        email: request.email.clone(),
                        id: id_text.clone(),
                        name: request.name.clone(),
                        count: joined.count,
                    },
                );
                socket.emit("room:join", &request.echo()).ok();
                if let Some(sharer) = joined.sharer {
                    socket.emit("sharerAvailable", &sharer.to_string()).ok();
                    self.send(sharer, "viewerJoined", &id_text);
                }
                self.metrics.joined();
                tracing::debug!(socket = %id, room = %request.room, count = joined.count, "joined");
            }
            joined
        };
        // Read after joining: a message committed meanwhile is then in the history, in
        // the broadcast, or in both (clients de-duplicate by id) — never in neither.
        let history = match self.chat.history(&request.room, self.limits.history).await {
            Ok(history) => history,
            Err(err) => {
                tracing::error!(room = %request.room, %err, "could not read chat history");
                Vec::new()
            }
        };
        let ack = Acked::new(JoinAck {
            id: id_text,
            room: request.room,
            participants: joined
                .others
                .into_iter()
                .map(|m| Participant {
                    id: m.id.to_string(),
                    email: m.email,
                    name: m.name,
                    audio: m.audio,
                    video: m.video,
                })
                .collect(),
            sharer_id: joined.sharer.map(|s| s.to_string()),
            history,
            host_id: None,
            locked: false,
            waiting_room: false,
            ice_servers: Vec::new(),
        });
        Ok(Reply::Json(to_json(&ack)?))
    }

    /// Takes `id` out of its room and tells the others. `None` if it was in no room.
    pub(super) fn leave(&self, id: ConnId) -> Option<Left> {
        let room = self.rooms.room_of(id)?;
        let _sequenced = self.sequence(&[&room]);
        let left = self.rooms.leave(id).ok()?;
        self.announce_left(&left);
        tracing::debug!(socket = %id, room = %left.room, "left");
        Some(left)
    }

    fn announce_left(&self, left: &Left) {
        let id = left.member.id.to_string();
        if left.was_sharer {
            self.send_all(&left.remaining, "sharerStopped", &id);
        }
        self.send_all(
            &left.remaining,
            "user:left",
            &UserLeft {
                id,
                email: left.member.email.clone(),
                count: left.remaining.len(),
            },
        );
    }

    pub(super) fn media_state(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let state: MediaState = protocol::parse(e.payload.as_deref())?;
        let not_joined = || Refusal::new(ErrorCode::NotJoined, "not in a room");
        let room = self.rooms.room_of(id).ok_or_else(not_joined)?;
        let _sequenced = self.sequence(&[&room]);
        let others = self
            .rooms
            .set_media(id, state.audio, state.video)
            .map_err(|_| not_joined())?;
        self.send_all(
            &others,
            "media:state",
            &MediaStateChanged {
                id: id.to_string(),
                audio: state.audio,
                video: state.video,
            },
        );
        Ok(Reply::Ok)
    }
}
