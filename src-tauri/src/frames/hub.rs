//! Where every picture the window shows passes: remote frames from the engine's decoders
//! (as its [`FrameSink`]: the engine scales them to the size asked for) and our own
//! camera (scaled here). Each is packed and left for the window's connection, newest
//! wins per stream ([`super::outlet`]), so what is drawn is always recent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use huddle_engine::frames::{Resizer, VideoFrame};
use huddle_engine::{FrameSink, StreamId, StreamKind};
use serde::Deserialize;

use super::outlet::{FrameOutlet, Outlets};
use super::packing::{self, FrameKind};

/// The size a stream is scaled to before its tile says how big it is.
const DEFAULT_VIEW: (usize, usize) = (640, 360);

/// The stream key of our own camera.
pub const LOCAL_KEY: &str = "local";

#[derive(Default)]
pub struct FrameHub {
    views: Mutex<HashMap<String, (usize, usize)>>,
    resizers: Mutex<HashMap<String, Resizer>>,
    outlets: Arc<Outlets>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FrameHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// The window's connection: frames go to the newest one.
    pub fn connect(&self) -> FrameOutlet {
        self.outlets.connect()
    }

    /// The device-pixel size each stream's tile shows, as the window measures it
    /// (sizes that are not finite are ignored, the others kept within 2..=7680).
    pub fn set_view_sizes(&self, sizes: Vec<ViewSize>) {
        let clamp = |v: f64| v.clamp(2.0, 7680.0).round() as usize;
        let mut views = lock(&self.views);
        views.clear();
        for s in sizes {
            if s.width.is_finite() && s.height.is_finite() {
                views.insert(s.stream, (clamp(s.width), clamp(s.height)));
            }
        }
    }

    /// (frames the window took, frames a newer one replaced before it took them).
    pub fn counters(&self) -> (u64, u64) {
        self.outlets.counters()
    }

    /// The size a `width × height` frame of stream `key` is sent at, or `None` when
    /// no window is there to show it.
    pub fn frame_size(&self, key: &str, width: usize, height: usize) -> Option<(usize, usize)> {
        if !self.outlets.connected() {
            return None;
        }
        let view = lock(&self.views).get(key).copied().unwrap_or(DEFAULT_VIEW);
        Some(size_for_view(width, height, view))
    }

    /// Scales (to the size [`FrameHub::frame_size`] says), packs and sends one frame.
    pub fn push(&self, kind: FrameKind, key: &str, frame: &VideoFrame, decoded_at_ms: f64) {
        let Some((w, h)) = self.frame_size(key, frame.width, frame.height) else {
            return;
        };
        if (w, h) == (frame.width, frame.height) {
            self.send(kind, key, frame, decoded_at_ms);
        } else if let Some(scaled) = self.scaled(key, frame, w, h) {
            self.send(kind, key, &scaled, decoded_at_ms);
        }
    }

    /// Packs a frame that is already at its size and leaves it for the window.
    pub fn send(&self, kind: FrameKind, key: &str, frame: &VideoFrame, decoded_at_ms: f64) {
        if !self.outlets.connected() {
            return;
        }
        if let Some(message) = packing::pack(kind, key, frame, decoded_at_ms) {
            self.outlets.put(key, message);
        }
    }

    fn scaled(&self, key: &str, frame: &VideoFrame, w: usize, h: usize) -> Option<VideoFrame> {
        // Taken out while scaling, so streams on other threads do not wait on each other.
        let mut resizer = lock(&self.resizers).remove(key).unwrap_or_default();
        let scaled = resizer.resize(&frame.view(), w, h).ok();
        lock(&self.resizers).insert(key.to_string(), resizer);
        scaled
    }
}

/// The size a stream's tile shows (the window's `set_view_sizes`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ViewSize {
    /// A stream key as in the frame header: "local", "ID/video", "ID/screen".
    pub stream: String,
    pub width: f64,
    pub height: f64,
}

/// The smallest size, at most the frame's own, that still covers a `view`-sized tile
/// (the tile crops to fill, so the frame must cover it, not fit inside it). Sides even.
pub fn size_for_view(width: usize, height: usize, view: (usize, usize)) -> (usize, usize) {
    if width == 0 || height == 0 {
        return (width, height);
    }
    let factor = (view.0 as f64 / width as f64)
        .max(view.1 as f64 / height as f64)
        .min(1.0);
    if factor >= 1.0 {
        return (width, height);
    }
    // Rounded up to even, so the frame never ends up a pixel short of covering the tile.
    let even = |v: f64, limit: usize| ((v.ceil() as usize + 1) & !1).clamp(2, limit.max(2));
    (
        even(width as f64 * factor, width),
        even(height as f64 * factor, height),
    )
}

/// The engine's decoded remote frames, into the hub: the engine scales them to the size
/// the hub asks for, straight from the decoder.
pub struct RemoteFrames(pub std::sync::Arc<FrameHub>);

/// The hub's key and frame kind of a remote stream.
fn remote_key(stream: &StreamId) -> Option<(FrameKind, String)> {
    let (kind, suffix) = match stream.kind {
        StreamKind::Video => (FrameKind::RemoteCamera, "video"),
        StreamKind::Screen => (FrameKind::RemoteScreen, "screen"),
        StreamKind::Audio => return None,
    };
    Some((kind, format!("{}/{suffix}", stream.remote_id)))
}

impl FrameSink for RemoteFrames {
    fn frame_size(&self, stream: &StreamId, width: usize, height: usize) -> Option<(usize, usize)> {
        let (_, key) = remote_key(stream)?;
        self.0.frame_size(&key, width, height)
    }

    fn on_frame(&self, stream: &StreamId, frame: VideoFrame, decoded_at: SystemTime) {
        let Some((kind, key)) = remote_key(stream) else {
            return;
        };
        let decoded_at_ms = decoded_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        self.0.send(kind, &key, &frame, decoded_at_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_scaled_to_cover_their_tile_never_up() {
        assert_eq!(size_for_view(1920, 1080, (480, 270)), (480, 270));
        // A tall tile over a wide frame: the height decides.
        assert_eq!(size_for_view(1920, 1080, (200, 400)), (712, 400));
        assert_eq!(size_for_view(640, 480, (1280, 720)), (640, 480));
        assert_eq!(size_for_view(640, 480, (1, 1)), (2, 2));
    }

    #[tokio::test]
    async fn sends_scaled_frames_and_keeps_only_the_newest_when_behind() {
        let hub = FrameHub::new();
        let frame = VideoFrame::black(640, 480);
        // No window yet: nothing is sent, nothing counted.
        hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
        assert_eq!(hub.counters(), (0, 0));

        let mut rx = hub.connect();
        hub.set_view_sizes(vec![ViewSize {
            stream: LOCAL_KEY.to_string(),
            width: 160.0,
            height: 120.0,
        }]);
        hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
        let m = rx.recv().await.unwrap();
        assert_eq!(u16::from_le_bytes([m[2], m[3]]), 160);
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), 120);

        // The window does not take them: each new frame replaces the one waiting.
        for decoded_at in 2..=12 {
            hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, decoded_at as f64);
        }
        let m = rx.recv().await.unwrap();
        assert_eq!(f64::from_le_bytes(m[8..16].try_into().unwrap()), 12.0);
        assert_eq!(rx.try_recv(), None);
        assert_eq!(hub.counters(), (2, 10));
    }

    #[tokio::test]
    async fn remote_frames_are_sized_by_the_engine_and_sent_as_they_come() {
        let hub = std::sync::Arc::new(FrameHub::new());
        let sink = RemoteFrames(hub.clone());
        let video = StreamId {
            remote_id: "ada".into(),
            kind: StreamKind::Video,
        };
        let audio = StreamId {
            kind: StreamKind::Audio,
            ..video.clone()
        };
        // No window: no frame wanted, so the engine does not even scale one.
        assert_eq!(sink.frame_size(&video, 1280, 720), None);
        let mut rx = hub.connect();
        assert_eq!(sink.frame_size(&audio, 1280, 720), None);
        hub.set_view_sizes(vec![ViewSize {
            stream: "ada/video".into(),
            width: 320.0,
            height: 180.0,
        }]);
        assert_eq!(sink.frame_size(&video, 1280, 720), Some((320, 180)));
        let decoded_at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500);
        sink.on_frame(&video, VideoFrame::black(320, 180), decoded_at);
        let m = rx.recv().await.unwrap();
        assert_eq!(m[1], FrameKind::RemoteCamera as u8);
        assert_eq!(u16::from_le_bytes([m[2], m[3]]), 320);
        assert_eq!(f64::from_le_bytes(m[8..16].try_into().unwrap()), 1500.0);
        assert_eq!(&m[24..33], b"ada/video");
    }
}
