#!/usr/bin/env node
// Media engine benchmark (issue 4): Huddle (the Rust `huddle` CLI) vs Chromium, side by side in
// one run on loopback, 640×480 @ 30 fps VP8.
//
// Four directions, each a 1-sender / 1-receiver pair in its own room, repeated --reps times and
// interleaved (rep 1: HH HC CH CC, rep 2: the reverse order, …) so slow drifts of the shared
// machine hit every direction alike:
//   HH = Huddle → Huddle, HC = Huddle → Chromium, CH = Chromium → Huddle, CC = Chromium → Chromium.
// The sender joins first and sends video (+ audio); the receiver joins second (the newcomer) and
// sends nothing (huddle: --camera none --mic none; page: mode=recv).
//
// Measured per run:
//   - glass-to-glass latency from the receiver's barcode reads (shared/TESTSIGNAL.md), p50/p95 by
//     nearest rank over every barcode of the run (Huddle: its report's latency_ms; page: its
//     latencies array through the same nearest-rank percentile);
//   - time to first frame for the newcomer, from its own room:join to its first frame (Huddle:
//     time_to_first_frame_from_join_ms; page: firstFrameAt − the Date.now() read right before its
//     socket emits room:join, recorded by an init script that wraps Socket.prototype.emit — the
//     participant page itself is not modified);
//   - CPU (% of one core) of the sender and of the receiver over a steady 10 s window:
//     /proc/PID/stat utime+stime; for Chromium the sum over every process of that browser instance
//     (each participant gets its own browser, found by a unique marker flag in /proc/*/cmdline,
//     plus all descendants by ppid).
//
// Usage: node bench/engine/run.mjs [--reps 3] [--duration 20] [--warmup 6] [--window 10]
//                                  [--directions HH,HC,CH,CC] [--out DIR]
// Env: HUDDLE_BIN / HUDDLE_SERVER_BIN (default: target/release/…), HUDDLE_CHROMIUM.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
// The test helpers read these at import time: point them at the release binaries.
process.env.HUDDLE_BIN ||= path.join(REPO, 'target', 'release', 'huddle');
process.env.HUDDLE_SERVER_BIN ||= path.join(REPO, 'target', 'release', 'huddle-server');
// The binary's own default filter without rtc_dtls's per-handshake warnings (the test helper
// would otherwise turn on info for every crate).
process.env.RUST_LOG ||= 'warn,rtc_dtls=error,huddle_engine=info,huddle=info';

const H = await import('../../tests/engine/helpers.mjs');
const { startServer } = await import('../../tests/server/helpers.mjs');
const { procStat, allPids, CLK_TCK } = await import('../../tests/lib/proc.mjs');
const { chromium } = await import(pathToFileURL(path.join(REPO, 'tests', 'node_modules', 'playwright-core', 'index.mjs')).href);
const { sleep, uniqName, latencySummary, remoteByEmail, receivedFrom, CHROMIUM, CHROMIUM_ARGS, HUDDLE_BIN } = H;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { reps: 3, duration: 20, warmup: 6, window: 10, directions: ['HH', 'HC', 'CH', 'CC'], out: null, senderSettle: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--reps') o.reps = Number(v());
    else if (a === '--duration') o.duration = Number(v());
    else if (a === '--warmup') o.warmup = Number(v());
    else if (a === '--window') o.window = Number(v());
    else if (a === '--directions') o.directions = v().split(',').map((s) => s.trim().toUpperCase());
    else if (a === '--out') o.out = v();
    else if (a === '--sender-settle') o.senderSettle = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.warmup + o.window > o.duration) throw new Error('--warmup + --window must fit in --duration');
  for (const d of o.directions) if (!/^[HC][HC]$/.test(d)) throw new Error(`bad direction ${d}`);
  return o;
}
const opt = parseArgs(process.argv.slice(2));
const NAMES = { HH: 'Huddle → Huddle', HC: 'Huddle → Chromium', CH: 'Chromium → Huddle', CC: 'Chromium → Chromium' };

// ---------------------------------------------------------------------------
// /proc CPU accounting
// ---------------------------------------------------------------------------

/** Every process whose cmdline contains `marker`, plus all their descendants. */
function browserTree(marker) {
  const stats = new Map();
  const roots = [];
  for (const pid of allPids()) {
    const st = procStat(pid);
    if (!st) continue;
    stats.set(pid, st);
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) roots.push(pid);
    } catch {}
  }
  const inTree = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const st of stats.values()) {
      if (!inTree.has(st.pid) && inTree.has(st.ppid)) {
        inTree.add(st.pid);
        grew = true;
      }
    }
  }
  return [...inTree].map((p) => stats.get(p)).filter(Boolean);
}

/** A CPU probe of one participant: sample() → Map pid → ticks. */
function cpuProbe(part) {
  if (part.kind === 'huddle') {
    return () => {
      const st = procStat(part.pid);
      return new Map(st ? [[st.pid, st.ticks]] : []);
    };
  }
  return () => new Map(browserTree(part.marker).map((st) => [st.pid, st.ticks]));
}

/** Whole-machine busy ticks (all cores) from /proc/stat. */
function machineTicks() {
  const a = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return a[0] + a[1] + a[2] + a[5] + a[6] + a[7];
}

/** % of one core used between two samples (processes that appeared count from zero). */
function cpuPercent(a, b, seconds) {
  let ticks = 0;
  for (const [pid, t] of b) ticks += t - (a.get(pid) ?? 0);
  return (100 * ticks) / CLK_TCK / seconds;
}

// ---------------------------------------------------------------------------
// Participants
// ---------------------------------------------------------------------------

// Runs in every page before its scripts: records the Date.now() right before the page's socket
// emits room:join (the page auto-joins on connect and exposes no such time itself), and keeps
// every RTCPeerConnection for getStats (codec, frame size, encoder/decoder, quality limitation).
const INIT_SCRIPT = `(() => {
  const bench = (window.__bench = { joinEmits: [], pcs: [], ioPatched: false });
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...a) { super(...a); bench.pcs.push(this); }
  };
  let ioValue;
  Object.defineProperty(window, 'io', {
    configurable: true,
    get() { return ioValue; },
    set(v) {
      ioValue = v;
      const proto = v && v.Socket && v.Socket.prototype;
      if (proto && !proto.__benchWrapped) {
        const emit = proto.emit;
        proto.emit = function (ev, ...args) {
          if (ev === 'room:join') bench.joinEmits.push(Date.now());
          return emit.call(this, ev, ...args);
        };
        proto.__benchWrapped = true;
        bench.ioPatched = true;
      }
    },
  });
})();`;

// Video RTP stats of every live peer connection in a page.
async function pageRtpStats(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of window.__bench.pcs) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      const codecs = {};
      report.forEach((s) => {
        if (s.type === 'codec') codecs[s.id] = s.mimeType;
      });
      const o = { inbound: [], outbound: [] };
      report.forEach((s) => {
        if (s.kind !== 'video') return;
        if (s.type === 'inbound-rtp')
          o.inbound.push({
            codec: codecs[s.codecId] || null,
            timestamp: s.timestamp,
            bytesReceived: s.bytesReceived,
            framesDecoded: s.framesDecoded,
            framesDropped: s.framesDropped,
            keyFramesDecoded: s.keyFramesDecoded,
            frameWidth: s.frameWidth,
            frameHeight: s.frameHeight,
            totalDecodeTime: s.totalDecodeTime,
            jitterBufferDelay: s.jitterBufferDelay,
            jitterBufferEmittedCount: s.jitterBufferEmittedCount,
            jitterBufferTargetDelay: s.jitterBufferTargetDelay,
            totalProcessingDelay: s.totalProcessingDelay,
            totalAssemblyTime: s.totalAssemblyTime,
            framesAssembledFromMultiplePackets: s.framesAssembledFromMultiplePackets,
            framesReceived: s.framesReceived,
            decoderImplementation: s.decoderImplementation,
            packetsLost: s.packetsLost,
            nackCount: s.nackCount,
            pliCount: s.pliCount,
          });
        if (s.type === 'outbound-rtp')
          o.outbound.push({
            codec: codecs[s.codecId] || null,
            timestamp: s.timestamp,
            bytesSent: s.bytesSent,
            framesEncoded: s.framesEncoded,
            keyFramesEncoded: s.keyFramesEncoded,
            frameWidth: s.frameWidth,
            frameHeight: s.frameHeight,
            totalEncodeTime: s.totalEncodeTime,
            targetBitrate: s.targetBitrate,
            encoderImplementation: s.encoderImplementation,
            qualityLimitationReason: s.qualityLimitationReason,
            qualityLimitationDurations: s.qualityLimitationDurations,
            pliCount: s.pliCount,
          });
      });
      out.push(o);
    }
    return out;
  });
}

/** ms per frame over the window of a cumulative seconds counter. */
function winPerFrame(a, b, secondsKey, countKey) {
  if (!a || !b || typeof b[secondsKey] !== 'number' || typeof a[secondsKey] !== 'number') return null;
  const n = b[countKey] - a[countKey];
  return n > 0 ? ((b[secondsKey] - a[secondsKey]) * 1000) / n : null;
}

const firstOf = (stats, dir) => (stats || []).flatMap((o) => o[dir])[0] || null;

/** A browser instance of its own (for CPU attribution), tagged with a unique marker flag. */
async function launchTaggedBrowser(marker) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--huddle-bench-tag=${marker}`],
    timeout: 30000,
  });
  // openParticipant creates its own context: hand it a browser whose contexts get the init script.
  const wrapped = {
    newContext: async (o) => {
      const ctx = await browser.newContext(o);
      await ctx.addInitScript(INIT_SCRIPT);
      return ctx;
    },
  };
  return { browser, wrapped };
}

async function startPage(env, { email, mode }) {
  const marker = uniqName('bench').replace(/[^A-Za-z0-9-]/g, '');
  const { browser, wrapped } = await launchTaggedBrowser(marker);
  const part = { kind: 'page', email, mode, marker, browser, p: null };
  env.cleanups.push(async () => {
    if (part.p) await part.p.close();
    try {
      await browser.close();
    } catch {}
  });
  part.p = await H.openParticipant(wrapped, env.pages, { server: env.server.url, room: env.room, email, mode, tone: 660 });
  return part;
}

/** A huddle process. The sender reuses the test helper; the receiver needs --camera none --mic none. */
function startHuddleSender(env, { email }) {
  const hp = H.startHuddle({ server: env.server.url, room: env.room, email, duration: 600, dir: env.dir });
  env.cleanups.push(() => hp.stop(3000));
  return { kind: 'huddle', email, hp, pid: hp.proc.pid };
}

function startHuddleReceiver(env, { email }) {
  // startHuddle always passes --camera test --mic sine and clap refuses a repeated option, so the
  // receiver is spawned here with the same flags otherwise.
  const hp = spawnHuddle(env, email, ['--camera', 'none', '--mic', 'none']);
  env.cleanups.push(() => hp.stop(3000));
  return { kind: 'huddle', email, hp, pid: hp.proc.pid };
}

const liveProcs = new Set();
process.on('exit', () => {
  for (const p of liveProcs) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
});

function spawnHuddle(env, email, media) {
  const reportPath = path.join(env.dir, `report-${email.replace(/[^A-Za-z0-9]/g, '_')}.json`);
  const args = ['join', '--server', env.server.url, '--email', email, '--room', env.room, ...media];
  args.push('--speaker', 'none', '--udp-addr', '127.0.0.1:0', '--duration', '600', '--report', reportPath);
  const proc = spawn(HUDDLE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  liveProcs.add(proc);
  proc.on('exit', () => liveProcs.delete(proc));
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => {
    err += c;
    if (err.length > 1_000_000) err = err.slice(-500_000);
  });
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    args,
    email,
    exited,
    stdout: () => out,
    stderr: () => err,
    report: () => (existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, 'utf8')) : null),
    async waitForLine(re, ms = 20000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (!alive()) throw new Error(`huddle exited before printing ${re}:\n${out}\n${err.slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`huddle did not print ${re} within ${ms} ms:\n${out}`);
        await sleep(20);
      }
    },
    async stop(graceMs = 3000) {
      if (!alive()) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => alive() && proc.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

// ---------------------------------------------------------------------------
// One run of one direction
// ---------------------------------------------------------------------------

async function runTrial(shared, dirCode, rep) {
  const env = { ...shared, room: uniqName(`b${dirCode}`), cleanups: [] };
  const senderKind = dirCode[0] === 'H' ? 'huddle' : 'page';
  const receiverKind = dirCode[1] === 'H' ? 'huddle' : 'page';
  const senderEmail = `sender-${dirCode.toLowerCase()}-${rep}@bench.example`;
  const receiverEmail = `receiver-${dirCode.toLowerCase()}-${rep}@bench.example`;
  const res = { direction: dirCode, name: NAMES[dirCode], rep, room: env.room, senderKind, receiverKind, problems: [] };
  const t0 = Date.now();
  try {
    // Sender first.
    env.parts = {};
    const sender = (env.parts.sender =
      senderKind === 'huddle' ? startHuddleSender(env, { email: senderEmail }) : await startPage(env, { email: senderEmail, mode: 'av' }));
    if (senderKind === 'huddle') await sender.hp.waitForLine(/joined room \S+ as \S+/, 20000);
    await sleep(opt.senderSettle * 1000);

    // The receiver is the newcomer.
    const rStart = Date.now();
    const receiver = (env.parts.receiver =
      receiverKind === 'huddle' ? startHuddleReceiver(env, { email: receiverEmail }) : await startPage(env, { email: receiverEmail, mode: 'recv' }));
    // Until the first video frame arrives (polling stops before the CPU window).
    if (receiverKind === 'huddle') await receiver.hp.waitForLine(/receiving video from/, 20000);
    else
      await H.pollUntil(
        () => receiver.p.stats(),
        (s) => (remoteByEmail(s, senderEmail)?.videoFrames || 0) > 0,
        { timeoutMs: 20000, stepMs: 100, what: 'first video frame on the receiving page' },
      );
    res.firstFrameSeenAfterStartMs = Date.now() - rStart;

    // Steady window.
    await sleep(Math.max(0, rStart + opt.warmup * 1000 - Date.now()));
    const probeS = cpuProbe(sender);
    const probeR = cpuProbe(receiver);
    const rtpA = {
      sender: senderKind === 'page' ? await pageRtpStats(sender.p.page) : null,
      receiver: receiverKind === 'page' ? await pageRtpStats(receiver.p.page) : null,
    };
    const probeServer = cpuProbe({ kind: 'huddle', pid: env.server.proc.pid });
    const mA = machineTicks();
    const sA = probeS();
    const rA = probeR();
    const vA = probeServer();
    const nA = process.cpuUsage();
    const wA = performance.now();
    await sleep(opt.window * 1000);
    const mB = machineTicks();
    const sB = probeS();
    const rB = probeR();
    const vB = probeServer();
    const nB = process.cpuUsage(nA);
    const secs = (performance.now() - wA) / 1000;
    const rtpB = {
      sender: senderKind === 'page' ? await pageRtpStats(sender.p.page) : null,
      receiver: receiverKind === 'page' ? await pageRtpStats(receiver.p.page) : null,
    };
    res.window = { seconds: secs, senderProcs: sB.size, receiverProcs: rB.size };
    res.senderCpu = cpuPercent(sA, sB, secs);
    res.receiverCpu = cpuPercent(rA, rB, secs);
    res.machineBusyCores = (mB - mA) / CLK_TCK / secs;
    res.serverCpu = cpuPercent(vA, vB, secs);
    res.benchNodeCpu = ((nB.user + nB.system) / 1e6 / secs) * 100;
    // Everything else on the (shared) machine: other users' work, not ours.
    res.otherBusyCores = res.machineBusyCores - (res.senderCpu + res.receiverCpu + res.serverCpu + res.benchNodeCpu) / 100;

    await sleep(Math.max(0, rStart + opt.duration * 1000 - Date.now()));

    // Receiver results (stop it first, so its report covers the whole run and the sender is still up).
    if (receiverKind === 'huddle') {
      const exit = await receiver.hp.stop(5000);
      const rep_ = receiver.hp.report();
      const v = receivedFrom(rep_, senderEmail, 'video')[0];
      if (exit.code !== 0) res.problems.push(`receiver exit ${JSON.stringify(exit)}`);
      if (!v) res.problems.push('receiver report has no video stream');
      if (rep_?.errors?.length) res.problems.push(`receiver errors ${JSON.stringify(rep_.errors)}`);
      res.recv = v && {
        codec: v.codec,
        frames: v.frames_decoded,
        barcodes: v.barcodes_read,
        latency: v.latency_ms,
        ttffFromJoinMs: v.time_to_first_frame_from_join_ms,
        ttffFromPcMs: v.time_to_first_frame_ms,
        firstPacketFromPcMs: v.time_to_first_packet_ms,
        fps: v.fps,
        kbps: v.kbps,
        width: v.width,
        height: v.height,
        packetsLost: v.packets_lost,
        joinAckMs: rep_.join_ack_ms,
        ttffRef: 'decoded (huddle report)',
      };
    } else {
      const stats = await receiver.p.stats();
      const info = await receiver.p.info();
      const bench = await receiver.p.page.evaluate(() => ({ joinEmits: window.__bench.joinEmits, ioPatched: window.__bench.ioPatched }));
      const r = remoteByEmail(stats, senderEmail);
      if (!r) res.problems.push('receiving page has no stats for the sender');
      if (!bench.ioPatched || bench.joinEmits.length === 0) res.problems.push('room:join emit time not recorded on the receiving page');
      if (bench.joinEmits.length > 1) res.problems.push(`receiving page emitted room:join ${bench.joinEmits.length} times (join retried)`);
      if (info.errors.length) res.problems.push(`receiving page errors: ${info.errors.join('; ')}`);
      const inA = firstOf(rtpA.receiver, 'inbound');
      const inB = firstOf(rtpB.receiver, 'inbound');
      const dt = inA && inB ? (inB.timestamp - inA.timestamp) / 1000 : null;
      const joinAt = bench.joinEmits[0] ?? null;
      res.recv = r && {
        codec: inB?.codec,
        frames: r.videoFrames,
        barcodes: r.barcodes,
        latency: latencySummary(r.latencies),
        // Diagnostic, where the page provides it: last packet of the frame received − T
        // (requestVideoFrameCallback's receiveTime), i.e. before Chromium's jitter buffer and decoder.
        arrivalLatency: Array.isArray(r.receiveLatencies) && r.receiveLatencies.length ? latencySummary(r.receiveLatencies) : null,
        ttffFromJoinMs: r.firstFrameAt && joinAt ? r.firstFrameAt - joinAt : null,
        ttffFromPcMs: r.firstFrameAt && r.createdAt ? r.firstFrameAt - r.createdAt : null,
        fps: dt ? (inB.framesDecoded - inA.framesDecoded) / dt : null,
        kbps: dt ? ((inB.bytesReceived - inA.bytesReceived) * 8) / dt / 1000 : null,
        width: r.width,
        height: r.height,
        packetsLost: inB?.packetsLost,
        decoder: inB?.decoderImplementation,
        decodeMsPerFrame: inA && inB && inB.framesDecoded > inA.framesDecoded ? ((inB.totalDecodeTime - inA.totalDecodeTime) * 1000) / (inB.framesDecoded - inA.framesDecoded) : null,
        jitterBufferMs: winPerFrame(inA, inB, 'jitterBufferDelay', 'jitterBufferEmittedCount'),
        jitterTargetMs: winPerFrame(inA, inB, 'jitterBufferTargetDelay', 'jitterBufferEmittedCount'),
        processingMs: winPerFrame(inA, inB, 'totalProcessingDelay', 'framesDecoded'),
        assemblyMs: winPerFrame(inA, inB, 'totalAssemblyTime', 'framesAssembledFromMultiplePackets'),
        joinAckMs: receiver.p.joined?.at && joinAt ? receiver.p.joined.at - joinAt : null,
        unreadable: r.unreadable,
        repeats: r.repeats,
        ttffRef: 'presented (requestVideoFrameCallback)',
      };
    }

    // Sender results.
    if (senderKind === 'huddle') {
      const exit = await sender.hp.stop(5000);
      const rep_ = sender.hp.report();
      if (exit.code !== 0) res.problems.push(`sender exit ${JSON.stringify(exit)}`);
      const sv = (rep_?.sent || []).find((s) => s.kind === 'video');
      res.sent = sv && { codec: sv.codec, frames: sv.frames_encoded, fps: sv.fps, kbps: sv.kbps, encodeMsPerFrame: sv.encode_ms_per_frame, keyframes: sv.keyframes };
    } else {
      const oA = firstOf(rtpA.sender, 'outbound');
      const oB = firstOf(rtpB.sender, 'outbound');
      const dt = oA && oB ? (oB.timestamp - oA.timestamp) / 1000 : null;
      res.sent = oB && {
        codec: oB.codec,
        frames: oB.framesEncoded,
        fps: dt ? (oB.framesEncoded - oA.framesEncoded) / dt : null,
        kbps: dt ? ((oB.bytesSent - oA.bytesSent) * 8) / dt / 1000 : null,
        encodeMsPerFrame: dt && oB.framesEncoded > oA.framesEncoded ? ((oB.totalEncodeTime - oA.totalEncodeTime) * 1000) / (oB.framesEncoded - oA.framesEncoded) : null,
        keyframes: oB.keyFramesEncoded,
        encoder: oB.encoderImplementation,
        width: oB.frameWidth,
        height: oB.frameHeight,
        targetKbps: oB.targetBitrate ? oB.targetBitrate / 1000 : null,
        qualityLimitation: oB.qualityLimitationReason,
        qualityLimitationDurations: oB.qualityLimitationDurations,
      };
    }
    if (res.recv && res.recv.codec && !/vp8/i.test(res.recv.codec)) res.problems.push(`codec ${res.recv.codec} is not VP8`);
    if (res.recv && (res.recv.width !== 640 || res.recv.height !== 480)) res.problems.push(`received ${res.recv.width}x${res.recv.height} (not 640x480)`);
  } catch (e) {
    res.problems.push(`run failed: ${e.stack || e}`);
  } finally {
    // Logs of both sides, for looking into outliers afterwards.
    for (const [role, part] of [['sender', env.parts?.sender], ['receiver', env.parts?.receiver]]) {
      if (!part) continue;
      const file = path.join(shared.logDir, `${String(shared.seq).padStart(2, '0')}-${dirCode}-rep${rep}-${role}-${part.kind}.log`);
      try {
        if (part.kind === 'huddle') writeFileSync(file, `$ huddle ${part.hp.args.join(' ')}\n--- stdout ---\n${part.hp.stdout()}\n--- stderr ---\n${part.hp.stderr()}`);
        else {
          let extra = '';
          try {
            const stats = await part.p.stats();
            const info = await part.p.info();
            extra = `--- remotes ---\n${JSON.stringify(Object.values(stats).filter((x) => x && 'videoFrames' in x).map((x) => H.summarizeRemote(x)), null, 1)}\n--- events ---\n${info.events.map((e) => `${new Date(e.at).toISOString()} ${e.name}${e.from ? ` from ${e.from}` : ''}`).join('\n')}\n`;
            res[`${role}PageRemote`] = H.summarizeRemote(remoteByEmail(stats, role === 'sender' ? receiverEmail : senderEmail) || {});
          } catch {}
          writeFileSync(file, `page ${part.email} (${part.mode}), browser marker ${part.marker}\n--- console ---\n${part.p?.console.join('\n')}\n${extra}`);
        }
      } catch {}
    }
    for (const c of env.cleanups.reverse()) {
      try {
        await c();
      } catch {}
    }
  }
  res.wallSeconds = (Date.now() - t0) / 1000;
  return res;
}

// ---------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const fmt = (x, d = 0) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');
const list = (xs, d = 0) => xs.map((x) => fmt(x, d)).join('/');

function summarize(results) {
  const by = {};
  for (const d of opt.directions) {
    const runs = results.filter((r) => r.direction === d && r.recv);
    by[d] = {
      runs,
      p50: median(runs.map((r) => r.recv.latency?.p50)),
      p95: median(runs.map((r) => r.recv.latency?.p95)),
      ttff: median(runs.map((r) => r.recv.ttffFromJoinMs)),
      ttffMax: runs.length ? Math.max(...runs.map((r) => r.recv.ttffFromJoinMs ?? Infinity)) : null,
      senderCpu: median(runs.map((r) => r.senderCpu)),
      receiverCpu: median(runs.map((r) => r.receiverCpu)),
      frames: median(runs.map((r) => r.recv.frames)),
      barcodes: median(runs.map((r) => r.recv.barcodes)),
    };
  }
  return by;
}

function tables(results, by) {
  const L = [];
  L.push(`Median over ${opt.reps} interleaved runs per direction (per-run values in brackets); ${opt.duration} s per run from the receiver's join; CPU over a ${opt.window} s window starting ${opt.warmup} s after the receiver's join; CPU in % of one core.`);
  L.push('');
  L.push('| direction | g2g p50 (ms) | g2g p95 (ms) | frames | barcodes | TTFF newcomer (ms) | sender CPU % | receiver CPU % |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const d of opt.directions) {
    const s = by[d];
    const rs = s.runs;
    L.push(
      `| ${NAMES[d]} | **${fmt(s.p50)}** [${list(rs.map((r) => r.recv.latency?.p50))}] | **${fmt(s.p95)}** [${list(rs.map((r) => r.recv.latency?.p95))}] | ${fmt(s.frames)} | ${fmt(s.barcodes)} | **${fmt(s.ttff)}** [${list(rs.map((r) => r.recv.ttffFromJoinMs))}] | **${fmt(s.senderCpu, 1)}** [${list(rs.map((r) => r.senderCpu), 1)}] | **${fmt(s.receiverCpu, 1)}** [${list(rs.map((r) => r.receiverCpu), 1)}] |`,
    );
  }
  L.push('');
  L.push('Per run (in the order run):');
  L.push('');
  L.push('| # | direction | p50 | p95 | p99 | max | n | frames | barcodes | recv fps | recv kbps | size | TTFF join (ms) | TTFF pc (ms) | sender CPU % | receiver CPU % | other load (cores) | sender encode ms/frame | notes |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  results.forEach((r, i) => {
    const v = r.recv || {};
    const l = v.latency || {};
    const notes = [];
    if (r.sent?.encoder) notes.push(`enc ${r.sent.encoder}`);
    if (r.sent?.qualityLimitation && r.sent.qualityLimitation !== 'none') notes.push(`quality limited: ${r.sent.qualityLimitation}`);
    if (r.sent?.targetKbps) notes.push(`target ${fmt(r.sent.targetKbps)} kbps`);
    if (v.decoder) notes.push(`dec ${v.decoder}`);
    if (v.arrivalLatency) notes.push(`packet arrival − T p50 ${fmt(v.arrivalLatency.p50)} p95 ${fmt(v.arrivalLatency.p95)} ms`);
    if (v.jitterBufferMs != null) notes.push(`recv jitter buffer ${fmt(v.jitterBufferMs, 1)} ms (target ${fmt(v.jitterTargetMs, 1)})`);
    if (v.decodeMsPerFrame != null) notes.push(`decode ${fmt(v.decodeMsPerFrame, 2)} ms`);
    if (v.processingMs != null) notes.push(`recv→decoded ${fmt(v.processingMs, 1)} ms`);
    if (v.firstPacketFromPcMs != null) notes.push(`first packet ${fmt(v.firstPacketFromPcMs)} ms after pc`);
    if (r.sent?.kbps != null) notes.push(`sent ${fmt(r.sent.kbps)} kbps ${fmt(r.sent.fps, 1)} fps`);
    if (r.serverCpu != null) notes.push(`server ${fmt(r.serverCpu, 1)} %, bench node ${fmt(r.benchNodeCpu, 1)} %`);
    if (r.window) notes.push(`procs ${r.window.senderProcs}/${r.window.receiverProcs}`);
    for (const p of r.problems) notes.push(`PROBLEM: ${p.split('\n')[0]}`);
    L.push(
      `| ${i + 1} | ${r.direction} | ${fmt(l.p50)} | ${fmt(l.p95)} | ${fmt(l.p99)} | ${fmt(l.max)} | ${fmt(l.n)} | ${fmt(v.frames)} | ${fmt(v.barcodes)} | ${fmt(v.fps, 1)} | ${fmt(v.kbps)} | ${v.width ?? '–'}x${v.height ?? '–'} | ${fmt(v.ttffFromJoinMs)} | ${fmt(v.ttffFromPcMs)} | ${fmt(r.senderCpu, 1)} | ${fmt(r.receiverCpu, 1)} | ${fmt(r.otherBusyCores, 2)} | ${fmt(r.sent?.encodeMsPerFrame, 2)} | ${notes.join('; ')} |`,
    );
  });
  return L.join('\n');
}

function targets(by) {
  const L = [];
  const verdict = (ok) => (ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const le = (a, b) => (a === null || b === null ? null : a <= b);
  const ratio = (a, b) => (a === null || b === null || b === 0 ? '–' : (a / b).toFixed(2));
  const has = (d) => by[d] && by[d].runs.length > 0;
  L.push('| target | measured | verdict |');
  L.push('| --- | --- | --- |');
  if (has('HH')) L.push(`| Huddle → Huddle g2g p50 ≤ 20 ms | ${fmt(by.HH.p50)} ms (runs ${list(by.HH.runs.map((r) => r.recv.latency?.p50))}) | ${verdict(le(by.HH.p50, 20))} |`);
  if (has('CC')) {
    for (const d of ['HH', 'HC', 'CH']) {
      if (!has(d)) continue;
      L.push(`| ${NAMES[d]} g2g p50 ≤ Chromium → Chromium | ${fmt(by[d].p50)} vs ${fmt(by.CC.p50)} ms (ratio ${ratio(by[d].p50, by.CC.p50)}) | ${verdict(le(by[d].p50, by.CC.p50))} |`);
      L.push(`| ${NAMES[d]} g2g p95 ≤ Chromium → Chromium | ${fmt(by[d].p95)} vs ${fmt(by.CC.p95)} ms (ratio ${ratio(by[d].p95, by.CC.p95)}) | ${verdict(le(by[d].p95, by.CC.p95))} |`);
    }
  }
  for (const d of ['HH', 'CH']) {
    if (!has(d)) continue;
    const all = by[d].runs.map((r) => r.recv.ttffFromJoinMs);
    L.push(`| Huddle newcomer TTFF ≤ 150 ms (${NAMES[d]}) | median ${fmt(by[d].ttff)} ms, worst ${fmt(by[d].ttffMax)} ms (runs ${list(all)}) | ${verdict(le(by[d].ttff, 150))} (every run: ${verdict(le(by[d].ttffMax, 150))}) |`);
  }
  if (has('HH') && has('CC'))
    L.push(`| CPU per sent stream: Huddle < Chromium (each to its own kind) | Huddle ${fmt(by.HH.senderCpu, 1)} % vs Chromium ${fmt(by.CC.senderCpu, 1)} % (ratio ${ratio(by.HH.senderCpu, by.CC.senderCpu)}) | ${verdict(by.HH.senderCpu !== null && by.CC.senderCpu !== null ? by.HH.senderCpu < by.CC.senderCpu : null)} |`);
  if (has('HC') && has('CH'))
    L.push(`| CPU per sent stream: Huddle < Chromium (mixed pairs) | Huddle→Chromium sender ${fmt(by.HC.senderCpu, 1)} % vs Chromium→Huddle sender ${fmt(by.CH.senderCpu, 1)} % (ratio ${ratio(by.HC.senderCpu, by.CH.senderCpu)}) | ${verdict(by.HC.senderCpu !== null && by.CH.senderCpu !== null ? by.HC.senderCpu < by.CH.senderCpu : null)} |`);
  L.push('');
  L.push('Ratios (Huddle vs Chromium; < 1 means Huddle is lower):');
  L.push('');
  if (has('CC')) {
    for (const d of ['HH', 'HC', 'CH'])
      if (has(d))
        L.push(`- ${NAMES[d]} / Chromium → Chromium: g2g p50 ×${ratio(by[d].p50, by.CC.p50)}, p95 ×${ratio(by[d].p95, by.CC.p95)}, TTFF ×${ratio(by[d].ttff, by.CC.ttff)}`);
  }
  if (has('HH') && has('CC')) {
    L.push(`- sender CPU Huddle→Huddle / Chromium→Chromium: ×${ratio(by.HH.senderCpu, by.CC.senderCpu)}; receiver CPU: ×${ratio(by.HH.receiverCpu, by.CC.receiverCpu)}`);
  }
  if (has('HC') && has('CH')) L.push(`- sender CPU Huddle→Chromium / Chromium→Huddle: ×${ratio(by.HC.senderCpu, by.CH.senderCpu)}`);
  return L.join('\n');
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  for (const bin of [HUDDLE_BIN, process.env.HUDDLE_SERVER_BIN]) if (!existsSync(bin)) throw new Error(`${bin} not found: cargo build --release -p huddle-engine --bin huddle -p huddle-server`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = opt.out || path.join(here, 'results', stamp);
  mkdirSync(out, { recursive: true });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-bench-engine-'));
  console.log(`huddle ${HUDDLE_BIN}; server ${process.env.HUDDLE_SERVER_BIN}; chromium ${CHROMIUM}; CLK_TCK ${CLK_TCK}`);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), loadavg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`plan: ${opt.reps} reps × ${opt.directions.join(',')}, ${opt.duration} s each; results in ${out}`);
  // The pages are served first: the signaling server lets only their origin connect.
  const pages = await H.startPageServer();
  const server = await startServer({ args: ['--allow-origin', pages.url] });
  const logDir = path.join(out, 'logs');
  mkdirSync(logDir, { recursive: true });
  const shared = { server, pages, dir, logDir, seq: 0 };
  const results = [];
  try {
    for (let rep = 1; rep <= opt.reps; rep++) {
      const order = rep % 2 === 1 ? opt.directions : [...opt.directions].reverse();
      for (const d of order) {
        shared.seq += 1;
        const r = await runTrial(shared, d, rep);
        results.push(r);
        const v = r.recv || {};
        console.log(
          `[rep ${rep}] ${d} ${NAMES[d].padEnd(20)} g2g p50 ${fmt(v.latency?.p50)} p95 ${fmt(v.latency?.p95)} ms (n ${fmt(v.latency?.n)}), frames ${fmt(v.frames)}, barcodes ${fmt(v.barcodes)}, ${v.width}x${v.height} ${fmt(v.fps, 1)} fps ${fmt(v.kbps)} kbps ${v.codec || ''}, TTFF ${fmt(v.ttffFromJoinMs)} ms, CPU sender ${fmt(r.senderCpu, 1)} % receiver ${fmt(r.receiverCpu, 1)} %, others ${fmt(r.otherBusyCores, 2)} cores${r.problems.length ? `\n   PROBLEMS: ${r.problems.join(' | ')}` : ''}`,
        );
        writeFileSync(path.join(out, 'results.json'), JSON.stringify({ opt, results }, null, 1));
        await sleep(1000);
      }
    }
  } finally {
    await pages.close();
    await server.stop(3000);
    rmSync(dir, { recursive: true, force: true });
  }
  const by = summarize(results);
  const md = `${tables(results, by)}\n\nTargets:\n\n${targets(by)}\n`;
  writeFileSync(path.join(out, 'table.md'), md);
  writeFileSync(path.join(out, 'results.json'), JSON.stringify({ opt, clkTck: CLK_TCK, results, summary: Object.fromEntries(Object.entries(by).map(([k, v]) => [k, { ...v, runs: undefined }])) }, null, 1));
  console.log(`\n${md}`);
  const failed = results.filter((r) => r.problems.length);
  if (failed.length) console.log(`${failed.length} run(s) had problems (see notes).`);
  return failed.some((r) => !r.recv) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
