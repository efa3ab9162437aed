//! Joining (through the room's door: passcode, waiting room), leaving, media state.

use std::net::IpAddr;

use super::dispatch::Incoming;
use super::state::{Rooms, unavailable};
use super::{Hub, Outbox, Reply, lock, refusal, unix_ms};
use crate::access::PasscodeVerdict;
use crate::protocol::{
    self, Acked, ErrorCode, HostChanged, JoinAck, JoinEcho, JoinRequest, LobbyKnock, LobbyTarget,
    MediaState, MediaStateChanged, Participant, Refusal, UserJoined, UserLeft, WaitingAck, event,
};
use crate::rooms::{
    ConnId, Departure, Door, JoinOutcome, Joined, Member, NewHost, Pass, RoomError, Waiting,
};

/// Wrong passcodes one address may give in a minute (the protocol's 20).
const PER_ADDRESS: u32 = 20;

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
    pub(super) async fn join(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let request =
            protocol::parse::<JoinRequest>(e.payload.as_deref())?.validate(&self.limits)?;
        self.sfu_admits(id, &request.room, request.sfu)?;
        let client = self.client_addr(id);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let pass = self.pass_door(id, client, &request).await?;
            let member = Member::new(id, request.email.clone(), request.name.clone());
            let capacity = self.limits.room_size;
            let (result, sequenced) = self
                .transact(Some(id), Some(&request.room), |rooms| {
                    rooms.join(member, &request.room, pass, capacity, unix_ms())
                })
                .await?;
            let mut out = Outbox::default();
            let done = match result {
                Err(RoomError::PasscodeChanged) if attempt < DOOR_ATTEMPTS => None,
                Err(err) => Some(Err(refusal(err))),
                Ok(JoinOutcome::Entered(joined)) => {
                    self.announce_entry(&mut out, &joined, &request.echo());
                    Some(Ok(Ok(joined)))
                }
                Ok(JoinOutcome::Waiting(waiting)) => {
                    self.announce_waiting(&mut out, &waiting);
                    Some(Ok(Err(waiting.room)))
                }
            };
            let admitted = out.take_admitted();
            self.deliver(out).await;
            sequenced.release().await;
            self.send_admissions(admitted).await;
            match done {
                None => continue,
                Some(Err(refused)) => return Err(refused),
                Some(Ok(Ok(joined))) => break joined,
                Some(Ok(Err(room))) => {
                    return Reply::json(&Acked::new(WaitingAck {
                        waiting: true,
                        room,
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
        let door = self
            .view(Some(id), Some(&request.room), |rooms| {
                rooms.door(id, &request.room)
            })
            .await?;
        let Door::Passcode { hash, version } = door else {
            return Ok(Pass::Nothing);
        };
        let limited = || {
            Refusal::new(
                ErrorCode::RateLimited,
                "too many wrong passcodes; try again in a minute",
            )
        };
        // In a cluster an address may use every node: its count lives in Redis.
        let cluster = match &self.rooms {
            Rooms::Redis(rooms) => Some(rooms.cluster().clone()),
            Rooms::Memory(_) => None,
        };
        let local_addr = if cluster.is_some() { None } else { client };
        if lock(&self.passcodes).verdict(id, local_addr, unix_ms()) == PasscodeVerdict::Limited {
            return Err(limited());
        }
        if let (Some(cluster), Some(ip)) = (&cluster, client)
            && cluster
                .wrong_passcodes(ip, false)
                .await
                .map_err(unavailable)?
                > PER_ADDRESS
        {
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
        let mut verdict = lock(&self.passcodes).wrong(id, local_addr, unix_ms());
        if let (Some(cluster), Some(ip)) = (&cluster, client)
            && cluster
                .wrong_passcodes(ip, true)
                .await
                .map_err(unavailable)?
                > PER_ADDRESS
        {
            verdict = PasscodeVerdict::Limited;
        }
        match verdict {
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
    pub(super) fn announce_entry(&self, out: &mut Outbox, joined: &Joined, echo: &JoinEcho) {
        if let Some(departed) = &joined.departed {
            self.announce_departure(out, departed);
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
        out.post(
            &others,
            event::USER_JOINED,
            &UserJoined {
                email: echo.email.clone(),
                id: id_text.clone(),
                name: echo.name.clone(),
                count: joined.count,
            },
        );
        out.post_one(id, event::ROOM_JOIN, echo);
        let sfu = self.sfu_entered(out, &joined.room, id);
        if let Some(sharer) = joined.sharer {
            out.post_one(id, event::SHARER_AVAILABLE, &sharer.to_string());
            // In an SFU room the screen reaches everyone through the SFU, not by calls.
            if !sfu {
                out.post_one(sharer, event::VIEWER_JOINED, &id_text);
            }
        }
        for waiter in &joined.knocks {
            out.post_one(id, event::LOBBY_KNOCK, &knock(waiter));
        }
        self.metrics.joined();
        tracing::debug!(socket = %id, room = %joined.room, count = joined.count, "joined");
    }

    fn announce_waiting(&self, out: &mut Outbox, waiting: &Waiting) {
        if let Some(departed) = &waiting.departed {
            self.announce_departure(out, departed);
        }
        if waiting.already_waiting {
            return;
        }
        if let Some(host) = waiting.host {
            out.post_one(host, event::LOBBY_KNOCK, &knock(&waiting.waiter));
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
        let (media, sfu_epoch) = self.sfu_media(&joined.room);
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
            media,
            sfu_epoch,
        }
    }

    /// Takes `id` out of its room or waiting room and tells the others; false if it
    /// was nowhere.
    pub(super) async fn leave(&self, id: ConnId) -> Result<bool, Refusal> {
        if self.place_of(id).await?.is_none() {
            return Ok(false);
        }
        let (departed, sequenced) = self
            .transact(Some(id), None, |rooms| rooms.leave(id, unix_ms()))
            .await?;
        let mut out = Outbox::default();
        if let Some(departed) = &departed {
            self.announce_departure(&mut out, departed);
        }
        let admitted = out.take_admitted();
        self.deliver(out).await;
        sequenced.release().await;
        self.send_admissions(admitted).await;
        Ok(departed.is_some())
    }

    /// `lobby:admitted` to each waiter a transition let in, with what a join ack carries.
    pub(super) async fn send_admissions(&self, admitted: Vec<Joined>) {
        for joined in admitted {
            let id = joined.id;
            let ack = self.join_ack(id, joined).await;
            self.send_now(id, event::LOBBY_ADMITTED, &ack).await;
        }
    }

    pub(super) async fn disconnected(&self, id: ConnId) {
        let left = self.leave(id).await;
        lock(&self.passcodes).forget(id);
        self.sfu_forget(id);
        self.clients_mut().remove(&id);
        match left {
            Ok(_) => self.node_left(id).await,
            // Redis away: the node's own sweep leaves for it later.
            Err(refused) => {
                tracing::warn!(socket = %id, message = %refused.message, "could not leave on disconnect; retried later")
            }
        }
    }

    /// `sharerStopped` (if it shared), `user:left`, then a new host's `host:changed`
    /// and the knocks it inherits; or, from a waiting room, `lobby:left` to the host.
    pub(super) fn announce_departure(&self, out: &mut Outbox, departed: &Departure) {
        match departed {
            Departure::Unqueued { room, id, host } => {
                if let Some(host) = host {
                    out.post_one(
                        *host,
                        event::LOBBY_LEFT,
                        &LobbyTarget { id: id.to_string() },
                    );
                }
                tracing::debug!(socket = %id, %room, "stopped waiting");
            }
            Departure::Left(left) => {
                self.sfu_left(&left.room, left.member.id);
                let id = left.member.id.to_string();
                if left.was_sharer {
                    out.post(&left.remaining, event::SHARER_STOPPED, &id);
                }
                out.post(
                    &left.remaining,
                    event::USER_LEFT,
                    &UserLeft {
                        id,
                        email: left.member.email.clone(),
                        count: left.remaining.len(),
                    },
                );
                if let Some(new_host) = &left.new_host {
                    announce_host(out, &left.remaining, new_host);
                }
                if let Some(record) = &left.save {
                    self.save(record.clone());
                }
                tracing::debug!(socket = %left.member.id, room = %left.room, "left");
                if let Some(p) = &left.promoted {
                    let echo = JoinEcho {
                        email: p.member.email.clone(),
                        room: left.room.clone(),
                        name: p.member.name.clone(),
                    };
                    self.announce_entry(out, &p.joined, &echo);
                    out.let_in(p.joined.clone());
                    tracing::debug!(socket = %p.member.id, room = %left.room, "let in: nobody left to admit");
                }
            }
        }
    }

    pub(super) async fn media_state(&self, id: ConnId, e: &Incoming) -> Result<Reply, Refusal> {
        let state: MediaState = protocol::parse(e.payload.as_deref())?;
        let not_joined = || Refusal::new(ErrorCode::NotJoined, "not in a room");
        let (others, sequenced) = self
            .transact(Some(id), None, |rooms| {
                rooms.set_media(id, state.audio, state.video)
            })
            .await?;
        let Ok(others) = others else {
            sequenced.release().await;
            return Err(not_joined());
        };
        let mut out = Outbox::default();
        out.post(
            &others,
            event::MEDIA_STATE,
            &MediaStateChanged {
                id: id.to_string(),
                audio: state.audio,
                video: state.video,
            },
        );
        self.deliver(out).await;
        sequenced.release().await;
        Ok(Reply::Ok)
    }
}

fn announce_host(out: &mut Outbox, room: &[ConnId], new_host: &NewHost) {
    out.post(
        room,
        event::HOST_CHANGED,
        &HostChanged {
            host_id: new_host.id.to_string(),
        },
    );
    for waiter in &new_host.waiting {
        out.post_one(new_host.id, event::LOBBY_KNOCK, &knock(waiter));
    }
}
