//! Counters for `/metrics`, rendered as Prometheus text. Plain atomics: the hot path
//! (a relay) adds one relaxed increment.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::protocol::{ErrorCode, RelayKind};
use crate::rooms::Counts;

/// Why a connection was refused before it began.
pub const REFUSALS: [&str; 3] = ["origin", "max_connections", "max_connections_per_ip"];

#[derive(Default)]
pub struct Metrics {
    connections: AtomicI64,
    connections_total: AtomicU64,
    refused_total: [AtomicU64; REFUSALS.len()],
    slow_clients_total: AtomicU64,
    joins_total: AtomicU64,
    relays_total: [AtomicU64; RelayKind::ALL.len()],
    chat_messages_total: AtomicU64,
    errors_total: [AtomicU64; ErrorCode::ALL.len()],
}

impl Metrics {
    pub fn connected(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub fn refused(&self, reason: &str) {
        if let Some(i) = REFUSALS.iter().position(|r| *r == reason) {
            self.refused_total[i].fetch_add(1, Relaxed);
        }
    }

    pub fn slow_client_disconnected(&self) {
        self.slow_clients_total.fetch_add(1, Relaxed);
    }

    pub fn disconnected(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    pub fn joined(&self) {
        self.joins_total.fetch_add(1, Relaxed);
    }

    pub fn relayed(&self, kind: RelayKind) {
        self.relays_total[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn chat_message(&self) {
        self.chat_messages_total.fetch_add(1, Relaxed);
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors_total[code.index()].fetch_add(1, Relaxed);
    }

    /// Prometheus text exposition, with the room registry's counts.
    pub fn render(&self, counts: Counts) -> String {
        let mut out = String::with_capacity(4096);
        let mut gauge = |name: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "huddle_connections",
            "Open Socket.IO connections.",
            self.connections.load(Relaxed).to_string(),
        );
        gauge(
            "huddle_rooms",
            "Rooms with at least one participant.",
            counts.rooms.to_string(),
        );
        gauge(
            "huddle_participants",
            "Connections that are in a room.",
            counts.participants.to_string(),
        );
        gauge(
            "huddle_waiting",
            "Connections in a waiting room.",
            counts.waiting.to_string(),
        );
        gauge(
            "huddle_meetings",
            "Meetings not ended (their room may be empty for now).",
            counts.meetings.to_string(),
        );
        gauge(
            "process_resident_memory_bytes",
            "Resident memory of the server process.",
            resident_memory_bytes().to_string(),
        );

        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut out,
            "huddle_connections_total",
            "Connections accepted.",
        );
        let _ = writeln!(
            out,
            "huddle_connections_total {}",
            self.connections_total.load(Relaxed)
        );
        counter(
            &mut out,
            "huddle_connections_refused_total",
            "Connections refused at the handshake, by reason.",
        );
        for (i, reason) in REFUSALS.iter().enumerate() {
            let _ = writeln!(
                out,
                "huddle_connections_refused_total{{reason=\"{reason}\"}} {}",
                self.refused_total[i].load(Relaxed)
            );
        }
        counter(
            &mut out,
            "huddle_slow_clients_disconnected_total",
            "Clients disconnected for not reading what was sent to them.",
        );
        let _ = writeln!(
            out,
            "huddle_slow_clients_disconnected_total {}",
            self.slow_clients_total.load(Relaxed)
        );
        counter(&mut out, "huddle_joins_total", "Successful room joins.");
        let _ = writeln!(out, "huddle_joins_total {}", self.joins_total.load(Relaxed));
        counter(
            &mut out,
            "huddle_relays_total",
            "Relayed messages by event.",
        );
        for kind in RelayKind::ALL {
            let _ = writeln!(
                out,
                "huddle_relays_total{{event=\"{}\"}} {}",
                kind.sent_as(),
                self.relays_total[kind.index()].load(Relaxed)
            );
        }
        counter(
            &mut out,
            "huddle_chat_messages_total",
            "Chat messages stored and delivered.",
        );
        let _ = writeln!(
            out,
            "huddle_chat_messages_total {}",
            self.chat_messages_total.load(Relaxed)
        );
        counter(
            &mut out,
            "huddle_errors_total",
            "Refused requests by error code.",
        );
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "huddle_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                self.errors_total[code.index()].load(Relaxed)
            );
        }
        out
    }
}

/// Resident set size from `/proc/self/statm` (0 where there is no procfs).
fn resident_memory_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    pages * 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_values() {
        let m = Metrics::default();
        m.connected();
        m.joined();
        m.relayed(RelayKind::IceCandidate);
        m.relayed(RelayKind::IceCandidate);
        m.error(ErrorCode::RoomFull);
        m.refused("max_connections_per_ip");
        let text = m.render(Counts {
            rooms: 3,
            participants: 7,
            waiting: 2,
            meetings: 4,
        });
        assert!(text.contains("huddle_connections 1\n"));
        assert!(text.contains("huddle_rooms 3\n"));
        assert!(text.contains("huddle_participants 7\n"));
        assert!(text.contains("huddle_joins_total 1\n"));
        assert!(text.contains("huddle_relays_total{event=\"ice:candidate\"} 2\n"));
        assert!(text.contains("huddle_errors_total{code=\"room_full\"} 1\n"));
        assert!(text.contains("huddle_chat_messages_total 0\n"));
        assert!(text.contains("huddle_waiting 2\n"));
        assert!(text.contains("huddle_meetings 4\n"));
        assert!(
            text.contains(
                "huddle_connections_refused_total{reason=\"max_connections_per_ip\"} 1\n"
            )
        );
        assert!(text.contains("huddle_slow_clients_disconnected_total 0\n"));
        assert!(!text.contains("process_resident_memory_bytes 0\n"));
    }
}
