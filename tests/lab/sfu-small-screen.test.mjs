// Small shared screens (≤ 640x360) through the SFU: Huddle and Chromium subscribers decode
// them (a screen shared from the start, seen by a subscriber that joins later).
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason } from './lab.mjs';
import { huddleScreenProblems, huddleId, receivedFrom, describeReceived, pollUntil } from '../engine/helpers.mjs';

const SIZES = ['640x360', '320x180'];

for (const size of SIZES) {
  test(`SFU: a ${size} shared screen reaches a Huddle and a Chromium subscriber`, { skip: labSkipReason() ?? false, timeout: 120000 }, async (t) => {
    const lab = await startLab(t, { nat: 'eim', janus: { threshold: 1 } });
    const cam = 'test:160x120';
    const sharer = lab.huddle('a', { email: 'sharer@example.com', ice: 'stun', duration: 14, camera: cam, share: 'test', shareAt: 0, extraArgs: ['--share-max', size] });
    const sharerId = await huddleId(sharer);
    await new Promise((r) => setTimeout(r, 2000));
    const viewer = lab.huddle('b', { email: 'viewer@example.com', ice: 'stun', duration: 10, camera: cam });
    await huddleId(viewer);
    const browser = await lab.browser('b');
    const page = await lab.page(browser, { email: 'page@example.com', ice: 'stun', query: { sfu: 1 } });
    const problems = [];
    const seen = await pollUntil(
      () => page.stats(),
      (s) => (s.screen?.[sharerId]?.barcodes ?? 0) >= 30,
      { timeoutMs: 20000, what: `the page reading a ${size} screen through Janus` },
    ).catch((e) => {
      problems.push(e.message);
      return null;
    });
    const ps = seen?.screen?.[sharerId];
    const exits = await Promise.all([sharer.waitExit(60000), viewer.waitExit(60000)]);
    problems.push(...exits.flatMap((e, i) => (e.code === 0 ? [] : [`${['sharer', 'viewer'][i]}: exit ${e.code}`])));
    const r = viewer.report();
    const s = r && receivedFrom(r, 'sharer@example.com', 'screen')[0];
    console.log(`${size}: viewer ← screen: ${describeReceived(s)}; page ← screen: ${ps?.barcodes} barcodes ${ps?.width}x${ps?.height}`);
    if (r) problems.push(...huddleScreenProblems(r, 'sharer@example.com', { who: `viewer ← sharer's ${size} screen`, minBarcodes: 60 }).problems);
    await assertLabOk(lab, problems, `a ${size} screen through the SFU`);
  });
}
