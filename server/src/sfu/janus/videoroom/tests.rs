//! The VideoRoom's wire shapes, against what Janus 1.1.2 (Debian) sent in this project's lab.

use serde_json::{Value, json};

use super::event::{VideoRoomEvent, classify};
use super::reply::{Attached, Joined, Participant, RoomCreated, checked, expect, expect_event};
use super::request::*;
use crate::sfu::janus::error::{JanusError, VideoRoomErrorCode};
use crate::sfu::janus::message::Jsep;

#[test]
fn requests_serialize_as_the_plugin_expects() {
    let create = VideoRoomRequest::Create(CreateRoom {
        room: "huddle-1234".into(),
        admin_key: Some("k".into()),
        publishers: Some(50),
        ..Default::default()
    });
    assert_eq!(
        create.body(),
        json!({"request": "create", "room": "huddle-1234", "admin_key": "k", "publishers": 50})
    );
    assert_eq!(
        VideoRoomRequest::ListParticipants { room: "r".into() }.body(),
        json!({"request": "listparticipants", "room": "r"})
    );
    assert_eq!(
        VideoRoomRequest::Join(Join::Publisher(JoinPublisher {
            room: "r".into(),
            id: Some("sock1".into()),
            display: Some("Ada".into()),
        }))
        .body(),
        json!({"request": "join", "ptype": "publisher", "room": "r", "id": "sock1", "display": "Ada"})
    );
    assert_eq!(
        VideoRoomRequest::Join(Join::Subscriber(JoinSubscriber {
            room: "r".into(),
            streams: vec![
                SubscribeStream::feed("a"),
                SubscribeStream {
                    feed: "b".into(),
                    mid: Some("1".into())
                }
            ],
            private_id: Some(1657201291),
            ..Default::default()
        }))
        .body(),
        json!({"request": "join", "ptype": "subscriber", "room": "r",
               "streams": [{"feed": "a"}, {"feed": "b", "mid": "1"}], "private_id": 1657201291})
    );
    assert_eq!(
        VideoRoomRequest::Publish(Publish {
            descriptions: vec![StreamDescription {
                mid: "2".into(),
                description: "screen".into()
            }],
            ..Default::default()
        })
        .body(),
        json!({"request": "publish", "descriptions": [{"mid": "2", "description": "screen"}]})
    );
    assert_eq!(
        VideoRoomRequest::Configure(Configure::Subscriber(ConfigureSubscriber {
            streams: vec![SubscriberStreamConfig {
                mid: "3".into(),
                send: Some(false),
                ..Default::default()
            }],
            restart: None,
        }))
        .body(),
        json!({"request": "configure", "streams": [{"mid": "3", "send": false}]})
    );
    assert_eq!(
        VideoRoomRequest::Configure(Configure::Publisher(ConfigurePublisher {
            keyframe: Some(true),
            ..Default::default()
        }))
        .body(),
        json!({"request": "configure", "keyframe": true})
    );
    assert_eq!(
        VideoRoomRequest::Update(Update {
            subscribe: vec![SubscribeStream::feed("c")],
            unsubscribe: vec![UnsubscribeStream::feed("a")],
        })
        .body(),
        json!({"request": "update", "subscribe": [{"feed": "c"}], "unsubscribe": [{"feed": "a"}]})
    );
    assert_eq!(VideoRoomRequest::Start.body(), json!({"request": "start"}));
    assert_eq!(
        VideoRoomRequest::List {
            admin_key: Some("k".into())
        }
        .body(),
        json!({"request": "list", "admin_key": "k"})
    );
    assert_eq!(VideoRoomRequest::Leave.body(), json!({"request": "leave"}));
}

// Replies below are what Janus 1.1.2 (Debian) sent in this project's lab.

#[test]
fn plugin_errors_become_typed_errors() {
    let data =
        json!({"videoroom": "event", "error_code": 433, "error": "Unauthorized (wrong admin_key)"});
    let e = checked("create", data).unwrap_err();
    assert!(e.is_unauthorized());
    assert_eq!(
        e,
        JanusError::VideoRoom {
            request: "create",
            code: VideoRoomErrorCode::Unauthorized,
            reason: "Unauthorized (wrong admin_key)".into()
        }
    );
    let data = json!({"videoroom": "event", "error_code": 426, "error": "No such room (nope)"});
    assert!(matches!(
        checked("listparticipants", data),
        Err(JanusError::VideoRoom {
            code: VideoRoomErrorCode::NoSuchRoom,
            ..
        })
    ));
}

#[test]
fn sync_replies_parse() {
    let created: RoomCreated = expect(
        "create",
        "created",
        &json!({"videoroom": "created", "room": "abc", "permanent": false}),
    )
    .unwrap();
    assert_eq!(created.room, "abc");
    let p: Vec<Participant> = expect::<Value>(
        "listparticipants",
        "participants",
        &json!({"videoroom": "participants", "room": "abc",
                "participants": [{"id": "sock1", "display": "Ada", "publisher": false}]}),
    )
    .map(|v| serde_json::from_value(v["participants"].clone()).unwrap())
    .unwrap();
    assert_eq!(p[0].id, "sock1");
    assert!(!p[0].publisher);
    // A reply of another kind is an error, not a silent default.
    assert!(matches!(
        expect::<RoomCreated>(
            "create",
            "created",
            &json!({"videoroom": "success", "room": "abc"})
        ),
        Err(JanusError::UnexpectedReply {
            request: "create",
            ..
        })
    ));
}

#[test]
fn joined_lists_who_publishes() {
    let joined: Joined = expect(
        "join (publisher)",
        "joined",
        &json!({"videoroom": "joined", "room": "abc", "description": "Room abc", "id": "sock2",
                "private_id": 1657201291u64,
                "publishers": [{"id": "sock1", "display": "Ada", "streams": [
                    {"type": "audio", "mindex": 0, "mid": "0", "codec": "opus", "fec": true},
                    {"type": "video", "mindex": 1, "mid": "1", "codec": "vp8"}
                ], "talking": false}]}),
    )
    .unwrap();
    assert_eq!(joined.private_id, 1657201291);
    assert_eq!(
        joined.publishers[0].streams[1].codec.as_deref(),
        Some("vp8")
    );
    assert_eq!(joined.publishers[0].streams[0].kind, "audio");
}

#[test]
fn events_are_classified() {
    assert_eq!(
        classify(json!({"videoroom": "destroyed", "room": "abc"}), None),
        VideoRoomEvent::Destroyed { room: "abc".into() }
    );
    assert_eq!(
        classify(
            json!({"videoroom": "event", "room": "abc", "unpublished": "sock1"}),
            None
        ),
        VideoRoomEvent::Unpublished {
            room: "abc".into(),
            feed: "sock1".into()
        }
    );
    assert_eq!(
        classify(
            json!({"videoroom": "event", "room": "abc", "leaving": "sock1"}),
            None
        ),
        VideoRoomEvent::Leaving {
            room: "abc".into(),
            participant: "sock1".into()
        }
    );
    assert_eq!(
        classify(
            json!({"videoroom": "event", "leaving": "ok", "reason": "kicked"}),
            None
        ),
        VideoRoomEvent::Removed {
            reason: Some("kicked".into())
        }
    );
    match classify(
        json!({"videoroom": "event", "room": "abc", "publishers": [{"id": "sock3", "streams": [
            {"type": "video", "mindex": 1, "mid": "1", "codec": "vp8"}]}]}),
        None,
    ) {
        VideoRoomEvent::Publishers { room, publishers } => {
            assert_eq!(room, "abc");
            assert_eq!(publishers[0].id, "sock3");
        }
        other => panic!("{other:?}"),
    }
    match classify(
        json!({"videoroom": "updated", "room": "abc", "streams": [
            {"type": "video", "active": true, "mindex": 0, "mid": "0", "ready": false, "send": true,
             "feed_id": "sock1", "feed_display": "Ada", "feed_mid": "1"},
            {"type": "video", "active": false, "mindex": 1, "mid": "1", "ready": false, "send": true}]}),
        Some(Jsep::offer("v=0\r\n")),
    ) {
        VideoRoomEvent::Updated { streams, offer, .. } => {
            assert_eq!(streams[0].feed_id.as_deref(), Some("sock1"));
            assert!(!streams[1].active);
            assert_eq!(streams[1].feed_id, None);
            assert!(offer.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify(
            json!({"videoroom": "talking", "room": "abc", "id": "x"}),
            None
        ),
        VideoRoomEvent::Other(_)
    ));
    assert!(matches!(
        classify(
            json!({"videoroom": "event", "error_code": 428, "error": "No such feed"}),
            None
        ),
        VideoRoomEvent::Error {
            code: VideoRoomErrorCode::NoSuchFeed,
            ..
        }
    ));
}

#[test]
fn a_subscriptions_streams_parse() {
    // The `attached` reply to a subscriber's join, as Janus 1.1.2 sent it in the lab.
    let data = json!({"videoroom": "attached", "room": "lab-17504-1-7spap", "streams": [
        {"type": "video", "active": true, "mindex": 0, "mid": "0", "ready": false, "send": true,
         "feed_id": "feed-a", "feed_display": "A", "feed_mid": "0", "feed_description": "camera",
         "codec": "vp8"},
        {"type": "audio", "active": true, "mindex": 1, "mid": "1", "ready": false, "send": true,
         "feed_id": "feed-a", "feed_display": "A", "feed_mid": "1", "codec": "opus"}]});
    let attached: Attached = expect("join (subscriber)", "attached", &data).unwrap();
    assert_eq!(attached.streams.len(), 2);
    let video = &attached.streams[0];
    assert_eq!(
        (
            video.kind.as_str(),
            video.mid.as_str(),
            video.feed_id.as_deref()
        ),
        ("video", "0", Some("feed-a"))
    );
    assert_eq!(video.feed_description.as_deref(), Some("camera"));
    assert!(video.active && video.send && !video.ready);
    // The `configured` reply to a publish names its streams (and their descriptions).
    let configured = json!({"videoroom": "event", "room": "r", "configured": "ok",
        "audio_codec": "opus", "video_codec": "vp8", "streams": [
        {"type": "video", "mindex": 0, "mid": "0", "description": "camera", "codec": "vp8"}]});
    assert!(expect_event("publish", "configured", &configured).is_ok());
    assert!(expect_event("publish", "started", &configured).is_err());
}

#[test]
fn numeric_ids_are_read_as_strings() {
    let r: RoomCreated = serde_json::from_value(json!({"room": 1234, "permanent": false})).unwrap();
    assert_eq!(r.room, "1234");
}
