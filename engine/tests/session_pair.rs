//! Two engine sessions in one room, through a real signaling server on loopback:
//! video and audio flow both ways and the barcodes are read.

mod support;

use std::sync::Arc;
use std::time::Duration;

use huddle_engine::devices::{Mixer, SineMicrophone, SyntheticCamera};
use huddle_engine::frames::VideoFrame;
use huddle_engine::{
    DiscardFrames, FrameSink, Identity, LocalMedia, Session, SessionEvent, StreamId, StreamKind,
    VideoCodec, VideoSendConfig, video_codec_named,
};
use support::inprocess::{loopback_config, start_server};

fn codec(name: &str) -> &'static VideoCodec {
    video_codec_named(name).expect("a codec we have")
}

fn media() -> LocalMedia {
    LocalMedia {
        camera: Some(Box::new(SyntheticCamera::new(640, 480, 30))),
        microphone: Some(Box::new(SineMicrophone::default())),
        capture_processor: None,
        video: VideoSendConfig::default(),
    }
}

async fn join(url: &str, email: &str) -> Session {
    let identity = Identity {
        server_url: url.to_string(),
        email: email.to_string(),
        room: "pair".into(),
        name: None,
        passcode: None,
    };
    Session::join(
        loopback_config(identity),
        media(),
        Arc::new(Mixer::new()),
        Arc::new(DiscardFrames),
    )
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_exchange_video_and_audio() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,huddle_engine=debug")
        .with_test_writer()
        .try_init();
    let url = start_server().await;
    let a = join(&url, "a@example.com").await;
    let b = join(&url, "b@example.com").await;
    assert_eq!(b.joined().expect("inside").participants.len(), 1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (ra, rb) = (a.leave().await.unwrap(), b.leave().await.unwrap());
    for (who, report) in [("a", &ra), ("b", &rb)] {
        println!("{who}: {}", serde_json::to_string_pretty(report).unwrap());
        let video = report
            .received
            .iter()
            .find(|s| s.kind == StreamKind::Video)
            .expect("video stream");
        assert!(
            video.frames_decoded > 60,
            "{who} decoded {} frames",
            video.frames_decoded
        );
        assert!(
            video.barcodes_read > 60,
            "{who} read {} barcodes",
            video.barcodes_read
        );
        let audio = report
            .received
            .iter()
            .find(|s| s.kind == StreamKind::Audio)
            .expect("audio stream");
        assert!(
            audio.frames_decoded > 100,
            "{who} decoded {} audio packets",
            audio.frames_decoded
        );
        assert_eq!(report.peers_connected, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_switch_and_mute_mid_call_without_renegotiating() {
    let url = start_server().await;
    let a = join(&url, "a@example.com").await;
    let mut b = join(&url, "b@example.com").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let video = |s: &Session| {
        s.received()
            .into_iter()
            .find(|r| r.kind == StreamKind::Video)
            .map(|r| (r.width, r.height, r.frames_decoded))
            .unwrap_or_default()
    };
    let (w, h, before) = video(&b);
    assert_eq!((w, h), (640, 480));
    a.switch_camera(Box::new(SyntheticCamera::new(320, 240, 30)));
    a.set_muted(true);
    let muted = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = b.next_event().await {
            if let SessionEvent::MediaState { audio, .. } = e {
                return audio;
            }
        }
        true
    })
    .await
    .expect("media:state arrives");
    assert!(!muted, "bob learns that ada muted");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (w, h, after) = video(&b);
    assert_eq!(
        (w, h),
        (320, 240),
        "the new camera's frames arrive on the same call"
    );
    assert!(
        after > before + 30,
        "video kept flowing: {before} -> {after}"
    );
    a.leave().await.unwrap();
    let report = b.leave().await.unwrap();
    assert_eq!(report.errors.len(), 0, "{:?}", report.errors);
}

/// H.264 as a send codec: one side sends it, the other VP8, and each decodes the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_side_sends_h264_the_other_vp8() {
    let url = start_server().await;
    let with_codec = |codec| LocalMedia {
        video: VideoSendConfig {
            codec,
            ..VideoSendConfig::default()
        },
        ..media()
    };
    let identity = |email: &str| Identity {
        server_url: url.clone(),
        email: email.to_string(),
        room: "codecs".into(),
        name: None,
        passcode: None,
    };
    let join = |email, codec| {
        Session::join(
            loopback_config(identity(email)),
            with_codec(codec),
            Arc::new(Mixer::new()),
            Arc::new(DiscardFrames),
        )
    };
    let a = join("a@example.com", codec("h264")).await.expect("join");
    let b = join("b@example.com", codec("vp8")).await.expect("join");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (ra, rb) = (a.leave().await.unwrap(), b.leave().await.unwrap());
    for (who, report, receives, sends) in [("a", &ra, "VP8", "H264"), ("b", &rb, "H264", "VP8")] {
        let video = report
            .received
            .iter()
            .find(|s| s.kind == StreamKind::Video)
            .expect("video stream");
        assert_eq!(video.codec, receives, "{who} receives");
        assert!(
            video.barcodes_read > 60,
            "{who} read {} barcodes of {}",
            video.barcodes_read,
            video.codec
        );
        let sent = report
            .sent
            .iter()
            .find(|s| s.kind == StreamKind::Video)
            .expect("sent video");
        assert_eq!(sent.codec, sends, "{who} sends");
        assert_eq!(report.errors.len(), 0, "{who}: {:?}", report.errors);
    }
}

/// A sink that asks for every frame at 320×180 and counts what it gets.
#[derive(Default)]
struct SmallFrames {
    frames: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl FrameSink for SmallFrames {
    fn frame_size(&self, _: &StreamId, _: usize, _: usize) -> Option<(usize, usize)> {
        Some((320, 180))
    }

    fn on_frame(&self, stream: &StreamId, frame: VideoFrame, _: std::time::SystemTime) {
        assert_eq!(stream.kind, StreamKind::Video);
        assert_eq!(frame.data.len(), VideoFrame::byte_len(320, 180));
        self.frames
            .lock()
            .unwrap()
            .push((frame.width, frame.height));
    }
}

/// The engine scales decoded frames to the size the sink asks for (one copy, straight
/// from the decoder); the measurements still see the full picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_gets_frames_at_the_size_it_asks_for() {
    let url = start_server().await;
    let a = join(&url, "a@example.com").await;
    let sink = Arc::new(SmallFrames::default());
    let identity = Identity {
        server_url: url.clone(),
        email: "b@example.com".into(),
        room: "pair".into(),
        name: None,
        passcode: None,
    };
    let b = Session::join(
        loopback_config(identity),
        media(),
        Arc::new(Mixer::new()),
        sink.clone(),
    )
    .await
    .expect("join");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let report = b.leave().await.unwrap();
    a.leave().await.unwrap();
    let frames = sink.frames.lock().unwrap().clone();
    assert!(
        frames.len() > 30,
        "{} frames reached the sink",
        frames.len()
    );
    assert!(frames.iter().all(|&size| size == (320, 180)));
    let video = report
        .received
        .iter()
        .find(|s| s.kind == StreamKind::Video)
        .expect("video");
    assert_eq!((video.width, video.height), (640, 480));
    assert!(video.barcodes_read > 30);
}
