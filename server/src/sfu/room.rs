//! One SFU room's task: the async shell that speaks to Janus for the room's members.
//!
//! It owns the room's VideoRoom (`huddle-<room>`), an observer handle that hears the
//! room's news once, and per member a Janus session with a publisher handle (its presence
//! and its publication) and, once there is something to receive, a subscriber handle. It
//! handles one command at a time (joins, leaves, the members' `sfu:*` requests and
//! Janus's events), so per room there is never more than one request at Janus and the
//! per-member [`Subscription`] machines see every change in order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Weak;

use huddle_protocol::{
    ErrorCode, LinkState, PublishStream, Refusal, SfuAnswer, SfuIce, SfuLink, SfuOffer, SfuPc,
    SfuPublish, StreamSource, SubscribedStream, event,
};
use tokio::sync::{mpsc, oneshot};

use super::janus::{
    ApiErrorCode, ConfigurePublisher, ConfigureSubscriber, CreateRoom, JanusClient, JanusError,
    JoinPublisher, JoinSubscriber, LinkEvent, Publish, PublishedStream, Session, StreamDescription,
    SubscribeStream, SubscriberStreamConfig, SubscriptionChange, SubscriptionStream,
    TrickleCandidate, UnsubscribeStream, Update, VideoRoomErrorCode, VideoRoomEvent,
    VideoRoomEvents, VideoRoomHandle,
};
use super::service::{Outbox, SfuReply, SfuRequest, unavailable};
use super::subscription::{FeedStream, Step, Subscription};
use crate::rooms::ConnId;

/// VideoRooms this server creates are named `huddle-<room>-<epoch>` (a room that empties
/// and fills again gets a new one, never the one its old task is still tearing down).
pub const ROOM_PREFIX: &str = "huddle-";
/// The observer's id in the VideoRoom (never publishes).
const OBSERVER: &str = "huddle-observer";

pub(super) enum Command {
    Enter(ConnId),
    Leave(ConnId),
    Request {
        id: ConnId,
        request: SfuRequest,
        reply: oneshot::Sender<Result<SfuReply, Refusal>>,
    },
    Janus {
        from: Source,
        event: VideoRoomEvent,
    },
    Close,
}

/// Which handle an event came from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    Observer,
    Publisher(ConnId),
    Subscriber(ConnId),
}

struct Member {
    session: Session,
    publisher: VideoRoomHandle,
    private_id: u64,
    published: bool,
    subscriber: Option<VideoRoomHandle>,
    sub: Subscription,
    /// The m-lines of the latest offer.
    streams: Vec<SubscriptionStream>,
    /// `sfu:view`: cameras on screen (None: all).
    view: Option<BTreeSet<String>>,
    /// What Janus was last told per subscriber m-line (send or not).
    sending: BTreeMap<String, bool>,
}

pub(super) struct RoomTask {
    room: String,
    janus_room: String,
    janus: JanusClient,
    admin_key: Option<String>,
    bitrate: u32,
    max_publishers: u32,
    outbox: Option<Weak<dyn Outbox>>,
    tx: mpsc::UnboundedSender<Command>,
    /// The observer's session and handle, once the VideoRoom exists.
    observer: Option<(Session, VideoRoomHandle)>,
    /// Every publishing member's streams, from the room's news.
    feeds: BTreeMap<String, Vec<PublishedStream>>,
    members: HashMap<ConnId, Member>,
}

impl RoomTask {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        room: &str,
        epoch: u64,
        janus: JanusClient,
        admin_key: Option<String>,
        bitrate: u32,
        max_publishers: u32,
        outbox: Option<Weak<dyn Outbox>>,
        tx: mpsc::UnboundedSender<Command>,
    ) -> RoomTask {
        RoomTask {
            room: room.to_owned(),
            janus_room: format!("{ROOM_PREFIX}{room}-{epoch}"),
            janus,
            admin_key,
            bitrate,
            max_publishers,
            outbox,
            tx,
            observer: None,
            feeds: BTreeMap::new(),
            members: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        if let Err(err) = self.open().await {
            tracing::error!(room = %self.room, %err, "could not set up the room at Janus");
        }
        while let Some(command) = rx.recv().await {
            match command {
                Command::Enter(id) => self.enter(id).await,
                Command::Leave(id) => self.leave(id).await,
                Command::Request { id, request, reply } => {
                    let result = if self.observer.is_none() {
                        Err(unavailable())
                    } else {
                        self.request(id, request).await
                    };
                    let _ = reply.send(result);
                }
                Command::Janus { from, event } => self.janus_event(from, event).await,
                Command::Close => break,
            }
        }
        self.close().await;
    }

    /// Creates the VideoRoom (replacing a stale one of the same name) and the observer.
    async fn open(&mut self) -> Result<(), JanusError> {
        let session = self.janus.create_session().await?;
        let mut handle = VideoRoomHandle::attach(&session).await?;
        if handle.room_exists(&self.janus_room).await? {
            handle.destroy_room(&self.janus_room, None).await?;
        }
        handle
            .create_room(CreateRoom {
                room: self.janus_room.clone(),
                admin_key: self.admin_key.clone(),
                is_private: Some(true),
                publishers: Some(self.max_publishers),
                bitrate: Some(self.bitrate),
                // A keyframe request to every publisher every 2 s: a subscriber that missed
                // the one its start asked for (or lost it) recovers without waiting on PLIs.
                fir_freq: Some(2),
                // Every Huddle client and browser sends and decodes VP8; one codec keeps
                // every subscription decodable by everyone.
                videocodec: Some("vp8".into()),
                audiocodec: Some("opus".into()),
                ..Default::default()
            })
            .await?;
        handle
            .join_publisher(JoinPublisher {
                room: self.janus_room.clone(),
                id: Some(OBSERVER.into()),
                display: None,
            })
            .await?;
        self.forward(&mut handle, Source::Observer);
        self.observer = Some((session, handle));
        Ok(())
    }

    async fn close(&mut self) {
        for (_, m) in self.members.drain() {
            let _ = m.session.destroy().await;
        }
        if let Some((session, handle)) = self.observer.take() {
            let _ = handle.destroy_room(&self.janus_room, None).await;
            let _ = session.destroy().await;
        }
        tracing::info!(room = %self.room, "SFU room closed");
    }

    /// Hands a handle's events to this task's queue.
    fn forward(&self, handle: &mut VideoRoomHandle, from: Source) {
        let Some(mut events): Option<VideoRoomEvents> = handle.take_events() else {
            return;
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if tx.send(Command::Janus { from, event }).is_err() {
                    return;
                }
            }
        });
    }

    fn deliver<T: serde::Serialize>(&self, to: ConnId, event: &'static str, payload: &T) {
        let Some(outbox) = self.outbox.as_ref().and_then(Weak::upgrade) else {
            return;
        };
        match serde_json::to_value(payload) {
            Ok(v) => outbox.deliver(to, event, v),
            Err(err) => tracing::error!(%err, event, "could not serialize"),
        }
    }

    // -- members ---------------------------------------------------------------

    async fn enter(&mut self, id: ConnId) {
        if self.observer.is_none() || self.members.contains_key(&id) {
            return;
        }
        let result = async {
            let session = self.janus.create_session().await?;
            let mut publisher = VideoRoomHandle::attach(&session).await?;
            let joined = publisher
                .join_publisher(JoinPublisher {
                    room: self.janus_room.clone(),
                    id: Some(id.to_string()),
                    display: None,
                })
                .await?;
            self.forward(&mut publisher, Source::Publisher(id));
            Ok::<_, JanusError>(Member {
                session,
                publisher,
                private_id: joined.private_id,
                published: false,
                subscriber: None,
                sub: Subscription::new(),
                streams: Vec::new(),
                view: None,
                sending: BTreeMap::new(),
            })
        }
        .await;
        match result {
            Ok(member) => {
                self.members.insert(id, member);
                self.resubscribe(id).await;
            }
            Err(err) => {
                tracing::error!(room = %self.room, socket = %id, %err, "could not enter the VideoRoom")
            }
        }
    }

    async fn leave(&mut self, id: ConnId) {
        if let Some(m) = self.members.remove(&id) {
            let _ = m.publisher.leave().await;
            let _ = m.session.destroy().await;
        }
        if self.feeds.remove(&id.to_string()).is_some() {
            self.resubscribe_all().await;
        }
    }

    // -- requests --------------------------------------------------------------

    async fn request(&mut self, id: ConnId, request: SfuRequest) -> Result<SfuReply, Refusal> {
        if !self.members.contains_key(&id) {
            return Err(unavailable());
        }
        match request {
            SfuRequest::Publish(p) => self.publish(id, p).await.map(SfuReply::Answer),
            SfuRequest::Answer(a) => self.answer(id, a).await.map(|()| SfuReply::Ok),
            SfuRequest::Ice(ice) => self.trickle(id, ice).await.map(|()| SfuReply::Ok),
            SfuRequest::View(view) => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.view = Some(view.video.into_iter().collect());
                }
                self.apply_view(id).await;
                Ok(SfuReply::Ok)
            }
            SfuRequest::Restart => self.restart(id).await.map(|()| SfuReply::Ok),
        }
    }

    async fn publish(
        &mut self,
        id: ConnId,
        p: SfuPublish,
    ) -> Result<huddle_protocol::SessionDescription, Refusal> {
        let m = self.members.get_mut(&id).ok_or_else(unavailable)?;
        let descriptions = descriptions(&p.streams);
        let answer = if m.published {
            m.publisher
                .configure_publisher(
                    ConfigurePublisher {
                        descriptions,
                        ..Default::default()
                    },
                    Some(p.offer),
                )
                .await
                .map_err(janus_refusal)?
                .ok_or_else(|| Refusal::new(ErrorCode::Internal, "Janus sent no answer"))?
        } else {
            m.publisher
                .publish(
                    Publish {
                        descriptions,
                        ..Default::default()
                    },
                    p.offer,
                )
                .await
                .map_err(janus_refusal)?
        };
        m.published = true;
        Ok(answer)
    }

    async fn answer(&mut self, id: ConnId, a: SfuAnswer) -> Result<(), Refusal> {
        let m = self.members.get_mut(&id).ok_or_else(unavailable)?;
        m.sub
            .answered(a.version)
            .map_err(|e| Refusal::new(ErrorCode::StaleOffer, e.to_string()))?;
        let Some(subscriber) = &m.subscriber else {
            return Err(unavailable());
        };
        match subscriber.start(a.answer).await {
            Ok(()) => {
                let step = m.sub.started();
                self.run_step(id, step).await;
                self.apply_view(id).await;
                Ok(())
            }
            Err(err) => {
                m.sub.failed();
                Err(janus_refusal(err))
            }
        }
    }

    async fn trickle(&mut self, id: ConnId, ice: SfuIce) -> Result<(), Refusal> {
        let m = self.members.get(&id).ok_or_else(unavailable)?;
        let handle = match ice.pc {
            SfuPc::Publisher => &m.publisher,
            SfuPc::Subscriber => m
                .subscriber
                .as_ref()
                .ok_or_else(|| Refusal::bad_request("no subscriber connection yet"))?,
        };
        let candidate = match ice.candidate {
            Some(c) => TrickleCandidate::Candidate(c),
            None => TrickleCandidate::Completed,
        };
        handle.trickle(candidate).await.map_err(janus_refusal)
    }

    async fn restart(&mut self, id: ConnId) -> Result<(), Refusal> {
        let m = self.members.get_mut(&id).ok_or_else(unavailable)?;
        let Some(subscriber) = &m.subscriber else {
            return Err(Refusal::bad_request("no subscriber connection yet"));
        };
        let offer = subscriber
            .configure_subscriber(ConfigureSubscriber {
                restart: Some(true),
                ..Default::default()
            })
            .await
            .map_err(janus_refusal)?
            .ok_or_else(|| Refusal::new(ErrorCode::Internal, "Janus sent no offer"))?;
        let streams = m.streams.clone();
        self.offered(id, streams, offer);
        Ok(())
    }

    // -- subscriptions ---------------------------------------------------------

    /// Every stream of the room but `id`'s own.
    fn wanted(&self, id: ConnId) -> BTreeSet<FeedStream> {
        let me = id.to_string();
        self.feeds
            .iter()
            .filter(|(feed, _)| **feed != me)
            .flat_map(|(feed, streams)| {
                streams
                    .iter()
                    .filter(|s| !s.disabled)
                    .map(move |s| (feed.clone(), s.mid.clone()))
            })
            .collect()
    }

    async fn resubscribe_all(&mut self) {
        let ids: Vec<ConnId> = self.members.keys().copied().collect();
        for id in ids {
            self.resubscribe(id).await;
        }
    }

    async fn resubscribe(&mut self, id: ConnId) {
        let want = self.wanted(id);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let step = m.sub.want(want);
        self.run_step(id, step).await;
    }

    async fn run_step(&mut self, id: ConnId, step: Option<Step>) {
        let Some(step) = step else { return };
        match step {
            Step::Join(streams) => self.open_subscription(id, streams).await,
            Step::Update {
                subscribe,
                unsubscribe,
            } => self.update_subscription(id, subscribe, unsubscribe).await,
        }
    }

    async fn open_subscription(&mut self, id: ConnId, streams: Vec<FeedStream>) {
        let room = self.janus_room.clone();
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let result = async {
            let handle = VideoRoomHandle::attach(&m.session).await?;
            let subscription = handle
                .join_subscriber(JoinSubscriber {
                    room,
                    streams: streams
                        .into_iter()
                        .map(|(feed, mid)| SubscribeStream {
                            feed,
                            mid: Some(mid),
                        })
                        .collect(),
                    private_id: Some(m.private_id),
                    autoupdate: Some(false),
                    use_msid: None,
                })
                .await?;
            Ok::<_, JanusError>((handle, subscription))
        }
        .await;
        match result {
            Ok((mut handle, subscription)) => {
                self.forward(&mut handle, Source::Subscriber(id));
                if let Some(m) = self.members.get_mut(&id) {
                    m.subscriber = Some(handle);
                    m.sending.clear();
                }
                self.offered(id, subscription.streams, subscription.offer);
            }
            Err(err) => {
                tracing::warn!(room = %self.room, socket = %id, %err, "could not subscribe");
                if let Some(m) = self.members.get_mut(&id) {
                    m.sub.failed();
                }
            }
        }
    }

    async fn update_subscription(
        &mut self,
        id: ConnId,
        subscribe: Vec<FeedStream>,
        unsubscribe: Vec<FeedStream>,
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let Some(handle) = &m.subscriber else {
            m.sub.failed();
            return;
        };
        let unsubscribe = unsubscribe
            .into_iter()
            .map(|(feed, mid)| {
                // By our m-line when we know it: the feed may be gone from Janus already.
                match m.streams.iter().find(|s| {
                    s.feed_id.as_deref() == Some(&feed) && s.feed_mid.as_deref() == Some(&mid)
                }) {
                    Some(s) => UnsubscribeStream {
                        sub_mid: Some(s.mid.clone()),
                        ..Default::default()
                    },
                    None => UnsubscribeStream {
                        feed: Some(feed),
                        mid: Some(mid),
                        sub_mid: None,
                    },
                }
            })
            .collect();
        let update = Update {
            subscribe: subscribe
                .into_iter()
                .map(|(feed, mid)| SubscribeStream {
                    feed,
                    mid: Some(mid),
                })
                .collect(),
            unsubscribe,
        };
        match handle.update(update).await {
            Ok(SubscriptionChange::Renegotiate { streams, offer }) => {
                self.offered(id, streams, offer)
            }
            Ok(SubscriptionChange::Unchanged) => m.sub.unchanged(),
            Ok(SubscriptionChange::Deferred) => m.sub.deferred(),
            Err(err) => {
                tracing::warn!(room = %self.room, socket = %id, %err, "subscription update refused");
                m.sub.failed();
            }
        }
    }

    /// Janus offered the subscription `streams`: on to the client as `sfu:offer`.
    fn offered(
        &mut self,
        id: ConnId,
        streams: Vec<SubscriptionStream>,
        offer: huddle_protocol::SessionDescription,
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let have = streams
            .iter()
            .filter(|s| s.active)
            .filter_map(|s| Some((s.feed_id.clone()?, s.feed_mid.clone()?)))
            .collect();
        let version = m.sub.offered(have);
        let described: Vec<SubscribedStream> = streams
            .iter()
            .map(|s| subscribed(s, self.feeds.get(s.feed_id.as_deref().unwrap_or(""))))
            .collect();
        m.streams = streams;
        let payload = SfuOffer {
            version,
            offer,
            streams: described,
        };
        self.deliver(id, event::SFU_OFFER, &payload);
    }

    /// Pauses the cameras `id` does not show, resumes those it shows.
    async fn apply_view(&mut self, id: ConnId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let Some(handle) = &m.subscriber else { return };
        let mut changes = Vec::new();
        for s in m.streams.iter().filter(|s| s.active && s.kind == "video") {
            let camera = s.feed_description.as_deref() != Some("screen");
            let shown = match (&m.view, &s.feed_id) {
                (Some(view), Some(feed)) if camera => view.contains(feed),
                _ => true,
            };
            if m.sending.get(&s.mid).copied().unwrap_or(true) != shown {
                changes.push(SubscriberStreamConfig {
                    mid: s.mid.clone(),
                    send: Some(shown),
                    ..Default::default()
                });
            }
        }
        if changes.is_empty() {
            return;
        }
        let applied: Vec<(String, bool)> = changes
            .iter()
            .map(|c| (c.mid.clone(), c.send.unwrap_or(true)))
            .collect();
        match handle
            .configure_subscriber(ConfigureSubscriber {
                streams: changes,
                restart: None,
            })
            .await
        {
            Ok(_) => m.sending.extend(applied),
            Err(err) => {
                tracing::warn!(room = %self.room, socket = %id, %err, "could not pause or resume")
            }
        }
    }

    // -- Janus's news ----------------------------------------------------------

    async fn janus_event(&mut self, from: Source, event: VideoRoomEvent) {
        match (from, event) {
            (Source::Observer, VideoRoomEvent::Publishers { publishers, .. }) => {
                for p in publishers {
                    if p.id != OBSERVER && !p.dummy {
                        self.feeds.insert(p.id, p.streams);
                    }
                }
                self.resubscribe_all().await;
            }
            (
                Source::Observer,
                VideoRoomEvent::Unpublished { feed, .. }
                | VideoRoomEvent::Leaving {
                    participant: feed, ..
                },
            ) => {
                // Janus may say it twice: removing is idempotent.
                if self.feeds.remove(&feed).is_some() {
                    self.resubscribe_all().await;
                }
            }
            (Source::Observer, VideoRoomEvent::Link(LinkEvent::SessionLost(why))) => {
                tracing::error!(room = %self.room, ?why, "lost the SFU room's Janus session");
                let ids: Vec<ConnId> = self.members.keys().copied().collect();
                for id in ids {
                    for pc in [SfuPc::Publisher, SfuPc::Subscriber] {
                        self.link(
                            id,
                            pc,
                            LinkState::Down,
                            Some("sfu restarting".into()),
                            None,
                            None,
                        );
                    }
                }
            }
            (
                Source::Subscriber(id),
                VideoRoomEvent::Updated {
                    streams,
                    offer: Some(offer),
                    ..
                },
            ) => {
                self.offered(id, streams, offer);
            }
            (Source::Publisher(id) | Source::Subscriber(id), e) => {
                let pc = match from {
                    Source::Publisher(_) => SfuPc::Publisher,
                    _ => SfuPc::Subscriber,
                };
                match e {
                    VideoRoomEvent::Link(LinkEvent::WebrtcUp) => {
                        self.link(id, pc, LinkState::Up, None, None, None)
                    }
                    VideoRoomEvent::Link(LinkEvent::Hangup { reason }) => {
                        self.link(id, pc, LinkState::Down, reason, None, None)
                    }
                    VideoRoomEvent::Link(LinkEvent::SlowLink { uplink, lost, .. }) => {
                        self.link(id, pc, LinkState::Slow, None, Some(uplink), lost)
                    }
                    VideoRoomEvent::Link(LinkEvent::Trickle(TrickleCandidate::Candidate(c))) => {
                        let ice = SfuIce {
                            pc,
                            candidate: Some(c),
                        };
                        self.deliver(id, event::SFU_ICE, &ice);
                    }
                    other => {
                        tracing::trace!(room = %self.room, socket = %id, ?other, "Janus event")
                    }
                }
            }
            (Source::Observer, other) => {
                tracing::trace!(room = %self.room, ?other, "Janus room event")
            }
        }
    }

    fn link(
        &self,
        id: ConnId,
        pc: SfuPc,
        state: LinkState,
        reason: Option<String>,
        uplink: Option<bool>,
        lost: Option<u64>,
    ) {
        let link = SfuLink {
            pc,
            state,
            reason,
            uplink,
            lost,
        };
        self.deliver(id, event::SFU_LINK, &link);
    }
}

/// `sfu:publish` streams as Janus descriptions (how subscribers learn what a stream is).
fn descriptions(streams: &[PublishStream]) -> Vec<StreamDescription> {
    streams
        .iter()
        .map(|s| StreamDescription {
            mid: s.mid.clone(),
            description: s.source.as_str().to_owned(),
        })
        .collect()
}

/// A subscriber m-line as the client sees it: who and what.
fn subscribed(s: &SubscriptionStream, feed: Option<&Vec<PublishedStream>>) -> SubscribedStream {
    let from = s.feed_id.clone().filter(|_| s.active);
    let description = s.feed_description.clone().or_else(|| {
        let mid = s.feed_mid.as_deref()?;
        feed?.iter().find(|p| p.mid == mid)?.description.clone()
    });
    let source = from.as_ref().and_then(|_| {
        description
            .as_deref()
            .and_then(StreamSource::parse)
            .or(match s.kind.as_str() {
                "audio" => Some(StreamSource::Microphone),
                "video" => Some(StreamSource::Camera),
                _ => None,
            })
    });
    SubscribedStream {
        mid: s.mid.clone(),
        kind: s.kind.clone(),
        from,
        source,
        active: s.active,
    }
}

/// Janus's refusal as the protocol's: an SDP it cannot parse is the client's fault.
fn janus_refusal(err: JanusError) -> Refusal {
    let bad_sdp = match &err {
        JanusError::VideoRoom { code, .. } => matches!(
            code,
            VideoRoomErrorCode::InvalidSdp | VideoRoomErrorCode::InvalidSdpType
        ),
        JanusError::Api { code, .. } => *code == ApiErrorCode::JsepInvalidSdp,
        _ => false,
    };
    if matches!(err, JanusError::Disconnected | JanusError::SessionLost(_)) {
        return unavailable();
    }
    let code = if bad_sdp {
        ErrorCode::BadRequest
    } else {
        ErrorCode::Internal
    };
    Refusal::new(code, err.to_string())
}
