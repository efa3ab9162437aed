//! The handle that speaks the VideoRoom: one method per request, typed replies.

use serde::Deserialize;
use serde_json::Value;

use super::super::error::JanusError;
use super::super::message::{Jsep, TrickleCandidate};
use super::super::session::{Handle, HandleEvents, Session};
use super::PLUGIN;
use super::event::VideoRoomEvent;
use super::reply::{
    Attached, Joined, Participant, RoomCreated, RoomInfo, Subscription, SubscriptionChange,
    UpdatedFields, checked, expect, expect_event, unexpected,
};
use super::request::{
    Configure, ConfigurePublisher, ConfigureSubscriber, CreateRoom, Join, JoinPublisher,
    JoinSubscriber, Publish, SubscribeStream, UnsubscribeStream, Update, VideoRoomRequest,
};

/// A handle attached to the VideoRoom plugin.
pub struct VideoRoomHandle {
    handle: Handle,
}

impl VideoRoomHandle {
    pub async fn attach(session: &Session) -> Result<VideoRoomHandle, JanusError> {
        Ok(VideoRoomHandle {
            handle: session.attach(PLUGIN).await?,
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Sends a request; the plugin's refusal becomes [`JanusError::VideoRoom`].
    pub async fn request(
        &self,
        request: &VideoRoomRequest,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<Jsep>), JanusError> {
        let name = request.name();
        let (data, jsep) =
            self.handle
                .message(request.body(), jsep)
                .await
                .map_err(|e| match e {
                    // Name the plugin request rather than the core's `message`.
                    JanusError::Api { code, reason, .. } => JanusError::Api {
                        request: name,
                        code,
                        reason,
                    },
                    JanusError::Timeout { after, .. } => JanusError::Timeout {
                        request: name,
                        after,
                    },
                    other => other,
                })?;
        Ok((checked(name, data)?, jsep))
    }

    pub async fn create_room(&self, room: CreateRoom) -> Result<RoomCreated, JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Create(room), None).await?;
        expect("create", "created", &data)
    }

    pub async fn destroy_room(&self, room: &str, secret: Option<&str>) -> Result<(), JanusError> {
        let request = VideoRoomRequest::Destroy {
            room: room.to_owned(),
            secret: secret.map(str::to_owned),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Value>("destroy", "destroyed", &data).map(|_| ())
    }

    pub async fn room_exists(&self, room: &str) -> Result<bool, JanusError> {
        #[derive(Deserialize)]
        struct Exists {
            exists: bool,
        }
        let request = VideoRoomRequest::Exists {
            room: room.to_owned(),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Exists>("exists", "success", &data).map(|e| e.exists)
    }

    /// Every room (private ones too when `admin_key` is given), e.g. to remove rooms a
    /// previous server process left behind: rooms outlive their creator's session.
    pub async fn list_rooms(&self, admin_key: Option<&str>) -> Result<Vec<RoomInfo>, JanusError> {
        #[derive(Deserialize)]
        struct List {
            list: Vec<RoomInfo>,
        }
        let request = VideoRoomRequest::List {
            admin_key: admin_key.map(str::to_owned),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<List>("list", "success", &data).map(|l| l.list)
    }

    pub async fn list_participants(&self, room: &str) -> Result<Vec<Participant>, JanusError> {
        #[derive(Deserialize)]
        struct Participants {
            participants: Vec<Participant>,
        }
        let request = VideoRoomRequest::ListParticipants {
            room: room.to_owned(),
        };
        let (data, _) = self.request(&request, None).await?;
        expect::<Participants>("listparticipants", "participants", &data).map(|p| p.participants)
    }

    /// Joins a room as a publisher (not yet publishing).
    pub async fn join_publisher(&self, join: JoinPublisher) -> Result<Joined, JanusError> {
        let request = VideoRoomRequest::Join(Join::Publisher(join));
        let (data, _) = self.request(&request, None).await?;
        expect(request.name(), "joined", &data)
    }

    /// Publishes with our offer; returns Janus's answer.
    pub async fn publish(&self, publish: Publish, offer: Jsep) -> Result<Jsep, JanusError> {
        let (data, jsep) = self
            .request(&VideoRoomRequest::Publish(publish), Some(offer))
            .await?;
        expect_event("publish", "configured", &data)?;
        jsep.ok_or_else(|| unexpected("publish", &data))
    }

    /// Reconfigures our publication; with an offer, renegotiates it (the answer comes back).
    pub async fn configure_publisher(
        &self,
        configure: ConfigurePublisher,
        offer: Option<Jsep>,
    ) -> Result<Option<Jsep>, JanusError> {
        let (data, jsep) = self
            .request(
                &VideoRoomRequest::Configure(Configure::Publisher(configure)),
                offer,
            )
            .await?;
        expect_event("configure", "configured", &data)?;
        Ok(jsep)
    }

    pub async fn unpublish(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Unpublish, None).await?;
        expect_event("unpublish", "unpublished", &data)
    }

    /// Leaves the room (a publisher) or ends the subscription (a subscriber).
    pub async fn leave(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Leave, None).await?;
        expect_event("leave", "leaving", &data).or_else(|_| expect_event("leave", "left", &data))
    }

    /// Subscribes to `join.streams`; returns Janus's offer, to answer with [`Self::start`].
    pub async fn join_subscriber(&self, join: JoinSubscriber) -> Result<Subscription, JanusError> {
        let request = VideoRoomRequest::Join(Join::Subscriber(join));
        let (data, jsep) = self.request(&request, None).await?;
        let attached: Attached = expect(request.name(), "attached", &data)?;
        let offer = jsep.ok_or_else(|| unexpected("join (subscriber)", &data))?;
        Ok(Subscription {
            room: attached.room,
            streams: attached.streams,
            offer,
        })
    }

    /// Completes a subscription's (re)negotiation with our answer.
    pub async fn start(&self, answer: Jsep) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Start, Some(answer)).await?;
        expect_event("start", "started", &data)
    }

    /// Pauses every stream of the subscription.
    pub async fn pause(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Pause, None).await?;
        expect_event("pause", "paused", &data)
    }

    /// Resumes a paused subscription.
    pub async fn resume(&self) -> Result<(), JanusError> {
        let (data, _) = self.request(&VideoRoomRequest::Start, None).await?;
        expect_event("start", "started", &data)
    }

    /// Adds and removes streams of the subscription.
    pub async fn update(&self, update: Update) -> Result<SubscriptionChange, JanusError> {
        let (data, jsep) = self
            .request(&VideoRoomRequest::Update(update), None)
            .await?;
        match data.get("videoroom").and_then(Value::as_str) {
            Some("updating") => Ok(SubscriptionChange::Deferred),
            Some("updated") => {
                let u: UpdatedFields =
                    UpdatedFields::deserialize(&data).map_err(|_| unexpected("update", &data))?;
                Ok(match jsep {
                    Some(offer) => SubscriptionChange::Renegotiate {
                        streams: u.streams,
                        offer,
                    },
                    None => SubscriptionChange::Unchanged,
                })
            }
            _ => Err(unexpected("update", &data)),
        }
    }

    pub async fn subscribe(
        &self,
        streams: Vec<SubscribeStream>,
    ) -> Result<SubscriptionChange, JanusError> {
        self.update(Update {
            subscribe: streams,
            unsubscribe: Vec::new(),
        })
        .await
    }

    pub async fn unsubscribe(
        &self,
        streams: Vec<UnsubscribeStream>,
    ) -> Result<SubscriptionChange, JanusError> {
        self.update(Update {
            subscribe: Vec::new(),
            unsubscribe: streams,
        })
        .await
    }

    /// Pauses or resumes single streams of a subscription, or restarts ICE (then an offer
    /// comes back, to answer with [`Self::start`]).
    pub async fn configure_subscriber(
        &self,
        configure: ConfigureSubscriber,
    ) -> Result<Option<Jsep>, JanusError> {
        let (data, jsep) = self
            .request(
                &VideoRoomRequest::Configure(Configure::Subscriber(configure)),
                None,
            )
            .await?;
        expect_event("configure", "configured", &data)?;
        Ok(jsep)
    }

    pub async fn trickle(&self, candidate: TrickleCandidate) -> Result<(), JanusError> {
        self.handle.trickle(candidate).await
    }

    pub async fn hangup(&self) -> Result<(), JanusError> {
        self.handle.hangup().await
    }

    pub async fn detach(self) -> Result<(), JanusError> {
        self.handle.detach().await
    }

    /// The next event; `None` once the handle can hear nothing more.
    pub async fn next_event(&mut self) -> Option<VideoRoomEvent> {
        self.handle.next_event().await.map(VideoRoomEvent::from)
    }

    pub fn try_next_event(&mut self) -> Option<VideoRoomEvent> {
        self.handle.try_next_event().map(VideoRoomEvent::from)
    }

    /// Moves the event stream out (see [`Handle::take_events`]).
    pub fn take_events(&mut self) -> Option<VideoRoomEvents> {
        self.handle
            .take_events()
            .map(|inner| VideoRoomEvents { inner })
    }
}

/// A VideoRoom handle's events, read apart from the handle.
pub struct VideoRoomEvents {
    inner: HandleEvents,
}

impl VideoRoomEvents {
    pub async fn next(&mut self) -> Option<VideoRoomEvent> {
        self.inner.next().await.map(VideoRoomEvent::from)
    }

    pub fn try_next(&mut self) -> Option<VideoRoomEvent> {
        self.inner.try_next().map(VideoRoomEvent::from)
    }
}
