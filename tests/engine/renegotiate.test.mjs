// Renegotiation from the browser side (PROTOCOL.md: peer:nego:needed → peer:nego:done →
// peer:nego:final) over a running Huddle ↔ Chromium call, in both join orders. The page sends a
// fresh offer for the same tracks; Huddle must answer it in a way Chromium accepts (JSEP: an
// answer in a subsequent negotiation keeps the DTLS role already established, RFC 8842 §5.5),
// and media must keep flowing both ways.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  huddleReceivedProblems,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  sleep,
  TEST_TIMEOUT_MS,
} from './helpers.mjs';

const HUD = 'huddle@example.com';
const PAGE = 'chromium@example.com';

for (const order of ['page first (huddle offered first)', 'huddle first (the page offered first)']) {
  test(`renegotiation from Chromium over a Huddle call, ${order}`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const h = await startHarness(t);
    const browser = await h.browser();
    const problems = [];
    let page;
    let hud;
    if (order.startsWith('page first')) {
      page = await h.page(browser, { email: PAGE });
      hud = h.huddle({ email: HUD, duration: 10 });
    } else {
      hud = h.huddle({ email: HUD, duration: 11 });
      await huddleId(hud);
      page = await h.page(browser, { email: PAGE });
    }
    const hid = await huddleId(hud);
    let exit = null;
    hud.exited.then((e) => {
      exit = e;
    });
    const fromHud = async () => remoteByEmail(await page.stats(), HUD);
    try {
      await pollUntil(fromHud, (r) => exit !== null || (r?.barcodes ?? 0) >= 30, {
        timeoutMs: 30000,
        what: 'the page receiving huddle video',
      });
    } catch (e) {
      problems.push(e.message);
    }

    const before = await fromHud();
    const t0 = Date.now();
    await page.page.evaluate((id) => window.huddleTest.renegotiate(id), hid);
    let info = null;
    try {
      await pollUntil(
        async () => (info = await page.info()),
        (i) => i.events.some((e) => e.at >= t0 && e.name === 'peer:nego:final' && e.from === hid),
        { timeoutMs: 10000, what: 'peer:nego:final from huddle' },
      );
    } catch (e) {
      problems.push(e.message);
    }
    await sleep(2500);
    const after = await fromHud();
    info = await page.info();
    if (after.signalingState !== 'stable') problems.push(`the page's signaling state after renegotiation is ${after.signalingState}, not stable`);
    if (info.errors.length) problems.push(`page errors: ${info.errors.join(' / ')}`);
    if (after.connectionState !== 'connected') problems.push(`connection state after renegotiation: ${after.connectionState}`);
    const gained = after.barcodes - before.barcodes;
    if (gained < 30) problems.push(`only ${gained} new barcodes from huddle in the ${((Date.now() - t0) / 1000).toFixed(1)} s after renegotiating`);

    exit = await hud.waitExit(30000);
    const report = hud.report();
    problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 }));
    problems.push(
      ...huddleReceivedProblems(report, PAGE, { who: 'huddle ← page', minFrames: 100, minBarcodes: 100, minAudioPackets: 200 }),
    );
    console.log(
      `[renegotiate, ${order}] page signaling ${after.signalingState}, negotiations ${after.negotiations}, barcodes +${gained} after the re-offer, page errors ${JSON.stringify(info.errors)}`,
    );
    await assertNoProblems(h, problems, `renegotiation (${order})`);
  });
}
