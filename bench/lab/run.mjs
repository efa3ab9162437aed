#!/usr/bin/env node
// The issue-13 matrix: how calls hold up on constrained links, Huddle and Chromium side by side
// in one run, in the network lab of tests/lab (two sites behind endpoint-independent NATs, STUN
// from coturn, the signaling server on the server host).
//
// Conditions, each on both sites' uplinks (so each direction of a call crosses one of them):
//   none     no limit
//   1m       tc tbf 1 Mbit/s, 200 ms queue
//   300k     tc tbf 300 kbit/s, 200 ms queue
//   loss3    3 % random drops (nft numgen)
//   loss10   10 % random drops
//   cap500   500 kbit/s (200 ms queue) from 1/3 to 2/3 of the call (10 s to 20 s of 30 s)
// Pairs: HH (Huddle ↔ Huddle), HC (Huddle on site a ↔ Chromium on site b: Huddle → Chromium
// and Chromium → Huddle), CC (Chromium ↔ Chromium). Both ends send the 640×480 @ 30 barcode
// camera and a tone; the participant on site b joins second (it calls). The pages draw the
// bottom half of Huddle's synthetic picture (`--pattern stripes`, the default: the same work for
// both encoders) or their own flat one (`--pattern flat`, what runs before 2026-12-03 evening used).
//
// Per direction:
//   sends        the sender's rate at its uplink (nft counter before any drop: what it tried to
//                send), kbit/s over the call from 3 s on; for cap500 before / during / after
//   dropped      packets dropped at the bottleneck (tc queue overflow + random drops), % of those
//                offered, and bytes
//   fps          the receiver's decoded frame rate over the middle 80 % of its frames (Huddle:
//                its report; Chromium: the page's frame times, same rule)
//   g2g          glass-to-glass latency from the barcodes: p50 / p95 / max ms
//   freezes      gaps > 500 ms between frames after the first: count and longest (Chromium:
//                the page's frame times; Huddle: its report's freezes / longest_freeze_ms)
//   decode err.  Huddle's decode_errors; intact %: frames whose barcode reads (a corrupted
//                picture does not), of those decoded
//   QP           the mean VP8 quantizer of the frames a Chromium receiver decoded (qpSum /
//                framesDecoded; lower is finer): with the same picture, bits against quality
//   recovery     cap500 only: seconds from lifting the cap until the sender's uplink rate (1 s
//                windows) is back to ≥ 80 % of its rate before the cap, and not above 2× it (a
//                sender still flushing a backlog has not recovered), for 2 s in a row
//
//   receiver     Chromium's getStats of the video it receives (freezeCount and total freeze
//                time, NACKs and PLIs it sent, packets it got on RTX, its jitter buffer's mean
//                delay) or Huddle's (packets it got on RTX, frames repaired / lost); the
//                Huddle sender's NACKs left unanswered, by reason (its last "congestion
//                estimate" log line)
//
// Usage: node bench/lab/run.mjs [--seconds 30] [--conditions none,1m,300k,loss3,loss10,cap500]
//                               [--pairs HH,HC,CC] [--reps 1] [--pattern stripes|flat] [--out DIR]
//                               [--bins before=PATH,after=PATH]
// --bins runs every pair with a Huddle once per huddle binary, side by side (CC once).
// Env: HUDDLE_BIN, HUDDLE_SERVER_BIN, HUDDLE_CHROMIUM. Needs root (network namespaces).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { startLab, labSkipReason, connectionsWith } = await import('../../tests/lab/lab.mjs');
const { sleep, uniqName, latencySummary, steadyFps, remoteByEmail, receivedFrom, pageVideoRtp, HUDDLE_BIN } = await import('../../tests/engine/helpers.mjs');

const CONDITIONS = {
  none: { label: 'no limit' },
  '1m': { label: '1 Mbit/s cap', cap: 1000 },
  '300k': { label: '300 kbit/s cap', cap: 300 },
  loss3: { label: '3 % loss', loss: 3 },
  loss10: { label: '10 % loss', loss: 10 },
  cap500: { label: '500 kbit/s cap, middle third', timedCap: 500 },
};
const QUEUE_MS = 200;
const SAMPLE_MS = 500;
/** The rate is measured from this many seconds into the call (ICE, DTLS, the first keyframe). */
const SETTLE_S = 3;
const FREEZE_MS = 500;

function parseArgs(argv) {
  const o = { seconds: 30, conditions: Object.keys(CONDITIONS), pairs: ['HH', 'HC', 'CC'], reps: 1, pattern: 'stripes', out: null, bins: [{ name: null, path: HUDDLE_BIN }] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--conditions') o.conditions = v().split(',');
    else if (a === '--pairs') o.pairs = v().split(',').map((s) => s.toUpperCase());
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--pattern') o.pattern = v();
    else if (a === '--bins')
      o.bins = v()
        .split(',')
        .map((b) => {
          const [name, ...rest] = b.split('=');
          return { name, path: rest.join('=') };
        });
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['stripes', 'flat'].includes(o.pattern)) throw new Error(`--pattern ${o.pattern}: stripes or flat`);
  if (!(o.seconds >= 12)) throw new Error('--seconds must be ≥ 12');
  for (const c of o.conditions) if (!CONDITIONS[c]) throw new Error(`unknown condition ${c} (${Object.keys(CONDITIONS).join(', ')})`);
  for (const p of o.pairs) if (!['HH', 'HC', 'CC'].includes(p)) throw new Error(`unknown pair ${p} (HH, HC, CC)`);
  return o;
}

// ---------------------------------------------------------------------------
// Participants: one interface over a huddle process and a Chromium page
// ---------------------------------------------------------------------------

const EMAIL = { a: 'site-a@example.com', b: 'site-b@example.com' };
const TONE = { a: 550, b: 660 };

/** Starts the participant of `kind` ('H' or 'C') on `site`; resolves once it has joined. */
async function join(lab, browsers, kind, site, room, seconds, { bin, pattern }) {
  if (kind === 'H') {
    const hp = lab.huddle(site, { email: EMAIL[site], room, ice: 'stun', duration: seconds, bin });
    await hp.waitForLine(/joined room \S+ as (\S+)/, 20000);
    return { kind, site, hp };
  }
  const page = await lab.page(browsers[site], { email: EMAIL[site], room, ice: 'stun', tone: TONE[site], query: { pattern } });
  return { kind, site, page };
}

/** What `p` received from the other site: { fps, g2g, freezes, decodeErrors, intactPct, frames }. */
async function received(p, fromSite) {
  const from = EMAIL[fromSite];
  if (p.hp) {
    const r = p.hp.report();
    // How long each connection with the other side took to come up (null: it never did).
    const tries = connectionsWith(r, from).map((c) => (c.connect_ms === null ? null : round(c.connect_ms, 0)));
    const v = receivedFrom(r, from, 'video')[0];
    if (!v) return { error: r ? 'no video received' : 'no report', tries };
    const freezes = v.freezes !== undefined && v.freezes !== null ? { count: v.freezes, longestMs: round(v.longest_freeze_ms, 0) } : null;
    return {
      frames: v.frames_decoded,
      fps: round(v.fps, 1),
      g2g: { n: v.latency_ms.n, p50: v.latency_ms.p50, p95: v.latency_ms.p95, max: v.latency_ms.max },
      freezes,
      decodeErrors: v.decode_errors,
      intactPct: v.frames_decoded ? round((100 * v.barcodes_read) / v.frames_decoded, 1) : null,
      packetsLost: v.packets_lost,
      kbps: round(v.kbps, 0),
      rtxPackets: v.rtx_packets ?? null,
      recovery: v.recovery ?? null,
      tries,
      firstFrameMs: round(v.time_to_first_frame_from_join_ms, 0),
    };
  }
  const s = remoteByEmail(await p.page.stats(), from);
  if (!s) return { error: 'no connection' };
  const rtp = await pageVideoRtp(p.page, from).catch(() => null);
  const l = latencySummary(s.latencies);
  const read = s.barcodes + s.unreadable + s.crcFailures;
  return {
    frames: s.videoFrames,
    fps: round(steadyFps(s.frameTimes), 1),
    g2g: { n: l.n, p50: l.p50 ?? null, p95: l.p95 ?? null, max: l.max ?? null },
    freezes: freezesOf(s.frameTimes),
    decodeErrors: null,
    intactPct: read ? round((100 * s.barcodes) / read, 1) : null,
    qp: s.inbound?.qpSum != null && s.inbound.framesDecoded ? round(s.inbound.qpSum / s.inbound.framesDecoded, 1) : null,
    selectedPair: s.selectedPair,
    rtp,
  };
}

/** What `p` says it sent (Huddle: its report; Chromium: the page's outbound video stats). */
async function sentBy(p, toSite) {
  if (p.hp) {
    const r = p.hp.report();
    const v = (r?.sent || []).find((x) => x.kind === 'video');
    const a = (r?.sent || []).find((x) => x.kind === 'audio');
    return v ? { videoKbps: round(v.kbps, 0), targetKbps: v.target_kbps, fps: round(v.fps, 1), keyframes: v.keyframes, audioKbps: a ? round(a.kbps, 0) : null, refused: lastRefused(p.hp) } : null;
  }
  const s = remoteByEmail(await p.page.stats(), EMAIL[toSite]);
  const o = s?.outbound;
  return o
    ? { framesEncoded: o.framesEncoded, bytesSent: o.bytesSent, width: o.width, height: o.height, qualityLimitation: o.qualityLimitation, qp: o.qpSum != null && o.framesEncoded ? round(o.qpSum / o.framesEncoded, 1) : null }
    : null;
}

/** The NACKs a huddle left unanswered, by reason, from its last "congestion estimate" line. */
function lastRefused(hp) {
  const lines = hp.stderr().split('\n').filter((l) => l.includes('congestion estimate'));
  const m = lines.length ? lines[lines.length - 1].match(/refused=(\{[^}]*\})/) : null;
  return m ? m[1] : null;
}

async function leave(p) {
  if (p.hp) {
    await p.hp.waitExit(30000).catch(() => {});
    return;
  }
  await p.page.leave().catch(() => {});
  await p.page.close();
}

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

const round = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

function freezesOf(times) {
  let count = 0;
  let longest = 0;
  for (let i = 1; i < (times?.length || 0); i++) {
    const gap = times[i] - times[i - 1];
    if (gap > FREEZE_MS) count++;
    longest = Math.max(longest, gap);
  }
  return { count, longestMs: longest };
}

/** kbit/s of the uplink between consecutive samples: [{ t (s from call start), kbps }]. */
function rateTimeline(samples, t0) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = (b.at - a.at) / 1000;
    if (dt <= 0) continue;
    out.push({ t: round((b.at - t0) / 1000, 2), kbps: round(((b.up.offered.bytes - a.up.offered.bytes) * 8) / 1000 / dt, 0) });
  }
  return out;
}

/** Mean kbit/s of the uplink between t0+from and t0+to seconds (from the counter samples). */
function meanRate(samples, t0, from, to) {
  const inWin = samples.filter((s) => s.at >= t0 + from * 1000 && s.at <= t0 + to * 1000);
  if (inWin.length < 2) return null;
  const a = inWin[0];
  const b = inWin[inWin.length - 1];
  return round(((b.up.offered.bytes - a.up.offered.bytes) * 8) / 1000 / ((b.at - a.at) / 1000), 0);
}

/** Drops at the bottleneck between two samples (both taken under the same condition). */
function dropsOf(first, last) {
  const offered = last.up.offered.packets - first.up.offered.packets;
  const offeredBytes = last.up.offered.bytes - first.up.offered.bytes;
  const loss = last.up.lossDropped.packets - first.up.lossDropped.packets;
  const lossBytes = last.up.lossDropped.bytes - first.up.lossDropped.bytes;
  const q1 = first.up.qdisc || { sentBytes: 0, sentPackets: 0, droppedPackets: 0, backlogBytes: 0 };
  const q2 = last.up.qdisc;
  const qDropped = q2 ? q2.droppedPackets - q1.droppedPackets : 0;
  // tc counts link-layer bytes (a 14-byte Ethernet header per packet), nft IP bytes: what the
  // queue neither sent nor holds was dropped.
  const qSentIp = q2 ? q2.sentBytes - q1.sentBytes - 14 * (q2.sentPackets - q1.sentPackets) : 0;
  const qDroppedBytes = q2 ? Math.max(0, offeredBytes - lossBytes - qSentIp - (q2.backlogBytes - q1.backlogBytes)) : 0;
  return {
    packets: loss + qDropped,
    pct: offered ? round((100 * (loss + qDropped)) / offered, 1) : null,
    bytes: lossBytes + qDroppedBytes,
  };
}

/**
 * Seconds after `liftAt` (s from call start) until the 1-s rate is within [0.8, 2] × `before`
 * for 2 s in a row; null if it never is within the call.
 */
function recoverySeconds(timeline, liftAt, before) {
  if (!before) return null;
  const sec = []; // 1-s windows from the lift on
  for (const p of timeline) {
    if (p.t <= liftAt) continue;
    const k = Math.floor(p.t - liftAt - 1e-9);
    (sec[k] ||= []).push(p.kbps);
  }
  const ok = sec.map((w) => {
    if (!w || w.length === 0) return false;
    const m = w.reduce((a, b) => a + b, 0) / w.length;
    return m >= 0.8 * before && m <= 2 * before;
  });
  for (let k = 0; k + 1 < ok.length; k++) if (ok[k] && ok[k + 1]) return k;
  return null;
}

/** Busy and total CPU time of the whole machine so far (jiffies), from /proc/stat. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
}

/** Cores busy on the whole machine between two cpuTimes() (the machine may be shared). */
function busyCores(a, b, cores) {
  return round(((b.busy - a.busy) / (b.total - a.total)) * cores, 2);
}

// ---------------------------------------------------------------------------
// One cell: a call between the two sites under one condition
// ---------------------------------------------------------------------------

async function runCell(lab, browsers, pair, condKey, o, bin) {
  const cond = CONDITIONS[condKey];
  const kinds = { HH: ['H', 'H'], HC: ['H', 'C'], CC: ['C', 'C'] }[pair];
  const routers = { a: lab.site('a').router, b: lab.site('b').router };
  for (const r of Object.values(routers)) await r.clear();
  for (const r of Object.values(routers)) {
    if (cond.cap) await r.cap({ kbit: cond.cap, queueMs: QUEUE_MS, dir: 'up' });
    if (cond.loss) await r.loss(cond.loss, { dir: 'up' });
  }
  const capFrom = Math.round(o.seconds / 3);
  const capTo = Math.round((2 * o.seconds) / 3);
  const room = uniqName(`m-${pair}-${condKey}`);
  const errors = [];
  const cell = { pair, condition: condKey, label: cond.label, bin: kinds.includes('H') ? bin.name : null, seconds: o.seconds, room, directions: [], errors };

  const samples = { a: [], b: [] };
  const capSamples = { a: [], b: [] }; // cap500: right after the cap is put on, right before it is lifted
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const site of ['a', 'b']) {
        try {
          samples[site].push(await routers[site].counters());
        } catch (e) {
          errors.push(`counters ${site}: ${e.message}`);
        }
      }
      await sleep(SAMPLE_MS);
    }
  })();

  let first = null;
  let second = null;
  const cpu0 = cpuTimes();
  try {
    first = await join(lab, browsers, kinds[0], 'a', room, o.seconds + 4, { bin: bin.path, pattern: o.pattern });
    await sleep(1000);
    const t0 = Date.now();
    cell.startedAt = new Date(t0).toISOString();
    second = await join(lab, browsers, kinds[1], 'b', room, o.seconds, { bin: bin.path, pattern: o.pattern });
    if (cond.timedCap) {
      await sleep(t0 + capFrom * 1000 - Date.now());
      for (const r of Object.values(routers)) await r.cap({ kbit: cond.timedCap, queueMs: QUEUE_MS, dir: 'up' });
      for (const site of ['a', 'b']) capSamples[site].push(await routers[site].counters());
      // The qdisc's counters vanish with it: the last sample under the cap is taken first.
      await sleep(t0 + capTo * 1000 - Date.now());
      for (const site of ['a', 'b']) capSamples[site].push(await routers[site].counters());
      for (const r of Object.values(routers)) await r.uncap('up');
    }
    await sleep(t0 + o.seconds * 1000 - Date.now());
    sampling = false;
    await sampler;
    cell.machineBusyCores = busyCores(cpu0, cpuTimes(), os.cpus().length);
    // Read what the pages saw before anyone leaves; huddles write their reports on exit.
    const pageView = {};
    for (const p of [first, second]) if (p.page) pageView[p.site] = { recv: await received(p, p.site === 'a' ? 'b' : 'a'), sent: await sentBy(p, p.site === 'a' ? 'b' : 'a') };
    await leave(second);
    await leave(first);

    for (const [from, to] of [['a', 'b'], ['b', 'a']]) {
      const sender = from === 'a' ? first : second;
      const receiver = from === 'a' ? second : first;
      const s = samples[from];
      const call = s.filter((x) => x.at >= t0);
      const timeline = rateTimeline(call, t0);
      const d = {
        from,
        to,
        direction: `${sender.kind === 'H' ? 'Huddle' : 'Chromium'} → ${receiver.kind === 'H' ? 'Huddle' : 'Chromium'}`,
        sendsKbps: meanRate(call, t0, SETTLE_S, o.seconds),
        dropped: cond.timedCap ? (capSamples[from].length === 2 ? dropsOf(...capSamples[from]) : null) : call.length >= 2 ? dropsOf(call[0], call[call.length - 1]) : null,
        received: receiver.page ? pageView[receiver.site].recv : await received(receiver, from),
        senderReport: sender.page ? pageView[sender.site].sent : await sentBy(sender, to),
        timeline,
      };
      if (cond.timedCap) {
        d.sendsKbpsBefore = meanRate(call, t0, SETTLE_S, capFrom);
        d.sendsKbpsDuringCap = meanRate(call, t0, capFrom, capTo);
        d.sendsKbpsAfter = meanRate(call, t0, capTo, o.seconds);
        d.recoverySeconds = recoverySeconds(timeline, capTo, d.sendsKbpsBefore);
        d.recoveryWindow = o.seconds - capTo;
      }
      cell.directions.push(d);
    }
  } catch (e) {
    errors.push(e.stack || String(e));
    for (const hp of lab.huddles) if (hp.alive) errors.push(hp.describe().slice(-3000));
  } finally {
    sampling = false;
    await sampler;
    for (const p of [second, first]) if (p) await leave(p).catch(() => {});
    for (const r of Object.values(routers)) await r.clear().catch(() => {});
  }
  return cell;
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const dash = (x) => (x === null || x === undefined ? '–' : x);

function row(cell, d) {
  const r = d.received || {};
  const sends = CONDITIONS[cell.condition].timedCap ? `${dash(d.sendsKbpsBefore)} / **${dash(d.sendsKbpsDuringCap)}** / ${dash(d.sendsKbpsAfter)}` : `${dash(d.sendsKbps)}`;
  const drops = d.dropped ? `${dash(d.dropped.pct)} % (${Math.round(d.dropped.bytes / 1000)} kB)` : '–';
  const g2g = r.g2g ? `${dash(r.g2g.p50)} / ${dash(r.g2g.p95)} (max ${dash(r.g2g.max)})` : '–';
  const frz = r.freezes ? `${r.freezes.count}${r.freezes.count ? ` (${r.freezes.longestMs} ms)` : ''}` : 'n/a';
  const rec = CONDITIONS[cell.condition].timedCap ? (d.recoverySeconds === null ? `> ${d.recoveryWindow}` : `${d.recoverySeconds}`) : '';
  const err = r.error ? ` **${r.error}**` : '';
  const label = cell.bin ? `${cell.label} [${cell.bin}]` : cell.label;
  return `| ${label} | ${d.direction} | ${sends} | ${drops} | ${dash(r.fps)}${err} | ${g2g} | ${frz} | ${dash(r.decodeErrors)} / ${dash(r.intactPct)} % | ${dash(r.qp)} | ${rec} | ${detail(r, d.senderReport)} | ${dash(cell.machineBusyCores)} |`;
}

/** The receiver's own loss-recovery figures, and what the Huddle sender refused. */
function detail(r, sent) {
  const parts = [];
  const i = r.rtp?.inbound;
  if (i) {
    parts.push(`Chromium: ${i.freezeCount} freezes (${round(i.totalFreezesDuration, 1)} s), ${i.nackCount} NACKs, ${i.pliCount} PLIs, ${dash(i.retransmittedPacketsReceived)} on RTX${r.rtp.rtxNegotiated.receive ? '' : ' (no RTX)'}, jitter buffer ${dash(i.jitterBufferMs)} ms`);
  } else if (r.recovery) {
    parts.push(`Huddle: ${dash(r.rtxPackets)} on RTX, ${r.recovery.frames_repaired} repaired, ${r.recovery.frames_lost} lost, ${r.recovery.keyframe_requests} keyframe requests`);
  }
  if (r.tries) parts.push(`connections up in ${r.tries.map((ms) => (ms === null ? 'never' : `${ms} ms`)).join(', ') || 'none'}${r.firstFrameMs ? `, first frame ${r.firstFrameMs} ms after joining` : ''}`);
  if (sent?.refused) parts.push(`sender refused ${sent.refused.replace(/\|/g, '/')}`);
  return parts.join('; ') || '–';
}

function table(cells) {
  const lines = [
    '| link | direction | sends kbit/s (cap: before / during / after) | dropped at the bottleneck | fps | g2g p50 / p95 (max) ms | freezes > 500 ms (longest) | decode errors / intact | QP | recovery s | receiver detail | machine busy (cores) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of cells) {
    for (const d of c.directions) lines.push(row(c, d));
    if (c.errors.length) lines.push(`| ${c.label} | ${c.pair} | **errors:** ${c.errors.map((e) => e.split('\n')[0]).join('; ').replace(/\|/g, '/')} | | | | | | | | | |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2));
const skip = labSkipReason();
if (skip) {
  console.error(`bench/lab: ${skip}`);
  process.exit(2);
}
if (o.out) mkdirSync(o.out, { recursive: true });
const lab = await startLab(null, { nat: 'eim' });
const cells = [];
try {
  const browsers = {};
  if (o.pairs.some((p) => p.includes('C'))) {
    browsers.b = await lab.browser('b');
    if (o.pairs.includes('CC')) browsers.a = await lab.browser('a');
  }
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const condKey of o.conditions) {
      for (const pair of o.pairs) {
        for (const bin of pair === 'CC' ? [o.bins[0]] : o.bins) {
          const started = Date.now();
          const cell = await runCell(lab, browsers, pair, condKey, o, bin);
          cell.rep = rep;
          cells.push(cell);
          console.log(
            `[rep ${rep}] ${cell.label}, ${pair}${cell.bin ? ` [${cell.bin}]` : ''}: ${((Date.now() - started) / 1000).toFixed(0)} s, machine ${cell.machineBusyCores} cores busy${cell.errors.length ? `, ${cell.errors.length} error(s)` : ''}`,
          );
          for (const d of cell.directions) console.log(`  ${row(cell, d)}`);
          if (o.out) writeFileSync(path.join(o.out, 'results.json'), JSON.stringify({ options: o, cells }, null, 1));
        }
      }
    }
  }
} finally {
  await lab.close();
}
const md = table(cells);
console.log(`\n${md}`);
if (o.out) {
  mkdirSync(o.out, { recursive: true });
  writeFileSync(path.join(o.out, 'results.json'), JSON.stringify({ options: o, cells }, null, 1));
  writeFileSync(path.join(o.out, 'table.md'), `${md}\n`);
}
