//! Reassembles video frames from RTP packets as soon as a frame is complete.
//!
//! A frame is complete when its first packet (partition head), every packet after it
//! and the packet carrying the marker bit have arrived. Waiting for the next frame's
//! timestamp instead (what a generic sample builder does) costs a whole frame
//! interval of latency. A gap is waited for a little (NACK retransmissions fill it),
//! then the broken frame is dropped and reported, so the caller can ask for a keyframe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Depacketizer;

/// How long a missing packet is waited for before its frame is given up.
const MAX_WAIT: Duration = Duration::from_millis(150);
/// Packets buffered at most (a 1080p keyframe is a few hundred).
const MAX_PACKETS: usize = 2048;

pub struct FrameAssembler {
    /// The codec's RTP payload format.
    depacketizer: Box<dyn Depacketizer + Send>,
    /// Packets by extended (unwrapped) sequence number.
    packets: BTreeMap<u64, (Packet, Instant)>,
    last_ext_seq: Option<u64>,
    /// Everything at or below this was emitted or given up.
    done_up_to: Option<u64>,
}

/// A reassembled frame.
pub struct AssembledFrame {
    pub data: Bytes,
}

/// What one call to [`FrameAssembler::pop`] found.
pub enum Assembly {
    Frame(AssembledFrame),
    /// A frame could not be completed and was dropped.
    Lost,
}

impl FrameAssembler {
    pub fn new(depacketizer: Box<dyn Depacketizer + Send>) -> Self {
        FrameAssembler {
            depacketizer,
            packets: BTreeMap::new(),
            last_ext_seq: None,
            done_up_to: None,
        }
    }

    fn unwrap_seq(&mut self, seq: u16) -> u64 {
        let ext = match self.last_ext_seq {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let cycle = last & !0xFFFF;
                let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
                candidates
                    .into_iter()
                    .map(|c| c + u64::from(seq))
                    .min_by_key(|c| c.abs_diff(last))
                    .unwrap_or(cycle + u64::from(seq))
            }
        };
        if self.last_ext_seq.is_none_or(|last| ext > last) {
            self.last_ext_seq = Some(ext);
        }
        ext
    }

    pub fn push(&mut self, packet: Packet, now: Instant) {
        let ext = self.unwrap_seq(packet.header.sequence_number);
        if self.done_up_to.is_some_and(|done| ext <= done) {
            return; // late duplicate or retransmission of an emitted frame
        }
        self.packets.insert(ext, (packet, now));
        while self.packets.len() > MAX_PACKETS {
            self.packets.pop_first();
        }
    }

    /// The next complete frame, a lost one, or `None` when waiting for packets.
    pub fn pop(&mut self, now: Instant) -> Option<Assembly> {
        let (&first, (head, arrived)) = self.packets.first_key_value()?;
        let stale = now.saturating_duration_since(*arrived) > MAX_WAIT;
        // A frame must start at a partition head right after what was done.
        let contiguous_start = self.done_up_to.is_none_or(|done| first == done + 1);
        let timestamp = head.header.timestamp;
        if !self.depacketizer.is_partition_head(&head.payload) || (!contiguous_start && !stale) {
            if !stale {
                return None;
            }
            self.drop_frame(timestamp);
            return Some(Assembly::Lost);
        }
        let mut seq = first;
        loop {
            let Some((p, _)) = self.packets.get(&seq) else {
                if stale {
                    self.drop_frame(timestamp);
                    return Some(Assembly::Lost);
                }
                return None; // a gap: wait for the retransmission
            };
            if p.header.timestamp != timestamp {
                // The next frame began before this one's marker: it is broken.
                self.drop_through(seq - 1);
                return Some(Assembly::Lost);
            }
            if p.header.marker {
                return Some(self.assemble(first, seq));
            }
            seq += 1;
        }
    }

    /// Gives up every buffered packet of the frame with this timestamp.
    fn drop_frame(&mut self, timestamp: u32) {
        let last = self
            .packets
            .iter()
            .filter(|(_, (p, _))| p.header.timestamp == timestamp)
            .map(|(&s, _)| s)
            .max();
        if let Some(last) = last {
            self.drop_through(last);
        }
    }

    fn drop_through(&mut self, last: u64) {
        while self
            .packets
            .first_key_value()
            .is_some_and(|(&s, _)| s <= last)
        {
            self.packets.pop_first();
        }
        self.done_up_to = Some(self.done_up_to.map_or(last, |d| d.max(last)));
    }

    fn assemble(&mut self, first: u64, last: u64) -> Assembly {
        let mut data = BytesMut::new();
        let mut broken = false;
        for seq in first..=last {
            if let Some((p, _)) = self.packets.remove(&seq) {
                match self.depacketizer.depacketize(&p.payload) {
                    Ok(part) => data.extend_from_slice(&part),
                    Err(_) => broken = true,
                }
            }
        }
        self.done_up_to = Some(last);
        if broken {
            return Assembly::Lost;
        }
        Assembly::Frame(AssembledFrame {
            data: data.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::codec::vp8::Vp8Packet;
    use rtc::rtp::header::Header;

    /// A VP8 RTP packet: descriptor byte (S bit on the first), then `body`.
    fn packet(seq: u16, ts: u32, first: bool, marker: bool, body: &[u8]) -> Packet {
        let mut payload = vec![if first { 0x10 } else { 0x00 }];
        payload.extend_from_slice(body);
        Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        }
    }

    fn frame(a: Option<Assembly>) -> Vec<u8> {
        match a {
            Some(Assembly::Frame(f)) => f.data.to_vec(),
            Some(Assembly::Lost) => panic!("lost"),
            None => panic!("nothing"),
        }
    }

    #[test]
    fn a_frame_is_released_on_its_marker_even_out_of_order_and_across_the_wrap() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(Box::new(Vp8Packet::default()));
        a.push(packet(65534, 1000, true, false, b"ab__"), now);
        assert!(a.pop(now).is_none());
        a.push(packet(0, 1000, false, true, b"ef__"), now);
        assert!(a.pop(now).is_none(), "65535 is missing");
        a.push(packet(65535, 1000, false, false, b"cd__"), now);
        assert_eq!(frame(a.pop(now)), b"ab__cd__ef__");
        a.push(packet(1, 4000, true, true, b"gh__"), now);
        assert_eq!(frame(a.pop(now)), b"gh__");
        // A retransmission of an emitted packet is ignored.
        a.push(packet(0, 1000, false, true, b"ef__"), now);
        assert!(a.pop(now).is_none());
    }

    #[test]
    fn a_gap_that_never_fills_loses_only_that_frame() {
        let now = Instant::now();
        let mut a = FrameAssembler::new(Box::new(Vp8Packet::default()));
        a.push(packet(10, 1, true, false, b"a___"), now);
        a.push(packet(12, 1, false, true, b"c___"), now);
        a.push(packet(13, 2, true, true, b"d___"), now);
        assert!(a.pop(now).is_none());
        let later = now + MAX_WAIT + Duration::from_millis(1);
        assert!(matches!(a.pop(later), Some(Assembly::Lost)));
        assert_eq!(frame(a.pop(later)), b"d___");
    }
}
