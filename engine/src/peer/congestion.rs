//! Our congestion control inside webrtc-rs's interceptor chain (issue 13): the only
//! place where the sans-IO blocks of `congestion` meet webrtc-rs. Three interceptors
//! share one [`CongestionHandle`] per connection:
//!
//! - [`TransportCcInterceptor`] (wire-most): numbers every departing RTP packet with a
//!   transport-wide sequence number (retransmissions included), keeps the send history,
//!   turns the receiver's TWCC feedback into [`SendSideBwe`] updates;
//! - [`PacerInterceptor`]: holds RTP in a [`Pacer`] released at the estimate × 2.5,
//!   audio first, then video, then retransmissions;
//! - [`NackResponderInterceptor`]: answers NACKs from an [`RtxHistory`], within the
//!   retransmission budget, never too late, a bounded number of times.
//!
//! Receive side: webrtc-rs's TWCC receiver, so our receivers send transport-wide feedback
//! as Chromium's do, and its NACK generator limited to 3 NACKs per packet (the frame
//! recovery of `pipeline::recovery` NACKs a gap at once besides); retransmissions that
//! come on RTX are restored before either sees them (`peer::rtx`). The encoder follows the
//! estimate through `pipeline::send::spawn_estimate_follower`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, NackGeneratorBuilder, Packet, Registry, Slot,
    StreamInfo, TaggedPacket, TwccReceiverBuilder,
};
use rtc::interceptor::{ReceiverReportBuilder, SenderReportBuilder};
use rtc::peer_connection::configuration::interceptor_registry::configure_simulcast_extension_headers;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, SymbolTypeTcc, TransportLayerCc,
};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::rtp::extension::transport_cc_extension::TransportCcExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;
use rtc::shared::error::Error;
use rtc::shared::marshal::{Marshal, MarshalSize};

use crate::congestion::estimator::{BweConfig, BweStats, CALL_START_BPS, SendSideBwe};
use crate::congestion::feedback::{SendHistory, TransportFeedback};
use crate::congestion::pacer::{Class, Pacer, PacerConfig};
use crate::congestion::rtx::{Refusal, RtxBudget, RtxHistory};
use crate::peer::rtx::{self, PrimaryStreamsOnly, RtxCounters, RtxReceiveInterceptor};

const TRANSPORT_CC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// What the interceptors of one connection share, and the application reads.
#[derive(Debug, Default)]
pub struct CcState {
    pub estimate_bps: f64,
    pub stats: BweStats,
    pub rtx_bytes: u64,
    pub refused: HashMap<Refusal, u64>,
    pub pacer_queue: Duration,
    pub pacer_expired: u64,
    /// When the newest NACKed packet we refused for good first left (the receiver's
    /// frame stays broken until a keyframe).
    pub lost_sent_at: Option<Instant>,
}

/// One connection's congestion state.
#[derive(Clone, Debug)]
pub struct CongestionHandle {
    state: Arc<Mutex<CcState>>,
    config: BweConfig,
    rtx: RtxCounters,
}

impl CongestionHandle {
    pub fn new(config: BweConfig) -> Self {
        CongestionHandle {
            state: Arc::new(Mutex::new(CcState {
                estimate_bps: config.start_bps,
                ..CcState::default()
            })),
            config,
            rtx: RtxCounters::default(),
        }
    }

    /// Retransmissions received on RTX and restored into their media stream.
    pub fn rtx_restored(&self) -> u64 {
        self.rtx.restored.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A camera call: starts low ([`CALL_START_BPS`]), up to 3 Mbit/s.
    pub fn for_call() -> Self {
        Self::new(BweConfig {
            start_bps: CALL_START_BPS,
            min_bps: 100_000.0,
            max_bps: 3_000_000.0,
        })
    }

    /// A screen to one viewer: text wants a higher start.
    pub fn for_screen() -> Self {
        Self::new(BweConfig {
            start_bps: 2_600_000.0,
            min_bps: 150_000.0,
            max_bps: 8_000_000.0,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut CcState) -> R) -> Option<R> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    pub fn estimate_bps(&self) -> f64 {
        self.with(|s| s.estimate_bps).unwrap_or_default()
    }

    pub fn snapshot(&self) -> Option<(f64, BweStats, u64, Duration)> {
        self.with(|s| (s.estimate_bps, s.stats, s.rtx_bytes, s.pacer_queue))
    }

    /// When the newest NACKed packet refused for good first left, and the round trip.
    pub fn lost_for_good(&self) -> (Option<Instant>, Option<Duration>) {
        self.with(|s| (s.lost_sent_at, s.stats.rtt))
            .unwrap_or_default()
    }

    /// NACKed packets not resent so far, by reason.
    pub fn refused(&self) -> HashMap<Refusal, u64> {
        self.with(|s| s.refused.clone()).unwrap_or_default()
    }
}

/// Registers the congestion-control chain (in place of webrtc-rs's defaults) on a media
/// engine whose codecs are registered already.
pub fn register(
    registry: Registry,
    media: &mut MediaEngine,
    handle: &CongestionHandle,
) -> Result<Registry, rtc::shared::error::Error> {
    for parameter in ["", "pli"] {
        media.register_feedback(
            RTCPFeedback {
                typ: "nack".into(),
                parameter: parameter.into(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(media)?;
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        media.register_feedback(
            RTCPFeedback {
                typ: "transport-cc".into(),
                parameter: String::new(),
            },
            kind,
        );
        media.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: TRANSPORT_CC_URI.into(),
            },
            kind,
            None,
        )?;
    }
    let registry = registry
        .with(
            Slot::CongestionControl,
            TransportCcInterceptor::new(handle.clone(), handle.config),
        )
        .with(Slot::Pacer, PacerInterceptor::new(handle.clone()))
        .with(
            Slot::NackResponder,
            NackResponderInterceptor::new(handle.clone()),
        )
        .with(
            Slot::from(rtx::SLOT),
            RtxReceiveInterceptor::new(handle.rtx.clone()),
        )
        .with(
            Slot::NackGenerator,
            PrimaryStreamsOnly::new(
                NackGeneratorBuilder::new()
                    .with_max_nacks_per_packet(3)
                    .build(),
            ),
        )
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
        .with(
            Slot::ReceiverReport,
            PrimaryStreamsOnly::new(ReceiverReportBuilder::new().build()),
        )
        .with(Slot::SenderReport, SenderReportBuilder::new().build());
    Ok(registry)
}

/// TWCC feedback in our codec-neutral form.
pub fn from_twcc(fb: &TransportLayerCc) -> TransportFeedback {
    let mut arrival = Duration::from_millis(64) * fb.reference_time;
    let mut deltas = fb.recv_deltas.iter();
    let count = usize::from(fb.packet_status_count);
    let mut arrivals = Vec::with_capacity(count);
    let mut push = |symbol: SymbolTypeTcc, arrivals: &mut Vec<Option<Duration>>| {
        if arrivals.len() >= count {
            return;
        }
        match symbol {
            SymbolTypeTcc::PacketNotReceived => arrivals.push(None),
            SymbolTypeTcc::PacketReceivedWithoutDelta => arrivals.push(Some(arrival)),
            SymbolTypeTcc::PacketReceivedSmallDelta | SymbolTypeTcc::PacketReceivedLargeDelta => {
                if let Some(d) = deltas.next() {
                    let magnitude = Duration::from_micros(d.delta.unsigned_abs());
                    arrival = if d.delta < 0 {
                        arrival.saturating_sub(magnitude)
                    } else {
                        arrival + magnitude
                    };
                }
                arrivals.push(Some(arrival));
            }
        }
    };
    for chunk in &fb.packet_chunks {
        match chunk {
            PacketStatusChunk::RunLengthChunk(run) => {
                for _ in 0..run.run_length {
                    push(run.packet_status_symbol, &mut arrivals);
                }
            }
            PacketStatusChunk::StatusVectorChunk(vector) => {
                for symbol in &vector.symbol_list {
                    push(*symbol, &mut arrivals);
                }
            }
        }
    }
    TransportFeedback {
        base_seq: fb.base_sequence_number,
        arrivals,
    }
}

/// `poll_read`/`poll_write` of an interceptor here: each passes messages on through two
/// queues, `reads` (on the way in) and `writes` (on the way out).
macro_rules! poll_queues {
    () => {
        fn poll_read(&mut self) -> Option<TaggedPacket> {
            self.reads.pop_front()
        }

        fn poll_write(&mut self) -> Option<TaggedPacket> {
            self.writes.pop_front()
        }
    };
}

fn passthrough_queues() -> (VecDeque<TaggedPacket>, VecDeque<TaggedPacket>) {
    (VecDeque::new(), VecDeque::new())
}

/// Numbers departing packets, keeps the send history, runs the estimator on feedback.
pub struct TransportCcInterceptor {
    handle: CongestionHandle,
    ext_ids: HashMap<u32, u8>,
    next_seq: u16,
    history: SendHistory,
    bwe: SendSideBwe,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl TransportCcInterceptor {
    pub fn new(handle: CongestionHandle, bwe: BweConfig) -> Self {
        let (reads, writes) = passthrough_queues();
        TransportCcInterceptor {
            handle,
            ext_ids: HashMap::new(),
            next_seq: 0,
            history: SendHistory::new(),
            bwe: SendSideBwe::new(bwe),
            reads,
            writes,
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for TransportCcInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    poll_queues!();

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                let Some(fb) = packet.as_any().downcast_ref::<TransportLayerCc>() else {
                    continue;
                };
                let batch = self.history.on_feedback(msg.now, &from_twcc(fb));
                let estimate = self.bwe.on_feedback(msg.now, &batch);
                let stats = self.bwe.stats();
                tracing::trace!(
                    results = batch.results.len(),
                    lost = batch.lost(),
                    estimate = estimate as u64,
                    delay = stats.delay_bps as u64,
                    loss_bound = ?stats.loss_bound_bps.map(|b| b as u64),
                    acked = ?stats.acked_bps.map(|b| b as u64),
                    usage = ?stats.usage,
                    threshold = stats.threshold,
                    rtt = ?stats.rtt,
                    "feedback"
                );
                self.handle.with(|s| {
                    s.estimate_bps = estimate;
                    s.stats = stats;
                });
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtp(rtp) = &mut msg.message.packet
            && let Some(&id) = self.ext_ids.get(&rtp.header.ssrc)
        {
            let seq = self.next_seq;
            self.next_seq = seq.wrapping_add(1);
            let ext = TransportCcExtension {
                transport_sequence: seq,
            };
            if let Ok(bytes) = ext.marshal() {
                let _ = rtp.header.set_extension(id, bytes.freeze());
            }
            self.history.on_sent(seq, rtp.marshal_size(), msg.now);
        }
        self.writes.push_back(msg);
        Ok(())
    }
}

impl Interceptor for TransportCcInterceptor {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let id = info
            .rtp_header_extensions
            .iter()
            .find(|e| e.uri == TRANSPORT_CC_URI)
            .map(|e| e.id as u8)
            .filter(|id| *id != 0);
        if let Some(id) = id {
            self.ext_ids.insert(info.ssrc, id);
            if let Some(rtx) = info.ssrc_rtx {
                self.ext_ids.insert(rtx, id);
            }
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.ext_ids.remove(&info.ssrc);
        if let Some(rtx) = info.ssrc_rtx {
            self.ext_ids.remove(&rtx);
        }
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// When a queued retransmission stops being worth sending.
#[derive(Debug)]
struct RtxDeadline(Instant);

/// Paces RTP through a [`Pacer`] at the shared estimate.
pub struct PacerInterceptor {
    handle: CongestionHandle,
    pacer: Pacer<TaggedPacket>,
    audio_ssrcs: Vec<u32>,
    now: Option<Instant>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl PacerInterceptor {
    pub fn new(handle: CongestionHandle) -> Self {
        let (reads, writes) = passthrough_queues();
        let estimate = handle.estimate_bps();
        PacerInterceptor {
            handle,
            pacer: Pacer::new(PacerConfig::default(), estimate),
            audio_ssrcs: Vec::new(),
            now: None,
            reads,
            writes,
        }
    }

    fn release(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        self.pacer.set_estimate(self.handle.estimate_bps());
        while self.pacer.next_release(now).is_some_and(|t| t <= now) {
            let Some(released) = self.pacer.pop(now) else {
                break;
            };
            let mut packet = released.item;
            packet.now = now;
            self.writes.push_back(packet);
        }
        let (queue, expired) = (self.pacer.expected_queue_time(), self.pacer.expired());
        self.handle.with(|s| {
            s.pacer_queue = queue;
            s.pacer_expired = expired;
        });
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for PacerInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    poll_queues!();

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let now = msg.now;
        let Packet::Rtp(rtp) = &msg.message.packet else {
            // Feedback is only useful fresh: never paced.
            self.writes.push_back(msg);
            return Ok(());
        };
        let size = rtp.marshal_size();
        let (class, expires) = if msg.message.has(&Attribute::Retransmission) {
            let deadline = msg.message.custom::<RtxDeadline>().map(|d| d.0);
            (Class::Retransmission, deadline)
        } else if self.audio_ssrcs.contains(&rtp.header.ssrc) {
            (Class::Audio, None)
        } else {
            (Class::Video, None)
        };
        self.pacer.push(now, class, size, msg, expires);
        self.release(now);
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.release(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let now = self.now?;
        self.pacer.next_release(now)
    }
}

impl Interceptor for PacerInterceptor {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio_ssrcs.push(info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio_ssrcs.retain(|s| *s != info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

struct LocalStream {
    history: RtxHistory<rtc::rtp::packet::Packet>,
    rtx: Option<(u32, u8)>,
    rtx_seq: u16,
}

/// Answers NACKs within the retransmission budget.
pub struct NackResponderInterceptor {
    handle: CongestionHandle,
    streams: HashMap<u32, LocalStream>,
    budget: RtxBudget,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl NackResponderInterceptor {
    pub fn new(handle: CongestionHandle) -> Self {
        let (reads, writes) = passthrough_queues();
        NackResponderInterceptor {
            handle,
            streams: HashMap::new(),
            budget: RtxBudget::new(),
            reads,
            writes,
        }
    }

    fn on_nack(&mut self, now: Instant, nack: &TransportLayerNack) {
        let Some(stream) = self.streams.get_mut(&nack.media_ssrc) else {
            return;
        };
        let (estimate, rtt) = self
            .handle
            .with(|s| (s.estimate_bps, s.stats.rtt))
            .unwrap_or_default();
        let mut refused: Vec<Refusal> = Vec::new();
        let mut lost_sent_at: Option<Instant> = None;
        for pair in &nack.nacks {
            for seq in pair.packet_list() {
                let resend = match stream
                    .history
                    .on_nack(now, seq, rtt, estimate, &mut self.budget)
                {
                    Ok(r) => r,
                    Err(why) => {
                        refused.push(why);
                        if why.is_final() {
                            lost_sent_at = lost_sent_at.max(stream.history.sent_at(seq));
                        }
                        continue;
                    }
                };
                let original = resend.item;
                let packet = match stream.rtx {
                    Some((ssrc, pt)) => {
                        // RFC 4588: the original sequence number, then the payload.
                        let mut payload = Vec::with_capacity(2 + original.payload.len());
                        payload.extend_from_slice(&original.header.sequence_number.to_be_bytes());
                        payload.extend_from_slice(&original.payload);
                        let seq = stream.rtx_seq;
                        stream.rtx_seq = seq.wrapping_add(1);
                        rtc::rtp::packet::Packet {
                            header: rtc::rtp::header::Header {
                                version: 2,
                                ssrc,
                                payload_type: pt,
                                sequence_number: seq,
                                timestamp: original.header.timestamp,
                                marker: original.header.marker,
                                ..Default::default()
                            },
                            payload: payload.into(),
                        }
                    }
                    None => original.clone(),
                };
                let deadline = resend.expires;
                self.writes.push_back(TaggedPacket {
                    now,
                    transport: TransportContext::default(),
                    message: AttributedPacket::new(Packet::Rtp(packet))
                        .with(Attribute::Retransmission)
                        .with(Attribute::Custom(Arc::new(RtxDeadline(deadline)))),
                });
            }
        }
        let spent = self.budget.spent();
        self.handle.with(|s| {
            s.rtx_bytes = spent;
            for why in refused {
                *s.refused.entry(why).or_default() += 1;
            }
            s.lost_sent_at = s.lost_sent_at.max(lost_sent_at);
        });
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackResponderInterceptor {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    poll_queues!();

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let nacks: Vec<TransportLayerNack> = packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>().cloned())
                .collect();
            for nack in &nacks {
                self.on_nack(msg.now, nack);
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet
            && let Some(stream) = self.streams.get_mut(&rtp.header.ssrc)
        {
            stream.history.on_sent(
                msg.now,
                rtp.header.sequence_number,
                rtp.marshal_size(),
                rtp.clone(),
            );
        }
        self.writes.push_back(msg);
        Ok(())
    }
}

impl Interceptor for NackResponderInterceptor {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let nack = info
            .rtcp_feedback
            .iter()
            .any(|f| f.typ == "nack" && f.parameter.is_empty());
        if nack {
            self.streams.insert(
                info.ssrc,
                LocalStream {
                    history: RtxHistory::new(),
                    rtx: info.ssrc_rtx.zip(info.payload_type_rtx),
                    // RFC 3550: a random start, as for any stream.
                    rtx_seq: crate::peer::tracks::rand_ssrc() as u16,
                },
            );
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
        RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk, SymbolSizeTypeTcc,
    };

    #[test]
    fn twcc_feedback_converts_to_arrivals() {
        let fb = TransportLayerCc {
            base_sequence_number: 65534,
            packet_status_count: 5,
            reference_time: 10,
            packet_chunks: vec![
                PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                    type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                    packet_status_symbol: SymbolTypeTcc::PacketReceivedSmallDelta,
                    run_length: 2,
                }),
                PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                    type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                    symbol_size: SymbolSizeTypeTcc::TwoBit,
                    symbol_list: vec![
                        SymbolTypeTcc::PacketNotReceived,
                        SymbolTypeTcc::PacketReceivedLargeDelta,
                        SymbolTypeTcc::PacketReceivedSmallDelta,
                        // Padding past the count.
                        SymbolTypeTcc::PacketNotReceived,
                        SymbolTypeTcc::PacketNotReceived,
                    ],
                }),
            ],
            recv_deltas: [1000, 250, -500, 2000]
                .into_iter()
                .map(|delta| RecvDelta {
                    type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
                    delta,
                })
                .collect(),
            ..Default::default()
        };
        let converted = from_twcc(&fb);
        let base = Duration::from_millis(640);
        let us = Duration::from_micros;
        assert_eq!(converted.base_seq, 65534);
        assert_eq!(
            converted.arrivals,
            [
                Some(base + us(1000)),
                Some(base + us(1250)),
                None,
                Some(base + us(750)),
                Some(base + us(2750)),
            ]
        );
    }
}
