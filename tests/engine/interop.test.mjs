// Huddle ↔ Chromium, one call, both join orders:
//  - page first, then huddle: huddle (the newcomer) calls the page;
//  - huddle first, then page: the page calls huddle.
// Both directions carry BCv1 barcode video (latency measured with one clock) and a tone.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  summarizeRemote,
  latencySummary,
  receivedFrom,
  describeReceived,
  pageReceivedProblems,
  huddleReceivedProblems,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  HUDDLE_TONE_HZ,
  TEST_TIMEOUT_MS,
} from './helpers.mjs';

const PAGE_TONE = 660;

for (const order of ['page first, huddle calls the page', 'huddle first, the page calls huddle']) {
  test(`Huddle ↔ Chromium, ${order}`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const h = await startHarness(t);
    const browser = await h.browser();
    const pageEmail = 'chromium@example.com';
    const huddleEmail = 'huddle@example.com';
    const pageFirst = order.startsWith('page first');
    const problems = [];

    let page;
    let hud;
    if (pageFirst) {
      page = await h.page(browser, { email: pageEmail, tone: PAGE_TONE });
      hud = h.huddle({ email: huddleEmail, duration: 8 });
    } else {
      hud = h.huddle({ email: huddleEmail, duration: 10 });
      await huddleId(hud);
      page = await h.page(browser, { email: pageEmail, tone: PAGE_TONE });
      const others = page.joined.participants.map((p) => p.email);
      if (others.join() !== huddleEmail) problems.push(`the page's join ack lists ${JSON.stringify(others)}, expected [${huddleEmail}]`);
    }

    // Poll the page while the call runs (stats survive the call's end).
    let exit = null;
    hud.exited.then((e) => {
      exit = e;
    });
    try {
      await pollUntil(
        () => page.stats(),
        (s) => exit !== null || (remoteByEmail(s, huddleEmail)?.barcodes ?? 0) >= 100,
        { timeoutMs: 40000, what: 'the page reading 100 barcodes from huddle' },
      );
    } catch (e) {
      problems.push(e.message);
    }
    exit = await hud.waitExit(30000);
    const report = hud.report();
    const stats = await page.stats();
    const fromHuddle = remoteByEmail(stats, huddleEmail);

    problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 }));
    problems.push(
      ...pageReceivedProblems(stats, huddleEmail, { who: 'page ← huddle', minBarcodes: 100, tone: HUDDLE_TONE_HZ }),
    );
    problems.push(
      ...huddleReceivedProblems(report, pageEmail, {
        who: 'huddle ← page',
        minFrames: 100,
        minBarcodes: 100,
        minAudioPackets: 200,
      }),
    );

    // Figures (not asserted beyond < 1000 ms).
    const pageLat = latencySummary(fromHuddle?.latencies);
    const hv = receivedFrom(report, pageEmail, 'video')[0];
    const ha = receivedFrom(report, pageEmail, 'audio')[0];
    console.log(`[${order}] huddle → Chromium video: ${JSON.stringify(fromHuddle ? summarizeRemote(fromHuddle) : null)}`);
    console.log(`[${order}] Chromium → huddle: ${describeReceived(hv)}; ${describeReceived(ha)}`);
    console.log(
      `[${order}] latency p50/p95 ms: huddle→page ${pageLat.p50}/${pageLat.p95} (n ${pageLat.n}); page→huddle ${hv?.latency_ms?.p50}/${hv?.latency_ms?.p95} (n ${hv?.latency_ms?.n}); ` +
        `first frame: page ${fromHuddle?.firstFrameAt && fromHuddle?.createdAt ? fromHuddle.firstFrameAt - fromHuddle.createdAt : null} ms after its peer connection, huddle ${hv?.time_to_first_frame_ms} ms; join ack ${report?.join_ack_ms} ms`,
    );
    if (report) console.log(`[${order}] huddle sent: ${JSON.stringify(report.sent)}`);

    await assertNoProblems(h, problems, `Huddle ↔ Chromium (${order})`);
  });
}
