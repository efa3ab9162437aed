//! Screen sharing between engine sessions through a real signaling server: one sharer,
//! viewers (one joining late), stop, and arbitration seen from the client side.

mod support;

use std::sync::Arc;
use std::time::Duration;

use huddle_engine::devices::{Mixer, SyntheticCamera};
use huddle_engine::{
    DiscardFrames, Identity, LocalMedia, Session, SessionError, SessionEvent, StreamKind,
    VideoSendConfig,
};
use support::inprocess::{loopback_config, start_server};

/// A participant without camera or microphone: only the screen moves.
async fn join(url: &str, email: &str, room: &str) -> Session {
    let identity = Identity {
        server_url: url.to_string(),
        email: email.to_string(),
        room: room.into(),
        name: None,
        passcode: None,
    };
    let media = LocalMedia {
        camera: None,
        microphone: None,
        capture_processor: None,
        video: VideoSendConfig::default(),
    };
    Session::join(
        loopback_config(identity),
        media,
        Arc::new(Mixer::new()),
        Arc::new(DiscardFrames),
    )
    .await
    .expect("join")
}

fn screen() -> Box<SyntheticCamera> {
    Box::new(SyntheticCamera::new(1280, 720, 30))
}

async fn wait_for(session: &mut Session, what: impl Fn(&SessionEvent) -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = session.next_event().await {
            if what(&e) {
                return;
            }
        }
    })
    .await
    .expect("event in time");
}

fn screen_frames(session: &Session) -> (u64, u64) {
    session
        .received()
        .iter()
        .find(|s| s.kind == StreamKind::Screen)
        .map_or((0, 0), |s| (s.frames_decoded, s.barcodes_read))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharer_reaches_every_viewer_including_a_late_one() {
    let url = start_server().await;
    let sharer = join(&url, "sharer@example.com", "share").await;
    let mut early = join(&url, "early@example.com", "share").await;
    sharer.start_sharing(screen()).await.expect("share");
    wait_for(&mut early, |e| {
        matches!(e, SessionEvent::SharerStarted { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut late = join(&url, "late@example.com", "share").await;
    assert!(
        late.joined().expect("inside").sharer_id.is_some(),
        "the join ack names the sharer"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (who, viewer) in [("early", &early), ("late", &late)] {
        let (frames, barcodes) = screen_frames(viewer);
        assert!(frames >= 60, "{who} decoded {frames} screen frames");
        assert!(barcodes >= 60, "{who} read {barcodes} barcodes");
    }
    sharer.stop_sharing().await.expect("stop");
    wait_for(&mut early, |e| {
        matches!(e, SessionEvent::SharerStopped { .. })
    })
    .await;
    wait_for(&mut late, |e| {
        matches!(e, SessionEvent::SharerStopped { .. })
    })
    .await;
    let frames_at_stop = screen_frames(&late).0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        screen_frames(&late).0 <= frames_at_stop + 2,
        "the screen stopped"
    );

    let report = late.leave().await.unwrap();
    let stream = report
        .received
        .iter()
        .find(|s| s.kind == StreamKind::Screen)
        .unwrap();
    assert!(stream.time_to_first_frame_from_join_ms.is_some());
    let sent = sharer.leave().await.unwrap();
    let screen_sent = sent
        .sent
        .iter()
        .find(|s| s.kind == StreamKind::Screen)
        .expect("screen report");
    assert!(screen_sent.frames_encoded > 100, "{screen_sent:?}");
    early.leave().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_simultaneous_sharers_exactly_one_wins() {
    let url = start_server().await;
    let a = join(&url, "a@example.com", "race").await;
    let b = join(&url, "b@example.com", "race").await;
    let (ra, rb) = tokio::join!(a.start_sharing(screen()), b.start_sharing(screen()));
    let (winner, loser, loser_result) = match (&ra, &rb) {
        (Ok(()), Err(_)) => (&a, &b, rb),
        (Err(_), Ok(())) => (&b, &a, ra),
        other => panic!("exactly one must win: {other:?}"),
    };
    match loser_result {
        Err(SessionError::SharingConflict { sharer_id }) => {
            assert_eq!(sharer_id, winner.joined().expect("inside").id)
        }
        other => panic!("expected a conflict naming the winner: {other:?}"),
    }
    winner.stop_sharing().await.unwrap();
    loser
        .start_sharing(screen())
        .await
        .expect("after the winner stops, the other can share");
    a.leave().await.unwrap();
    b.leave().await.unwrap();
}
