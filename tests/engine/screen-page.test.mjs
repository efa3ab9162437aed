// Harness self-check for screen sharing: Chromium pages only, no Huddle. Page A shares its
// 1280×720 barcode canvas with page B (in the room before) and page C (joins while the share
// is on: sharerAvailable / viewerJoined); page B's startSharing is refused naming A; A stops
// and both viewers see sharerStopped and close their share connection; then B can share.
// When this fails the screen-sharing interop tests cannot be trusted.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  screenByEmail,
  summarizeScreen,
  describeScreen,
  latencySummary,
  assertNoProblems,
  TEST_TIMEOUT_MS,
} from './helpers.mjs';

const MIN_BARCODES = 60;

test('page → pages screen share: late viewer, conflict, stop, share again', { timeout: Math.max(TEST_TIMEOUT_MS, 90000) }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];
  // mode recv: no camera/microphone, so only the screen loads the machine.
  const a = await h.page(browser, { email: 'page-a@example.com', mode: 'recv' });
  const b = await h.page(browser, { email: 'page-b@example.com', mode: 'recv' });

  const started = await a.startSharing();
  if (!started.ok) problems.push(`page A's startSharing was refused: ${JSON.stringify(started.ack)}`);

  // B is refused while A shares, and told who shares.
  const refused = await b.startSharing();
  if (refused.ok || refused.ack?.error?.code !== 'sharing_conflict' || refused.ack?.error?.sharerId !== a.id)
    problems.push(`page B's startSharing during A's share: ${JSON.stringify(refused.ack)} (expected sharing_conflict naming ${a.id})`);

  const c = await h.page(browser, { email: 'page-c@example.com', mode: 'recv' });
  if (c.joined.sharerId !== a.id) problems.push(`page C's join ack sharerId ${c.joined.sharerId}, expected ${a.id}`);

  const enough = (s) => (screenByEmail(s, a.email)?.barcodes ?? 0) >= MIN_BARCODES;
  try {
    await pollUntil(
      async () => ({ b: await b.stats(), c: await c.stats() }),
      (s) => enough(s.b) && enough(s.c),
      { timeoutMs: 40000, what: `pages B and C reading ${MIN_BARCODES} screen barcodes from A` },
    );
  } catch (e) {
    problems.push(e.message);
  }
  const infoB = await b.info();
  const conflictEvent = (await b.shareInfo()).conflicts[0];
  if (conflictEvent?.sharerId !== a.id) problems.push(`page B's sharingConflict event: ${JSON.stringify(conflictEvent)}`);
  const infoC = await c.info();
  if (!infoC.events.some((e) => e.name === 'sharerAvailable' && e.value === a.id)) problems.push('page C got no sharerAvailable naming A');
  if (!infoB.events.some((e) => e.name === 'sharerStarted' && e.value === a.id)) problems.push('page B got no sharerStarted naming A');
  const shareA = await a.shareInfo();
  if (!shareA.viewerJoined.some((v) => v.id === c.id && v.offered)) problems.push(`page A: no viewerJoined for C: ${JSON.stringify(shareA.viewerJoined)}`);

  // Stop: both viewers see sharerStopped and close.
  const stopAck = await a.stopSharing();
  if (stopAck?.ok !== true) problems.push(`page A's stopSharing ack ${JSON.stringify(stopAck)}`);
  for (const [p, who] of [
    [b, 'B'],
    [c, 'C'],
  ]) {
    try {
      await pollUntil(
        () => p.stats(),
        (s) => screenByEmail(s, a.email)?.connectionState === 'closed',
        { timeoutMs: 10000, what: `page ${who}'s share connection closing` },
      );
    } catch (e) {
      problems.push(e.message);
    }
    const s = screenByEmail(await p.stats(), a.email);
    if (s?.stoppedBy !== 'sharerStopped') problems.push(`page ${who}: share ended by ${s?.stoppedBy}, expected sharerStopped`);
    if (s && !(s.barcodes >= MIN_BARCODES)) problems.push(`page ${who}: ${s.barcodes} screen barcodes (< ${MIN_BARCODES})`);
    const lat = latencySummary(s?.latencies);
    if (lat.n > 0 && !(lat.p50 < 1000)) problems.push(`page ${who}: screen latency p50 ${lat.p50} ms`);
    if (s && s.width !== 1280) problems.push(`page ${who}: screen ${s.width}x${s.height}, expected 1280 wide`);
    console.log(`[page share] page ${who} ← A: ${describeScreen(s)}`);
    console.log(`[page share] page ${who} ← A: ${JSON.stringify(summarizeScreen(s))}`);
  }

  // Now B may share; A and C view it.
  const again = await b.startSharing();
  if (!again.ok) problems.push(`page B's startSharing after A stopped: ${JSON.stringify(again.ack)}`);
  try {
    await pollUntil(
      async () => ({ a: await a.stats(), c: await c.stats() }),
      (s) => (screenByEmail(s.a, b.email)?.barcodes ?? 0) >= 30 && (screenByEmail(s.c, b.email)?.barcodes ?? 0) >= 30,
      { timeoutMs: 30000, what: 'pages A and C reading 30 screen barcodes from B' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  for (const p of [a, b, c]) {
    const i = await p.info();
    if (i.errors.length) problems.push(`page ${p.email} errors: ${JSON.stringify(i.errors)}`);
  }
  await assertNoProblems(h, problems, 'page → pages screen share');
});
