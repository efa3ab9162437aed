#!/usr/bin/env node
// Issue 16: rooms of 6 and 8 Huddle CLIs, mesh vs SFU (Janus), same synthetic cameras, in the
// network lab of tests/lab (Janus and the signaling server on the server host, participants
// split over two sites behind endpoint-independent NATs).
//
// Per room size and mode, over the steady part of the call (from SETTLE_S to the end):
//   upload       each site's uplink bytes (nft counter at its NAT router) / its participants,
//                kbit/s per participant
//   cpu          each huddle process's user+system time (/proc/PID/stat), % of one core,
//                mean over participants (encode once + decode every other + packetize/send)
//   g2g          glass-to-glass latency from the barcodes, p50 / p95 of every received camera
//                stream (medians over streams)
//   fps          mean decoded fps of the received cameras
//
// Usage: node bench/lab/sfu.mjs [--sizes 6,8] [--seconds 20] [--camera test:320x240]
// Env: HUDDLE_BIN, HUDDLE_SERVER_BIN. Needs root (network namespaces).
import { readFileSync } from 'node:fs';

const { startLab, labSkipReason } = await import('../../tests/lab/lab.mjs');
const { huddleId, receivedFrom } = await import('../../tests/engine/helpers.mjs');

const SETTLE_S = 5;
const HZ = 100; // USER_HZ on Linux

function parseArgs(argv) {
  const o = { sizes: [6, 8], seconds: 20, camera: 'test:320x240' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--sizes') o.sizes = v.split(',').map(Number);
    else if (k === '--seconds') o.seconds = Number(v);
    else if (k === '--camera') o.camera = v;
    else throw new Error(`unknown argument ${k}`);
  }
  return o;
}

function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime + stime (fields 14, 15)
  } catch {
    return null;
  }
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};

async function runOne(size, mode, o) {
  const lab = await startLab(null, { nat: 'eim', janus: { threshold: mode === 'sfu' ? 1 : 0 } });
  try {
    const hs = [];
    for (let i = 0; i < size; i++) {
      hs.push(lab.huddle(i % 2 ? 'b' : 'a', { email: `b${i + 1}@example.com`, ice: 'stun', duration: o.seconds + (size - i) * 0.3, camera: o.camera }));
      await huddleId(hs.at(-1));
    }
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const t0 = Date.now();
    const up0 = {};
    for (const s of ['a', 'b']) up0[s] = (await lab.site(s).router.counters()).up.offered.bytes;
    const cpu0 = hs.map((h) => cpuTicks(h.proc.pid));
    const window = (o.seconds - SETTLE_S - 2) * 1000;
    await new Promise((r) => setTimeout(r, window));
    const secs = (Date.now() - t0) / 1000;
    const cpu1 = hs.map((h) => cpuTicks(h.proc.pid));
    const up1 = {};
    for (const s of ['a', 'b']) up1[s] = (await lab.site(s).router.counters()).up.offered.bytes;
    await Promise.all(hs.map((h) => h.waitExit(60000)));
    const perSite = { a: Math.ceil(size / 2), b: Math.floor(size / 2) };
    const upload = ['a', 'b'].map((s) => ((up1[s] - up0[s]) * 8) / 1000 / secs / perSite[s]);
    const cpu = cpu1.map((c, i) => (c !== null && cpu0[i] !== null ? ((c - cpu0[i]) / HZ / secs) * 100 : null));
    const p50 = [];
    const p95 = [];
    const fps = [];
    let streams = 0;
    for (const h of hs) {
      const r = h.report();
      for (const other of hs) {
        if (other === h) continue;
        const v = r && receivedFrom(r, other.email, 'video')[0];
        if (!v) continue;
        streams++;
        p50.push(v.latency_ms?.p50);
        p95.push(v.latency_ms?.p95);
        fps.push(v.fps);
      }
    }
    return {
      size,
      mode,
      uploadKbps: Math.round(upload.reduce((a, b) => a + b, 0) / 2),
      cpuPercent: Math.round(cpu.filter((c) => c !== null).reduce((a, b) => a + b, 0) / cpu.filter((c) => c !== null).length),
      g2gP50: median(p50),
      g2gP95: median(p95),
      fps: Math.round((fps.reduce((a, b) => a + b, 0) / (fps.length || 1)) * 10) / 10,
      streams,
      expected: size * (size - 1),
    };
  } finally {
    await lab.close();
  }
}

const skip = labSkipReason();
if (skip) {
  console.error(`skipped: ${skip}`);
  process.exit(0);
}
const o = parseArgs(process.argv.slice(2));
const rows = [];
for (const size of o.sizes) {
  for (const mode of ['mesh', 'sfu']) {
    const row = await runOne(size, mode, o);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
}
console.log('\n| participants | path | upload kbit/s per participant | CPU per participant (% of a core) | g2g p50 / p95 ms | fps | camera streams decoded |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(`| ${r.size} | ${r.mode} | ${r.uploadKbps} | ${r.cpuPercent} | ${r.g2gP50} / ${r.g2gP95} | ${r.fps} | ${r.streams} / ${r.expected} |`);
}
