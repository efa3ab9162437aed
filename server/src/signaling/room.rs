//! Joining (through the room's door: passcode, waiting room), leaving, media state.

use std::net::IpAddr;

use socketioxide::extract::SocketRef;

use super::dispatch::Incoming;
use super::{Hub, Reply, lock, refusal, unix_ms};
use crate::access::PasscodeVerdict;
use crate::protocol::{
    self, Acked, ErrorCode, HostChanged, JoinAck, JoinEcho, JoinRequest, LobbyKnock, LobbyTarget,
    MediaState, MediaStateChanged, Participant, Refusal, UserJoined, UserLeft, WaitingAck, event,
};
use crate::rooms::{
    ConnId, Departure, Door, JoinOutcome, Joined, Member, NewHost, Pass, RoomError, Waiting,
};

/// A passcode that keeps changing under a joiner is checked again at most this often.
const DOOR_ATTEMPTS: usize = 3;

pub(super) fn knock(m: &Member) -> LobbyKnock {
    LobbyKnock {
        id: m.id.to_string(),
        email: m.email.clone(),
        name: m.name.clone(),
    }
}

impl Hub {
    pub(super) async fn join(&self, socket: &SocketRef, e: &Incoming) -> Result<Reply, Refusal> {
        let request =
            protocol::parse::<JoinRequest>(e.payload.as_deref())?.validate(&self.limits)?;
        let id = socket.id;
        let client = self.client_addr(id);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let pass = self.pass_door(id, client, &request).await?;
            let current = self.rooms.place_of(id).map(|p| p.room);
            let mut rooms = vec![request.room.as_str()];
            rooms.extend(current.as_deref());
            let _sequenced = self.sequence(&rooms);
            let member = Member::new(id, request.email.clone(), request.name.clone());
            match self.rooms.join(
                member,
                &request.room,
                pass,
                self.limits.room_size,
                unix_ms(),
            ) {
                Err(RoomError::PasscodeChanged) if attempt < DOOR_ATTEMPTS => continue,
                Err(err) => return Err(refusal(err)),
                Ok(JoinOutcome::Entered(joined)) => {
                    self.announce_entry(&joined, &request.echo());
                    break joined;
                }
                Ok(JoinOutcome::Waiting(waiting)) => {
                    self.announce_waiting(&waiting);
                    return Reply::json(&Acked::new(WaitingAck {
                        waiting: true,
                        room: waiting.room,
                    }));
                }
            }
        };
        let ack = self.join_ack(id, outcome).await;
        Reply::json(&Acked::new(ack))
    }

    /// Checks the passcode of a locked room, off the async runtime. Nobody in the room
    /// hears of an attempt, right or wrong.
    async fn pass_door(
        &self,
        id: ConnId,
        client: Option<IpAddr>,
        request: &JoinRequest,
    ) -> Result<Pass, Refusal> {
        let Door::Passcode { hash, version } = self.rooms.door(id, &request.room) else {
            return Ok(Pass::Nothing);
        };
        let limited = || {
            Refusal::new(
                ErrorCode::RateLimited,
                "too many wrong passcodes; try again in a minute",
            )
        };
        if lock(&self.passcodes).verdict(id, client, unix_ms()) == PasscodeVerdict::Limited {
            return Err(limited());
        }
        let Some(given) = request.passcode.clone() else {
            return Err(Refusal::new(
                ErrorCode::PasscodeRequired,
                format!("room {} needs a passcode", request.room),
            ));
        };
        let right = tokio::task::spawn_blocking(move || hash.verify(&given))
            .await
            .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
        if right {
            return Ok(Pass::Passcode(version));
        }
        match lock(&self.passcodes).wrong(id, client, unix_ms()) {
            PasscodeVerdict::Limited => Err(limited()),
            PasscodeVerdict::Check => Err(Refusal::new(
                ErrorCode::BadPasscode,
                "wrong passcode for this room",
            )),
        }
    }

    /// Tells everyone about a member entering (a join or an admission), in the order
    /// of `room:join`'s effects: the old place first, then `user:joined`, the echo, the
    /// sharer's events. Runs under the room's sequencer.
    pub(super) fn announce_entry(&self, joined: &Joined, echo: &JoinEcho) {
        if let Some(departed) = &joined.departed {
            self.announce_departure(departed);
        }
        if let Some(record) = &joined.save {
            self.save(record.clone());
        }
        if joined.already_member {
            return;
        }
        let id = joined.id;
        let id_text = id.to_string();
        let others: Vec<ConnId> = joined.others.iter().map(|m| m.id).collect();
        self.send_all(
            &others,
            event::USER_JOINED,
            &UserJoined {
                email: echo.email.clone(),
                id: id_text.clone(),
                name: echo.name.clone(),
                count: joined.count,
            },
        );
        self.send(id, event::ROOM_JOIN, echo);
        if let Some(sharer) = joined.sharer {
            self.send(id, event::SHARER_AVAILABLE, &sharer.to_string());
            self.send(sharer, event::VIEWER_JOINED, &id_text);
        }
        for waiter in &joined.knocks {
            self.send(id, event::LOBBY_KNOCK, &knock(waiter));
        }
        self.metrics.joined();
        tracing::debug!(socket = %id, room = %joined.room, count = joined.count, "joined");
    }

    fn announce_waiting(&self, waiting: &Waiting) {
        if let Some(departed) = &waiting.departed {
            self.announce_departure(departed);
        }
        if waiting.already_waiting {
            return;
        }
        if let Some(host) = waiting.host {
            self.send(host, event::LOBBY_KNOCK, &knock(&waiting.waiter));
        }
        tracing::debug!(socket = %waiting.waiter.id, room = %waiting.room, "waiting");
    }

    /// The join ack (or `lobby:admitted`) for `id`, with the meeting's history read
    /// after joining: a message committed meanwhile is then in the history, in the
    /// broadcast, or in both (clients de-duplicate by id), never in neither.
    pub(super) async fn join_ack(&self, id: ConnId, joined: Joined) -> JoinAck {
        let history = match self
            .store
            .history(joined.meeting, self.limits.history)
            .await
        {
            Ok(history) => history,
            Err(err) => {
                tracing::error!(room = %joined.room, %err, "could not read chat history");
                Vec::new()
            }
        };
        JoinAck {
            id: id.to_string(),
            room: joined.room,
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
            host_id: Some(joined.host.to_string()),
            locked: joined.settings.locked,
            waiting_room: joined.settings.waiting_room,
            ice_servers: self.ice_servers(id),
        }
    }

    /// Takes `id` out of its room or waiting room and tells the others.
    pub(super) fn leave(&self, id: ConnId) -> Option<Departure> {
        let place = self.rooms.place_of(id)?;
        let _sequenced = self.sequence(&[&place.room]);
        let departed = self.rooms.leave(id, unix_ms())?;
        self.announce_departure(&departed);
        Some(departed)
    }

    pub(super) fn disconnected(&self, id: ConnId) {
        self.leave(id);
        lock(&self.passcodes).forget(id);
        self.clients_mut().remove(&id);
    }

    /// `sharerStopped` (if it shared), `user:left`, then a new host's `host:changed`
    /// and the knocks it inherits; or, from a waiting room, `lobby:left` to the host.
    pub(super) fn announce_departure(&self, departed: &Departure) {
        match departed {
            Departure::Unqueued { room, id, host } => {
                if let Some(host) = host {
                    self.send(
                        *host,
                        event::LOBBY_LEFT,
                        &LobbyTarget { id: id.to_string() },
                    );
                }
                tracing::debug!(socket = %id, %room, "stopped waiting");
            }
            Departure::Left(left) => {
                let id = left.member.id.to_string();
                if left.was_sharer {
                    self.send_all(&left.remaining, event::SHARER_STOPPED, &id);
                }
                self.send_all(
                    &left.remaining,
                    event::USER_LEFT,
                    &UserLeft {
                        id,
                        email: left.member.email.clone(),
                        count: left.remaining.len(),
                    },
                );
                if let Some(new_host) = &left.new_host {
                    self.announce_host(&left.remaining, new_host);
                }
                if let Some(record) = &left.save {
                    self.save(record.clone());
                }
                tracing::debug!(socket = %left.member.id, room = %left.room, "left");
            }
        }
    }

    fn announce_host(&self, room: &[ConnId], new_host: &NewHost) {
        self.send_all(
            room,
            event::HOST_CHANGED,
            &HostChanged {
                host_id: new_host.id.to_string(),
            },
        );
        for waiter in &new_host.waiting {
            self.send(new_host.id, event::LOBBY_KNOCK, &knock(waiter));
        }
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
            event::MEDIA_STATE,
            &MediaStateChanged {
                id: id.to_string(),
                audio: state.audio,
                video: state.video,
            },
        );
        Ok(Reply::Ok)
    }
}
