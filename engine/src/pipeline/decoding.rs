//! Video decoding on a thread of its own, one per received stream: decoding is the
//! costly step, and on the async runtime a heavy (or hostile) stream would stall
//! signaling and every other connection. Between the RTP task and the thread sits a
//! short queue where the newest frame wins: when the decoder falls behind, the oldest
//! waiting frame is dropped and a keyframe is asked for.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

/// Frames waiting for the decoder at most (about 130 ms at 30 fps).
pub const QUEUE_FRAMES: usize = 4;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    closed: bool,
}

/// What the RTP side and the decoding thread share.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// The picture is broken (a frame was dropped, or the decoder says so).
    keyframe_wanted: AtomicBool,
    /// A picture has been decoded since the stream started.
    have_picture: AtomicBool,
}

/// What the decoding thread does with one frame; answers whether it gave a good
/// picture (`Some(true)`), a damaged one or an error (`Some(false)`: a keyframe is
/// wanted), or nothing (`None`).
pub type DecodeFn = Box<dyn FnMut(&[u8]) -> Option<bool> + Send>;

/// The RTP side's handle on a stream's decoding thread; dropping it ends the thread
/// (after the frames still queued), which then runs `on_end`.
pub struct DecodeWorker {
    shared: Arc<Shared>,
}

impl DecodeWorker {
    /// Starts the thread; `decode` runs on it for every frame submitted.
    pub fn start(
        name: String,
        mut decode: DecodeFn,
        on_end: Box<dyn FnOnce() + Send>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        std::thread::Builder::new().name(name).spawn(move || {
            while let Some(frame) = worker.next() {
                match decode(&frame) {
                    Some(true) => worker.have_picture.store(true, Ordering::Relaxed),
                    Some(false) => worker.keyframe_wanted.store(true, Ordering::Relaxed),
                    None => {}
                }
            }
            on_end();
        })?;
        Ok(DecodeWorker { shared })
    }

    /// Queues a frame for decoding; when the queue is full the oldest frame goes (and
    /// a keyframe is wanted, since the frames after it lost their reference).
    pub fn submit(&self, frame: Bytes) {
        if let Ok(mut q) = self.shared.queue.lock() {
            if q.frames.len() >= QUEUE_FRAMES {
                q.frames.pop_front();
                self.shared.keyframe_wanted.store(true, Ordering::Relaxed);
            }
            q.frames.push_back(frame);
        }
        self.shared.ready.notify_one();
    }

    /// Whether a keyframe should be asked for (the flag is cleared by asking).
    pub fn take_keyframe_wanted(&self) -> bool {
        self.shared.keyframe_wanted.swap(false, Ordering::Relaxed)
            || !self.shared.have_picture.load(Ordering::Relaxed)
    }

    /// Marks the picture broken (a frame was lost before reaching the decoder).
    pub fn picture_broken(&self) {
        self.shared.keyframe_wanted.store(true, Ordering::Relaxed);
    }
}

impl Drop for DecodeWorker {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closed = true;
        }
        self.shared.ready.notify_one();
    }
}

impl Shared {
    /// The next frame, waiting for one; `None` once closed and drained.
    fn next(&self) -> Option<Bytes> {
        let mut q = self.queue.lock().ok()?;
        loop {
            if let Some(frame) = q.frames.pop_front() {
                return Some(frame);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn frames_are_decoded_in_order_off_the_caller_and_the_end_is_told() {
        let (tx, rx) = mpsc::channel();
        let (end_tx, end_rx) = mpsc::channel();
        let worker = DecodeWorker::start(
            "test-decode".into(),
            Box::new(move |f| {
                let _ = tx.send((f.to_vec(), std::thread::current().name().map(String::from)));
                Some(true)
            }),
            Box::new(move || {
                let _ = end_tx.send(());
            }),
        )
        .unwrap();
        assert!(worker.take_keyframe_wanted(), "no picture yet");
        for n in 0..3u8 {
            worker.submit(Bytes::from(vec![n]));
            let (frame, thread) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(frame, [n]);
            assert_eq!(thread.as_deref(), Some("test-decode"));
        }
        assert!(!worker.take_keyframe_wanted());
        drop(worker);
        end_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_decoder_that_falls_behind_keeps_the_newest_frames_and_wants_a_keyframe() {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = mpsc::channel();
        let worker = DecodeWorker::start(
            "test-slow".into(),
            Box::new(move |f| {
                // Stuck until the test lets each frame through.
                let _ = gate_rx.recv();
                let _ = seen_tx.send(f[0]);
                Some(true)
            }),
            Box::new(|| {}),
        )
        .unwrap();
        worker.submit(Bytes::from(vec![0]));
        // The thread holds frame 0; 1..=10 queue up behind it, only the last 4 kept.
        std::thread::sleep(Duration::from_millis(100));
        for n in 1..=10u8 {
            worker.submit(Bytes::from(vec![n]));
        }
        for _ in 0..5 {
            gate_tx.send(()).unwrap();
        }
        let seen: Vec<u8> = (0..5)
            .map(|_| seen_rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(seen, [0, 7, 8, 9, 10]);
        assert!(worker.take_keyframe_wanted());
        assert!(!worker.take_keyframe_wanted(), "cleared by asking");
    }
}
