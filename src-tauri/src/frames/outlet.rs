//! Frames waiting for the window, newest wins: each stream keeps at most one frame waiting,
//! and a newer frame of that stream replaces it in place. However slow the window is (a busy
//! machine, a stalled web process), nothing queues up behind it, so what it draws next is the
//! most recent picture, never one from seconds ago.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::packing;

#[derive(Default)]
struct Waiting {
    /// Bumped by every connection, so an outlet left behind by a reloaded window stops.
    generation: u64,
    connected: bool,
    /// (stream key, packed frame), in the order the streams got a frame.
    frames: VecDeque<(String, Vec<u8>)>,
}

/// The shared side: the hub puts frames in, the window's connection takes them out.
#[derive(Default)]
pub struct Outlets {
    waiting: Mutex<Waiting>,
    ready: Notify,
    sent: AtomicU64,
    replaced: AtomicU64,
}

fn lock(m: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outlets {
    /// A new connection of the window: it replaces the previous one (whose frames are gone).
    pub fn connect(self: &Arc<Self>) -> FrameOutlet {
        let mut w = lock(&self.waiting);
        w.generation += 1;
        w.connected = true;
        w.frames.clear();
        // Wakes an older outlet, so it sees it has been replaced and ends.
        self.ready.notify_waiters();
        FrameOutlet {
            outlets: self.clone(),
            generation: w.generation,
        }
    }

    /// Whether a window is there to take frames.
    pub fn connected(&self) -> bool {
        lock(&self.waiting).connected
    }

    /// Leaves `message` for the window as the newest frame of stream `key`; false when no
    /// window is connected.
    pub fn put(&self, key: &str, message: Vec<u8>) -> bool {
        let mut w = lock(&self.waiting);
        if !w.connected {
            return false;
        }
        if let Some(slot) = w.frames.iter_mut().find(|(k, _)| k == key) {
            slot.1 = message;
            self.replaced.fetch_add(1, Ordering::Relaxed);
        } else {
            w.frames.push_back((key.to_string(), message));
        }
        drop(w);
        self.ready.notify_waiters();
        true
    }

    /// (frames taken by the window, frames replaced by a newer one before it took them).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.replaced.load(Ordering::Relaxed),
        )
    }
}

/// One connection's end: takes the waiting frames, oldest stream first.
pub struct FrameOutlet {
    outlets: Arc<Outlets>,
    generation: u64,
}

enum Take {
    Frame(Vec<u8>),
    Empty,
    Replaced,
}

impl FrameOutlet {
    fn take(&self) -> Take {
        let mut w = lock(&self.outlets.waiting);
        if w.generation != self.generation {
            return Take::Replaced;
        }
        match w.frames.pop_front() {
            Some((_, mut message)) => {
                // Stamped as it leaves: the time it waited shows as preparation, not transport.
                packing::stamp_sent_at(&mut message, packing::now_ms());
                self.outlets.sent.fetch_add(1, Ordering::Relaxed);
                Take::Frame(message)
            }
            None => Take::Empty,
        }
    }

    /// The next frame; `None` once a newer connection has replaced this one.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        loop {
            let ready = self.outlets.ready.notified();
            tokio::pin!(ready);
            // Registered before looking, so a frame put in between is not missed.
            ready.as_mut().enable();
            match self.take() {
                Take::Frame(message) => return Some(message),
                Take::Replaced => return None,
                Take::Empty => ready.await,
            }
        }
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        match self.take() {
            Take::Frame(message) => Some(message),
            Take::Empty | Take::Replaced => None,
        }
    }
}

impl Drop for FrameOutlet {
    fn drop(&mut self) {
        let mut w = lock(&self.outlets.waiting);
        if w.generation == self.generation {
            w.connected = false;
            w.frames.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8) -> Vec<u8> {
        let mut m = vec![0u8; 32];
        m[31] = tag;
        m
    }

    #[test]
    fn newest_frame_of_each_stream_wins_and_streams_keep_their_turn() {
        let outlets = Arc::new(Outlets::default());
        assert!(!outlets.put("a", frame(1)), "no window: nothing kept");
        let mut outlet = outlets.connect();
        for tag in 1..=5 {
            assert!(outlets.put("a", frame(tag)));
        }
        outlets.put("b", frame(10));
        outlets.put("a", frame(6));
        assert_eq!(outlet.try_recv().map(|m| m[31]), Some(6));
        assert_eq!(outlet.try_recv().map(|m| m[31]), Some(10));
        assert_eq!(outlet.try_recv(), None);
        assert_eq!(outlets.counters(), (2, 5));
    }

    #[tokio::test]
    async fn a_new_connection_replaces_the_old_one_and_a_dropped_one_disconnects() {
        let outlets = Arc::new(Outlets::default());
        let mut old = outlets.connect();
        outlets.put("a", frame(1));
        let mut new = outlets.connect();
        assert_eq!(old.recv().await, None);
        assert_eq!(
            new.try_recv(),
            None,
            "frames of the old connection are gone"
        );
        let waiter = tokio::spawn(async move { new.recv().await.map(|m| m[31]) });
        tokio::task::yield_now().await;
        outlets.put("a", frame(2));
        assert_eq!(waiter.await.unwrap(), Some(2));
        assert!(!outlets.connected(), "the outlet was dropped with its task");
    }
}
