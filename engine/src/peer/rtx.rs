//! Received retransmissions (RTX, RFC 4588) inside webrtc-rs's interceptor chain.
//!
//! webrtc-rs turns an RTX packet back into the packet it repairs only after the chain
//! (in its endpoint), and binds the RTX SSRC to every interceptor as a stream of its
//! own. So the interceptors that judge loss from what arrives would see a resent packet
//! as a packet of another stream: the NACK generator would keep asking for a packet that
//! came back on RTX, and would NACK the RTX stream's own gaps (its numbers skip wherever
//! a retransmission turned back into media, and a browser's padding probes use them
//! too); the receiver reports would count those gaps as loss.
//!
//! - [`RtxReceiveInterceptor`] (wire-ward of the NACK generator, the TWCC receiver and the
//!   receiver reports) restores a resent packet in place: media SSRC, payload type and
//!   original sequence number, the payload after the 2-byte OSN. Everything after it sees
//!   the packet it repairs, and the endpoint finds nothing left to undo. A padding-only
//!   packet (a bandwidth probe) passes as it is: the TWCC receiver still reports it (the
//!   sender's probing reads that feedback), the endpoint drops it.
//! - [`PrimaryStreamsOnly`] wraps an interceptor that must not know RTX streams as streams
//!   (the NACK generator, the receiver reports): it hides their bindings.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where [`RtxReceiveInterceptor`] sits: after the pacer and the generators' write legs
/// (slots ≤ 5 000), before the NACK generator (7 000) on the read leg.
pub const SLOT: usize = 5_500;

/// The stream an RTX SSRC repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Primary {
    ssrc: u32,
    payload_type: u8,
    rtx_payload_type: u8,
}

/// RTX SSRC → the stream it repairs, from the primaries' bindings.
#[derive(Debug, Default)]
struct RtxStreams(HashMap<u32, Primary>);

impl RtxStreams {
    fn bind(&mut self, info: &StreamInfo) {
        if let (Some(rtx), Some(rtx_payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.0.insert(
                rtx,
                Primary {
                    ssrc: info.ssrc,
                    payload_type: info.payload_type,
                    rtx_payload_type,
                },
            );
        }
    }

    fn unbind(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.0.remove(&rtx);
        }
    }

    fn is_rtx(&self, ssrc: u32) -> bool {
        self.0.contains_key(&ssrc)
    }
}

/// RFC 4588 §4: rewrites an RTX packet into the packet it carries. `false` (and the
/// packet untouched) when it carries none: shorter than the OSN, i.e. padding.
fn restore(packet: &mut rtc::rtp::packet::Packet, primary: &Primary) -> bool {
    if packet.payload.len() < 2 {
        return false;
    }
    packet.header.sequence_number = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
    packet.header.ssrc = primary.ssrc;
    packet.header.payload_type = primary.payload_type;
    packet.header.padding = false;
    packet.payload = packet.payload.slice(2..);
    true
}

/// Counts what came back on RTX, for the report.
#[derive(Debug, Default, Clone)]
pub struct RtxCounters {
    /// Retransmissions restored into their media stream.
    pub restored: Arc<AtomicU64>,
    /// Padding-only packets (probes) on an RTX SSRC.
    pub padding: Arc<AtomicU64>,
}

/// Restores received retransmissions before the loss-judging interceptors see them.
#[derive(Default)]
pub struct RtxReceiveInterceptor {
    streams: RtxStreams,
    counters: RtxCounters,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl RtxReceiveInterceptor {
    pub fn new(counters: RtxCounters) -> Self {
        RtxReceiveInterceptor {
            counters,
            ..Default::default()
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtxReceiveInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtp(rtp) = &mut msg.message.packet
            && let Some(primary) = self.streams.0.get(&rtp.header.ssrc)
            // Another payload type on this SSRC (a codec switch): left to the endpoint,
            // which knows every `apt`.
            && rtp.header.payload_type == primary.rtx_payload_type
        {
            let counter = if restore(rtp, primary) {
                &self.counters.restored
            } else {
                &self.counters.padding
            };
            counter.fetch_add(1, Relaxed);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for RtxReceiveInterceptor {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.streams.bind(info);
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.streams.unbind(info);
    }
}

/// `inner`, blind to RTX streams: webrtc-rs binds a primary stream (naming its RTX SSRC)
/// before the RTX stream itself, and the latter binding is not passed on.
pub struct PrimaryStreamsOnly<I> {
    inner: I,
    rtx: RtxStreams,
}

impl<I> PrimaryStreamsOnly<I> {
    pub fn new(inner: I) -> Self {
        PrimaryStreamsOnly {
            inner,
            rtx: RtxStreams::default(),
        }
    }
}

impl<I: Interceptor> Protocol<TaggedPacket, TaggedPacket, ()> for PrimaryStreamsOnly<I> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.inner.handle_read(msg)
    }
    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.inner.poll_read()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.inner.handle_write(msg)
    }
    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.inner.poll_write()
    }
    fn handle_event(&mut self, evt: ()) -> Result<(), Error> {
        self.inner.handle_event(evt)
    }
    fn poll_event(&mut self) -> Option<()> {
        self.inner.poll_event()
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.inner.handle_timeout(now)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn close(&mut self) -> Result<(), Error> {
        self.inner.close()
    }
}

impl<I: Interceptor> Interceptor for PrimaryStreamsOnly<I> {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_local_stream(info);
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_local_stream(info);
    }
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if self.rtx.is_rtx(info.ssrc) {
            return;
        }
        self.rtx.bind(info);
        self.inner.bind_remote_stream(info);
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if self.rtx.is_rtx(info.ssrc) {
            return;
        }
        self.inner.unbind_remote_stream(info);
        self.rtx.unbind(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtc::interceptor::{AttributedPacket, NackGeneratorBuilder};
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
    use rtc::shared::TransportContext;
    use std::time::Duration;

    const MEDIA: u32 = 1111;
    const RTX: u32 = 2222;

    fn info(ssrc: u32, rtx: Option<(u32, u8)>, payload_type: u8) -> StreamInfo {
        StreamInfo {
            ssrc,
            ssrc_rtx: rtx.map(|(s, _)| s),
            payload_type,
            payload_type_rtx: rtx.map(|(_, pt)| pt),
            clock_rate: 90_000,
            mime_type: "video/VP8".into(),
            rtcp_feedback: vec![rtc::interceptor::RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            }],
            ..Default::default()
        }
    }

    /// Binds a primary (VP8 96, RTX 97) and then its RTX stream, as webrtc-rs does.
    fn bind(i: &mut impl Interceptor) {
        i.bind_remote_stream(&info(MEDIA, Some((RTX, 97)), 96));
        i.bind_remote_stream(&info(RTX, None, 97));
    }

    fn rtp(ssrc: u32, pt: u8, seq: u16, payload: &[u8]) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(Packet::Rtp(rtc::rtp::packet::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    ssrc,
                    payload_type: pt,
                    sequence_number: seq,
                    timestamp: 9000,
                    ..Default::default()
                },
                payload: Bytes::copy_from_slice(payload),
            })),
        }
    }

    fn read_through(i: &mut impl Interceptor, msg: TaggedPacket) -> rtc::rtp::packet::Packet {
        i.handle_read(msg).unwrap();
        match i.poll_read().map(|m| m.message.packet) {
            Some(Packet::Rtp(p)) => p,
            _ => panic!("no RTP read"),
        }
    }

    #[test]
    fn a_retransmission_is_restored_and_padding_left_alone() {
        let counters = RtxCounters::default();
        let mut i = RtxReceiveInterceptor::new(counters.clone());
        bind(&mut i);
        // OSN 0x0102, then the original payload.
        let p = read_through(&mut i, rtp(RTX, 97, 7, &[1, 2, 0x10, 0xAA]));
        assert_eq!(
            (
                p.header.ssrc,
                p.header.payload_type,
                p.header.sequence_number
            ),
            (MEDIA, 96, 0x0102)
        );
        assert_eq!(&p.payload[..], &[0x10, 0xAA]);
        // A padding-only probe stays on its SSRC (for TWCC), the endpoint drops it.
        let p = read_through(&mut i, rtp(RTX, 97, 8, &[]));
        assert_eq!((p.header.ssrc, p.header.sequence_number), (RTX, 8));
        // Media passes untouched.
        let p = read_through(&mut i, rtp(MEDIA, 96, 5, &[0x10]));
        assert_eq!((p.header.ssrc, p.header.sequence_number), (MEDIA, 5));
        assert_eq!(counters.restored.load(Relaxed), 1);
        assert_eq!(counters.padding.load(Relaxed), 1);
    }

    /// Receiver reports behind the restorer: only the media stream is reported, and a packet
    /// that came back on RTX is not counted lost; the RTX stream's gaps are not reported.
    #[test]
    fn receiver_reports_count_no_rtx_as_loss() {
        use rtc::interceptor::ReceiverReportBuilder;
        use rtc::rtcp::receiver_report::ReceiverReport;
        let mut rtx = RtxReceiveInterceptor::default();
        let mut rr = PrimaryStreamsOnly::new(
            ReceiverReportBuilder::new()
                .with_interval(Duration::from_millis(10))
                .build(),
        );
        bind(&mut rtx);
        bind(&mut rr);
        let t0 = Instant::now();
        // Media 10, (11 lost), 12; 11 back on RTX 100; a probe on RTX 102.
        for msg in [
            rtp(MEDIA, 96, 10, &[0x10]),
            rtp(MEDIA, 96, 12, &[0x10]),
            rtp(RTX, 97, 100, &[0, 11, 0x10]),
            rtp(RTX, 97, 102, &[]),
            rtp(MEDIA, 96, 13, &[0x10]),
        ] {
            let mut msg = msg;
            msg.now = t0;
            rtx.handle_read(msg).unwrap();
            while let Some(m) = rtx.poll_read() {
                rr.handle_read(m).unwrap();
                while rr.poll_read().is_some() {}
            }
        }
        rr.handle_timeout(t0 + Duration::from_millis(20)).unwrap();
        let mut blocks = Vec::new();
        while let Some(m) = rr.poll_write() {
            if let Packet::Rtcp(packets) = m.message.packet {
                for p in packets {
                    if let Some(r) = p.as_any().downcast_ref::<ReceiverReport>() {
                        blocks.extend(r.reports.iter().map(|b| (b.ssrc, b.total_lost)));
                    }
                }
            }
        }
        assert_eq!(blocks, [(MEDIA, 0)]);
    }

    /// The NACK generator behind the restorer: a packet that came back on RTX is not asked
    /// for again, and the RTX stream's own gaps (numbers used by restored packets and
    /// probes) are never NACKed.
    #[test]
    fn the_nack_generator_asks_only_for_media_still_missing() {
        let mut rtx = RtxReceiveInterceptor::default();
        let mut nacks = PrimaryStreamsOnly::new(
            NackGeneratorBuilder::new()
                .with_interval(Duration::from_millis(10))
                .build(),
        );
        bind(&mut rtx);
        bind(&mut nacks);
        let t0 = Instant::now();
        let mut feed = |msg: TaggedPacket, now: Instant| {
            let mut msg = msg;
            msg.now = now;
            rtx.handle_read(msg).unwrap();
            while let Some(m) = rtx.poll_read() {
                nacks.handle_read(m).unwrap();
                while nacks.poll_read().is_some() {}
            }
        };
        // Media 10, 11 lost, 12, 13; RTX 100 (padding), 101 = 11 resent, 102 skipped
        // (lost on the way), 103 (padding).
        feed(rtp(MEDIA, 96, 10, &[0x10]), t0);
        feed(rtp(MEDIA, 96, 13, &[0x10]), t0);
        feed(rtp(RTX, 97, 100, &[]), t0);
        feed(rtp(RTX, 97, 101, &[0, 11, 0x10]), t0);
        feed(rtp(RTX, 97, 103, &[]), t0);
        feed(rtp(MEDIA, 96, 14, &[0x10]), t0);
        let mut asked: Vec<(u32, Vec<u16>)> = Vec::new();
        for k in 1..=3 {
            nacks
                .handle_timeout(t0 + Duration::from_millis(20 * k))
                .unwrap();
            while let Some(m) = nacks.poll_write() {
                if let Packet::Rtcp(packets) = m.message.packet {
                    for p in packets {
                        if let Some(n) = p.as_any().downcast_ref::<TransportLayerNack>() {
                            let seqs = n.nacks.iter().flat_map(|p| p.packet_list()).collect();
                            asked.push((n.media_ssrc, seqs));
                        }
                    }
                }
            }
        }
        assert!(!asked.is_empty(), "12 is missing and must be NACKed");
        for (ssrc, seqs) in &asked {
            assert_eq!(*ssrc, MEDIA, "the RTX stream was NACKed: {asked:?}");
            assert_eq!(seqs, &[12], "{asked:?}");
        }
    }
}
