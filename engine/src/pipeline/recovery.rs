//! Video frames out of RTP, with loss recovery where the codec allows it: VP8 goes
//! through [`FrameRecovery`] (hold a frame for its retransmission about a round trip,
//! NACK gaps at once, never decode across a gap, keyframe requests at a bounded rate);
//! H.264 through the plain [`FrameAssembler`] (its frame boundaries are not parsed yet).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Depacketizer;

use super::assembler::{Assembly, FrameAssembler};
use crate::codec::{VideoCodec, vp8};
use crate::congestion::recovery::{self, FrameRecovery, PacketInfo, RecoveryStats};

/// What the receive loop is asked to do.
pub enum Recovered {
    /// A complete frame that can be decoded.
    Frame(Bytes),
    /// A frame could not be completed (the decoder will need a keyframe). VP8's losses
    /// are counted in [`FrameSource::stats`] instead.
    Lost,
    /// Ask the sender for these sequence numbers.
    Nack(Vec<u16>),
    /// Ask the sender for a keyframe.
    Keyframe,
}

/// The frame source of one received video track.
pub enum FrameSource {
    Vp8 {
        recovery: FrameRecovery<Bytes>,
        depacketizer: Vp8Packet,
    },
    Plain(FrameAssembler),
}

impl FrameSource {
    pub fn new(codec: &'static VideoCodec) -> Self {
        if std::ptr::eq(codec, &vp8::VP8) {
            FrameSource::Vp8 {
                recovery: FrameRecovery::new(),
                depacketizer: Vp8Packet::default(),
            }
        } else {
            FrameSource::Plain(FrameAssembler::new(codec.depacketizer()))
        }
    }

    /// The connection's round trip, which sets how long a gap is waited for.
    pub fn set_rtt(&mut self, rtt: Duration) {
        if let FrameSource::Vp8 { recovery, .. } = self {
            recovery.set_rtt(rtt);
        }
    }

    pub fn push(&mut self, now: Instant, packet: Packet) {
        match self {
            FrameSource::Vp8 { recovery, .. } => {
                let seq = packet.header.sequence_number;
                if packet.payload.is_empty() {
                    // Padding (a browser's bandwidth probe): fills its number, nothing else.
                    recovery.on_padding(now, seq);
                    return;
                }
                // A payload we cannot read stays a gap: its frame is given up after the hold.
                if let Some(meta) = crate::congestion::vp8::parse(&packet.payload) {
                    let info = PacketInfo {
                        seq,
                        timestamp: packet.header.timestamp,
                        marker: packet.header.marker,
                        frame_start: meta.frame_start,
                        keyframe: meta.keyframe,
                    };
                    recovery.on_packet(now, info, packet.payload);
                }
            }
            FrameSource::Plain(assembler) => assembler.push(packet, now),
        }
    }

    pub fn poll(&mut self, now: Instant) -> Option<Recovered> {
        match self {
            FrameSource::Vp8 {
                recovery,
                depacketizer,
            } => Some(match recovery.poll(now)? {
                recovery::Event::Frame(frame) => {
                    let mut data = BytesMut::new();
                    for payload in &frame.payloads {
                        match depacketizer.depacketize(payload) {
                            Ok(part) => data.extend_from_slice(&part),
                            Err(_) => return Some(Recovered::Keyframe),
                        }
                    }
                    Recovered::Frame(data.freeze())
                }
                recovery::Event::Nack(seqs) => Recovered::Nack(seqs),
                recovery::Event::RequestKeyframe => Recovered::Keyframe,
            }),
            FrameSource::Plain(assembler) => Some(match assembler.pop(now)? {
                Assembly::Frame(f) => Recovered::Frame(f.data),
                Assembly::Lost => Recovered::Lost,
            }),
        }
    }

    /// When [`FrameSource::poll`] has something to do even if no packet comes.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self {
            FrameSource::Vp8 { recovery, .. } => recovery.next_timeout(),
            FrameSource::Plain(_) => None,
        }
    }

    pub fn stats(&self) -> Option<RecoveryStats> {
        match self {
            FrameSource::Vp8 { recovery, .. } => Some(recovery.stats()),
            FrameSource::Plain(_) => None,
        }
    }
}
