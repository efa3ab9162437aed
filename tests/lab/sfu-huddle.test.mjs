// The SFU path with Huddle CLIs (the engine's publisher and subscriber connections) in the lab:
// Janus on the server host, `huddle` participants on the client hosts behind their NATs.
//  1. `--sfu-threshold 1`: six CLIs; each decodes the other five's barcodes through Janus; one
//     leaves early and the others' subscriptions drop it; one shares its screen (a third stream
//     of its publication) and the others read its barcode.
//  2. A Chromium page (tests/engine page, sfu=1) in an SFU room with CLIs: Huddle decodes it and
//     it reads Huddle; the first CLI's first publication is refused by Janus (its RTP ports are
//     all taken for a moment, so its ICE agent cannot gather) and the CLI publishes again.
//  Further cases: sfu:view, a narrow publisher uplink, a lossy one (Opus FEC), a Janus restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLab, assertLabOk, labSkipReason } from './lab.mjs';
import { JANUS_RTP_PORTS } from './janus.mjs';
import { SERVER_IP } from './netlab.mjs';
import { huddleReceivedProblems, huddleScreenProblems, huddleId, receivedFrom, describeReceived, pollUntil, remoteByEmail } from '../engine/helpers.mjs';

const N = Number(process.env.HUDDLE_SFU_CLIS || 6);
const SECONDS = 16;

test(`SFU with threshold 1: ${N} huddle CLIs through Janus, one leaves, one shares`, { skip: labSkipReason() ?? false, timeout: 240000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  const emails = Array.from({ length: N }, (_, i) => `p${i + 1}@example.com`);
  const leaver = emails[N - 1];
  const sharer = emails[0];
  const hs = [];
  for (const [i, email] of emails.entries()) {
    // Lean: six encoders and thirty decoders share two cores.
    const opts = { email, ice: 'stun', duration: email === leaver ? 8 : SECONDS, camera: 'test:160x120' };
    if (email === sharer) Object.assign(opts, { share: 'test', shareAt: 6, extraArgs: ['--share-max', '1280x720'] });
    hs.push(lab.huddle(i % 2 ? 'b' : 'a', opts));
    await huddleId(hs.at(-1));
  }
  const exits = await Promise.all(hs.map((h) => h.waitExit(SECONDS * 1000 + 40000)));
  const reports = hs.map((h) => h.report());
  const problems = [];
  for (const [i, h] of hs.entries()) {
    if (exits[i].code !== 0) problems.push(`${h.email}: exit ${exits[i].code}`);
    const r = reports[i];
    if (!r) {
      problems.push(`${h.email}: no report`);
      continue;
    }
    if (r.errors.length) problems.push(`${h.email}: errors ${JSON.stringify(r.errors)}`);
    for (const other of emails) {
      if (other === h.email) continue;
      // The leaver was there for 8 s of the others' 16; everyone else the whole time.
      const min = other === leaver || h.email === leaver ? 20 : 60;
      problems.push(...huddleReceivedProblems(r, other, { who: `${h.email} ← ${other}`, minFrames: min, minBarcodes: min, minAudioPackets: 100 }));
    }
    if (h.email !== sharer && h.email !== leaver) {
      problems.push(...huddleScreenProblems(r, sharer, { who: `${h.email} ← ${sharer}'s screen`, minBarcodes: 20 }).problems);
    }
  }
  // The leaver's feed stopped for the others when it left (they kept running 8 s longer).
  const leaverAt = reports[0] && receivedFrom(reports[0], leaver, 'video')[0];
  const stayerAt = reports[0] && receivedFrom(reports[0], emails[1], 'video')[0];
  if (leaverAt && stayerAt && !(leaverAt.frames_decoded < stayerAt.frames_decoded * 0.8)) {
    problems.push(`${leaver} left at 8 s but ${emails[0]} decoded ${leaverAt.frames_decoded} of its frames (vs ${stayerAt.frames_decoded} of a stayer's)`);
  }
  if (reports[1]) {
    for (const other of [emails[0], emails[2]]) console.log(`${emails[1]} ← ${other}: ${describeReceived(receivedFrom(reports[1], other, 'video')[0])}`);
    const scr = receivedFrom(reports[1], sharer, 'screen')[0];
    if (scr) console.log(`${emails[1]} ← ${sharer}'s screen: ${describeReceived(scr)}`);
  }
  await assertLabOk(lab, problems, `${N} Huddles through the SFU`);
});

const UDP_TOOL = fileURLToPath(new URL('./udp-tool.mjs', import.meta.url));

/** Binds every port of Janus's RTP range on the server host; resolves once bound. */
async function squatJanusPorts(lab) {
  const [lo, hi] = JANUS_RTP_PORTS.split('-').map(Number);
  const ports = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const p = lab.lab.spawn('srv', process.execPath, [UDP_TOOL, 'reflect', SERVER_IP, ...ports.map(String)]);
  let out = '';
  await new Promise((resolve, reject) => {
    p.stdout.on('data', (c) => {
      out += c;
      if (out.includes('ready')) resolve();
    });
    p.on('exit', (code) => reject(new Error(`port squatter exited (${code}): ${out}`)));
  });
  return { release: () => p.kill('SIGTERM') };
}

test('SFU: a Chromium page publishes and subscribes beside Huddle CLIs', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  // Janus refuses a publication whose ICE agent cannot gather ("Error setting ICE locally");
  // it happened by chance in CI, and the CLI never published again.
  const squatter = await squatJanusPorts(lab);
  const a = lab.huddle('a', { email: 'cli-a@example.com', ice: 'stun', duration: 20 });
  await huddleId(a);
  await pollUntil(
    () => a.stderr(),
    (err) => err.includes('SFU publish refused'),
    { timeoutMs: 10000, what: "Janus refusing cli-a's first publication" },
  ).finally(() => squatter.release());
  console.log(`cli-a: ${a.stderr().split('\n').find((l) => l.includes('SFU publish refused'))?.replace(/^.*WARN /, '')}`);
  const browser = await lab.browser('b');
  const page = await lab.page(browser, { email: 'page@example.com', ice: 'stun', query: { sfu: 1 } });
  const b = lab.huddle('b', { email: 'cli-b@example.com', ice: 'stun', duration: 14 });
  await huddleId(b);
  // By email: the page's join ack may be answered before cli-a's retried publication has
  // settled (it listed no cli-a once in CI), and an id read from it is then missing.
  const read = (s, email) => remoteByEmail(s, email)?.barcodes ?? 0;
  await pollUntil(
    () => page.stats(),
    (s) => read(s, 'cli-a@example.com') >= 40 && read(s, 'cli-b@example.com') >= 40,
    { timeoutMs: 40000, what: 'the page reading both Huddles through Janus' },
  ).catch(async (e) => {
    e.message += `\n${await lab.dump()}`;
    throw e;
  });
  const [ea, eb] = await Promise.all([a.waitExit(40000), b.waitExit(40000)]);
  assert.equal(ea.code, 0);
  assert.equal(eb.code, 0);
  const problems = [];
  for (const [h, r] of [
    [a, a.report()],
    [b, b.report()],
  ]) {
    if (r.errors.length) problems.push(`${h.email}: errors ${JSON.stringify(r.errors)}`);
    problems.push(...huddleReceivedProblems(r, 'page@example.com', { who: `${h.email} ← page`, minFrames: 40, minBarcodes: 40, minAudioPackets: 100 }));
  }
  const s = await page.stats();
  console.log(`page ← cli-a: ${read(s, 'cli-a@example.com')} barcodes; cli-a ← page: ${describeReceived(receivedFrom(a.report(), 'page@example.com', 'video')[0])}`);
  assert.deepEqual((await page.info()).peers, [], 'no mesh call');
  await assertLabOk(lab, problems, 'Chromium and Huddle through the SFU');
});

test('SFU threshold 5: a mesh of four grows to six, moves to the SFU, media keeps flowing', { skip: labSkipReason() ?? false, timeout: 240000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 5 } });
  const emails = Array.from({ length: 6 }, (_, i) => `m${i + 1}@example.com`);
  const hs = [];
  const start = (i, duration) => {
    hs.push(lab.huddle(i % 2 ? 'b' : 'a', { email: emails[i], ice: 'stun', duration, camera: 'test:160x120' }));
    return huddleId(hs.at(-1));
  };
  // Four in a mesh for a while, then the fifth (the switch) and the sixth.
  for (let i = 0; i < 4; i++) await start(i, 22 - i);
  await new Promise((r) => setTimeout(r, 5000));
  await start(4, 12);
  await start(5, 11);
  const exits = await Promise.all(hs.map((h) => h.waitExit(60000)));
  const problems = [];
  const gaps = [];
  for (const [i, h] of hs.entries()) {
    if (exits[i].code !== 0) problems.push(`${h.email}: exit ${exits[i].code}`);
    const r = h.report();
    if (!r) {
      problems.push(`${h.email}: no report`);
      continue;
    }
    if (r.errors.length) problems.push(`${h.email}: errors ${JSON.stringify(r.errors)}`);
    for (const [j, other] of emails.entries()) {
      if (j === i) continue;
      problems.push(...huddleReceivedProblems(r, other, { who: `${h.email} ← ${other}`, minFrames: 60, minBarcodes: 60, minAudioPackets: 100 }));
      // Between two of the first four: a mesh call first, then the SFU.
      if (i < 4 && j < 4) {
        const v = receivedFrom(r, other, 'video')[0];
        if (v) gaps.push(v.longest_frame_gap_ms);
      }
    }
    if (i < 4 && !(r.peers_connected >= 3)) problems.push(`${h.email}: ${r.peers_connected} mesh calls came up before the switch (expected 3)`);
    if (i >= 4 && r.peers_connected !== 0) problems.push(`${h.email}: ${r.peers_connected} mesh calls in an SFU room`);
  }
  const worst = Math.max(...gaps.filter((g) => g !== null && g !== undefined));
  console.log(`mesh → SFU (4 → 6, threshold 5): longest frame gap between the first four ${Math.round(worst)} ms; all: ${gaps.map((g) => Math.round(g)).join(' ')}`);
  if (!(worst < 3000)) problems.push(`media stopped for ${worst} ms across the switch`);
  await assertLabOk(lab, problems, 'a room growing from 4 to 6 through the threshold');
});

test('SFU view: a CLI that shows one camera gets no packets of the other until it shows it', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  const cam = 'test:160x120';
  const p1 = lab.huddle('a', { email: 'p1@example.com', ice: 'stun', duration: 18, camera: cam });
  await huddleId(p1);
  const p2 = lab.huddle('b', { email: 'p2@example.com', ice: 'stun', duration: 18, camera: cam });
  await huddleId(p2);
  // The viewer shows p1's camera only, then every camera from 7 s on.
  const SHOW_ALL_AT = 7;
  const v = lab.huddle('a', {
    email: 'viewer@example.com',
    ice: 'stun',
    duration: 14,
    camera: cam,
    extraArgs: ['--sfu-view', 'p1@example.com', '--sfu-view-until', String(SHOW_ALL_AT)],
  });
  await huddleId(v);
  const exits = await Promise.all([p1, p2, v].map((h) => h.waitExit(60000)));
  const problems = exits.flatMap((e, i) => (e.code === 0 ? [] : [`${['p1', 'p2', 'viewer'][i]}: exit ${e.code}`]));
  const r = v.report();
  if (!r) throw new Error(`no viewer report\n${await lab.dump()}`);
  if (r.errors.length) problems.push(`viewer: errors ${JSON.stringify(r.errors)}`);
  const shown = receivedFrom(r, 'p1@example.com', 'video')[0];
  const paused = receivedFrom(r, 'p2@example.com', 'video')[0];
  problems.push(...huddleReceivedProblems(r, 'p1@example.com', { who: 'viewer ← p1 (shown)', minFrames: 200, minBarcodes: 200, minAudioPackets: 400 }));
  // p2's camera: nothing before the viewer shows it, then frames; its audio all along.
  problems.push(...huddleReceivedProblems(r, 'p2@example.com', { who: 'viewer ← p2 (shown from 7 s)', minFrames: 60, minBarcodes: 60, minAudioPackets: 400 }));
  const firstPacket = paused?.time_to_first_packet_ms ?? 0;
  if (!(firstPacket >= (SHOW_ALL_AT - 1) * 1000)) problems.push(`p2's camera was not paused: its first packet came ${Math.round(firstPacket)} ms after the viewer joined the SFU`);
  if (!(paused && shown && paused.packets < shown.packets * 0.75)) problems.push(`p2's camera sent ${paused?.packets} packets vs p1's ${shown?.packets}: not paused`);
  const bytes = (s) => Math.round(((s?.kbps ?? 0) * 1000) / 8 * (14 - (s?.time_to_first_packet_ms ?? 0) / 1000));
  for (const [name, s] of [
    ['p1 (shown)', shown],
    ['p2 (paused until 7 s)', paused],
  ]) {
    console.log(`viewer ← ${name}: first packet ${Math.round(s?.time_to_first_packet_ms ?? -1)} ms, packets ${s?.packets}, ${Math.round(s?.kbps ?? 0)} kbps while flowing (~${bytes(s)} bytes), frames ${s?.frames_decoded}`);
  }
  // The SFU leg in the session's connections (what the app's stats read).
  const legs = r.connections.filter((c) => c.purpose.startsWith('sfu-'));
  console.log(`viewer's SFU leg: ${legs.map((c) => `${c.purpose} ${c.local_candidate_type} → ${c.remote_candidate_type}, up ${Math.round(c.connect_ms)} ms after the switch`).join('; ')}`);
  if (legs.map((c) => c.purpose).join() !== 'sfu-publisher,sfu-subscriber' || legs.some((c) => !c.local_candidate_type || !(c.connect_ms >= 0))) {
    problems.push(`the viewer's connections do not show its SFU leg: ${JSON.stringify(r.connections)}`);
  }
  await assertLabOk(lab, problems, 'an SFU subscriber that shows one camera');
});

test('SFU publisher on a 400 kbit/s uplink: its encoder follows the estimate, the subscriber sees smooth video', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const LINK_KBIT = 400;
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  await lab.site('a').router.cap({ kbit: LINK_KBIT, queueMs: 200, dir: 'up' });
  // A 640x480 camera starts at 700 kbit/s: far more than the link.
  const pub = lab.huddle('a', { email: 'pub@example.com', ice: 'stun', duration: 16 });
  await huddleId(pub);
  const sub = lab.huddle('b', { email: 'sub@example.com', ice: 'stun', duration: 14, camera: 'test:160x120' });
  await huddleId(sub);
  const exits = await Promise.all([pub.waitExit(60000), sub.waitExit(60000)]);
  const problems = exits.flatMap((e, i) => (e.code === 0 ? [] : [`${['pub', 'sub'][i]}: exit ${e.code}`]));
  const [rp, rs] = [pub.report(), sub.report()];
  for (const [who, r] of [
    ['pub', rp],
    ['sub', rs],
  ]) {
    if (r?.errors.length) problems.push(`${who}: errors ${JSON.stringify(r.errors)}`);
  }
  const sent = rp?.sent.find((s) => s.kind === 'video');
  const v = rs && receivedFrom(rs, 'pub@example.com', 'video')[0];
  console.log(`pub sent video ${Math.round(sent?.kbps ?? 0)} kbps (target at the end ${sent?.target_kbps} kbps) on a ${LINK_KBIT} kbit/s uplink; sub ← pub: ${describeReceived(v)}; freezes ${v?.freezes} (longest ${Math.round(v?.longest_freeze_ms ?? 0)} ms)`);
  if (!(sent && sent.kbps <= LINK_KBIT)) problems.push(`pub sent ${sent?.kbps} kbps of video into a ${LINK_KBIT} kbit/s uplink`);
  if (!(sent && sent.target_kbps < LINK_KBIT)) problems.push(`pub's encoder target ${sent?.target_kbps} kbps did not follow the estimate below ${LINK_KBIT}`);
  if (!(v && v.fps >= 15)) problems.push(`sub ← pub: ${v?.fps} fps`);
  if (!(v && v.latency_ms.p95 <= 400)) problems.push(`sub ← pub: glass-to-glass p95 ${v?.latency_ms.p95} ms`);
  await assertLabOk(lab, problems, 'an SFU publisher behind a narrow uplink');
});

test('SFU publisher at 5 % uplink loss: its Opus FEC follows the loss, the subscriber rebuilds the voice', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  await lab.site('a').router.loss(5, { dir: 'up' });
  // The voice source: libopus codes in-band FEC only for what it takes for speech.
  const pub = lab.huddle('a', { email: 'pub@example.com', ice: 'stun', duration: 16, mic: 'voice', camera: 'test:160x120' });
  await huddleId(pub);
  const sub = lab.huddle('b', { email: 'sub@example.com', ice: 'stun', duration: 14, camera: 'test:160x120' });
  await huddleId(sub);
  const exits = await Promise.all([pub.waitExit(60000), sub.waitExit(60000)]);
  const problems = exits.flatMap((e, i) => (e.code === 0 ? [] : [`${['pub', 'sub'][i]}: exit ${e.code}`]));
  const a = receivedFrom(sub.report(), 'pub@example.com', 'audio')[0];
  console.log(`sub ← pub through Janus at 5 % uplink loss: audio ${a?.frames_decoded} frames, ${a?.packets_lost} packets lost, ${a?.fec_recovered_frames} rebuilt from FEC, ${a?.concealed_frames} concealed`);
  if (!a) problems.push('sub: no audio from pub');
  else {
    if (!(a.packets_lost > 0)) problems.push('sub: no audio packet lost on a lossy uplink (is the loss on?)');
    // Without the follower on the publisher connection the encoder never hears of the loss: 0.
    if (!(a.fec_recovered_frames > 0)) problems.push(`sub: no lost audio rebuilt from FEC (${a.packets_lost} lost)`);
    if (!(a.concealed_frames <= 0.5 * a.packets_lost)) problems.push(`sub: ${a.concealed_frames} of ${a.packets_lost} lost audio packets concealed (want ≤ 50 %)`);
  }
  await assertLabOk(lab, problems, 'an SFU publisher on a lossy uplink');
});

test('SFU after a Janus restart: the server rebuilds the room (new epoch), media flows again', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  const cam = 'test:160x120';
  const p1 = lab.huddle('a', { email: 'p1@example.com', ice: 'stun', duration: 22, camera: cam });
  await huddleId(p1);
  const p2 = lab.huddle('b', { email: 'p2@example.com', ice: 'stun', duration: 21, camera: cam });
  await huddleId(p2);
  await new Promise((r) => setTimeout(r, 6000));
  const killedAt = Date.now();
  await lab.restartJanus({ downMs: 1000 });
  console.log(`janus restarted (down ${Date.now() - killedAt} ms)`);
  const exits = await Promise.all([p1.waitExit(60000), p2.waitExit(60000)]);
  const problems = exits.flatMap((e, i) => (e.code === 0 ? [] : [`p${i + 1}: exit ${e.code}`]));
  for (const [h, other] of [
    [p1, 'p2@example.com'],
    [p2, 'p1@example.com'],
  ]) {
    const r = h.report();
    if (!r) {
      problems.push(`${h.email}: no report`);
      continue;
    }
    const v = receivedFrom(r, other, 'video')[0];
    console.log(`${h.email} ← ${other}: ${describeReceived(v)}; longest gap ${Math.round(v?.longest_frame_gap_ms ?? -1)} ms; errors ${JSON.stringify(r.errors)}`);
    // About 6 s of frames before the restart: 300 frames (of ~600) prove they came back.
    problems.push(...huddleReceivedProblems(r, other, { who: `${h.email} ← ${other}`, minFrames: 300, minBarcodes: 300, minAudioPackets: 500 }));
    if (!(v?.longest_frame_gap_ms < 10000)) problems.push(`${h.email} ← ${other}: a gap of ${v?.longest_frame_gap_ms} ms`);
  }
  if (!lab.server.logs().includes('rebuilding it')) problems.push('the server did not rebuild the room');
  await assertLabOk(lab, problems, 'an SFU room across a Janus restart');
});
