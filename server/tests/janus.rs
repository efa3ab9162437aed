//! The Janus client against a real Janus (Debian's `janus`, deployment configuration from
//! `deploy/janus/`), started by each test in a network namespace of its own. Needs root;
//! without it the tests say so and pass without running.

mod janus_lab;

use std::time::Duration;

use huddle_server::sfu::janus::{
    ApiErrorCode, CreateRoom, JanusClient, JanusConfig, JanusError, JoinPublisher, JoinSubscriber,
    Jsep, Keepalive, LinkEvent, LinkStatus, Publish, SessionLoss, SubscribeStream,
    VideoRoomErrorCode, VideoRoomEvent, VideoRoomHandle,
};
use janus_lab::{JanusLab, Options};

fn lab(options: Options) -> Option<JanusLab> {
    if let Some(why) = JanusLab::skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(JanusLab::start(options))
}

fn config(lab: &JanusLab) -> JanusConfig {
    JanusConfig::new(lab.url()).with_api_secret(lab.api_secret.clone())
}

/// Waits for the next VideoRoom event matching `want` (other events are skipped).
async fn event_where(
    handle: &mut VideoRoomHandle,
    what: &str,
    want: impl Fn(&VideoRoomEvent) -> bool,
) -> VideoRoomEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, handle.next_event()).await {
            Ok(Some(e)) if want(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the handle's events ended before {what}"),
            Err(_) => panic!("no {what} within 10 s"),
        }
    }
}

#[test]
fn rooms_with_string_ids_are_created_listed_and_destroyed() {
    let Some(lab) = lab(Options::default()) else {
        return;
    };
    lab.run(async {
        let janus = JanusClient::connect(config(&lab)).await.expect("connect");
        // The deployment config loads exactly the VideoRoom and the WebSocket transport.
        let info = janus.server_info();
        let plugins: Vec<&String> = info.plugins.keys().collect();
        let transports: Vec<&String> = info.transports.keys().collect();
        assert_eq!(plugins, ["janus.plugin.videoroom"], "plugins loaded");
        assert_eq!(
            transports,
            ["janus.transport.websockets"],
            "transports loaded"
        );
        assert!(info.api_secret, "Janus enforces an API secret");

        let admin_session = janus.create_session().await.expect("session");
        let admin = VideoRoomHandle::attach(&admin_session)
            .await
            .expect("attach");
        let room = "huddle-room_1234";
        let created = admin
            .create_room(CreateRoom {
                room: room.into(),
                admin_key: Some(lab.admin_key.clone()),
                publishers: Some(50),
                ..Default::default()
            })
            .await
            .expect("create room");
        assert_eq!(created.room, room);
        assert!(!created.permanent);
        assert!(admin.room_exists(room).await.expect("exists"));
        assert!(!admin.room_exists("nope").await.expect("exists"));
        let rooms = admin
            .list_rooms(Some(&lab.admin_key))
            .await
            .expect("list rooms");
        let listed: Vec<&str> = rooms.iter().map(|r| r.room.as_str()).collect();
        assert_eq!(
            listed,
            [room],
            "no room but ours (no demo rooms in the config)"
        );
        assert_eq!(rooms[0].max_publishers, 50);
        assert_eq!(admin.list_participants(room).await.expect("list"), []);

        let again = admin
            .create_room(CreateRoom {
                room: room.into(),
                admin_key: Some(lab.admin_key.clone()),
                ..Default::default()
            })
            .await
            .expect_err("a second create");
        assert!(
            matches!(
                again,
                JanusError::VideoRoom {
                    code: VideoRoomErrorCode::RoomExists,
                    ..
                }
            ),
            "{again}"
        );

        // A participant in its own session, with a socket id as its participant id.
        let ada_session = janus.create_session().await.expect("session");
        let mut ada = VideoRoomHandle::attach(&ada_session).await.expect("attach");
        let joined = ada
            .join_publisher(JoinPublisher {
                room: room.into(),
                id: Some("sock-Ada_1".into()),
                display: Some("Ada".into()),
            })
            .await
            .expect("join as publisher");
        assert_eq!(joined.room, room);
        assert_eq!(joined.id, "sock-Ada_1");
        assert!(joined.publishers.is_empty());
        let listed = admin.list_participants(room).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "sock-Ada_1");
        assert_eq!(listed[0].display.as_deref(), Some("Ada"));
        assert!(!listed[0].publisher, "joined but not publishing");

        // A broken offer is refused with Janus's SDP error, and nothing else changes.
        let refused = ada
            .publish(Publish::default(), Jsep::offer("this is no SDP"))
            .await
            .expect_err("a broken offer");
        assert!(
            matches!(
                refused,
                JanusError::Api {
                    code: ApiErrorCode::JsepInvalidSdp,
                    ..
                } | JanusError::VideoRoom {
                    code: VideoRoomErrorCode::InvalidSdp,
                    ..
                }
            ),
            "{refused}"
        );
        // Subscribing to a feed that does not publish: the plugin's own error.
        let sub_session = janus.create_session().await.expect("session");
        let sub = VideoRoomHandle::attach(&sub_session).await.expect("attach");
        let no_feed = sub
            .join_subscriber(JoinSubscriber {
                room: room.into(),
                streams: vec![SubscribeStream::feed("sock-Ada_1")],
                ..Default::default()
            })
            .await
            .expect_err("nothing to subscribe to");
        assert!(
            matches!(
                no_feed,
                JanusError::VideoRoom {
                    code: VideoRoomErrorCode::NoSuchFeed
                        | VideoRoomErrorCode::InvalidElement
                        | VideoRoomErrorCode::NotPublished,
                    ..
                }
            ),
            "{no_feed}"
        );

        admin.destroy_room(room, None).await.expect("destroy");
        assert!(!admin.room_exists(room).await.expect("exists"));
        // The participant hears that its room is gone.
        let gone = event_where(&mut ada, "the room's destruction", |e| {
            matches!(e, VideoRoomEvent::Destroyed { .. })
        })
        .await;
        assert_eq!(gone, VideoRoomEvent::Destroyed { room: room.into() });
        let missing = admin
            .destroy_room(room, None)
            .await
            .expect_err("destroy again");
        assert!(
            matches!(
                missing,
                JanusError::VideoRoom {
                    code: VideoRoomErrorCode::NoSuchRoom,
                    ..
                }
            ),
            "{missing}"
        );

        ada.detach().await.expect("detach");
        ada_session.destroy().await.expect("destroy session");
        admin_session.destroy().await.expect("destroy session");
        janus.close().await;
    });
}

#[test]
fn a_wrong_api_secret_or_admin_key_is_a_clear_error() {
    let Some(lab) = lab(Options::default()) else {
        return;
    };
    lab.run(async {
        // The connection itself works (`info` needs no secret); sessions do not.
        let wrong = JanusClient::connect(JanusConfig::new(lab.url()).with_api_secret("wrong"))
            .await
            .expect("connect");
        let e = wrong.create_session().await.err().expect("refused");
        assert!(e.is_unauthorized(), "{e}");
        assert!(e.to_string().contains("403"), "{e}");
        let none = JanusClient::connect(JanusConfig::new(lab.url()))
            .await
            .expect("connect");
        assert!(
            none.create_session()
                .await
                .err()
                .expect("refused")
                .is_unauthorized()
        );

        let janus = JanusClient::connect(config(&lab)).await.expect("connect");
        let session = janus.create_session().await.expect("session");
        let admin = VideoRoomHandle::attach(&session).await.expect("attach");
        // A wrong key is unauthorized; a missing one is a missing element.
        for (key, code) in [
            (Some("wrong".to_string()), VideoRoomErrorCode::Unauthorized),
            (None, VideoRoomErrorCode::MissingElement),
        ] {
            let e = admin
                .create_room(CreateRoom {
                    room: "r1".into(),
                    admin_key: key,
                    ..Default::default()
                })
                .await
                .expect_err("refused");
            assert!(
                matches!(e, JanusError::VideoRoom { code: c, .. } if c == code),
                "{e}"
            );
            assert!(e.to_string().contains("admin_key"), "{e}");
        }
        assert!(!admin.room_exists("r1").await.expect("exists"));
    });
}

#[test]
fn keepalives_hold_a_session_past_the_session_timeout() {
    // Janus drops a session after 3 s without a request (it checks every 2 s).
    let Some(lab) = lab(Options { session_timeout: 3 }) else {
        return;
    };
    lab.run(async {
        let kept = JanusClient::connect(config(&lab)).await.expect("connect");
        let left = JanusClient::connect(config(&lab).with_keepalive(Keepalive::Off))
            .await
            .expect("connect");
        let kept_session = kept.create_session().await.expect("session");
        let left_session = left.create_session().await.expect("session");

        // The control: without keepalives Janus drops the session, and we hear of it.
        let why = tokio::time::timeout(Duration::from_secs(10), left_session.wait_lost())
            .await
            .expect("the session without keepalives times out");
        assert_eq!(why, SessionLoss::TimedOut);
        let e = left_session
            .attach("janus.plugin.videoroom")
            .await
            .err()
            .expect("gone");
        assert_eq!(e, JanusError::SessionLost(SessionLoss::TimedOut));

        // By now more than twice the timeout has passed: the kept session still works.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(kept_session.lost(), None);
        let handle = VideoRoomHandle::attach(&kept_session)
            .await
            .expect("the kept session still works");
        assert!(!handle.room_exists("none").await.expect("exists"));
        kept_session.destroy().await.expect("destroy");
    });
}

#[test]
fn janus_gone_is_a_clear_error_and_the_client_reconnects() {
    let Some(lab) = lab(Options::default()) else {
        return;
    };
    lab.run(async {
        // Nothing listening: connect fails at once, naming the address.
        let nowhere = JanusClient::connect(JanusConfig::new("ws://127.0.0.1:1")).await;
        let e = nowhere.err().expect("nothing listens on port 1");
        assert!(matches!(e, JanusError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        let tls = JanusClient::connect(JanusConfig::new("wss://127.0.0.1:8989")).await;
        assert!(matches!(tls.err(), Some(JanusError::BadUrl { .. })));

        let mut cfg = config(&lab);
        cfg.reconnect_max = Duration::from_millis(500);
        let janus = JanusClient::connect(cfg).await.expect("connect");
        let mut status = janus.status();
        assert_eq!(*status.borrow(), LinkStatus::Up { epoch: 1 });
        let session = janus.create_session().await.expect("session");
        let mut handle = VideoRoomHandle::attach(&session).await.expect("attach");

        lab.kill_janus();
        let why = tokio::time::timeout(Duration::from_secs(10), session.wait_lost())
            .await
            .expect("the session is reported lost");
        assert_eq!(why, SessionLoss::Disconnected);
        let heard = event_where(&mut handle, "the handle's loss", |e| {
            matches!(e, VideoRoomEvent::Link(LinkEvent::SessionLost(_)))
        })
        .await;
        assert_eq!(
            heard,
            VideoRoomEvent::Link(LinkEvent::SessionLost(SessionLoss::Disconnected))
        );
        // While Janus is away, requests fail at once instead of hanging.
        let down = tokio::time::timeout(Duration::from_secs(5), janus.create_session())
            .await
            .expect("an answer, not a hang");
        assert_eq!(down.err(), Some(JanusError::Disconnected));
        assert!(matches!(
            *status.borrow_and_update(),
            LinkStatus::Down { .. }
        ));

        lab.start_janus();
        tokio::time::timeout(
            Duration::from_secs(20),
            status.wait_for(|s| *s == LinkStatus::Up { epoch: 2 }),
        )
        .await
        .expect("reconnected within 20 s")
        .expect("the client is alive");
        let fresh = janus
            .create_session()
            .await
            .expect("a session after the restart");
        let handle = VideoRoomHandle::attach(&fresh).await.expect("attach");
        assert!(!handle.room_exists("x").await.expect("exists"));
        janus.close().await;
        assert_eq!(*janus.status().borrow(), LinkStatus::Closed);
        assert_eq!(janus.create_session().await.err(), Some(JanusError::Closed));
    });
}
