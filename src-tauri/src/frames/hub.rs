//! Where every picture the window shows passes: remote frames from the engine's decoders
//! (as its [`FrameSink`]) and our own camera. Each is scaled to its tile's size, packed,
//! and handed to the window's socket; when the socket is behind, frames are dropped
//! rather than queued, so what is drawn is always recent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use huddle_engine::media::frame::VideoFrame;
use huddle_engine::media::pixels::Scaler;
use huddle_engine::media::stream::StreamId;
use huddle_engine::media::stream::StreamKind;
use huddle_engine::pipeline::incoming::FrameSink;
use tokio::sync::mpsc;

use super::packing::{self, FrameKind};

/// Frames waiting for the socket; more than this and new ones are dropped.
const OUTLET_DEPTH: usize = 8;
/// The size a stream is scaled to before its tile says how big it is.
const DEFAULT_VIEW: (usize, usize) = (640, 360);

/// The stream key of our own camera.
pub const LOCAL_KEY: &str = "local";

#[derive(Default)]
pub struct FrameHub {
    views: Mutex<HashMap<String, (usize, usize)>>,
    scalers: Mutex<HashMap<String, Scaler>>,
    outlet: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FrameHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// The window's socket: frames go to the newest one.
    pub fn connect(&self) -> mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = mpsc::channel(OUTLET_DEPTH);
        *lock(&self.outlet) = Some(tx);
        rx
    }

    /// The device-pixel size each stream's tile shows.
    pub fn set_view_sizes(&self, sizes: impl IntoIterator<Item = (String, usize, usize)>) {
        let mut views = lock(&self.views);
        views.clear();
        for (key, w, h) in sizes {
            views.insert(key, (w.max(2), h.max(2)));
        }
    }

    /// (frames sent, frames dropped because the socket was behind or absent).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    /// Scales, packs and sends one frame.
    pub fn push(&self, kind: FrameKind, key: &str, frame: &VideoFrame, decoded_at_ms: f64) {
        let outlet = lock(&self.outlet).clone();
        let Some(outlet) = outlet.filter(|o| !o.is_closed()) else {
            return;
        };
        if outlet.capacity() == 0 {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let view = lock(&self.views).get(key).copied().unwrap_or(DEFAULT_VIEW);
        let (w, h) = size_for_view(frame.width, frame.height, view);
        let message = if (w, h) == (frame.width, frame.height) {
            packing::pack(kind, key, frame, decoded_at_ms)
        } else {
            self.scaled(key, frame, w, h)
                .and_then(|scaled| packing::pack(kind, key, &scaled, decoded_at_ms))
        };
        let Some(mut message) = message else { return };
        packing::stamp_sent_at(&mut message, packing::now_ms());
        match outlet.try_send(message) {
            Ok(()) => self.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn scaled(&self, key: &str, frame: &VideoFrame, w: usize, h: usize) -> Option<VideoFrame> {
        // Taken out while scaling, so streams on other threads do not wait on each other.
        let cached = lock(&self.scalers).remove(key);
        let mut scaler = match cached {
            Some(s) if s.src_size() == (frame.width, frame.height) && s.dst_size() == (w, h) => s,
            _ => Scaler::new(frame.width, frame.height, w, h),
        };
        let scaled = scaler.scale(frame).ok();
        lock(&self.scalers).insert(key.to_string(), scaler);
        scaled
    }
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

/// The engine's decoded remote frames, into the hub.
pub struct RemoteFrames(pub std::sync::Arc<FrameHub>);

impl FrameSink for RemoteFrames {
    fn wants_frames(&self) -> bool {
        true
    }

    fn on_frame(&self, stream: &StreamId, frame: &VideoFrame) {
        let decoded_at = packing::now_ms();
        let (kind, suffix) = match stream.kind {
            StreamKind::Video => (FrameKind::RemoteCamera, "video"),
            StreamKind::Screen => (FrameKind::RemoteScreen, "screen"),
            StreamKind::Audio => return,
        };
        let key = format!("{}/{suffix}", stream.remote_id);
        self.0.push(kind, &key, frame, decoded_at);
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
    async fn sends_scaled_frames_and_drops_when_behind() {
        let hub = FrameHub::new();
        let frame = VideoFrame::black(640, 480);
        // No window yet: nothing is sent, nothing counted.
        hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
        assert_eq!(hub.counters(), (0, 0));

        let mut rx = hub.connect();
        hub.set_view_sizes([(LOCAL_KEY.to_string(), 160, 120)]);
        hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
        let m = rx.recv().await.unwrap();
        assert_eq!(u16::from_le_bytes([m[2], m[3]]), 160);
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), 120);

        for _ in 0..OUTLET_DEPTH + 3 {
            hub.push(FrameKind::LocalCamera, LOCAL_KEY, &frame, 1.0);
        }
        let (sent, dropped) = hub.counters();
        assert_eq!(sent as usize, 1 + OUTLET_DEPTH);
        assert_eq!(dropped, 3);
    }
}
