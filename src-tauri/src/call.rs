//! A joined room: the engine's session, our speaker, and two tasks that keep the window
//! informed — one forwards the session's events, one sends connection figures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_engine::devices::Playback;
use huddle_engine::media::stream::StreamKind;
use huddle_engine::session::{Session, SessionEvent};
use huddle_engine::stats::ReceivedStream;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::events::{Notify, UiSessionEvent};
use crate::local_media::level_from_rms;

/// How often the window gets connection figures.
const STATS_EVERY: Duration = Duration::from_millis(500);
/// A meter level above this counts as speaking.
const SPEAKING_LEVEL: f32 = 0.35;

/// Our microphone's latest meter level, shared with the level listener.
#[derive(Default)]
pub struct OwnLevel(AtomicU32);

impl OwnLevel {
    pub fn set(&self, level: f32) {
        self.0.store(level.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

pub struct Call {
    pub session: Session,
    pub self_id: String,
    pub playback: Mutex<Playback>,
    pub sharing: Mutex<bool>,
    pub muted: Mutex<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Call {
    /// Starts forwarding `session`'s events and figures to the window.
    pub fn start(
        mut session: Session,
        playback: Playback,
        notify: Arc<dyn Notify>,
        own_level: Arc<OwnLevel>,
    ) -> Arc<Call> {
        let self_id = session.joined.id.clone();
        // From here on the forwarding task owns the session's events.
        let (_, drained) = tokio::sync::mpsc::unbounded_channel();
        let events = std::mem::replace(&mut session.events, drained);
        Arc::new_cyclic(|weak: &std::sync::Weak<Call>| {
            let forward = tokio::spawn(forward_events(events, notify.clone()));
            let stats = tokio::spawn(send_stats(weak.clone(), notify, own_level));
            Call {
                session,
                self_id,
                playback: Mutex::new(playback),
                sharing: Mutex::new(false),
                muted: Mutex::new(false),
                tasks: vec![forward, stats],
            }
        })
    }

    /// Stops telling the window about this call (before leaving it).
    pub fn stop_tasks(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn forward_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<SessionEvent>,
    notify: Arc<dyn Notify>,
) {
    while let Some(event) = events.recv().await {
        if let Some(ui) = UiSessionEvent::from_engine(&event) {
            notify.notify("session", serde_json::to_value(ui).unwrap_or_default());
        }
    }
    // The session ended without us leaving: the server is gone for good.
    let ended = UiSessionEvent::Ended {
        reason: "the connection to the server was lost".into(),
    };
    notify.notify("session", serde_json::to_value(ended).unwrap_or_default());
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PeerStats {
    pub id: String,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss_pct: Option<f64>,
    pub fps: Option<f64>,
    pub kbps: Option<f64>,
    pub audio_level: f32,
    pub quality: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatsEvent {
    pub peers: Vec<PeerStats>,
    pub active_speaker: Option<String>,
}

/// Counters of one stream at the previous look, for rates over the last interval.
#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    packets: u64,
    lost: u64,
    bytes: u64,
    frames: u64,
}

async fn send_stats(
    call: std::sync::Weak<Call>,
    notify: Arc<dyn Notify>,
    own_level: Arc<OwnLevel>,
) {
    let mut seen: HashMap<(String, StreamKind), Seen> = HashMap::new();
    let mut ticker = tokio::time::interval(STATS_EVERY);
    loop {
        ticker.tick().await;
        let Some(call) = call.upgrade() else { return };
        let streams = call.session.received();
        let muted = call.muted.lock().map(|m| *m).unwrap_or(false);
        let own = if muted { 0.0 } else { own_level.get() };
        let event = summarize(&streams, &mut seen, Instant::now(), &call.self_id, own);
        drop(call);
        notify.notify("stats", serde_json::to_value(event).unwrap_or_default());
    }
}

/// Per participant: the connection's figures over the last interval, a quality grade, and
/// who speaks loudest (ourselves included).
fn summarize(
    streams: &[ReceivedStream],
    seen: &mut HashMap<(String, StreamKind), Seen>,
    now: Instant,
    self_id: &str,
    own_level: f32,
) -> StatsEvent {
    let mut peers: HashMap<&str, PeerStats> = HashMap::new();
    // Loss and traffic of all a participant's streams together.
    let mut totals: HashMap<&str, (u64, u64)> = HashMap::new();
    for s in streams {
        let peer = peers.entry(&s.remote_id).or_insert_with(|| PeerStats {
            id: s.remote_id.clone(),
            rtt_ms: None,
            jitter_ms: None,
            loss_pct: None,
            fps: None,
            kbps: None,
            audio_level: 0.0,
            quality: "unknown",
        });
        peer.rtt_ms = peer.rtt_ms.or(s.rtt_ms);
        let key = (s.remote_id.clone(), s.kind);
        let current = Seen {
            at: now,
            packets: s.packets,
            lost: s.packets_lost,
            bytes: s.bytes,
            frames: s.frames_decoded,
        };
        let before = seen.insert(key, current);
        let Some(before) = before else { continue };
        let secs = now.duration_since(before.at).as_secs_f64().max(1e-3);
        let packets = current.packets.saturating_sub(before.packets);
        let lost = current.lost.saturating_sub(before.lost);
        let t = totals.entry(&s.remote_id).or_default();
        t.0 += packets;
        t.1 += lost;
        let kbps = current.bytes.saturating_sub(before.bytes) as f64 * 8.0 / 1000.0 / secs;
        peer.kbps = Some(peer.kbps.unwrap_or(0.0) + kbps);
        match s.kind {
            StreamKind::Video => {
                let frames = current.frames.saturating_sub(before.frames);
                peer.fps = Some(frames as f64 / secs);
                peer.jitter_ms = s.jitter_ms.or(peer.jitter_ms);
            }
            StreamKind::Audio => {
                // Silence for a while means no level, not the last loud packet's.
                peer.audio_level = if packets > 0 {
                    level_from_rms(f64::from(s.audio_level))
                } else {
                    0.0
                };
                peer.jitter_ms = peer.jitter_ms.or(s.jitter_ms);
            }
            StreamKind::Screen => {}
        }
    }
    for (id, (packets, lost)) in &totals {
        if let Some(peer) = peers.get_mut(id)
            && packets + lost > 0
        {
            peer.loss_pct = Some(100.0 * *lost as f64 / (packets + lost) as f64);
        }
    }
    for peer in peers.values_mut() {
        peer.quality = grade(peer);
    }
    let loudest = peers
        .values()
        .map(|p| (p.id.as_str(), p.audio_level))
        .chain(std::iter::once((self_id, own_level)))
        .filter(|(_, level)| *level > SPEAKING_LEVEL)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id.to_string());
    let mut peers: Vec<PeerStats> = peers.into_values().collect();
    peers.sort_by(|a, b| a.id.cmp(&b.id));
    StatsEvent {
        peers,
        active_speaker: loudest,
    }
}

/// Good enough to talk: low round trip and little loss; poor: conversation suffers.
fn grade(p: &PeerStats) -> &'static str {
    let Some(kbps) = p.kbps else {
        return "unknown";
    };
    if kbps <= 0.0 {
        return "poor";
    }
    let rtt = p.rtt_ms.unwrap_or(0.0);
    let loss = p.loss_pct.unwrap_or(0.0);
    if rtt < 150.0 && loss < 2.0 {
        "good"
    } else if rtt < 400.0 && loss < 8.0 {
        "fair"
    } else {
        "poor"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(id: &str, kind: StreamKind, since: Instant) -> ReceivedStream {
        ReceivedStream::new(id, &format!("{id}@x.io"), kind, "vp8", since)
    }

    #[test]
    fn rates_loss_quality_and_the_loudest_speaker() {
        let t0 = Instant::now();
        let mut seen = HashMap::new();
        let mut ada_v = stream("ada", StreamKind::Video, t0);
        let mut ada_a = stream("ada", StreamKind::Audio, t0);
        let mut bob_v = stream("bob", StreamKind::Video, t0);
        let first = summarize(
            &[ada_v.clone(), ada_a.clone(), bob_v.clone()],
            &mut seen,
            t0,
            "me",
            0.0,
        );
        assert!(first.peers.iter().all(|p| p.quality == "unknown"));
        assert_eq!(first.active_speaker, None);

        // Over one second: Ada sends 30 frames cleanly and talks; Bob loses a quarter.
        ada_v.packets = 100;
        ada_v.bytes = 125_000;
        ada_v.frames_decoded = 30;
        ada_v.rtt_ms = Some(20.0);
        ada_a.packets = 50;
        ada_a.bytes = 5_000;
        ada_a.audio_level = 0.1; // −20 dBFS
        bob_v.packets = 75;
        bob_v.packets_lost = 25;
        bob_v.bytes = 50_000;
        bob_v.rtt_ms = Some(30.0);
        let t1 = t0 + Duration::from_secs(1);
        let s = summarize(&[ada_v, ada_a, bob_v], &mut seen, t1, "me", 0.2);
        let ada = s.peers.iter().find(|p| p.id == "ada").unwrap();
        let bob = s.peers.iter().find(|p| p.id == "bob").unwrap();
        assert_eq!(ada.fps, Some(30.0));
        assert_eq!(ada.kbps, Some(1040.0));
        assert_eq!(ada.loss_pct, Some(0.0));
        assert_eq!(ada.quality, "good");
        assert_eq!(bob.loss_pct, Some(25.0));
        assert_eq!(bob.quality, "poor");
        assert_eq!(s.active_speaker.as_deref(), Some("ada"));
    }

    #[test]
    fn we_can_be_the_active_speaker() {
        let mut seen = HashMap::new();
        let s = summarize(&[], &mut seen, Instant::now(), "me", 0.9);
        assert_eq!(s.active_speaker.as_deref(), Some("me"));
    }
}
