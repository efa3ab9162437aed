// Helpers for the engine interop tests: Huddle (the Rust `huddle` CLI) ↔ Chromium pages.
//
// Each test builds a Harness (startHarness(t)) that owns everything it starts — the signaling
// server, the page server, browsers, pages and huddle processes — and tears all of it down in
// t.after(), whether the test passed or not.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, REPO_ROOT, sleep } from '../server/helpers.mjs';
import { until } from '../lib/wait.mjs';
import { percentile } from './barcode.mjs';

export { sleep, REPO_ROOT };

const here = path.dirname(fileURLToPath(import.meta.url));
export const HUDDLE_BIN = process.env.HUDDLE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'huddle');
export const CHROMIUM = process.env.HUDDLE_CHROMIUM || '/usr/bin/chromium';
/** Poll period for page stats. */
export const POLL_MS = 250;
/** Overall budget of one test. */
export const TEST_TIMEOUT_MS = Number(process.env.HUDDLE_ENGINE_TEST_TIMEOUT_MS || 60000);

/** Chromium flags of shared/STACK.md ("browser peers"); Playwright adds --headless and a fresh --user-data-dir. */
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // The page's AudioContext (oscillator, analysers) must run without a user gesture.
  '--autoplay-policy=no-user-gesture-required',
];

// ---------------------------------------------------------------------------
// Page server: serves the participant page, the shared barcode module and socket.io-client
// ---------------------------------------------------------------------------

const PAGE_FILES = {
  '/participant.html': [path.join(here, 'page', 'participant.html'), 'text/html; charset=utf-8'],
  '/participant.js': [path.join(here, 'page', 'participant.js'), 'text/javascript; charset=utf-8'],
  '/barcode.mjs': [path.join(here, 'barcode.mjs'), 'text/javascript; charset=utf-8'],
  '/socket.io.min.js': [
    path.join(REPO_ROOT, 'tests', 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'),
    'text/javascript; charset=utf-8',
  ],
};

export function startPageServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const entry = PAGE_FILES[url.pathname];
    if (!entry) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    try {
      const body = readFileSync(entry[0]);
      res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' });
      res.end(body);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

// ---------------------------------------------------------------------------
// Huddle processes
// ---------------------------------------------------------------------------

// Safety net: no huddle process outlives the test process (t.after stops them normally).
const liveHuddles = new Set();
process.on('exit', () => {
  for (const p of liveHuddles) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
});

/**
 * Start `huddle join` (always --speaker none; --udp-addr 127.0.0.1:0 unless udpAddr says
 * otherwise (null: none); --camera test --mic sine unless camera / mic say otherwise).
 * share / shareAt / shareFor add --share, --share-at and --share-for (seconds).
 * wrap: a command prefix to run it under (the network lab: ip netns exec NS).
 * bin: the huddle binary (default HUDDLE_BIN), e.g. to compare two builds in one run.
 * Returns { proc, args, email, reportPath, stdout(), stderr(), lines, exited,
 *           waitForLine(re, ms), lineAt(re), report(), stop(), alive }.
 */
export function startHuddle({ server, email, room, name, duration = 8, chat = [], camera = 'test', mic = 'sine', share, shareAt, shareFor, extraArgs = [], dir, udpAddr = '127.0.0.1:0', wrap = [], bin = HUDDLE_BIN }) {
  if (!existsSync(bin)) throw new Error(`huddle binary not found at ${bin} (build it or set HUDDLE_BIN)`);
  const reportPath = path.join(dir, `report-${email.replace(/[^A-Za-z0-9]/g, '_')}.json`);
  const args = ['join', '--server', server, '--email', email, '--room', room];
  if (name) args.push('--name', name);
  args.push('--camera', camera, '--mic', mic, '--speaker', 'none');
  if (udpAddr) args.push('--udp-addr', udpAddr);
  args.push('--duration', String(duration), '--report', reportPath);
  for (const c of chat) args.push('--chat', c);
  if (share) args.push('--share', share);
  if (shareAt !== undefined) args.push('--share-at', String(shareAt));
  if (shareFor !== undefined) args.push('--share-for', String(shareFor));
  args.push(...extraArgs);
  const env = { ...process.env };
  // Info logs for the failure dumps, without rtc_dtls's per-handshake warning spam.
  if (!env.RUST_LOG) env.RUST_LOG = 'info,rtc_dtls=error';
  const command = wrap.length ? [...wrap, bin] : [bin];
  const proc = spawn(command[0], [...command.slice(1), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  liveHuddles.add(proc);
  proc.on('exit', () => liveHuddles.delete(proc));
  let out = '';
  let err = '';
  let partial = '';
  const lines = []; // complete stdout lines with the time they arrived: { at, text }
  const lineWaiters = new Set();
  const checkWaiters = () => {
    for (const w of lineWaiters) {
      const m = out.match(w.re);
      if (m) {
        lineWaiters.delete(w);
        w.resolve(m);
      }
    }
  };
  proc.stdout.on('data', (c) => {
    const text = c.toString('utf8');
    out += text;
    const at = Date.now();
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) lines.push({ at, text: line });
    checkWaiters();
  });
  proc.stderr.on('data', (c) => {
    err += c.toString('utf8');
    if (err.length > 2_000_000) err = err.slice(-1_000_000);
  });
  const startedAt = Date.now();
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      // HUDDLE_TEST_LOG_DIR=dir keeps every huddle's stdout and stderr for a post-mortem (time-stamped:
      // labs reuse their directory names, and a bench runs many).
      if (process.env.HUDDLE_TEST_LOG_DIR) {
        try {
          const base = path.join(process.env.HUDDLE_TEST_LOG_DIR, `${Date.now()}-${path.basename(dir)}-${email.replace(/[^A-Za-z0-9]/g, '_')}`);
          writeFileSync(`${base}.stdout.log`, out);
          writeFileSync(`${base}.stderr.log`, err);
        } catch {}
      }
      for (const w of lineWaiters) w.reject(new Error(`huddle exited (code ${code}, signal ${signal}) before printing ${w.re}`));
      lineWaiters.clear();
      resolve({ code, signal, at: Date.now() });
    });
    proc.on('error', (e) => resolve({ code: null, signal: null, error: e, at: Date.now() }));
  });
  const h = {
    proc,
    args,
    email,
    reportPath,
    startedAt,
    exited,
    stdout: () => out,
    stderr: () => err,
    lines,
    /** The first stdout line matching `re` with its arrival time: { at, text, match } or null. */
    lineAt(re) {
      for (const l of lines) {
        const m = l.text.match(re);
        if (m) return { at: l.at, text: l.text, match: m };
      }
      return null;
    },
    get alive() {
      return proc.exitCode === null && proc.signalCode === null;
    },
    /** Resolve with the match of `re` against everything huddle printed on stdout. */
    waitForLine(re, ms = 20000) {
      const m = out.match(re);
      if (m) return Promise.resolve(m);
      if (!h.alive) return Promise.reject(new Error(`huddle already exited; stdout:\n${out}`));
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (x) => {
            clearTimeout(timer);
            resolve(x);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          lineWaiters.delete(w);
          reject(new Error(`huddle did not print ${re} within ${ms} ms; stdout so far:\n${out}`));
        }, ms);
        lineWaiters.add(w);
      });
    },
    /** Wait for exit (at most `ms`, then SIGKILL and fail). */
    async waitExit(ms) {
      let timer;
      const r = await Promise.race([
        exited,
        new Promise((res) => {
          timer = setTimeout(() => res(null), ms);
        }),
      ]);
      clearTimeout(timer);
      if (r === null) {
        await h.stop(1000);
        throw new Error(`huddle did not exit within ${ms} ms\n${h.describe()}`);
      }
      return r;
    },
    report() {
      if (!existsSync(reportPath)) return null;
      return JSON.parse(readFileSync(reportPath, 'utf8'));
    },
    describe() {
      return `huddle ${args.join(' ')}\n--- stdout ---\n${out}\n--- stderr (last 3000) ---\n${err.slice(-3000)}`;
    },
    /** SIGTERM, then SIGKILL after graceMs. */
    async stop(graceMs = 3000) {
      if (!h.alive) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (h.alive) proc.kill('SIGKILL');
      }, graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  return h;
}

// ---------------------------------------------------------------------------
// Browsers and participant pages
// ---------------------------------------------------------------------------

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
}

/**
 * Open a participant page in its own browser context and wait until it has joined.
 * codec: 'h264' makes the page prefer H.264 for the video it sends (default: Chromium's order).
 * query: more page parameters (participant.js: ice, net, policy).
 * Returns { page, context, email, id, joined, stats(), info(), leave(), close(), console }.
 */
export async function openParticipant(browser, pageServer, { server, email, room, name, mode = 'av', tone = 660, codec, query = {}, waitJoined = true }) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  // A page server the browser cannot reach (a browser in a network namespace) serves through routes.
  if (pageServer.route) await pageServer.route(context);
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => {
    consoleLines.push(`[${m.type()}] ${m.text()}`);
    if (consoleLines.length > 500) consoleLines.shift();
  });
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  const qs = new URLSearchParams({ server, email, room, mode, tone: String(tone) });
  if (name) qs.set('name', name);
  if (codec) qs.set('codec', codec);
  for (const [k, v] of Object.entries(query)) qs.set(k, String(v));
  await page.goto(`${pageServer.url}/participant.html?${qs}`, { timeout: 30000 });
  await page.waitForFunction(() => window.huddleTest, null, { timeout: 20000 });
  const p = {
    page,
    context,
    email,
    console: consoleLines,
    id: null,
    joined: null,
    closed: false,
    async waitJoined() {
      p.joined = await page.evaluate(() => window.huddleTest.joined);
      p.id = p.joined.id;
      return p.joined;
    },
    stats: () => page.evaluate(() => window.huddleTest.stats()),
    info: () => page.evaluate(() => window.huddleTest.info()),
    leave: () => page.evaluate(() => window.huddleTest.leave()),
    /** startSharing (at: epoch ms to send the request at); resolves { ok, ack, requestedAt, ackAt, sharerId }. */
    startSharing: (at) => page.evaluate((a) => window.huddleTest.startSharing({ at: a }), at ?? null),
    stopSharing: () => page.evaluate(() => window.huddleTest.stopSharing()),
    /** A fresh share:offer over the open share connection to `id`. */
    renegotiateShare: (id) => page.evaluate((x) => window.huddleTest.renegotiateShare(x), id),
    shareInfo: () => page.evaluate(() => window.huddleTest.shareInfo()),
    async close() {
      if (p.closed) return;
      p.closed = true;
      try {
        await context.close();
      } catch {}
    },
    /** Diagnostic dump for assertion messages. */
    async describe() {
      let info = null;
      let stats = null;
      let sharing = null;
      try {
        info = await p.info();
        stats = await p.stats();
        sharing = await p.shareInfo();
      } catch (e) {
        info = { error: String(e) };
      }
      if (sharing && (sharing.sessions > 0 || sharing.requests.length > 0)) info.shareInfo = sharing;
      return `page ${email}: ${JSON.stringify(brief(info, stats), null, 1)}\nconsole:\n${consoleLines.slice(-30).join('\n')}`;
    },
  };
  if (waitJoined) await p.waitJoined();
  return p;
}

function brief(info, stats) {
  const out = { ...(info || {}) };
  if (out.events) out.events = out.events.slice(-40).map((e) => `${e.name}${e.from ? ` from ${e.from}` : ''}${e.id ? ` id ${e.id}` : ''}`);
  if (stats) {
    out.remotes = {};
    for (const [id, s] of Object.entries(stats)) if (id !== 'screen') out.remotes[id] = summarizeRemote(s);
    if (stats.screen && Object.keys(stats.screen).length) {
      out.screens = {};
      for (const [id, s] of Object.entries(stats.screen)) out.screens[id] = summarizeScreen(s);
    }
  }
  return out;
}

/** Frames per second over the middle 80 % of `times` (ms), the engine report's rule: the
 * first and last tenth (start-up, leaving) are left out. 0 for fewer than 10 frames. */
export function steadyFps(times) {
  if (!times || times.length < 10) return 0;
  const skip = Math.floor(times.length / 10);
  const w = times.slice(skip, times.length - skip);
  const span = (w[w.length - 1] - w[0]) / 1000;
  return span > 0 ? (w.length - 1) / span : 0;
}

/** The page's per-remote stats without the long arrays. */
export function summarizeRemote(s) {
  return {
    email: s.email,
    role: s.role,
    connectionState: s.connectionState,
    ice: s.iceConnectionState,
    closeReason: s.closeReason,
    videoFrames: s.videoFrames,
    barcodes: s.barcodes,
    unreadable: s.unreadable,
    crcFailures: s.crcFailures,
    repeats: s.repeats,
    outOfWindow: s.outOfWindow,
    size: `${s.width}x${s.height}`,
    latency: latencySummary(s.latencies),
    receiveLatency: latencySummary(s.receiveLatencies),
    rtpClock: s.rtpClock ? { ratio: round(s.rtpClock.ratio, 4), driftMs: s.rtpClock.driftMs, n: s.rtpClock.n } : null,
    connectedMs: s.connectedAt && s.createdAt ? s.connectedAt - s.createdAt : null,
    firstFrameMs: s.firstFrameAt && s.createdAt ? s.firstFrameAt - s.createdAt : null,
    audioRmsMax: round(s.audioRmsMax, 4),
    audioRms: round(s.audioRms, 4),
    audioFreq: round(s.audioFreq, 1),
    audioFreqMedian: percentile(s.audioFreqs, 50),
    candidates: { sent: s.localCandidatesSent, dropped: s.localCandidatesDropped, remote: s.remoteCandidateAddrs },
    sends: s.outbound ? `${s.outbound.codec} (pt ${s.outbound.payloadType}) ${s.outbound.framesEncoded} frames ${s.outbound.width}x${s.outbound.height}` : null,
    sendCodecs: s.outboundCodecs,
    receives: s.inbound ? `${s.inbound.codec} (pt ${s.inbound.payloadType}) ${s.inbound.packetsReceived} packets ${s.inbound.framesDecoded} frames decoded` : null,
    codecPreference: s.codecPreference ? { first: s.codecPreference.first, applied: s.codecPreference.applied, errors: s.codecPreference.errors } : undefined,
    localVideoCodecs: s.localVideoCodecs,
    remoteVideoCodecs: s.remoteVideoCodecs,
  };
}

const round = (x, d) => (typeof x === 'number' ? Math.round(x * 10 ** d) / 10 ** d : x);

export function latencySummary(values) {
  if (!values || values.length === 0) return { n: 0 };
  return {
    n: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: Math.max(...values),
  };
}

/** The page's stats entry for the remote with this email (or null). */
export function remoteByEmail(stats, email) {
  const all = Object.entries(stats)
    .filter(([id, s]) => id !== 'screen' && s.email === email)
    .map(([, s]) => s);
  // The latest connection with that email.
  all.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
  return all[0] || null;
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

let uniq = 0;
export function uniqName(prefix) {
  uniq += 1;
  return `${prefix}-${process.pid}-${uniq}-${Math.random().toString(36).slice(2, 7)}`.slice(0, 64);
}

/**
 * Start a signaling server and a page server; everything started through the harness is
 * cleaned up in t.after. Returns { server, pages, dir, browser(), page(opts), huddle(opts), log() }.
 */
export async function startHarness(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-engine-'));
  const browsers = [];
  const participants = [];
  const huddles = [];
  let server = null;
  let pages = null;
  const h = {
    dir,
    room: uniqName('room'),
    get server() {
      return server;
    },
    get pages() {
      return pages;
    },
    participants,
    huddles,
    async browser() {
      const b = await launchBrowser();
      browsers.push(b);
      return b;
    },
    async page(browser, opts) {
      const p = await openParticipant(browser, pages, { server: server.url, room: h.room, ...opts });
      participants.push(p);
      return p;
    },
    huddle(opts) {
      const hp = startHuddle({ server: server.url, room: h.room, dir, ...opts });
      huddles.push(hp);
      return hp;
    },
    async dump() {
      const parts = [];
      for (const p of participants) parts.push(p.closed ? `page ${p.email}: closed` : await p.describe());
      for (const hp of huddles) {
        parts.push(hp.describe());
        const r = hp.report();
        if (r) parts.push(`report ${hp.email}: ${JSON.stringify(r)}`);
      }
      if (server) parts.push(`--- server log (last 2000) ---\n${server.logs().slice(-2000)}`);
      return parts.join('\n\n');
    },
  };
  t.after(async () => {
    for (const hp of huddles) {
      try {
        await hp.stop(2000);
      } catch {}
    }
    for (const p of participants) await p.close();
    for (const b of browsers) {
      try {
        await b.close();
      } catch {}
    }
    if (pages) await pages.close();
    if (server) await server.stop(3000);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  });
  // The pages are served first: the signaling server lets only their origin connect.
  pages = await startPageServer();
  server = await startServer({ args: ['--allow-origin', pages.url] });
  return h;
}

/** Poll `fn` (async, returns a value or throws) until `ok(value)`; returns the last value. */
export async function pollUntil(fn, ok, { timeoutMs = 20000, stepMs = POLL_MS, what = 'condition' } = {}) {
  let last;
  const reached = async () => {
    last = await fn();
    return ok(last) ? { last } : null;
  };
  try {
    return (await until(reached, { timeoutMs, stepMs, what })).last;
  } catch (e) {
    // Name the last value seen, not the "not yet" of the poll.
    if (!e.cause) e.message = `${what} not reached within ${timeoutMs} ms; last value: ${JSON.stringify(last)?.slice(0, 2000)}`;
    throw e;
  }
}

/** The page's screen stats record (stats().screen) for the sharer with this email (latest), or null. */
export function screenByEmail(stats, email) {
  const all = Object.values(stats?.screen || {}).filter((s) => s.email === email);
  all.sort((a, b) => (b.announcedAt || 0) - (a.announcedAt || 0));
  return all[0] || null;
}

/** A page's screen stats record without the long arrays. */
export function summarizeScreen(s) {
  if (!s) return null;
  return {
    sharer: s.sharer,
    email: s.email,
    announcedBy: s.announcedBy,
    offers: s.offers,
    negotiations: s.negotiations,
    connectionState: s.connectionState,
    closeReason: s.closeReason,
    stoppedBy: s.stoppedBy,
    videoTracks: s.videoTracks,
    audioTracks: s.audioTracks,
    frames: s.videoFrames,
    barcodes: s.barcodes,
    unreadable: s.unreadable,
    crcFailures: s.crcFailures,
    size: `${s.width}x${s.height}`,
    latency: latencySummary(s.latencies),
    receiveLatency: latencySummary(s.receiveLatencies),
    rtpClock: s.rtpClock ? { ratio: round(s.rtpClock.ratio, 4), driftMs: s.rtpClock.driftMs, n: s.rtpClock.n } : null,
    firstFrameFromAnnounceMs: s.firstFrameFromAnnounceMs,
    firstFrameFromJoinMs: s.firstFrameFromJoinMs,
    firstBarcodeFromAnnounceMs: s.firstBarcodeFromAnnounceMs,
    candidates: { sent: s.localCandidatesSent, remote: s.remoteCandidateAddrs },
  };
}

/** One line about a page's screen stats record. */
export function describeScreen(s) {
  if (!s) return 'none';
  const l = latencySummary(s.latencies);
  return `screen from ${s.email}: ${s.connectionState} frames ${s.videoFrames} barcodes ${s.barcodes} (unreadable ${s.unreadable}, crc ${s.crcFailures}) ${s.width}x${s.height} latency p50 ${l.p50} p95 ${l.p95} (n ${l.n}); first frame ${s.firstFrameFromAnnounceMs} ms after ${s.announcedBy}, ${s.firstFrameFromJoinMs} ms after join`;
}

/** The report's received streams from `email` of `kind`. */
export function receivedFrom(report, email, kind) {
  return (report?.received || []).filter((r) => r.remote_email === email && r.kind === kind);
}

/** A one-line summary of a huddle report's received stream. */
export function describeReceived(r) {
  if (!r) return 'none';
  const l = r.latency_ms || {};
  const fromJoin = r.time_to_first_frame_from_join_ms !== undefined ? ` (${r.time_to_first_frame_from_join_ms} ms from join)` : '';
  return `${r.kind} ${r.codec} from ${r.remote_email}: packets ${r.packets} lost ${r.packets_lost} frames ${r.frames_decoded} barcodes ${r.barcodes_read} latency p50 ${l.p50} p95 ${l.p95} (n ${l.n}) first frame ${r.time_to_first_frame_ms} ms${fromJoin} fps ${r.fps} ${r.width}x${r.height}`;
}

// ---------------------------------------------------------------------------
// Checks that collect problems (so one failure does not hide the others)
// ---------------------------------------------------------------------------

/** Expected tone of a sender: Huddle's --mic sine is 440 Hz; pages send their `tone`. */
export const HUDDLE_TONE_HZ = 440;
export const TONE_TOLERANCE_HZ = 30;
/** RMS (full scale 1.0) that counts as "well above silence" (−40 dBFS). */
export const MIN_AUDIO_RMS = 0.01;

/**
 * Problems with what a page received from `email`: video with ≥ minBarcodes barcodes read,
 * audio above MIN_AUDIO_RMS at ≈ tone Hz, latency p50 < 1000 ms.
 */
export function pageReceivedProblems(stats, email, { who, minBarcodes, tone }) {
  const r = remoteByEmail(stats, email);
  if (!r) return [`${who}: no connection with ${email} at all`];
  const problems = [];
  if (r.barcodes < minBarcodes)
    problems.push(`${who}: ${r.barcodes} barcodes read (< ${minBarcodes}); video frames ${r.videoFrames}, unreadable ${r.unreadable}, crc ${r.crcFailures}, tracks ${r.videoTracks}, state ${r.connectionState}`);
  if (!(r.audioRmsMax > MIN_AUDIO_RMS)) problems.push(`${who}: audio RMS max ${r.audioRmsMax} (≤ ${MIN_AUDIO_RMS}), audio tracks ${r.audioTracks}`);
  const f = percentile(r.audioFreqs, 50);
  if (f === null || Math.abs(f - tone) > TONE_TOLERANCE_HZ)
    problems.push(`${who}: dominant audio frequency ${f} Hz (median of ${r.audioFreqs.length} loud samples), expected ${tone} ± ${TONE_TOLERANCE_HZ}`);
  const lat = latencySummary(r.latencies);
  if (lat.n > 0 && !(lat.p50 < 1000)) problems.push(`${who}: latency p50 ${lat.p50} ms (≥ 1000)`);
  return problems;
}

/** Problems with what a Huddle report says it received from `email` (video in `videoCodec`, default VP8). */
export function huddleReceivedProblems(report, email, { who, minFrames, minBarcodes, minAudioPackets, videoCodec = 'VP8' }) {
  if (!report) return [`${who}: no report written`];
  const problems = [];
  const video = receivedFrom(report, email, 'video');
  const audio = receivedFrom(report, email, 'audio');
  if (video.length !== 1) problems.push(`${who}: ${video.length} video streams from ${email} in the report (expected 1)`);
  if (audio.length !== 1) problems.push(`${who}: ${audio.length} audio streams from ${email} in the report (expected 1)`);
  const v = video[0];
  if (v) {
    if (!(v.frames_decoded >= minFrames)) problems.push(`${who}: video frames_decoded ${v.frames_decoded} (< ${minFrames})`);
    if (!(v.barcodes_read >= minBarcodes)) problems.push(`${who}: video barcodes_read ${v.barcodes_read} (< ${minBarcodes})`);
    if (v.codec && v.codec.replace(/^video\//i, '').toLowerCase() !== videoCodec.toLowerCase()) problems.push(`${who}: video codec ${v.codec} (expected ${videoCodec})`);
    const p50 = v.latency_ms?.p50;
    if (p50 !== null && p50 !== undefined && !(p50 < 1000)) problems.push(`${who}: video latency p50 ${p50} ms (≥ 1000)`);
  }
  const a = audio[0];
  if (a) {
    if (!(a.packets > minAudioPackets)) problems.push(`${who}: audio packets ${a.packets} (≤ ${minAudioPackets})`);
    if (a.codec && !/opus/i.test(a.codec)) problems.push(`${who}: audio codec ${a.codec} (expected Opus)`);
  }
  return problems;
}

/**
 * Problems with the screen a Huddle report says it received from `email`: `streams` screen
 * streams (default 1), the first with ≥ minBarcodes barcodes, latency p50 < 1000 ms.
 * Returns { problems, screen }.
 */
export function huddleScreenProblems(report, email, { who, minBarcodes, streams = 1 }) {
  if (!report) return { problems: [`${who}: no report written`], screen: null };
  const problems = [];
  const list = receivedFrom(report, email, 'screen');
  if (list.length !== streams) problems.push(`${who}: ${list.length} screen streams from ${email} in the report (expected ${streams})`);
  const v = list[0] || null;
  if (v) {
    if (!(v.barcodes_read >= minBarcodes))
      problems.push(`${who}: screen barcodes_read ${v.barcodes_read} (< ${minBarcodes}), frames_decoded ${v.frames_decoded}, decode errors ${v.decode_errors}`);
    const p50 = v.latency_ms?.p50;
    if (p50 !== null && p50 !== undefined && !(p50 < 1000)) problems.push(`${who}: screen latency p50 ${p50} ms (≥ 1000)`);
  }
  return { problems, screen: v };
}

/** Problems with a finished huddle process: exit code, report errors, peers connected. */
export function huddleExitProblems(exit, report, { who, peersConnected }) {
  const problems = [];
  if (exit.code !== 0) problems.push(`${who}: exit code ${exit.code} signal ${exit.signal}`);
  if (!report) return [...problems, `${who}: no report`];
  if (peersConnected !== undefined && report.peers_connected !== peersConnected)
    problems.push(`${who}: peers_connected ${report.peers_connected} (expected ${peersConnected})`);
  if (!Array.isArray(report.errors) || report.errors.length > 0) problems.push(`${who}: report errors ${JSON.stringify(report.errors)}`);
  return problems;
}

/** Throws one assertion error listing every problem, with the harness dump. */
export async function assertNoProblems(h, problems, title) {
  if (problems.length === 0) return;
  const err = new Error(`${title}:\n  - ${problems.join('\n  - ')}\n\n${await h.dump()}`);
  err.name = 'AssertionError';
  throw err;
}

/** Huddle's stdout "joined room R as ID" → ID. */
export async function huddleId(hp, ms = 20000) {
  const m = await hp.waitForLine(/joined room \S+ as (\S+)/, ms);
  return m[1];
}

/**
 * Chromium's own view of the video it receives from, and sends to, the remote with `email`
 * (getStats inbound-rtp / outbound-rtp, the largest video stream of each), and whether RTX
 * (RFC 4588) was negotiated each way (the SDP: an `rtx` codec and an `a=ssrc-group:FID`
 * in the description of whoever sends). Null without such a connection.
 */
export async function pageVideoRtp(p, email) {
  const s = remoteByEmail(await p.stats(), email);
  if (!s) return null;
  const [raw, sdp] = await p.page.evaluate(async (id) => [await window.huddleTest.rawStats(id, ['inbound-rtp', 'outbound-rtp']), window.huddleTest.sdp(id)], s.id);
  const largest = (type, bytes) =>
    (raw || []).filter((r) => r.type === type && r.kind === 'video').sort((a, b) => (b[bytes] || 0) - (a[bytes] || 0))[0] || null;
  const i = largest('inbound-rtp', 'bytesReceived');
  const o = largest('outbound-rtp', 'bytesSent');
  const rtxIn = (d) => !!d && /a=rtpmap:\d+ rtx\/90000/i.test(d) && /a=ssrc-group:FID /.test(d);
  return {
    id: s.id,
    // Chromium receives on RTX when the remote's description (the sender's) has it.
    rtxNegotiated: { receive: rtxIn(sdp?.remote), send: rtxIn(sdp?.local) },
    inbound: i && {
      packetsReceived: i.packetsReceived,
      packetsLost: i.packetsLost,
      retransmittedPacketsReceived: i.retransmittedPacketsReceived ?? null,
      nackCount: i.nackCount,
      pliCount: i.pliCount,
      firCount: i.firCount,
      framesDecoded: i.framesDecoded,
      framesDropped: i.framesDropped,
      keyFramesDecoded: i.keyFramesDecoded,
      freezeCount: i.freezeCount,
      totalFreezesDuration: i.totalFreezesDuration,
      jitterBufferMs: i.jitterBufferEmittedCount ? Math.round((1000 * i.jitterBufferDelay) / i.jitterBufferEmittedCount) : null,
    },
    outbound: o && {
      packetsSent: o.packetsSent,
      retransmittedPacketsSent: o.retransmittedPacketsSent ?? null,
      nackCount: o.nackCount,
      pliCount: o.pliCount,
    },
  };
}
