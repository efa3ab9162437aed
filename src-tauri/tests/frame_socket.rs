//! The frame socket admits only the app's window: the right token and the app's origin.

use std::sync::Arc;

use futures_util::StreamExt;
use huddle_app::frames::hub::LOCAL_KEY;
use huddle_app::frames::{FrameHub, FrameKind, socket};
use huddle_engine::frames::VideoFrame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn connect(
    url: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let mut request = url.into_client_request()?;
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("a header value"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(s, _)| s)
}

fn refused_with_403(result: Result<impl Sized, WsError>) -> bool {
    matches!(result, Err(WsError::Http(response)) if response.status() == 403)
}

#[tokio::test]
async fn only_the_window_with_the_token_gets_frames() {
    let hub = Arc::new(FrameHub::new());
    let sock = socket::start(hub.clone()).await.expect("frame socket");
    assert!(sock.addr.ip().is_loopback());
    let wrong_token = format!("ws://{}/frames?token=0000", sock.addr);
    let no_token = format!("ws://{}/frames", sock.addr);

    assert!(refused_with_403(
        connect(&wrong_token, Some("tauri://localhost")).await
    ));
    assert!(refused_with_403(
        connect(&no_token, Some("tauri://localhost")).await
    ));
    // A web page in a browser that somehow learnt the token still has its own origin.
    assert!(refused_with_403(
        connect(&sock.url, Some("https://evil.example")).await
    ));
    // A local process that sends no origin.
    assert!(refused_with_403(connect(&sock.url, None).await));

    let mut ws = connect(&sock.url, Some("tauri://localhost"))
        .await
        .expect("the window's connection");
    // The socket registers its outlet right after the upgrade: push until one arrives.
    let frame = VideoFrame::black(64, 48);
    let received = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
            tokio::select! {
                m = ws.next() => break m,
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
    })
    .await
    .expect("a frame within 5 s");
    match received {
        Some(Ok(Message::Binary(bytes))) => {
            assert_eq!(bytes[1], FrameKind::LocalCamera as u8);
            assert_eq!(u16::from_le_bytes([bytes[2], bytes[3]]), 64);
            assert_eq!(&bytes[24..29], b"local");
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
}
