// Congestion control on constrained links (issue 13), in the lab of lab.mjs: two sites behind
// NATs, each uplink shaped by the test (tc tbf with a 200 ms queue, nft numgen random drops).
// Short calls at 640×480 (the barcode camera), lean enough for CI on a busy 2-core machine:
//
// - 500 kbit/s both ways, Huddle ↔ Huddle: ≥ 20 fps, glass-to-glass p95 ≤ 250 ms, and the
//   sender offers its uplink no more than the link carries;
// - 5 % random loss both ways: no freeze (a gap between decoded frames) over 500 ms, the
//   retransmissions travel on RTX, and the voice keeps playing: most lost audio packets are
//   rebuilt from Opus in-band FEC rather than concealed;
// - a 500 kbit/s cap put on mid-call and lifted: the sending rate climbs back to ≥ 80 % of
//   its uncapped rate within 10 s;
// - Huddle ↔ Chromium under 500 kbit/s: the same bars as the first test, both directions;
// - Huddle ↔ Chromium at 5 % random loss: RTX negotiated both ways, retransmissions travel on
//   it both ways (Chromium's getStats; Huddle's report), and no freeze over 500 ms either way.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, sampleRouters, offeredKbps } from './lab.mjs';
import { sleep, huddleId, huddleExitProblems, receivedFrom, describeReceived, remoteByEmail, latencySummary, steadyFps, pageVideoRtp, HUDDLE_TONE_HZ } from '../engine/helpers.mjs';

const LINK_KBIT = 500;
const QUEUE_MS = 200;
const MIN_FPS = 20;
const MAX_P95_MS = 250;
const FREEZE_MS = 500;
/** The rate is judged from this many seconds into the call (ICE, DTLS, the first keyframe, the
 * first estimate). */
const SETTLE_S = 4;

/** Bars on what a Huddle received: fps, p95, and (optionally) the longest freeze. */
function huddleVideoProblems(report, email, who, { fps = true, p95 = true, freeze = false, rtx = false } = {}) {
  const v = receivedFrom(report, email, 'video')[0];
  if (!v) return [`${who}: no video received`];
  console.log(`${who}: ${describeReceived(v)}; freezes ${v.freezes} (longest ${Math.round(v.longest_freeze_ms)} ms); recovery ${JSON.stringify(v.recovery)}; ${v.rtx_packets} packets on RTX`);
  const problems = [];
  if (rtx && !(v.rtx_packets > 0)) problems.push(`${who}: no retransmission came on RTX (rtx_packets ${v.rtx_packets})`);
  if (fps && !(v.fps >= MIN_FPS)) problems.push(`${who}: ${v.fps?.toFixed(1)} fps (want ≥ ${MIN_FPS})`);
  if (p95 && !(v.latency_ms.p95 <= MAX_P95_MS)) problems.push(`${who}: glass-to-glass p95 ${v.latency_ms.p95} ms (want ≤ ${MAX_P95_MS})`);
  if (freeze && !(v.longest_freeze_ms <= FREEZE_MS)) problems.push(`${who}: a freeze of ${Math.round(v.longest_freeze_ms)} ms (${v.freezes} over ${FREEZE_MS} ms)`);
  if (v.decode_errors > 0) problems.push(`${who}: ${v.decode_errors} decode errors (frames are never decoded across a gap)`);
  return problems;
}

/** At most this share of the lost audio packets may be concealed (made up) rather than
 * rebuilt from in-band FEC: FEC repairs every isolated loss once the sender has heard of the
 * loss (about a second in), so what is left is runs of two losses and the first second. */
const MAX_CONCEALED_SHARE = 0.4;

/** Bars on the audio a Huddle received under loss: it kept playing, FEC did the repairs. */
function huddleAudioProblems(report, email, who) {
  const a = receivedFrom(report, email, 'audio')[0];
  if (!a) return [`${who}: no audio received`];
  const lost = a.packets_lost;
  console.log(`${who}: audio ${a.frames_decoded} frames, ${lost} packets lost, ${a.fec_recovered_frames} rebuilt from FEC, ${a.concealed_frames} concealed, playout target ${a.playout_target_ms?.toFixed(0)} ms, ${a.audio_frequency_hz?.toFixed(0)} Hz`);
  const problems = [];
  if (!(lost > 0)) problems.push(`${who}: no audio packet lost on a lossy link (is the loss on?)`);
  if (!(a.fec_recovered_frames > 0)) problems.push(`${who}: no lost audio rebuilt from FEC (${lost} lost)`);
  if (!(a.concealed_frames <= MAX_CONCEALED_SHARE * lost)) problems.push(`${who}: ${a.concealed_frames} of ${lost} lost audio packets concealed (want ≤ ${MAX_CONCEALED_SHARE * 100} %)`);
  if (!(Math.abs(a.audio_frequency_hz - HUDDLE_TONE_HZ) < 20)) problems.push(`${who}: the voice came out at ${a.audio_frequency_hz?.toFixed(0)} Hz (want ${HUDDLE_TONE_HZ})`);
  return problems;
}

function rateProblems(samples, t0, seconds, who) {
  const kbps = offeredKbps(samples, t0, SETTLE_S, seconds);
  console.log(`${who} offered its uplink ${kbps?.toFixed(0)} kbit/s (link ${LINK_KBIT})`);
  return kbps !== null && kbps <= LINK_KBIT ? [] : [`${who} offered ${kbps?.toFixed(0)} kbit/s to a ${LINK_KBIT} kbit/s link`];
}

async function shapeBoth(lab, { cap, loss }) {
  for (const s of ['a', 'b']) {
    const r = lab.site(s).router;
    if (cap) await r.cap({ kbit: cap, queueMs: QUEUE_MS, dir: 'up' });
    if (loss) await r.loss(loss, { dir: 'up' });
  }
}

/** A Huddle ↔ Huddle call of `seconds` on shaped links; `during(t0)` runs while it lasts. */
async function huddleCall(t, { shape = {}, seconds, mic = 'sine', during = async () => {} }) {
  const lab = await startLab(t, { nat: 'eim' });
  await shapeBoth(lab, shape);
  const sampler = sampleRouters(lab);
  const a = lab.huddle('a', { email: 'alice@example.com', duration: seconds + 3, mic });
  await huddleId(a);
  const t0 = Date.now();
  const b = lab.huddle('b', { email: 'bob@example.com', duration: seconds, mic });
  await during(lab, t0);
  const [exitA, exitB] = await Promise.all([a.waitExit(seconds * 1000 + 40000), b.waitExit(seconds * 1000 + 40000)]);
  const samples = await sampler.stop();
  const [ra, rb] = [a.report(), b.report()];
  const problems = [
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
  ];
  return { lab, t0, samples, ra, rb, problems };
}

const opts = (seconds) => ({ skip: labSkipReason() ?? false, timeout: (seconds + 90) * 1000 });

test(`Huddle ↔ Huddle on a ${LINK_KBIT} kbit/s link: smooth, fast, and within the link`, opts(15), async (t) => {
  const seconds = 15;
  const { lab, t0, samples, ra, rb, problems } = await huddleCall(t, { shape: { cap: LINK_KBIT }, seconds });
  problems.push(...huddleVideoProblems(rb, 'alice@example.com', 'bob ← alice'));
  problems.push(...huddleVideoProblems(ra, 'bob@example.com', 'alice ← bob'));
  problems.push(...rateProblems(samples.a, t0, seconds, 'alice'));
  problems.push(...rateProblems(samples.b, t0, seconds, 'bob'));
  await assertLabOk(lab, problems, `Huddle ↔ Huddle at ${LINK_KBIT} kbit/s`);
});

test('Huddle ↔ Huddle at 5 % random loss: no freeze over 500 ms, the voice repaired by FEC', opts(15), async (t) => {
  const seconds = 15;
  const { lab, ra, rb, problems } = await huddleCall(t, { shape: { loss: 5 }, seconds, mic: 'voice' });
  problems.push(...huddleVideoProblems(rb, 'alice@example.com', 'bob ← alice', { fps: false, p95: false, freeze: true, rtx: true }));
  problems.push(...huddleVideoProblems(ra, 'bob@example.com', 'alice ← bob', { fps: false, p95: false, freeze: true, rtx: true }));
  problems.push(...huddleAudioProblems(rb, 'alice@example.com', 'bob ← alice'));
  problems.push(...huddleAudioProblems(ra, 'bob@example.com', 'alice ← bob'));
  await assertLabOk(lab, problems, 'Huddle ↔ Huddle at 5 % loss');
});

test(`after a ${LINK_KBIT} kbit/s cap is lifted the sending rate climbs back to 80 % within 10 s`, opts(26), async (t) => {
  const [capAt, liftAt, seconds] = [9, 15, 26];
  const { lab, t0, samples, problems } = await huddleCall(t, {
    seconds,
    during: async (lab, t0) => {
      await sleep(t0 + capAt * 1000 - Date.now());
      await shapeBoth(lab, { cap: LINK_KBIT });
      await sleep(t0 + liftAt * 1000 - Date.now());
      for (const s of ['a', 'b']) await lab.site(s).router.uncap('up');
    },
  });
  for (const [site, who] of [['a', 'alice'], ['b', 'bob']]) {
    const before = offeredKbps(samples[site], t0, SETTLE_S, capAt);
    const during = offeredKbps(samples[site], t0, capAt + 1, liftAt);
    // The first 1-s window after the lift from which the rate stays ≥ 80 % for 2 s.
    let back = null;
    for (let k = 0; k + 2 <= seconds - liftAt && back === null; k++) {
      const w1 = offeredKbps(samples[site], t0, liftAt + k, liftAt + k + 1);
      const w2 = offeredKbps(samples[site], t0, liftAt + k + 1, liftAt + k + 2);
      if (w1 >= 0.8 * before && w2 >= 0.8 * before) back = k + 1;
    }
    console.log(`${who}: ${before?.toFixed(0)} kbit/s before the cap, ${during?.toFixed(0)} under it, back to 80 % ${back === null ? 'never' : `${back} s`} after the lift`);
    if (!(before > LINK_KBIT * 1.25)) problems.push(`${who}: only ${before?.toFixed(0)} kbit/s before the cap (the test needs a rate above the cap)`);
    if (back === null || back > 10) problems.push(`${who}: the rate was not back to 80 % of ${before?.toFixed(0)} kbit/s within 10 s of the lift`);
  }
  await assertLabOk(lab, problems, 'cap lifted');
});

test(`Huddle ↔ Chromium on a ${LINK_KBIT} kbit/s link: the same bars both ways`, opts(15), async (t) => {
  const seconds = 15;
  const lab = await startLab(t, { nat: 'eim' });
  await shapeBoth(lab, { cap: LINK_KBIT });
  const sampler = sampleRouters(lab);
  const browser = await lab.browser('b');
  const page = await lab.page(browser, { email: 'chromium@example.com', tone: 660 });
  const t0 = Date.now();
  const hud = lab.huddle('a', { email: 'huddle@example.com', duration: seconds });
  const exit = await hud.waitExit(seconds * 1000 + 40000);
  const stats = await page.stats();
  const samples = await sampler.stop();
  const report = hud.report();
  const problems = [...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 })];
  problems.push(...huddleVideoProblems(report, 'chromium@example.com', 'huddle ← chromium'));
  const s = remoteByEmail(stats, 'huddle@example.com');
  if (!s) {
    problems.push('chromium ← huddle: no connection');
  } else {
    const fps = steadyFps(s.frameTimes);
    const l = latencySummary(s.latencies);
    console.log(`chromium ← huddle: ${fps.toFixed(1)} fps, g2g p50/p95/max ${l.p50}/${l.p95}/${l.max} ms, ${s.barcodes} barcodes`);
    if (!(fps >= MIN_FPS)) problems.push(`chromium ← huddle: ${fps.toFixed(1)} fps (want ≥ ${MIN_FPS})`);
    if (!(l.p95 <= MAX_P95_MS)) problems.push(`chromium ← huddle: glass-to-glass p95 ${l.p95} ms (want ≤ ${MAX_P95_MS})`);
  }
  problems.push(...rateProblems(samples.a, t0, seconds, 'huddle'));
  problems.push(...rateProblems(samples.b, t0, seconds, 'chromium'));
  await assertLabOk(lab, problems, `Huddle ↔ Chromium at ${LINK_KBIT} kbit/s`);
});

/** The longest gap (ms) between frames a page drew, after the first. */
function longestGap(times) {
  let longest = 0;
  for (let i = 1; i < (times?.length || 0); i++) longest = Math.max(longest, times[i] - times[i - 1]);
  return longest;
}

test('Huddle ↔ Chromium at 5 % random loss: retransmissions on RTX both ways, no freeze over 500 ms', opts(15), async (t) => {
  const seconds = 15;
  const lab = await startLab(t, { nat: 'eim' });
  await shapeBoth(lab, { loss: 5 });
  const browser = await lab.browser('b');
  const page = await lab.page(browser, { email: 'chromium@example.com', tone: 660 });
  const hud = lab.huddle('a', { email: 'huddle@example.com', duration: seconds, camera: 'test:320x240' });
  // Chromium's view, read while the call is still on.
  await hud.waitForLine(/joined room/, 20000);
  await sleep((seconds - 1) * 1000);
  const stats = await page.stats();
  const rtp = await pageVideoRtp(page, 'huddle@example.com');
  const exit = await hud.waitExit(seconds * 1000 + 40000);
  const report = hud.report();
  const problems = [...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 })];

  // Chromium → Huddle: recovered from what came back on RTX, never frozen.
  problems.push(...huddleVideoProblems(report, 'chromium@example.com', 'huddle ← chromium', { fps: false, p95: false, freeze: true }));
  const v = receivedFrom(report, 'chromium@example.com', 'video')[0];
  if (v) {
    console.log(`huddle ← chromium: ${v.rtx_packets} packets on RTX, ${v.packets_lost} lost`);
    if (!(v.rtx_packets > 0)) problems.push(`huddle ← chromium: no retransmission came on RTX (rtx_packets ${v.rtx_packets})`);
    if (!(v.recovery?.frames_repaired > 0)) problems.push(`huddle ← chromium: no frame repaired by a retransmission (${JSON.stringify(v.recovery)})`);
  }

  // Huddle → Chromium: Chromium got our retransmissions on RTX, and never froze long.
  const s = remoteByEmail(stats, 'huddle@example.com');
  if (!s || !rtp) {
    problems.push('chromium ← huddle: no connection');
  } else {
    const i = rtp.inbound;
    const gap = longestGap(s.frameTimes);
    console.log(`chromium ← huddle: ${s.videoFrames} frames, longest gap ${gap} ms; RTX ${JSON.stringify(rtp.rtxNegotiated)}; ${JSON.stringify(i)}; huddle sent ${JSON.stringify(rtp.outbound)}`);
    if (!rtp.rtxNegotiated.receive) problems.push('chromium ← huddle: no RTX in the description Huddle sent');
    if (!rtp.rtxNegotiated.send) problems.push('chromium → huddle: no RTX in the description Chromium sent');
    if (!(i?.retransmittedPacketsReceived > 0)) problems.push(`chromium ← huddle: no retransmission received on RTX (${i?.retransmittedPacketsReceived}; ${i?.nackCount} NACKs sent)`);
    if (!(rtp.outbound?.retransmittedPacketsSent > 0)) problems.push(`chromium → huddle: Chromium resent nothing on RTX (${rtp.outbound?.retransmittedPacketsSent})`);
    if (!(s.videoFrames > 10 * seconds)) problems.push(`chromium ← huddle: only ${s.videoFrames} frames`);
    if (!(gap <= FREEZE_MS)) problems.push(`chromium ← huddle: a freeze of ${gap} ms (Chromium counts ${i?.freezeCount}, ${i?.totalFreezesDuration} s in all)`);
  }
  await assertLabOk(lab, problems, 'Huddle ↔ Chromium at 5 % loss');
});
