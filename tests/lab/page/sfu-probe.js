// A bare WebRTC endpoint for probing Janus's VideoRoom from the lab: the test drives it
// (through page.evaluate) and relays its SDP and candidates to Janus itself.
//
// Publisher side: one send-only RTCPeerConnection with a 640×480 barcode camera
// (shared/TESTSIGNAL.md) and a tone, and on demand a 1280×720 barcode "screen" as a second
// video track (a renegotiation). Subscriber side: one receive-only RTCPeerConnection that
// answers Janus's offers (and its renegotiations); every received video track's barcodes are
// read per frame, by the m-line's mid.
//
// Query: ice (JSON array of RTCIceServer), tone (Hz, default 660).
// window.sfu = { publishOffer(), publishAnswer(answer), addScreen(), subscribeAnswer(offer),
//                takeCandidates('pub'|'sub'), stats(), ready }.
import { drawBarcode, readBarcodeRGBA, latencyOf, percentile } from '/barcode.mjs';

const q = new URLSearchParams(location.search);
const ICE_SERVERS = JSON.parse(q.get('ice') || '[]');
const TONE = Number(q.get('tone') || 660);
const READ_MAX_W = 640;

const errors = [];
const fail = (where, e) => errors.push(`${where}: ${(e && e.message) || e}`);

/** A canvas track of W×H carrying the barcode of Date.now() on top and moving content below. */
function barcodeTrack(W, H, label) {
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  document.getElementById('local').appendChild(canvas);
  const ctx = canvas.getContext('2d', { alpha: false });
  let n = 0;
  const draw = () => {
    ctx.fillStyle = 'rgb(40,60,90)';
    ctx.fillRect(0, H / 2, W, H / 2);
    ctx.fillStyle = `hsl(${(n * 5) % 360},80%,55%)`;
    ctx.fillRect((n * 7) % (W - 80), H / 2 + 40 + ((n * 3) % 100), 80, 80);
    ctx.fillStyle = 'rgb(230,230,230)';
    ctx.font = '28px monospace';
    ctx.fillText(`${label} #${n}`, 10, H - 12);
    drawBarcode(ctx, W, H, Date.now());
    n++;
  };
  draw();
  setInterval(draw, 33);
  return canvas.captureStream(30).getVideoTracks()[0];
}

const audioCtx = new AudioContext({ sampleRate: 48000 });
function toneTrack(hz) {
  const osc = audioCtx.createOscillator();
  osc.frequency.value = hz;
  const gain = audioCtx.createGain();
  gain.gain.value = 0.3;
  const dest = audioCtx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  return dest.stream.getAudioTracks()[0];
}

const candidates = { pub: [], sub: [] };
const gathered = { pub: false, sub: false };

function newPeer(which) {
  const pc = new RTCPeerConnection({ iceServers: ICE_SERVERS, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
  pc.onicecandidate = (e) => {
    if (e.candidate) candidates[which].push(e.candidate.toJSON());
    else gathered[which] = true;
  };
  return pc;
}

let pub = null;
let sub = null;
const received = new Map(); // mid -> stats of the video received on that m-line

function sdpOf(desc) {
  return { type: desc.type, sdp: desc.sdp };
}

/** Reads the barcode of every frame of `track` (received on m-line `mid`). */
function readVideo(mid, track) {
  const s = {
    mid,
    frames: 0,
    barcodes: 0,
    latencies: [],
    width: 0,
    height: 0,
    firstFrameAt: null,
    lastFrameAt: null,
    trackAt: Date.now(),
  };
  received.set(mid, s);
  const v = document.createElement('video');
  v.muted = true;
  v.autoplay = true;
  v.playsInline = true;
  v.srcObject = new MediaStream([track]);
  document.getElementById('remote').appendChild(v);
  v.play().catch((e) => fail('video.play', e));
  const cv = document.createElement('canvas');
  const cx = cv.getContext('2d', { willReadFrequently: true, alpha: false });
  const seen = new Set();
  const onFrame = (_now, md) => {
    const at = Date.now();
    const w = (md && md.width) || v.videoWidth;
    const h = (md && md.height) || v.videoHeight;
    s.frames++;
    s.firstFrameAt ??= at;
    s.lastFrameAt = at;
    s.width = w;
    s.height = h;
    if (w >= 16 && h >= 8) {
      const k = w > READ_MAX_W ? READ_MAX_W / w : 1;
      const rw = Math.round(w * k);
      const rh = Math.round(h * k);
      if (cv.width !== rw || cv.height !== rh) {
        cv.width = rw;
        cv.height = rh;
      }
      cx.drawImage(v, 0, 0, rw, rh);
      const r = readBarcodeRGBA(cx.getImageData(0, 0, rw, Math.ceil(rh / 2)).data, rw, rh);
      if (r.t !== null && !seen.has(r.t)) {
        seen.add(r.t);
        const lat = latencyOf(r.t, at);
        if (lat !== null) {
          s.barcodes++;
          s.latencies.push(lat);
        }
      }
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
}

async function inboundAudioPackets() {
  if (!sub) return 0;
  let n = 0;
  for (const r of (await sub.getStats()).values()) {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived || 0;
  }
  return n;
}

window.sfu = {
  ready: true,
  errors,

  /** Our publisher's offer: camera (video) then tone (audio), send-only. */
  async publishOffer() {
    pub = newPeer('pub');
    const video = pub.addTransceiver(barcodeTrack(640, 480, 'camera'), { direction: 'sendonly' });
    const audio = pub.addTransceiver(toneTrack(TONE), { direction: 'sendonly' });
    await pub.setLocalDescription(await pub.createOffer());
    return { offer: sdpOf(pub.localDescription), mids: { video: video.mid, audio: audio.mid } };
  },

  async publishAnswer(answer) {
    await pub.setRemoteDescription(answer);
  },

  /** Adds the screen as a second video stream: the renegotiation's offer and its mid. */
  async addScreen() {
    const track = barcodeTrack(1280, 720, 'screen');
    // As screen shares are: keep the resolution, give up frame rate when bandwidth is short.
    track.contentHint = 'detail';
    const screen = pub.addTransceiver(track, { direction: 'sendonly' });
    await pub.setLocalDescription(await pub.createOffer());
    return { offer: sdpOf(pub.localDescription), mid: screen.mid };
  },

  /** Answers Janus's subscription offer (the first, or a renegotiation). */
  async subscribeAnswer(offer) {
    if (!sub) {
      sub = newPeer('sub');
      sub.ontrack = (e) => {
        if (e.track.kind === 'video') readVideo(e.transceiver.mid, e.track);
      };
    }
    await sub.setRemoteDescription(offer);
    await sub.setLocalDescription(await sub.createAnswer());
    return sdpOf(sub.localDescription);
  },

  /** Local candidates gathered since the last call, and whether gathering is complete. */
  takeCandidates(which) {
    const out = candidates[which].splice(0);
    return { candidates: out, done: gathered[which] };
  },

  async stats() {
    const video = {};
    for (const [mid, s] of received) {
      video[mid] = {
        frames: s.frames,
        barcodes: s.barcodes,
        width: s.width,
        height: s.height,
        firstFrameAt: s.firstFrameAt,
        lastFrameAt: s.lastFrameAt,
        p50: percentile(s.latencies, 50),
        p95: percentile(s.latencies, 95),
      };
    }
    return {
      video,
      audioPackets: await inboundAudioPackets(),
      pub: pub && { connection: pub.connectionState, ice: pub.iceConnectionState },
      sub: sub && { connection: sub.connectionState, ice: sub.iceConnectionState },
      subMids: sub ? sub.getTransceivers().map((t) => ({ mid: t.mid, direction: t.currentDirection })) : [],
      errors,
    };
  },
};
