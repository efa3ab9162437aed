//! The connection figures the window shows per participant: rates over the last
//! interval, a quality grade, and who is speaking.

use std::collections::HashMap;
use std::time::Instant;

use huddle_engine::{ConnectionReport, ReceivedStream, StreamKind};
use serde::Serialize;

use crate::local_media::level_from_rms;

/// A meter level above this counts as speaking.
const SPEAKING_LEVEL: f32 = 0.35;

/// One participant's connection as the window shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct PeerStats {
    pub id: String,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss_pct: Option<f64>,
    pub fps: Option<f64>,
    pub kbps: Option<f64>,
    pub audio_level: f32,
    pub quality: Quality,
    /// The call goes through a TURN relay (true) or directly (false); null until connected.
    /// Through the SFU: whether our subscriber connection to it is relayed.
    pub relayed: Option<bool>,
    /// Their media reaches us through the room's SFU, not a call of our own.
    pub via_sfu: bool,
}

/// The `stats` event, about twice a second while joined.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct StatsEvent {
    pub peers: Vec<PeerStats>,
    /// The participant speaking loudest now (may be ourselves), or null.
    pub active_speaker: Option<String>,
}

/// How good a connection is for talking.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub enum Quality {
    Good,
    Fair,
    Poor,
    Unknown,
}

/// Counters of one stream at the previous look, for rates over the last interval.
#[derive(Clone, Copy)]
pub struct Seen {
    at: Instant,
    packets: u64,
    lost: u64,
    bytes: u64,
    frames: u64,
}

/// Per participant: the connection's figures over the last interval, a quality grade, and
/// who speaks loudest (ourselves included).
pub fn summarize(
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
            quality: Quality::Unknown,
            relayed: None,
            via_sfu: false,
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

/// Whether each participant's call is relayed, from the session's connections (the
/// latest call connection with them whose candidate pair is known).
pub fn mark_paths(event: &mut StatsEvent, connections: &[ConnectionReport]) {
    let connected = |c: &&ConnectionReport| c.local_candidate_type.is_some();
    // In an SFU room everyone's media comes down our one subscriber connection.
    let subscriber = connections
        .iter()
        .rev()
        .filter(connected)
        .find(|c| c.purpose == "sfu-subscriber");
    for peer in &mut event.peers {
        let call = connections
            .iter()
            .rev()
            .filter(connected)
            .find(|c| c.remote_id == peer.id && c.purpose == "call");
        peer.via_sfu = call.is_none() && subscriber.is_some();
        peer.relayed = call.or(subscriber).map(ConnectionReport::relayed);
    }
}

/// Good enough to talk: low round trip and little loss; poor: conversation suffers.
fn grade(p: &PeerStats) -> Quality {
    let Some(kbps) = p.kbps else {
        return Quality::Unknown;
    };
    if kbps <= 0.0 {
        return Quality::Poor;
    }
    let rtt = p.rtt_ms.unwrap_or(0.0);
    let loss = p.loss_pct.unwrap_or(0.0);
    if rtt < 150.0 && loss < 2.0 {
        Quality::Good
    } else if rtt < 400.0 && loss < 8.0 {
        Quality::Fair
    } else {
        Quality::Poor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert!(first.peers.iter().all(|p| p.quality == Quality::Unknown));
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
        assert_eq!(ada.quality, Quality::Good);
        assert_eq!(bob.loss_pct, Some(25.0));
        assert_eq!(bob.quality, Quality::Poor);
        assert_eq!(s.active_speaker.as_deref(), Some("ada"));
    }

    #[test]
    fn a_call_through_a_relay_is_marked_relayed() {
        let conn = |id: &str, local: Option<&str>, remote: &str| ConnectionReport {
            remote_id: id.into(),
            remote_email: format!("{id}@x.io"),
            purpose: "call",
            local_candidate_type: local.map(str::to_string),
            remote_candidate_type: Some(remote.into()),
            connect_ms: Some(100.0),
            ice_restarts: 0,
        };
        let t0 = Instant::now();
        let mut seen = HashMap::new();
        let streams = [
            stream("ada", StreamKind::Video, t0),
            stream("bob", StreamKind::Video, t0),
            stream("cy", StreamKind::Video, t0),
        ];
        let mut s = summarize(&streams, &mut seen, t0, "me", 0.0);
        mark_paths(
            &mut s,
            &[
                conn("ada", Some("host"), "srflx"),
                conn("bob", Some("host"), "relay"),
                conn("cy", None, "host"),
            ],
        );
        let relayed = |id: &str| s.peers.iter().find(|p| p.id == id).unwrap().relayed;
        assert_eq!(relayed("ada"), Some(false));
        assert_eq!(relayed("bob"), Some(true));
        assert_eq!(relayed("cy"), None, "not connected yet");
        assert!(s.peers.iter().all(|p| !p.via_sfu));

        // The room moved to the SFU: the calls are gone, the subscriber carries everyone.
        let sfu = ConnectionReport {
            remote_id: String::new(),
            remote_email: "SFU".into(),
            purpose: "sfu-subscriber",
            ..conn("", Some("relay"), "host")
        };
        mark_paths(&mut s, &[sfu]);
        for p in &s.peers {
            assert!(p.via_sfu, "{} comes through the SFU", p.id);
            assert_eq!(p.relayed, Some(true), "our leg to the SFU is relayed");
        }
    }

    #[test]
    fn we_can_be_the_active_speaker() {
        let mut seen = HashMap::new();
        let s = summarize(&[], &mut seen, Instant::now(), "me", 0.9);
        assert_eq!(s.active_speaker.as_deref(), Some("me"));
    }
}
