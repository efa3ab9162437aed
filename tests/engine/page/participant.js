// A browser participant of a Huddle room, for the engine interop tests.
//
// Follows shared/PROTOCOL.md as a participant: joins with an ack, calls everyone in the join
// ack (mesh rule), answers incoming calls, trickles ICE both ways (remote candidates queued
// until the remote description is set), answers peer:nego:needed with peer:nego:done, applies
// peer:nego:final, and closes a peer on call:ended / user:left.
//
// Only loopback ICE candidates leave the page (and only loopback remote candidates are used),
// unless net=any (the network lab: every candidate, with the STUN/TURN servers of `ice`).
//
// Sends: video = a 640×480 canvas stream carrying the BCv1 barcode of Date.now() in the top
// half (shared/TESTSIGNAL.md) and a moving box in the bottom half; audio = an oscillator.
// Receives: reads the barcode of every remote video frame (requestVideoFrameCallback) and
// measures each remote audio track's level and dominant frequency (AnalyserNode).
//
// Screen sharing (PROTOCOL.md "Screen sharing"), on connections separate from the calls:
//  - viewer: on sharerStarted / sharerAvailable remembers the sharer and expects its
//    share:offer; answers it (share:answer) on a receive-only RTCPeerConnection of its own
//    (a later share:offer on it renegotiates), trickles share:ice both ways, renders the
//    screen in its own <video> and reads its barcode per frame like a camera stream; closes
//    it on sharerStopped or the sharer leaving. Stats per sharer: stats().screen[sharerId].
//  - sharer: startSharing({ at? }) requests startSharing (at = epoch ms to send it at, for
//    races); on ok draws a 1280×720 canvas (barcode of Date.now() on top, moving content
//    below), opens one send-only RTCPeerConnection per member with only the screen track and
//    sends each a share:offer; a viewerJoined newcomer gets one too; applies share:answer and
//    share:ice. stopSharing() closes them all. A refusal (sharing_conflict ack and the
//    sharingConflict event) is recorded; shareInfo() tells all of it.
//
// Query parameters: server (signaling URL), email, room, name?, mode? (av | video | audio |
// recv; default av), tone? (oscillator Hz, default 660), codec? (h264: prefer H.264
// constrained baseline, packetization-mode=1, for the video we send — setCodecPreferences on
// every video transceiver before each offer and answer; default: Chromium's own order, VP8
// first); ice? (JSON array of RTCIceServer, default []); net? (loopback | any; default
// loopback); policy? (all | relay: the iceTransportPolicy; default all).
//
// Codecs really used are read from getStats() once a second, per connection: stats()[id]
// .outbound / .outboundCodecs (what we send), .inbound / .inboundCodecs (what we receive),
// .localVideoCodecs / .remoteVideoCodecs (the video codecs of the last local and remote SDP,
// in their order), .codecPreference (what setCodecPreferences was given); info().sendCodecs
// sums the outbound video codec per remote. The selected candidate pair (types, addresses) is
// sampled with them: stats()[id].selectedPair. stats()[id].frameTimes holds the arrival time
// (epoch ms) of every remote video frame, for frame rates and freezes.
//
// SFU path (query sfu=1; docs/protocol.md "SFU"): joins with { sfu: 1 }. When the room uses the
// SFU (the join ack's media, or sfu:mode) it publishes camera and microphone on one send-only
// connection (sfu:publish; the screen joins it as a third stream while sharing) and answers the
// server's sfu:offer on one receive-only connection, routing each m-line by the offer's stream
// list (from, source) into the same per-remote stats as a call (screens into stats().screen).
// Mesh calls of a room that switches are ended once that member's SFU video is read (make
// before break), or after 10 s. sfuInfo() tells it all; sfuView(ids) sends sfu:view.
//
// window.huddleTest = { joined: Promise<{id, room, participants}>, stats(), info(), leave(),
//                       renegotiate(id), startSharing({at}?), stopSharing(), renegotiateShare(id),
//                       shareInfo(), screenSessions(), sdp(id), rawStats(id, types?), myId }.

import { drawBarcode, readBarcodeRGBA, latencyOf } from '/barcode.mjs';

const q = new URLSearchParams(location.search);
const SERVER = q.get('server');
const EMAIL = q.get('email');
const ROOM = q.get('room');
const NAME = q.get('name') || undefined;
const MODE = q.get('mode') || 'av';
const TONE = Number(q.get('tone') || 660);
const CODEC = (q.get('codec') || '').toLowerCase(); // '' (default) | 'h264'
if (CODEC && CODEC !== 'h264') throw new Error(`codec=${CODEC}: only h264 is known`);
// ice=server: the servers the join ack hands out (PROTOCOL.md 1.1), else a JSON list.
const ICE_FROM_SERVER = q.get('ice') === 'server';
let ICE_SERVERS = ICE_FROM_SERVER ? [] : JSON.parse(q.get('ice') || '[]');
const ANY_ADDRESS = q.get('net') === 'any';
const ICE_POLICY = q.get('policy') || 'all';
const SPEAKS_SFU = q.get('sfu') === '1';
// hostile=oversize: a hostile peer. Every VP8 keyframe it sends declares 16383x16383 in
// its header (encoded insertable streams rewrite the bytes after the encoder).
const HOSTILE = q.get('hostile') || '';
if (HOSTILE && HOSTILE !== 'oversize') throw new Error(`hostile=${HOSTILE}: only oversize is known`);
if (!['loopback', 'any'].includes(q.get('net') || 'loopback')) throw new Error(`net=${q.get('net')}: loopback or any`);
if (!['all', 'relay'].includes(ICE_POLICY)) throw new Error(`policy=${ICE_POLICY}: all or relay`);
// pattern=stripes: the bottom half of Huddle's synthetic camera (media/synthetic.rs: diagonal
// stripes scrolling 4 px a frame, a box crossing in 2 s), so a benchmark compares the two
// encoders on the same picture; the default is a flat background, far cheaper to code.
const PATTERN = q.get('pattern') || 'flat';
if (!['flat', 'stripes'].includes(PATTERN)) throw new Error(`pattern=${PATTERN}: flat or stripes`);
const SEND_AUDIO = MODE === 'av' || MODE === 'audio';
const SEND_VIDEO = MODE === 'av' || MODE === 'video';
const W = 640;
const H = 480;
const SCREEN_W = 1280;
const SCREEN_H = 720;
/** Frames wider than this are read from a scaled-down copy (the barcode layout is relative). */
const READ_MAX_W = 640;
const LOOPBACK = '127.0.0.1';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const startedAt = Date.now();

// ---------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------

const events = []; // signaling events in arrival order: { at, name, from?, id? }
const errors = [];
function note(name, data) {
  const e = { at: Date.now(), name };
  if (data && typeof data === 'object') {
    if (typeof data.from === 'string') e.from = data.from;
    if (typeof data.to === 'string') e.to = data.to;
    if (typeof data.id === 'string') e.id = data.id;
    if (typeof data.email === 'string') e.email = data.email;
  } else if (typeof data === 'string') {
    e.value = data;
  }
  events.push(e);
  if (events.length > 5000) events.splice(0, 1000);
}
/** hostile=oversize: rewrites the size in every VP8 keyframe header to 16383x16383. */
let oversizedKeyframes = 0;
function hostileSender(sender, kind) {
  const { readable, writable } = sender.createEncodedStreams();
  const rewrite = new TransformStream({
    transform(frame, controller) {
      if (kind === 'video' && frame.type === 'key') {
        const data = new Uint8Array(frame.data);
        // VP8 keyframe: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
        if (data.length > 10 && data[3] === 0x9d && data[4] === 0x01 && data[5] === 0x2a) {
          data[6] = 0xff;
          data[7] = 0x3f;
          data[8] = 0xff;
          data[9] = 0x3f;
          frame.data = data.buffer;
          oversizedKeyframes++;
        }
      }
      controller.enqueue(frame);
    },
  });
  readable.pipeThrough(rewrite).pipeTo(writable).catch((e) => fail('hostile sender', e));
}

function fail(where, err) {
  const msg = `${where}: ${(err && err.message) || err}`;
  errors.push(msg);
  console.error(msg);
}
function setStatus() {
  const el = document.getElementById('status');
  if (!el) return;
  const lines = [`${EMAIL} in ${ROOM} as ${myId || '…'} (${MODE})`];
  for (const s of remotes.values()) {
    lines.push(`${s.email || s.id}: ${s.connectionState} video ${s.videoFrames}/${s.barcodes} audio ${s.audioRms.toFixed(3)} @ ${Math.round(s.audioFreq)} Hz`);
  }
  for (const s of screens.values()) {
    lines.push(`screen of ${s.email || s.id}: ${s.connectionState} frames ${s.videoFrames}/${s.barcodes} ${s.width}x${s.height}`);
  }
  if (share.active) lines.push(`sharing my screen with ${[...shareOut.keys()].length} viewer(s), ${share.framesDrawn} frames drawn`);
  el.textContent = lines.join('\n');
}

// ---------------------------------------------------------------------------
// Local media: a barcode canvas and an oscillator
// ---------------------------------------------------------------------------

const audioCtx = new AudioContext({ sampleRate: 48000 });
audioCtx.resume().catch((e) => fail('audioCtx.resume', e));
const localTracks = [];
let framesDrawn = 0;

if (SEND_AUDIO) {
  const osc = audioCtx.createOscillator();
  osc.type = 'sine';
  osc.frequency.value = TONE;
  const gain = audioCtx.createGain();
  gain.gain.value = 0.3;
  const dest = audioCtx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  localTracks.push(dest.stream.getAudioTracks()[0]);
}

/** Paints the bottom half as Huddle's TestPattern does (luma as grey). */
function stripesPainter(ctx) {
  const PERIOD = 256;
  const top = H / 2;
  const ramp = new Uint8ClampedArray((W + PERIOD) * 4);
  for (let i = 0; i < W + PERIOD; i++) {
    const t = i % PERIOD;
    const tri = t < PERIOD / 2 ? t : PERIOD - 1 - t; // 0..127
    const g = 48 + tri;
    ramp.set([g, g, g, 255], i * 4);
  }
  const img = ctx.createImageData(W, H - top);
  return (frame) => {
    const scroll = (frame % PERIOD) * 4;
    for (let y = 0; y < H - top; y++) {
      const off = (top + y + scroll) % PERIOD;
      img.data.set(ramp.subarray(off * 4, (off + W) * 4), y * W * 4);
    }
    ctx.putImageData(img, 0, top);
    const boxW = W / 8;
    const boxH = ((H - top) * 3) / 8;
    const leg = 2 * 30;
    const p = frame % (2 * leg);
    const along = p < leg ? p : 2 * leg - p;
    ctx.fillStyle = 'rgb(230,150,40)';
    ctx.fillRect(Math.floor((along * (W - boxW)) / leg), top + (H - top) / 2, boxW, boxH);
  };
}

if (SEND_VIDEO) {
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  document.getElementById('local').appendChild(canvas);
  const ctx = canvas.getContext('2d', { alpha: false });
  const stripes = PATTERN === 'stripes' ? stripesPainter(ctx) : null;
  const draw = () => {
    const t = Date.now();
    if (stripes) {
      stripes(framesDrawn);
    } else {
      // Bottom half: something that moves, and a frame counter.
      ctx.fillStyle = 'rgb(40,60,90)';
      ctx.fillRect(0, H / 2, W, H / 2);
      const x = (framesDrawn * 7) % (W - 80);
      ctx.fillStyle = `hsl(${(framesDrawn * 5) % 360},80%,55%)`;
      ctx.fillRect(x, H / 2 + 40 + ((framesDrawn * 3) % 100), 80, 80);
    }
    ctx.fillStyle = 'rgb(230,230,230)';
    ctx.font = '28px monospace';
    ctx.fillText(`${EMAIL} #${framesDrawn}`, 10, H - 12);
    // Top half: the barcode of T, drawn last so nothing else touches it.
    drawBarcode(ctx, W, H, t);
    framesDrawn++;
  };
  draw();
  setInterval(draw, 33);
  localTracks.push(canvas.captureStream(30).getVideoTracks()[0]);
}

// ---------------------------------------------------------------------------
// Per-remote state and stats
// ---------------------------------------------------------------------------

const emails = new Map(); // id -> email (from the join ack and user:joined)
const peers = new Map(); // id -> Peer
const remotes = new Map(); // id -> stats (kept after the peer closes)
const earlyCandidates = new Map(); // id -> [candidate] (ice:candidate before any peer exists)
let myId = null;
let joinedAt = null; // when the join ack arrived
let joinSentAt = null; // when the (acknowledged) room:join was sent

// Screen sharing state (see the "Screen sharing" section below).
const members = new Set(); // ids of the others in the room
const shareIn = new Map(); // sharer id -> Peer (kind 'share-in'): the screen we view
const screens = new Map(); // sharer id -> screen stats of the latest share of that sharer
const screenSessions = []; // every screen stats record, in order
const earlyShareIce = new Map(); // sharer id -> [candidate] (share:ice before its share:offer)
const shareOut = new Map(); // viewer id -> Peer (kind 'share-out'): our screen to that viewer
const shareViewers = []; // stats records of every share-out connection, in order
const share = {
  active: false,
  sessions: 0,
  startedAt: null, // ack ok of the latest successful startSharing
  stoppedAt: null,
  framesDrawn: 0,
  requests: [], // { what, requestedAt, ackAt, ack }
  conflicts: [], // sharingConflict events: { at, sharerId }
  viewerJoined: [], // { at, id, offered }
};

function remoteStats(id) {
  let s = remotes.get(id);
  if (!s) {
    s = newStatsRecord(id);
    remotes.set(id, s);
  }
  if (!s.email && emails.get(id)) s.email = emails.get(id);
  return s;
}

function newStatsRecord(id) {
  return {
    id,
    email: emails.get(id) || null,
    role: null,
    createdAt: null,
    connectedAt: null,
    connectionState: 'new',
    iceConnectionState: 'new',
    signalingState: 'stable',
    closedAt: null,
    closeReason: null,
    negotiations: 0,
    localCandidatesSent: 0,
    localCandidatesDropped: 0,
    localCandidateTypes: [],
    remoteCandidatesAdded: 0,
    remoteCandidatesIgnored: 0,
    remoteCandidateAddrs: [],
    audioTracks: 0,
    videoTracks: 0,
    videoTrackAt: null,
    audioTrackAt: null,
    videoFrames: 0,
    presentedFrames: 0,
    barcodes: 0,
    repeats: 0,
    unreadable: 0,
    crcFailures: 0,
    outOfWindow: 0,
    latencies: [],
    firstFrameAt: null,
    firstBarcodeAt: null,
    lastFrameAt: null,
    frameTimes: [],
    selectedPair: null,
    width: 0,
    height: 0,
    audioRms: 0,
    audioRmsMax: 0,
    audioFreq: 0,
    audioFreqs: [],
    audioSamples: 0,
    audioLoudSamples: 0,
    // Codecs (see "Codecs" below).
    codecPreference: null,
    localVideoCodecs: [],
    remoteVideoCodecs: [],
    outbound: null,
    outboundCodecs: [],
    inbound: null,
    inboundCodecs: [],
  };
}

function candidateAddress(c) {
  if (!c) return null;
  if (c.address) return c.address;
  const parts = String(c.candidate || '').trim().split(/\s+/);
  return parts.length > 4 ? parts[4] : null;
}

/** Candidates this page uses: loopback only, or any with net=any. */
function usable(addr) {
  return ANY_ADDRESS || addr === LOOPBACK;
}

/** Removes unusable a=candidate lines from an SDP (renegotiation SDPs can carry them). */
function loopbackOnlySdp(sdp) {
  if (ANY_ADDRESS) return sdp;
  return sdp
    .split('\r\n')
    .filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      const parts = line.slice(2).split(/\s+/);
      return parts[4] === LOOPBACK;
    })
    .join('\r\n');
}

function desc(d) {
  return { type: d.type, sdp: loopbackOnlySdp(d.sdp) };
}

// ---------------------------------------------------------------------------
// Codecs: preference (codec=h264) and what is really sent and received
// ---------------------------------------------------------------------------

/** H.264 constrained baseline with packetization-mode=1 (42e01f first: Huddle offers it). */
function h264Rank(c) {
  if (!/^video\/h264$/i.test(c.mimeType)) return -1;
  const fmtp = (c.sdpFmtpLine || '').toLowerCase();
  if (!/(^|;)\s*packetization-mode=1(;|$)/.test(fmtp)) return -1;
  const m = fmtp.match(/profile-level-id=([0-9a-f]{6})/);
  if (!m) return -1;
  if (m[1] === '42e01f') return 0;
  if (m[1] === '42001f') return 1;
  return -1;
}

const codecName = (c) => `${c.mimeType}${c.sdpFmtpLine ? ` ${c.sdpFmtpLine}` : ''}`;

/**
 * `codecs` with the preferred H.264 entries first (42e01f, then 42001f), the rest in
 * their order (rtx, red and ulpfec stay: they follow whatever is chosen).
 */
function h264First(codecs) {
  const first = codecs.filter((c) => h264Rank(c) >= 0).sort((a, b) => h264Rank(a) - h264Rank(b));
  return [...first, ...codecs.filter((c) => h264Rank(c) < 0)];
}

/** Video capabilities for setCodecPreferences: the receiver's, then sender-only ones. */
function videoCapabilities() {
  const recv = RTCRtpReceiver.getCapabilities('video')?.codecs || [];
  const send = RTCRtpSender.getCapabilities('video')?.codecs || [];
  const seen = new Set(recv.map(codecName));
  return [...recv, ...send.filter((c) => !seen.has(codecName(c)))];
}

/**
 * codec=h264: puts H.264 first on every video transceiver of `peer` (before an offer or an
 * answer). Chromium checks the list against its capabilities; on refusal retry with only
 * the receiver's (older rule) and record the error.
 */
function applyCodecPreferences(peer) {
  if (CODEC !== 'h264') return;
  const pref = peer.stats.codecPreference || (peer.stats.codecPreference = { codec: CODEC, applied: 0, transceivers: 0, first: null, errors: [] });
  for (const t of peer.pc.getTransceivers()) {
    if (t.stopped || t.currentDirection === 'stopped') continue;
    const kind = t.receiver?.track?.kind || t.sender?.track?.kind;
    if (kind !== 'video') continue;
    pref.transceivers++;
    const lists = [h264First(videoCapabilities()), h264First(RTCRtpReceiver.getCapabilities('video')?.codecs || [])];
    let done = false;
    for (const list of lists) {
      if (h264Rank(list[0] || {}) < 0) {
        pref.errors.push('no H.264 (packetization-mode=1, 42e01f/42001f) in the capabilities');
        break;
      }
      try {
        t.setCodecPreferences(list);
        pref.applied++;
        pref.first = codecName(list[0]);
        pref.order = list.slice(0, 4).map(codecName);
        done = true;
        break;
      } catch (e) {
        pref.errors.push(String(e && e.message ? e.message : e));
      }
    }
    if (!done) fail('setCodecPreferences', pref.errors[pref.errors.length - 1] || 'not applied');
  }
}

/** The video codecs of an SDP's video sections, in their order: "H264/90000 <fmtp> (pt)". */
function sdpVideoCodecs(sdp) {
  const out = [];
  if (!sdp) return out;
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    if (!section.startsWith('video')) continue;
    const lines = section.split(/\r?\n/);
    const pts = lines[0].split(' ').slice(3);
    const rtpmap = {};
    const fmtp = {};
    for (const l of lines) {
      let m = l.match(/^a=rtpmap:(\d+) (\S+)/);
      if (m) rtpmap[m[1]] = m[2];
      m = l.match(/^a=fmtp:(\d+) (.*)$/);
      if (m) fmtp[m[1]] = m[2];
    }
    for (const pt of pts) {
      const name = rtpmap[pt];
      if (!name || /^(rtx|red|ulpfec|flexfec)/i.test(name)) continue;
      out.push(`${name}${fmtp[pt] ? ` ${fmtp[pt]}` : ''} (${pt})`);
    }
  }
  return out;
}

/** Records the video codecs of the current local and remote descriptions. */
function noteSdpCodecs(peer) {
  peer.stats.localVideoCodecs = sdpVideoCodecs(peer.pc.localDescription?.sdp);
  peer.stats.remoteVideoCodecs = sdpVideoCodecs(peer.pc.remoteDescription?.sdp);
}

/** The selected candidate pair of a connection's transport (types, addresses), or null. */
function selectedPairOf(report) {
  let pairId = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  const pair = pairId ? report.get(pairId) : null;
  if (!pair) return null;
  const l = report.get(pair.localCandidateId) || {};
  const r = report.get(pair.remoteCandidateId) || {};
  return {
    local: l.candidateType || null,
    remote: r.candidateType || null,
    localAddress: l.address ? `${l.address}:${l.port}` : null,
    remoteAddress: r.address ? `${r.address}:${r.port}` : null,
    relayProtocol: l.relayProtocol || null,
  };
}

/** Outbound and inbound video RTP of a connection, from getStats(), with the codec used. */
async function videoRtpStats(pc) {
  const report = await pc.getStats();
  const selectedPair = selectedPairOf(report);
  const codecs = {};
  report.forEach((r) => {
    if (r.type === 'codec') codecs[r.id] = { mimeType: r.mimeType, payloadType: r.payloadType, sdpFmtpLine: r.sdpFmtpLine || '' };
  });
  let outbound = null;
  let inbound = null;
  report.forEach((r) => {
    if (r.kind !== 'video') return;
    const c = codecs[r.codecId] || null;
    if (r.type === 'outbound-rtp' && (!outbound || (r.bytesSent || 0) > (outbound.bytesSent || 0)))
      outbound = {
        codec: c ? c.mimeType : null,
        payloadType: c ? c.payloadType : null,
        fmtp: c ? c.sdpFmtpLine : null,
        framesSent: r.framesSent,
        framesEncoded: r.framesEncoded,
        keyFramesEncoded: r.keyFramesEncoded,
        width: r.frameWidth,
        height: r.frameHeight,
        fps: r.framesPerSecond,
        bytesSent: r.bytesSent,
        encoder: r.encoderImplementation || null,
        powerEfficientEncoder: r.powerEfficientEncoder ?? null,
        qualityLimitation: r.qualityLimitationReason,
        qpSum: r.qpSum ?? null,
      };
    if (r.type === 'inbound-rtp' && (!inbound || (r.bytesReceived || 0) > (inbound.bytesReceived || 0)))
      inbound = {
        codec: c ? c.mimeType : null,
        payloadType: c ? c.payloadType : null,
        fmtp: c ? c.sdpFmtpLine : null,
        packetsReceived: r.packetsReceived,
        framesDecoded: r.framesDecoded,
        framesReceived: r.framesReceived,
        bytesReceived: r.bytesReceived,
        decoder: r.decoderImplementation || null,
        qpSum: r.qpSum ?? null,
      };
  });
  return { outbound, inbound, selectedPair };
}

/** Samples the video codecs of every open connection (once a second). */
async function sampleCodecs() {
  const open = [...peers.values(), ...shareOut.values(), ...shareIn.values()].filter((p) => !p.closed);
  for (const p of open) {
    try {
      const { outbound, inbound, selectedPair } = await videoRtpStats(p.pc);
      if (p.closed) continue;
      const s = p.stats;
      if (selectedPair) s.selectedPair = selectedPair;
      if (outbound) {
        s.outbound = { at: Date.now(), ...outbound };
        if (outbound.codec && outbound.framesEncoded > 0 && s.outboundCodecs[s.outboundCodecs.length - 1] !== outbound.codec) s.outboundCodecs.push(outbound.codec);
      }
      if (inbound) {
        s.inbound = { at: Date.now(), ...inbound };
        if (inbound.codec && inbound.framesDecoded > 0 && s.inboundCodecs[s.inboundCodecs.length - 1] !== inbound.codec) s.inboundCodecs.push(inbound.codec);
      }
    } catch (e) {
      if (!p.closed) fail('getStats (codecs)', e);
    }
  }
}
setInterval(() => {
  sampleCodecs().catch((e) => fail('sampleCodecs', e));
}, 1000);

// ---------------------------------------------------------------------------
// Peer connections
// ---------------------------------------------------------------------------

class Peer {
  /**
   * kind: 'call' (camera and microphone, ice:candidate), 'share-in' (viewing `id`'s screen)
   * or 'share-out' (sending our screen to `id`); the share kinds trickle share:ice and keep
   * their own stats record, registry and early-candidate queue.
   */
  constructor(id, role, { kind = 'call', registry = peers, early = earlyCandidates, stats = null } = {}) {
    this.id = id;
    this.kind = kind;
    this.iceEvent = kind === 'call' ? 'ice:candidate' : 'share:ice';
    this.registry = registry;
    this.elemKey = kind === 'call' ? id : `${kind}:${id}`;
    this.closed = false;
    this.pending = early.get(id) || [];
    early.delete(id);
    this.chain = Promise.resolve();
    this.stats = stats || remoteStats(id);
    Object.assign(this.stats, {
      role,
      createdAt: Date.now(),
      closedAt: null,
      closeReason: null,
      connectionState: 'new',
      iceConnectionState: 'new',
    });
    const pc = new RTCPeerConnection({ iceServers: ICE_SERVERS, iceTransportPolicy: ICE_POLICY, ...(HOSTILE ? { encodedInsertableStreams: true } : {}) });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return; // end of candidates
      const c = e.candidate;
      const addr = candidateAddress(c);
      if (!usable(addr)) {
        this.stats.localCandidatesDropped++;
        return;
      }
      this.stats.localCandidatesSent++;
      this.stats.localCandidateTypes.push(`${c.protocol || '?'}/${c.type || '?'}`);
      socket.emit(this.iceEvent, {
        to: id,
        candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
      });
    };
    pc.onconnectionstatechange = () => {
      this.stats.connectionState = pc.connectionState;
      if (pc.connectionState === 'connected' && !this.stats.connectedAt) this.stats.connectedAt = Date.now();
      setStatus();
    };
    pc.oniceconnectionstatechange = () => {
      this.stats.iceConnectionState = pc.iceConnectionState;
    };
    pc.onsignalingstatechange = () => {
      this.stats.signalingState = pc.signalingState;
    };
    pc.ontrack = (e) => {
      if (this.closed) return;
      // With insertable streams on, every receiver's frames must be piped through.
      if (HOSTILE) {
        const { readable, writable } = e.receiver.createEncodedStreams();
        readable.pipeTo(writable).catch(() => {});
      }
      if (kind === 'share-in') {
        if (e.track.kind === 'video') attachVideo(this, e.track, 'screens');
        else this.stats.audioTracks++; // a screen share carries no audio: counted, not played
      } else if (kind === 'call') {
        if (e.track.kind === 'video') attachVideo(this, e.track);
        else if (e.track.kind === 'audio') attachAudio(this, e.track);
      }
    };
  }

  /** Runs `fn` after every earlier operation on this peer (SDP and ICE stay in order). */
  enqueue(where, fn) {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await fn();
      } catch (e) {
        fail(`${where} (${this.id})`, e);
      }
    });
    return this.chain;
  }

  addLocalTracks() {
    const stream = new MediaStream(localTracks);
    for (const track of localTracks) {
      const sender = this.pc.addTrack(track, stream);
      if (HOSTILE) hostileSender(sender, track.kind);
    }
  }

  async flushCandidates() {
    const list = this.pending;
    this.pending = [];
    for (const c of list) await this.addRemoteCandidate(c);
  }

  async addRemoteCandidate(c) {
    const addr = candidateAddress(c);
    this.stats.remoteCandidateAddrs.push(addr);
    if (!usable(addr)) {
      // Keep every packet on loopback: non-loopback (or mDNS) remote candidates are not used.
      this.stats.remoteCandidatesIgnored++;
      return;
    }
    await this.pc.addIceCandidate(c);
    this.stats.remoteCandidatesAdded++;
  }

  onCandidate(c) {
    this.enqueue('addIceCandidate', async () => {
      if (!this.pc.remoteDescription) this.pending.push(c);
      else await this.addRemoteCandidate(c);
    });
  }

  async setRemote(d) {
    await this.pc.setRemoteDescription(d);
    noteSdpCodecs(this);
    await this.flushCandidates();
  }

  close(reason) {
    if (this.closed) return;
    this.closed = true;
    try {
      this.pc.close();
    } catch (e) {
      fail('pc.close', e);
    }
    this.stats.closedAt = Date.now();
    this.stats.closeReason = reason;
    this.stats.connectionState = this.pc.connectionState; // 'closed'
    this.stats.signalingState = this.pc.signalingState; // 'closed'
    this.stats.iceConnectionState = this.pc.iceConnectionState;
    for (const el of document.querySelectorAll(`[data-peer="${CSS.escape(this.elemKey)}"]`)) {
      try {
        el.srcObject = null;
      } catch {}
      el.remove();
    }
    if (this.registry.get(this.id) === this) this.registry.delete(this.id);
    setStatus();
  }
}

function newPeer(id, role) {
  const old = peers.get(id);
  if (old) old.close('replaced');
  const p = new Peer(id, role);
  peers.set(id, p);
  return p;
}

/** Mesh rule: the newcomer calls everyone in its join ack. */
function call(id) {
  const p = newPeer(id, 'caller');
  p.enqueue('call', async () => {
    if (localTracks.length) p.addLocalTracks();
    if (!SEND_AUDIO) p.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (!SEND_VIDEO) p.pc.addTransceiver('video', { direction: 'recvonly' });
    applyCodecPreferences(p);
    const offer = await p.pc.createOffer();
    await p.pc.setLocalDescription(offer);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('user:call', { to: id, offer: desc(p.pc.localDescription) });
  });
}

function onIncomingCall({ from, offer }) {
  const p = newPeer(from, 'callee');
  p.enqueue('answer', async () => {
    await p.pc.setRemoteDescription(offer);
    if (localTracks.length) p.addLocalTracks();
    applyCodecPreferences(p);
    const ans = await p.pc.createAnswer();
    await p.pc.setLocalDescription(ans);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('call:accepted', { to: from, ans: desc(p.pc.localDescription) });
    await p.flushCandidates();
  });
}

function onCallAccepted({ from, ans }) {
  const p = peers.get(from);
  if (!p) return fail('call:accepted', `no peer ${from}`);
  p.enqueue('call:accepted', () => p.setRemote(ans));
}

function onNegoNeeded({ from, offer }) {
  const p = peers.get(from);
  if (!p) return fail('peer:nego:needed', `no peer ${from}`);
  p.enqueue('peer:nego:needed', async () => {
    await p.pc.setRemoteDescription(offer);
    applyCodecPreferences(p);
    const ans = await p.pc.createAnswer();
    await p.pc.setLocalDescription(ans);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('peer:nego:done', { to: from, ans: desc(p.pc.localDescription) });
    await p.flushCandidates();
  });
}

function onNegoFinal({ from, ans }) {
  const p = peers.get(from);
  if (!p) return fail('peer:nego:final', `no peer ${from}`);
  p.enqueue('peer:nego:final', () => p.setRemote(ans));
}

function onRemoteCandidate({ from, candidate }) {
  const p = peers.get(from);
  if (p) p.onCandidate(candidate);
  else {
    if (!earlyCandidates.has(from)) earlyCandidates.set(from, []);
    earlyCandidates.get(from).push(candidate);
  }
}

/** Sends a fresh offer over an existing connection (peer:nego:needed → peer:nego:final). */
function renegotiate(id) {
  const p = peers.get(id);
  if (!p) throw new Error(`no peer ${id}`);
  return p.enqueue('renegotiate', async () => {
    applyCodecPreferences(p);
    const offer = await p.pc.createOffer();
    await p.pc.setLocalDescription(offer);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('peer:nego:needed', { to: id, offer: desc(p.pc.localDescription) });
  });
}

// ---------------------------------------------------------------------------
// Screen sharing: viewer side
// ---------------------------------------------------------------------------

/** A new screen stats record for a share by `sharer`, announced by `how` at `at`. */
function newScreen(sharer, how) {
  const s = newStatsRecord(sharer);
  Object.assign(s, {
    sharer,
    session: screenSessions.length + 1,
    announcedAt: Date.now(),
    announcedBy: how, // sharerStarted | sharerAvailable | share:offer (offer without announcement)
    offers: 0,
    stoppedAt: null,
    stoppedBy: null, // sharerStopped | user:left | left
  });
  screens.set(sharer, s);
  screenSessions.push(s);
  return s;
}

/** sharerStarted / sharerAvailable: a screen is coming; its share:offer follows. */
function onShareAnnounced(sharer, how) {
  if (typeof sharer !== 'string' || sharer === myId) return;
  const cur = screens.get(sharer);
  // The same share announced twice (or an offer that came first) keeps its record.
  if (cur && !cur.stoppedAt && !cur.closedAt) return;
  newScreen(sharer, how);
  setStatus();
}

function onShareOffer({ from, offer }) {
  if (typeof from !== 'string' || !offer) return fail('share:offer', 'malformed');
  let s = screens.get(from);
  if (!s || s.stoppedAt || s.closedAt) s = newScreen(from, 'share:offer');
  let p = shareIn.get(from);
  if (!p) {
    p = new Peer(from, 'viewer', { kind: 'share-in', registry: shareIn, early: earlyShareIce, stats: s });
    shareIn.set(from, p);
  }
  s.offers++; // a second offer on an open share connection renegotiates it
  p.enqueue('share:offer', async () => {
    await p.pc.setRemoteDescription(offer);
    applyCodecPreferences(p);
    const ans = await p.pc.createAnswer();
    await p.pc.setLocalDescription(ans);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('share:answer', { to: from, ans: desc(p.pc.localDescription) });
    await p.flushCandidates();
  });
}

/** sharerStopped (or the sharer left): close the screen connection and record it. */
function onShareStopped(sharer, why) {
  if (typeof sharer !== 'string' || sharer === myId) return;
  const s = screens.get(sharer);
  if (s && !s.stoppedAt) {
    s.stoppedAt = Date.now();
    s.stoppedBy = why;
  }
  const p = shareIn.get(sharer);
  if (p) p.close(why);
  earlyShareIce.delete(sharer);
  setStatus();
}

// ---------------------------------------------------------------------------
// Screen sharing: sharer side
// ---------------------------------------------------------------------------

let screenCanvas = null;
let screenStream = null;
let screenTrack = null;
let screenTimer = null;

/** The 1280×720 screen: barcode of Date.now() in the top half, moving content below. */
function startScreenSource() {
  if (!screenCanvas) {
    screenCanvas = document.createElement('canvas');
    screenCanvas.width = SCREEN_W;
    screenCanvas.height = SCREEN_H;
    screenCanvas.id = 'screen';
    document.getElementById('local').appendChild(screenCanvas);
    screenStream = screenCanvas.captureStream(30);
    screenTrack = screenStream.getVideoTracks()[0];
    screenTrack.contentHint = 'detail';
  }
  if (screenTimer) return;
  const ctx = screenCanvas.getContext('2d', { alpha: false });
  const draw = () => {
    const n = share.framesDrawn;
    const t = Date.now();
    // Bottom half: a "document" with a moving cursor block, a scrolling bar and a counter.
    ctx.fillStyle = 'rgb(245,245,240)';
    ctx.fillRect(0, SCREEN_H / 2, SCREEN_W, SCREEN_H / 2);
    ctx.fillStyle = 'rgb(120,120,130)';
    for (let i = 0; i < 8; i++) ctx.fillRect(40, SCREEN_H / 2 + 30 + i * 36, 300 + ((i * 97 + n * 4) % 700), 14);
    ctx.fillStyle = `hsl(${(n * 5) % 360},80%,50%)`;
    ctx.fillRect((n * 9) % (SCREEN_W - 120), SCREEN_H / 2 + 40 + ((n * 3) % 200), 120, 80);
    ctx.fillStyle = 'rgb(20,20,20)';
    ctx.font = '32px monospace';
    ctx.fillText(`${EMAIL} screen #${n} ${new Date(t).toISOString()}`, 20, SCREEN_H - 20);
    // Top half: the barcode of T, drawn last so nothing else touches it.
    drawBarcode(ctx, SCREEN_W, SCREEN_H, t);
    share.framesDrawn++;
  };
  draw();
  screenTimer = setInterval(draw, 33);
}

function stopScreenSource() {
  if (screenTimer) clearInterval(screenTimer);
  screenTimer = null;
}

/** Opens a send-only connection carrying only the screen track to `viewer` and offers it. */
function offerScreen(viewer) {
  const cur = shareOut.get(viewer);
  if (cur && !cur.closed) return false;
  const s = newStatsRecord(viewer);
  s.session = share.sessions;
  shareViewers.push(s);
  const p = new Peer(viewer, 'sharer', { kind: 'share-out', registry: shareOut, early: new Map(), stats: s });
  shareOut.set(viewer, p);
  p.enqueue('share:offer', async () => {
    p.pc.addTransceiver(screenTrack, { direction: 'sendonly', streams: [screenStream] });
    applyCodecPreferences(p);
    const offer = await p.pc.createOffer();
    await p.pc.setLocalDescription(offer);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('share:offer', { to: viewer, offer: desc(p.pc.localDescription) });
  });
  setStatus();
  return true;
}

/** A fresh share:offer over an open share connection to `viewer` (renegotiation). */
function renegotiateShare(viewer) {
  const p = shareOut.get(viewer);
  if (!p) throw new Error(`no share connection to ${viewer}`);
  return p.enqueue('share:offer (renegotiation)', async () => {
    applyCodecPreferences(p);
    const offer = await p.pc.createOffer();
    await p.pc.setLocalDescription(offer);
    noteSdpCodecs(p);
    p.stats.negotiations++;
    socket.emit('share:offer', { to: viewer, offer: desc(p.pc.localDescription) });
  });
}

function onShareAnswer({ from, ans }) {
  const p = shareOut.get(from);
  if (!p) return fail('share:answer', `no share connection to ${from}`);
  p.enqueue('share:answer', async () => {
    await p.setRemote(ans);
    p.stats.answers = (p.stats.answers || 0) + 1;
    p.stats.lastAnswerAt = Date.now();
  });
}

function onShareIce({ from, candidate }) {
  // The sharer's candidates belong to the screen we view; a viewer's to the screen we send.
  const p = shareIn.get(from) || shareOut.get(from);
  if (p) p.onCandidate(candidate);
  else {
    if (!earlyShareIce.has(from)) earlyShareIce.set(from, []);
    earlyShareIce.get(from).push(candidate);
  }
}

function onViewerJoined(id) {
  const offered = share.active && typeof id === 'string' ? offerScreen(id) : false;
  share.viewerJoined.push({ at: Date.now(), id, offered });
}

/** Sends `event` {} and resolves with its ack (or { ok: false, error: { code: 'no_ack' } }). */
function request(event, payload = {}, ms = 5000) {
  return new Promise((resolve) => {
    socket.timeout(ms).emit(event, payload, (err, ack) =>
      resolve(err ? { ok: false, error: { code: 'no_ack', message: String(err) } } : ack),
    );
  });
}

/** Resolves at epoch ms `at` (a timer, then a short spin for the last milliseconds). */
async function waitUntil(at) {
  const early = at - Date.now() - 15;
  if (early > 0) await sleep(early);
  while (Date.now() < at) await new Promise((r) => setTimeout(r, 0));
}

/**
 * startSharing (request); on ok starts the screen and offers it to every member.
 * { at }: send the request at that epoch ms. Returns { ok, ack, requestedAt, ackAt, sharerId }.
 */
async function startSharing({ at } = {}) {
  await joined;
  if (at) await waitUntil(at);
  const requestedAt = Date.now();
  const ack = await request('startSharing');
  const ackAt = Date.now();
  share.requests.push({ what: 'startSharing', requestedAt, ackAt, ack });
  if (ack && ack.ok === true) {
    const fresh = !share.active;
    share.active = true;
    if (fresh) {
      share.sessions++;
      share.startedAt = ackAt;
      share.stoppedAt = null;
    }
    startScreenSource();
    if (sfu.active) await sfuPublish('screen on');
    else for (const id of members) offerScreen(id);
  }
  setStatus();
  return { ok: !!(ack && ack.ok), ack, requestedAt, ackAt, sharerId: ack?.error?.sharerId ?? (ack?.ok ? myId : null) };
}

/** stopSharing (request); closes every share-out connection. Returns the ack. */
async function stopSharing() {
  const requestedAt = Date.now();
  const ack = await request('stopSharing');
  share.requests.push({ what: 'stopSharing', requestedAt, ackAt: Date.now(), ack });
  if (share.active) {
    share.active = false;
    share.stoppedAt = Date.now();
  }
  for (const p of [...shareOut.values()]) p.close('stopSharing');
  if (sfu.active && sfu.screenTransceiver) await sfuPublish('screen off');
  stopScreenSource();
  setStatus();
  return ack;
}

/** Outbound RTP stats of a share-out connection (frames sent, size, codec). */
async function outboundVideo(p) {
  try {
    const report = await p.pc.getStats();
    let out = null;
    const codecs = {};
    report.forEach((r) => {
      if (r.type === 'codec') codecs[r.id] = r.mimeType;
    });
    report.forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video')
        out = {
          framesSent: r.framesSent,
          framesEncoded: r.framesEncoded,
          width: r.frameWidth,
          height: r.frameHeight,
          fps: r.framesPerSecond,
          bytesSent: r.bytesSent,
          codec: codecs[r.codecId] || null,
          encoder: r.encoderImplementation,
          qualityLimitation: r.qualityLimitationReason,
        };
    });
    return out;
  } catch (e) {
    return { error: String(e) };
  }
}

/** Everything about our own sharing: state, requests, conflicts, and every viewer connection. */
async function shareInfo() {
  const viewers = [];
  for (const s of shareViewers) {
    const p = shareOut.get(s.id);
    viewers.push({
      id: s.id,
      email: s.email || emails.get(s.id) || null,
      session: s.session,
      createdAt: s.createdAt,
      connectedAt: s.connectedAt,
      connectionState: s.connectionState,
      iceConnectionState: s.iceConnectionState,
      signalingState: s.signalingState,
      closedAt: s.closedAt,
      closeReason: s.closeReason,
      negotiations: s.negotiations,
      answers: s.answers || 0,
      lastAnswerAt: s.lastAnswerAt || null,
      localCandidatesSent: s.localCandidatesSent,
      remoteCandidateAddrs: [...s.remoteCandidateAddrs],
      outbound: p && p.stats === s && !p.closed ? await outboundVideo(p) : null,
    });
  }
  return {
    myId,
    active: share.active,
    sessions: share.sessions,
    startedAt: share.startedAt,
    stoppedAt: share.stoppedAt,
    framesDrawn: share.framesDrawn,
    requests: share.requests.map((r) => ({ ...r })),
    conflicts: share.conflicts.map((c) => ({ ...c })),
    viewerJoined: share.viewerJoined.map((v) => ({ ...v })),
    open: [...shareOut.keys()],
    viewers,
  };
}

function copyStats(s) {
  return {
    ...s,
    receiveLatencies: s.receiveLatencies ? [...s.receiveLatencies] : [],
    rtpClock: s.rtpClock ? { ...s.rtpClock } : null,
    latencies: [...s.latencies],
    frameTimes: [...s.frameTimes],
    selectedPair: s.selectedPair ? { ...s.selectedPair } : null,
    audioFreqs: [...s.audioFreqs],
    localCandidateTypes: [...s.localCandidateTypes],
    remoteCandidateAddrs: [...s.remoteCandidateAddrs],
    outboundCodecs: [...s.outboundCodecs],
    inboundCodecs: [...s.inboundCodecs],
    localVideoCodecs: [...s.localVideoCodecs],
    remoteVideoCodecs: [...s.remoteVideoCodecs],
  };
}

/** A screen stats record with the derived times (ms; null until known). */
function screenStats(s) {
  const since = (a, b) => (a && b ? a - b : null);
  return {
    ...copyStats(s),
    email: s.email || emails.get(s.id) || null,
    joinedAt,
    joinSentAt,
    firstFrameFromAnnounceMs: since(s.firstFrameAt, s.announcedAt),
    // From sending room:join (as Huddle's time_to_first_frame_from_join_ms).
    firstFrameFromJoinMs: since(s.firstFrameAt, joinSentAt),
    firstBarcodeFromAnnounceMs: since(s.firstBarcodeAt, s.announcedAt),
    firstFrameFromOfferMs: since(s.firstFrameAt, s.createdAt),
  };
}

// ---------------------------------------------------------------------------
// Receiving: barcode reader and audio analyser
// ---------------------------------------------------------------------------

/**
 * Diagnostics from the frame's metadata (requestVideoFrameCallback): the latency up to the
 * arrival of the frame's last packet (receiveTime; the rest is Chromium's jitter buffer,
 * decode and render), and the sender's RTP clock against the barcode's capture time (90 kHz
 * RTP timestamps that advance slower or faster than the capture clock make the receiver's
 * playout delay drift).
 */
function noteRtpTiming(s, t, md) {
  if (!md) return;
  if (typeof md.receiveTime === 'number' && md.receiveTime > 0) {
    const recv = performance.timeOrigin + md.receiveTime - t;
    if (recv > -50 && recv < 60000) {
      if (!s.receiveLatencies) s.receiveLatencies = [];
      s.receiveLatencies.push(Math.round(recv));
    }
  }
  if (typeof md.rtpTimestamp === 'number') {
    const k = s.rtpClock || (s.rtpClock = { firstT: t, firstRtp: md.rtpTimestamp, lastT: t, rtp: 0, lastRaw: md.rtpTimestamp, n: 0 });
    // Unwrap the 32-bit timestamp.
    let d = md.rtpTimestamp - k.lastRaw;
    if (d < -2147483648) d += 4294967296;
    else if (d > 2147483648) d -= 4294967296;
    k.rtp += d;
    k.lastRaw = md.rtpTimestamp;
    k.lastT = t;
    k.n++;
    // RTP ms per capture ms (1.0 when the sender's RTP clock follows its capture clock).
    k.ratio = k.lastT > k.firstT ? k.rtp / 90 / (k.lastT - k.firstT) : null;
    // How far the RTP clock fell behind (−) or ran ahead (+) of the capture clock, ms.
    k.driftMs = Math.round(k.rtp / 90 - (k.lastT - k.firstT));
  }
}

function attachVideo(peer, track, container = 'remote') {
  const s = peer.stats;
  s.videoTracks++;
  if (!s.videoTrackAt) s.videoTrackAt = Date.now();
  const v = document.createElement('video');
  v.dataset.peer = peer.elemKey;
  v.muted = true;
  v.autoplay = true;
  v.playsInline = true;
  v.srcObject = new MediaStream([track]);
  document.getElementById(container).appendChild(v);
  v.play().catch((e) => fail('video.play', e));
  const cv = document.createElement('canvas');
  const cx = cv.getContext('2d', { willReadFrequently: true, alpha: false });
  const seen = new Set();
  const seenOrder = [];
  const onFrame = (_now, md) => {
    if (peer.closed) return;
    const at = Date.now();
    const w = (md && md.width) || v.videoWidth;
    const h = (md && md.height) || v.videoHeight;
    s.videoFrames++;
    if (md && typeof md.presentedFrames === 'number') s.presentedFrames = md.presentedFrames;
    if (!s.firstFrameAt) s.firstFrameAt = at;
    s.lastFrameAt = at;
    if (s.frameTimes.length < 20000) s.frameTimes.push(at);
    s.width = w;
    s.height = h;
    if (w >= 16 && h >= 8) {
      // Large frames (screens) are read from a scaled-down copy: the cells stay ≥ 40 px wide.
      const k = w > READ_MAX_W ? READ_MAX_W / w : 1;
      const rw = Math.round(w * k);
      const rh = Math.round(h * k);
      if (cv.width !== rw || cv.height !== rh) {
        cv.width = rw;
        cv.height = rh;
      }
      cx.drawImage(v, 0, 0, rw, rh);
      const img = cx.getImageData(0, 0, rw, Math.ceil(rh / 2));
      const r = readBarcodeRGBA(img.data, rw, rh);
      if (r.t === null) {
        if (r.reason === 'crc') s.crcFailures++;
        else s.unreadable++;
      } else if (seen.has(r.t)) {
        s.repeats++; // the same frame shown again counts once
      } else {
        seen.add(r.t);
        seenOrder.push(r.t);
        if (seenOrder.length > 2000) seen.delete(seenOrder.shift());
        const lat = latencyOf(r.t, at);
        if (lat === null) s.outOfWindow++;
        else {
          s.barcodes++;
          if (!s.firstBarcodeAt) s.firstBarcodeAt = at;
          s.latencies.push(lat);
          noteRtpTiming(s, r.t, md);
        }
      }
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  track.addEventListener('ended', () => {
    s.videoEndedAt = Date.now();
  });
}

const analysers = []; // { peer, analyser, time, freq }

function attachAudio(peer, track) {
  const s = peer.stats;
  s.audioTracks++;
  if (!s.audioTrackAt) s.audioTrackAt = Date.now();
  const stream = new MediaStream([track]);
  // Chromium only pulls remote WebRTC audio into WebAudio while a media element plays it.
  const a = document.createElement('audio');
  a.dataset.peer = peer.id;
  a.muted = true;
  a.autoplay = true;
  a.srcObject = stream;
  document.getElementById('remote').appendChild(a);
  a.play().catch((e) => fail('audio.play', e));
  const src = audioCtx.createMediaStreamSource(stream);
  const analyser = audioCtx.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  src.connect(analyser);
  analysers.push({
    peer,
    analyser,
    time: new Float32Array(analyser.fftSize),
    freq: new Float32Array(analyser.frequencyBinCount),
  });
}

/** Level (RMS, full scale = 1) and dominant frequency of every remote audio track. */
function sampleAudio() {
  for (const a of analysers) {
    if (a.peer.closed) continue;
    const s = a.peer.stats;
    a.analyser.getFloatTimeDomainData(a.time);
    let sum = 0;
    for (const x of a.time) sum += x * x;
    const rms = Math.sqrt(sum / a.time.length);
    a.analyser.getFloatFrequencyData(a.freq);
    const binHz = audioCtx.sampleRate / a.analyser.fftSize;
    let best = -1;
    const lo = Math.max(1, Math.floor(50 / binHz));
    const hi = Math.min(a.freq.length - 2, Math.ceil(8000 / binHz));
    for (let i = lo; i <= hi; i++) if (best < 0 || a.freq[i] > a.freq[best]) best = i;
    let hz = 0;
    if (best > 0) {
      // Parabolic interpolation over the dB magnitudes around the peak.
      const y0 = a.freq[best - 1];
      const y1 = a.freq[best];
      const y2 = a.freq[best + 1];
      const den = y0 - 2 * y1 + y2;
      const d = den !== 0 && Number.isFinite(den) ? (0.5 * (y0 - y2)) / den : 0;
      hz = (best + (Math.abs(d) <= 1 ? d : 0)) * binHz;
    }
    s.audioSamples++;
    s.audioRms = rms;
    if (rms > s.audioRmsMax) s.audioRmsMax = rms;
    if (rms > 0.003) {
      s.audioLoudSamples++;
      s.audioFreq = hz;
      s.audioFreqs.push(Math.round(hz * 10) / 10);
      if (s.audioFreqs.length > 400) s.audioFreqs.shift();
    }
  }
  setStatus();
}
setInterval(sampleAudio, 100);

// ---------------------------------------------------------------------------
// Signaling
// ---------------------------------------------------------------------------

const socket = io(SERVER, { transports: ['websocket'], reconnection: false, forceNew: true });
socket.onAny((name, data) => note(name, data));
socket.on('disconnect', (reason) => note('disconnect', reason));
socket.on('connect_error', (e) => fail('connect_error', e));
socket.on('error', (e) => note('error', e));
socket.on('user:joined', (d) => {
  if (d && d.id) {
    emails.set(d.id, d.email);
    members.add(d.id);
    if (remotes.has(d.id)) remotes.get(d.id).email = d.email;
  }
});
socket.on('incoming:call', onIncomingCall);
socket.on('call:accepted', onCallAccepted);
socket.on('peer:nego:needed', onNegoNeeded);
socket.on('peer:nego:final', onNegoFinal);
socket.on('ice:candidate', onRemoteCandidate);
socket.on('call:ended', (d) => {
  const p = d && peers.get(d.from);
  if (p) p.close('call:ended');
});
socket.on('user:left', (d) => {
  if (!d) return;
  members.delete(d.id);
  const p = peers.get(d.id);
  if (p) p.close('user:left');
  if (shareIn.has(d.id) || (screens.get(d.id) && !screens.get(d.id).stoppedAt)) onShareStopped(d.id, 'user:left');
  const o = shareOut.get(d.id);
  if (o) o.close('user:left');
});
socket.on('sharerStarted', (id) => onShareAnnounced(id, 'sharerStarted'));
socket.on('sharerAvailable', (id) => onShareAnnounced(id, 'sharerAvailable'));
socket.on('sharerStopped', (id) => onShareStopped(id, 'sharerStopped'));
socket.on('share:offer', onShareOffer);
socket.on('share:answer', onShareAnswer);
socket.on('share:ice', onShareIce);
socket.on('viewerJoined', onViewerJoined);
socket.on('sharingConflict', (id) => share.conflicts.push({ at: Date.now(), sharerId: id }));

function requestJoin() {
  const payload = { email: EMAIL, room: ROOM };
  if (NAME) payload.name = NAME;
  if (SPEAKS_SFU) payload.sfu = 1;
  return new Promise((resolve, reject) => {
    socket.timeout(4000).emit('room:join', payload, (err, ack) => (err ? reject(err) : resolve(ack)));
  });
}

const joined = new Promise((resolve, reject) => {
  socket.once('connect', async () => {
    note('connect');
    // The server is known to drop events sent right after the namespace CONNECT
    // (tests/server/helpers.mjs SETTLE_MS); settle a little, and retry the join on no ack
    // (joining the same room again is a no-op that still acks).
    await sleep(250);
    let ack = null;
    for (let attempt = 1; attempt <= 4 && !ack; attempt++) {
      try {
        joinSentAt = Date.now();
        ack = await requestJoin();
      } catch (e) {
        fail(`room:join attempt ${attempt}`, e);
      }
    }
    if (!ack || ack.ok !== true) {
      reject(new Error(`room:join failed: ${JSON.stringify(ack)}`));
      return;
    }
    if (ICE_FROM_SERVER) ICE_SERVERS = ack.iceServers || [];
    myId = ack.id;
    joinedAt = Date.now();
    for (const p of ack.participants || []) {
      emails.set(p.id, p.email);
      members.add(p.id);
    }
    // A share on already: sharerAvailable follows (the ack's sharerId says so too).
    if (ack.sharerId) note('ack.sharerId', ack.sharerId);
    if (ack.media === 'sfu') sfuStart(ack.sfuEpoch, 'ack');
    else for (const p of ack.participants || []) call(p.id);
    setStatus();
    resolve({ id: ack.id, room: ack.room, participants: ack.participants || [], sharerId: ack.sharerId ?? null, at: joinedAt });
  });
});
joined.catch((e) => fail('join', e));

async function leave() {
  for (const [id, p] of [...peers]) {
    socket.emit('call:end', { to: id });
    p.close('left');
  }
  for (const p of [...shareOut.values()]) p.close('left');
  for (const id of [...shareIn.keys()]) onShareStopped(id, 'left');
  share.active = false;
  stopScreenSource();
  sfuClose();
  let ack = null;
  if (socket.connected) {
    try {
      ack = await new Promise((resolve, reject) =>
        socket.timeout(3000).emit('room:leave', {}, (err, a) => (err ? reject(err) : resolve(a))),
      );
    } catch (e) {
      fail('room:leave', e);
    }
  }
  socket.disconnect();
  return ack;
}

/** Per-remote call stats by id, plus `screen`: the screens viewed, by sharer id (latest share). */
function stats() {
  const out = {};
  for (const [id, s] of remotes) out[id] = copyStats(s);
  out.screen = {};
  for (const [id, s] of screens) out.screen[id] = screenStats(s);
  return out;
}

window.huddleTest = {
  joined,
  stats,
  leave,
  renegotiate,
  startSharing,
  stopSharing,
  renegotiateShare,
  shareInfo,
  screenSessions: () => screenSessions.map(screenStats),
  /** Diagnostics: the current local and remote SDP of the call with `id`. */
  sdp(id) {
    const p = peers.get(id);
    return p ? { local: p.pc.localDescription?.sdp ?? null, remote: p.pc.remoteDescription?.sdp ?? null } : null;
  },
  /** Diagnostics: every getStats() entry of the call with `id` (types filtered if given). */
  async rawStats(id, types = null) {
    const p = peers.get(id);
    if (!p) return null;
    const out = [];
    (await p.pc.getStats()).forEach((r) => {
      if (!types || types.includes(r.type)) out.push({ ...r });
    });
    return out;
  },
  get myId() {
    return myId;
  },
  sfuInfo,
  sfuView: (ids) => request('sfu:view', { video: ids }),
  /** Any request, for tests of refusals. */
  request: (event, payload) => request(event, payload),
  info: () => ({
    myId,
    email: EMAIL,
    room: ROOM,
    mode: MODE,
    tone: TONE,
    codec: CODEC || 'default',
    // When the acknowledged room:join was sent (Date.now()): the start of join → first frame.
    joinSentAt,
    oversizedKeyframes,
    // The video codec we really send to each call remote (getStats, sampled once a second).
    sendCodecs: Object.fromEntries(
      [...remotes.values()].map((s) => [s.email || s.id, { codec: s.outbound?.codec ?? null, history: [...s.outboundCodecs], framesEncoded: s.outbound?.framesEncoded ?? 0 }]),
    ),
    videoSendCapabilities: (RTCRtpSender.getCapabilities('video')?.codecs || []).map(codecName),
    startedAt,
    framesDrawn,
    audioContextState: audioCtx.state,
    connected: socket.connected,
    peers: [...peers.keys()],
    sharing: share.active,
    screenFramesDrawn: share.framesDrawn,
    shareOut: [...shareOut.keys()],
    shareIn: [...shareIn.keys()],
    errors: [...errors],
    events: events.map((e) => ({ ...e })),
  }),
};
setStatus();

// ---------------------------------------------------------------------------
// SFU path
// ---------------------------------------------------------------------------

const sfu = {
  active: false,
  epoch: null,
  since: null, // why: 'ack' | 'sfu:mode'
  startedAt: null,
  pub: null, // RTCPeerConnection (send-only)
  sub: null, // RTCPeerConnection (receive-only)
  mids: {}, // source -> mid of our publication
  screenTransceiver: null,
  publishes: [], // { why, at, ack }
  offers: [], // { version, at, streams }
  answers: [], // { version, at, ack }
  links: [], // sfu:link events
  bound: new Map(), // subscriber mid -> { from, source, sink } (what the m-line carries now)
  meshEnded: [], // { id, at, why }
  chain: Promise.resolve(),
  pendingSubIce: [],
};

/** Runs SDP work of the SFU path one step at a time. */
function sfuEnqueue(where, fn) {
  sfu.chain = sfu.chain.then(async () => {
    try {
      await fn();
    } catch (e) {
      fail(`sfu ${where}`, e);
    }
  });
  return sfu.chain;
}

function sfuPc(which) {
  const pc = new RTCPeerConnection({ iceServers: ICE_SERVERS, iceTransportPolicy: ICE_POLICY, bundlePolicy: 'max-bundle' });
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    if (c && c.candidate && !usable(candidateAddress(c))) return;
    const candidate = c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
    socket.emit('sfu:ice', { pc: which, candidate });
  };
  pc.onconnectionstatechange = () => note(`sfu ${which} ${pc.connectionState}`);
  return pc;
}

/** The room uses the SFU: publish, and wait for the server's subscription offer. */
function sfuStart(epoch, why) {
  if (sfu.active && sfu.epoch === epoch) return;
  const rebuilt = sfu.active;
  sfu.active = true;
  sfu.epoch = epoch;
  sfu.since = why;
  sfu.startedAt = Date.now();
  if (rebuilt) sfuClose({ keepActive: true });
  sfuPublish('start');
  // Make before break: any mesh call still up after 10 s ends.
  setTimeout(() => {
    for (const id of [...peers.keys()]) sfuEndMesh(id, 'timeout');
  }, 10000);
}

function sfuClose({ keepActive = false } = {}) {
  for (const pc of [sfu.pub, sfu.sub]) {
    try {
      pc?.close();
    } catch {}
  }
  sfu.pub = null;
  sfu.sub = null;
  sfu.screenTransceiver = null;
  for (const b of sfu.bound.values()) if (b.sink) b.sink.closed = true;
  sfu.bound.clear();
  if (!keepActive) sfu.active = false;
}

/** Offers the publisher connection (the first time, or to add or drop the screen). */
function sfuPublish(why) {
  return sfuEnqueue(`publish (${why})`, async () => {
    if (!sfu.pub) {
      sfu.pub = sfuPc('publisher');
      for (const track of localTracks) {
        const t = sfu.pub.addTransceiver(track, { direction: 'sendonly' });
        t.source = track.kind === 'video' ? 'camera' : 'microphone';
      }
    }
    if (share.active && screenTrack && !sfu.screenTransceiver) {
      sfu.screenTransceiver = sfu.pub.addTransceiver(screenTrack, { direction: 'sendonly' });
      sfu.screenTransceiver.source = 'screen';
    } else if (!share.active && sfu.screenTransceiver) {
      sfu.screenTransceiver.direction = 'inactive';
      sfu.screenTransceiver.source = null;
      sfu.screenTransceiver = null;
    }
    const offer = await sfu.pub.createOffer();
    await sfu.pub.setLocalDescription(offer);
    const streams = sfu.pub
      .getTransceivers()
      .filter((t) => t.source && t.mid !== null && t.direction !== 'inactive')
      .map((t) => ({ mid: t.mid, source: t.source }));
    for (const s of streams) sfu.mids[s.source] = s.mid;
    const ack = await request('sfu:publish', { offer: desc(sfu.pub.localDescription), streams }, 10000);
    sfu.publishes.push({ why, at: Date.now(), ok: !!ack?.ok, error: ack?.error ?? null });
    if (!ack?.ok) throw new Error(`sfu:publish refused: ${JSON.stringify(ack)}`);
    await sfu.pub.setRemoteDescription(ack.answer);
  });
}

function sfuOnOffer({ version, offer, streams }) {
  sfu.offers.push({ version, at: Date.now(), streams });
  sfuEnqueue(`offer ${version}`, async () => {
    if (!sfu.sub) {
      sfu.sub = sfuPc('subscriber');
    }
    await sfu.sub.setRemoteDescription(offer);
    const answer = await sfu.sub.createAnswer();
    await sfu.sub.setLocalDescription(answer);
    // Bind each m-line to the member and source it carries now (Janus reuses m-lines).
    const byMid = new Map(sfu.sub.getTransceivers().map((t) => [t.mid, t]));
    for (const s of streams) {
      const cur = sfu.bound.get(s.mid);
      const same = cur && cur.from === s.from && cur.source === s.source;
      if (same) continue;
      if (cur?.sink) cur.sink.closed = true;
      sfu.bound.delete(s.mid);
      const t = byMid.get(s.mid);
      if (!s.active || !s.from || !t) continue;
      const sink = sfuSink(s, t.receiver);
      sfu.bound.set(s.mid, { from: s.from, source: s.source, sink });
      const track = t.receiver.track;
      if (s.kind === 'video') attachVideo(sink, track, s.source === 'screen' ? 'screens' : 'remote');
      else attachAudio(sink, track);
    }
    const ack = await request('sfu:answer', { version, answer: desc(sfu.sub.localDescription) }, 10000);
    sfu.answers.push({ version, at: Date.now(), ok: !!ack?.ok, error: ack?.error ?? null });
  });
}

/** Where an m-line's frames are counted: the member's stats, or its screen's. */
function sfuSink(s, receiver) {
  let stats;
  if (s.source === 'screen') {
    stats = screens.get(s.from);
    if (!stats || stats.stoppedAt) stats = newScreen(s.from, 'sfu:offer');
  } else {
    stats = remoteStats(s.from);
    if (!stats.role) Object.assign(stats, { role: 'sfu', createdAt: Date.now() });
  }
  const sink = { id: s.from, stats, elemKey: `sfu:${s.mid}:${Date.now()}`, closed: false };
  if (s.kind === 'video' && s.source !== 'screen') {
    // Make before break: the mesh call with this member ends once its SFU video decodes.
    const check = setInterval(async () => {
      if (sink.closed || !peers.has(s.from)) return clearInterval(check);
      let decoded = 0;
      (await receiver.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp') decoded = Math.max(decoded, r.framesDecoded || 0);
      });
      if (decoded >= 5) {
        clearInterval(check);
        sfuEndMesh(s.from, 'sfu video');
      }
    }, 100);
  }
  return sink;
}

function sfuEndMesh(id, why) {
  const p = peers.get(id);
  if (!p) return;
  socket.emit('call:end', { to: id });
  p.close(`sfu: ${why}`);
  sfu.meshEnded.push({ id, at: Date.now(), why });
}

function sfuInfo() {
  return {
    active: sfu.active,
    epoch: sfu.epoch,
    since: sfu.since,
    startedAt: sfu.startedAt,
    mids: sfu.mids,
    publishes: sfu.publishes,
    offers: sfu.offers.map((o) => ({ version: o.version, at: o.at, streams: o.streams })),
    answers: sfu.answers,
    links: sfu.links,
    bound: Object.fromEntries([...sfu.bound].map(([mid, b]) => [mid, { from: b.from, source: b.source }])),
    meshEnded: sfu.meshEnded,
    pub: sfu.pub?.connectionState ?? null,
    sub: sfu.sub?.connectionState ?? null,
  };
}

socket.on('sfu:mode', ({ mode, epoch }) => {
  if (mode === 'sfu') sfuStart(epoch, 'sfu:mode');
});
socket.on('sfu:offer', sfuOnOffer);
socket.on('sfu:link', (l) => sfu.links.push({ ...l, at: Date.now() }));
socket.on('sfu:ice', ({ pc, candidate }) => {
  const target = pc === 'publisher' ? sfu.pub : sfu.sub;
  if (target && candidate) sfuEnqueue('remote ice', () => target.addIceCandidate(candidate));
});
