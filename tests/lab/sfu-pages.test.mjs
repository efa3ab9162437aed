// The SFU path end to end with browser participants (tests/engine/page with sfu=1): Janus on
// the lab's server host, huddle-server its API client, Chromium pages on the client hosts
// behind their NATs, every media packet through Janus.
//  1. `--sfu-threshold 1`: three pages publish and subscribe through the server's sfu:* events
//     and each reads the others' barcodes; one leaves and the others' subscriptions drop it;
//     one stops showing a camera (sfu:view) and the SFU pauses it, then resumes it;
//     one shares its screen (a third stream of its publication) and the others read it.
//  2. `--sfu-threshold 3`: two pages in a mesh, a third joins, the room moves to the SFU
//     (make before break) and media keeps flowing; the longest gap between frames across the
//     switch is printed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLab, labSkipReason, assertLabOk } from './lab.mjs';
import { pollUntil } from '../engine/helpers.mjs';

const SFU = { sfu: 1 };

async function sfuPage(lab, browser, email) {
  return lab.page(browser, { email, ice: 'stun', query: SFU });
}

const sfuInfo = (p) => p.page.evaluate(() => window.huddleTest.sfuInfo());

/** Every page reads at least `n` barcodes of each other page since `base` (stats per id). */
async function allRead(lab, pages, n, what, base = new Map()) {
  const problems = [];
  await pollUntil(
    async () => {
      problems.length = 0;
      for (const p of pages) {
        const s = await p.stats();
        for (const o of pages) {
          if (o === p) continue;
          const got = (s[o.id]?.barcodes ?? 0) - (base.get(`${p.id}>${o.id}`) ?? 0);
          if (got < n) problems.push(`${p.email} read ${got} of ${o.email}'s barcodes`);
        }
      }
      return problems.length;
    },
    (left) => left === 0,
    { timeoutMs: 45000, what },
  ).catch(() => {});
  await assertLabOk(lab, problems, what);
}

async function counts(pages) {
  const base = new Map();
  for (const p of pages) {
    const s = await p.stats();
    for (const o of pages) if (o !== p) base.set(`${p.id}>${o.id}`, s[o.id]?.barcodes ?? 0);
  }
  return base;
}

/** Longest gap (ms) between consecutive frames of `from` at `p` in [t0, t1]. */
async function longestGap(p, from, t0, t1) {
  const times = (await p.stats())[from.id].frameTimes.filter((t) => t >= t0 && t <= t1);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  return { gap, frames: times.length };
}

test('SFU with threshold 1: three pages through Janus, one leaves, one shares', { skip: labSkipReason() ?? false, timeout: 240000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
  const [ba, bb] = await Promise.all([lab.browser('a'), lab.browser('b')]);
  const p1 = await sfuPage(lab, ba, 'one@example.com');
  const p2 = await sfuPage(lab, bb, 'two@example.com');
  const p3 = await sfuPage(lab, ba, 'three@example.com');
  const pages = [p1, p2, p3];
  for (const p of pages) {
    assert.equal((await sfuInfo(p)).since, 'ack', `${p.email} learns the SFU from its join ack`);
  }
  await allRead(lab, pages, 30, 'each page reading the two others through Janus');
  for (const p of pages) {
    const info = await p.info();
    assert.deepEqual(info.peers, [], `${p.email} made no mesh call`);
    const sfu = await sfuInfo(p);
    assert.equal(sfu.pub, 'connected');
    assert.equal(sfu.sub, 'connected');
    assert.ok(sfu.answers.every((a) => a.ok), `${p.email}: every answer taken: ${JSON.stringify(sfu.answers)}`);
  }
  const s1 = await p1.stats();
  console.log(`SFU ${p2.email} → ${p1.email}: p50 latency ${median(s1[p2.id].latencies)} ms over ${s1[p2.id].barcodes} barcodes`);

  // p3 leaves: the others' next subscription offer carries nothing of it.
  const leftAt = Date.now();
  await p3.leave();
  for (const p of [p1, p2]) {
    await pollUntil(
      () => sfuInfo(p),
      (info) => {
        const last = info.offers.at(-1);
        return last.at >= leftAt && !last.streams.some((s) => s.active && s.from === p3.id);
      },
      { timeoutMs: 15000, what: `${p.email}'s subscription dropping ${p3.email}` },
    );
  }
  await allRead(lab, [p1, p2], 20, 'the two remaining pages still reading each other', await counts([p1, p2]));

  // Not on screen: p2 shows nobody's camera (sfu:view []), so the SFU stops sending p1's;
  // showing it again resumes it (a keyframe away).
  assert.equal((await p2.page.evaluate(() => window.huddleTest.sfuView([]))).ok, true);
  await new Promise((r) => setTimeout(r, 1000));
  const paused = (await p2.stats())[p1.id].videoFrames;
  await new Promise((r) => setTimeout(r, 2000));
  const stillPaused = (await p2.stats())[p1.id].videoFrames;
  assert.ok(stillPaused - paused <= 3, `no camera frames while not shown (${stillPaused - paused} came in 2 s)`);
  assert.equal((await p2.page.evaluate((id) => window.huddleTest.sfuView([id]), p1.id)).ok, true);
  await pollUntil(() => p2.stats(), (s) => s[p1.id].videoFrames >= stillPaused + 30, { timeoutMs: 15000, what: `${p1.email}'s camera resuming at ${p2.email}` });

  // p1 shares: its screen is a third stream of its publication, read by p2.
  const shared = await p1.startSharing();
  assert.ok(shared.ok, JSON.stringify(shared));
  const screen = await pollUntil(
    () => p2.stats(),
    (s) => (s.screen[p1.id]?.barcodes ?? 0) >= 20,
    { timeoutMs: 30000, what: `${p2.email} reading ${p1.email}'s screen through Janus` },
  ).catch(async (e) => {
    e.message += `\n${await lab.dump()}`;
    throw e;
  });
  const scr = screen.screen[p1.id];
  console.log(`screen ${p1.email} → ${p2.email} via SFU: ${scr.barcodes} barcodes ${scr.width}x${scr.height}, p50 ${median(scr.latencies)} ms`);
  // Only the sharer may publish a screen.
  const refused = await p2.page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const offer = { type: 'offer', sdp: pc.localDescription.sdp };
    pc.close();
    return window.huddleTest.request('sfu:publish', { offer, streams: [{ mid: '0', source: 'screen' }] });
  });
  assert.equal(refused.error?.code, 'not_sharer', JSON.stringify(refused));
  for (const p of [p1, p2]) assert.deepEqual((await p.info()).errors, [], `${p.email}: no page errors`);
});

test('SFU threshold 3: a mesh of two moves to the SFU when the third joins, media keeps flowing', { skip: labSkipReason() ?? false, timeout: 240000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', janus: { threshold: 3 } });
  const [ba, bb] = await Promise.all([lab.browser('a'), lab.browser('b')]);
  const p1 = await sfuPage(lab, ba, 'one@example.com');
  const p2 = await sfuPage(lab, bb, 'two@example.com');
  await allRead(lab, [p1, p2], 30, 'the mesh of two');
  assert.equal((await sfuInfo(p1)).active, false, 'two members: still a mesh');
  const before = Date.now();
  const p3 = await sfuPage(lab, bb, 'three@example.com');
  const pages = [p1, p2, p3];
  await allRead(lab, pages, 30, 'all three reading each other after the switch');
  for (const p of [p1, p2]) {
    const info = await sfuInfo(p);
    assert.equal(info.since, 'sfu:mode', `${p.email} was told by sfu:mode`);
  }
  // The mesh call of p1 and p2 ends once the SFU carries them.
  await pollUntil(
    async () => [(await p1.info()).peers.length, (await p2.info()).peers.length],
    ([a, b]) => a === 0 && b === 0,
    { timeoutMs: 15000, what: 'the mesh call winding down' },
  );
  const after = Date.now();
  const ended = [...(await sfuInfo(p1)).meshEnded, ...(await sfuInfo(p2)).meshEnded];
  const g12 = await longestGap(p1, p2, before, after);
  const g21 = await longestGap(p2, p1, before, after);
  console.log(
    `mesh → SFU switch: longest frame gap ${p2.email}→${p1.email} ${g12.gap} ms, ${p1.email}→${p2.email} ${g21.gap} ms (frames ${g12.frames}/${g21.frames}); mesh ended by ${ended.map((e) => e.why).join(', ')}`,
  );
  assert.ok(g12.gap < 3000 && g21.gap < 3000, `media kept flowing across the switch: gaps ${g12.gap} / ${g21.gap} ms`);
});

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
