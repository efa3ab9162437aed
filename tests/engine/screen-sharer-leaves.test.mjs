// A sharer that leaves while sharing (no stopSharing) ends its share for everyone: the server
// sends sharerStopped, then user:left (PROTOCOL.md, room:leave / disconnect).
//  1. A Huddle sharer's --duration ends mid-share: the page sees sharerStopped before
//     user:left and closes its share connection; the Huddle viewer prints
//     "screen share stopped by <id>" and stays.
//  2. Then the page shares and is closed abruptly (no goodbye): the Huddle viewer prints
//     "screen share stopped by <page id>" and exits normally later.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  screenByEmail,
  describeScreen,
  describeReceived,
  receivedFrom,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  sleep,
} from './helpers.mjs';

const PAGE = 'chromium@example.com';
const SHARER = 'sharer@example.com';
const VIEWER = 'viewer@example.com';

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

test('A sharer leaving mid-share (Huddle, then a page closed abruptly) ends the share for its viewers', { timeout: 90000 }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];
  const page = await h.page(browser, { email: PAGE, mode: 'audio' });
  const viewer = h.huddle({ email: VIEWER, duration: 90, camera: 'none' });
  await huddleId(viewer);
  // Shares from 1 s after joining until it leaves.
  const sharer = h.huddle({ email: SHARER, duration: 10, camera: 'none', share: 'test', shareAt: 1 });
  const sharerId = await huddleId(sharer);

  try {
    await pollUntil(
      () => page.stats(),
      (s) => (screenByEmail(s, SHARER)?.barcodes ?? 0) >= 30,
      { timeoutMs: 30000, what: "the page reading 30 barcodes of the sharer's screen" },
    );
  } catch (e) {
    problems.push(e.message);
  }
  const exit = await sharer.waitExit(30000);
  let s1 = null;
  try {
    const st = await pollUntil(
      () => page.stats(),
      (s) => screenByEmail(s, SHARER)?.connectionState === 'closed',
      { timeoutMs: 10000, what: "the page's share connection closing after the sharer left" },
    );
    s1 = screenByEmail(st, SHARER);
  } catch (e) {
    problems.push(e.message);
    s1 = screenByEmail(await page.stats(), SHARER);
  }
  const info = await page.info();
  const stopped = info.events.find((e) => e.name === 'sharerStopped' && e.value === sharerId);
  const left = info.events.find((e) => e.name === 'user:left' && e.id === sharerId);
  if (!stopped) problems.push('the page got no sharerStopped when the sharer left');
  if (!left) problems.push('the page got no user:left for the sharer');
  if (stopped && left && stopped.at > left.at) problems.push('sharerStopped came after user:left');
  if (s1 && s1.stoppedBy !== 'sharerStopped') problems.push(`the page's share ended by ${s1.stoppedBy}`);
  try {
    await viewer.waitForLine(new RegExp(`screen share stopped by ${esc(sharerId)}`), 10000);
  } catch (e) {
    problems.push(`viewer: ${e.message}`);
  }
  problems.push(...huddleExitProblems(exit, sharer.report(), { who: 'sharer', peersConnected: 2 }));
  const sentScreens = (sharer.report()?.sent || []).filter((s) => s.kind === 'screen');
  if (sentScreens.length !== 1) problems.push(`the sharer's report has ${sentScreens.length} sent screen entries (expected 1, sharing until it left)`);

  // 2. The page shares, then vanishes.
  const started = await page.startSharing();
  if (!started.ok) problems.push(`the page's startSharing after the sharer left: ${JSON.stringify(started.ack)}`);
  try {
    await viewer.waitForLine(new RegExp(`screen share started by ${esc(page.id)}`), 10000);
    await viewer.waitForLine(/receiving screen from chromium/, 20000);
  } catch (e) {
    problems.push(`viewer: ${e.message}`);
  }
  await sleep(4000);
  const pageId = page.id;
  await page.close();
  try {
    await viewer.waitForLine(new RegExp(`screen share stopped by ${esc(pageId)}`), 10000);
  } catch (e) {
    problems.push(`viewer after the page vanished: ${e.message}`);
  }
  await sleep(1000);
  if (!viewer.alive) problems.push('the viewer left when the sharer vanished');
  await viewer.stop(10000);
  const vexit = await viewer.exited;
  const report = viewer.report();
  problems.push(...huddleExitProblems(vexit, report, { who: 'viewer', peersConnected: 2 }));
  const fromSharer = receivedFrom(report, SHARER, 'screen')[0];
  const fromPage = receivedFrom(report, PAGE, 'screen')[0];
  if (!fromSharer || fromSharer.barcodes_read < 30) problems.push(`viewer ← sharer screen: ${describeReceived(fromSharer)}`);
  if (!fromPage || fromPage.barcodes_read < 30) problems.push(`viewer ← page screen: ${describeReceived(fromPage)}`);

  console.log(
    `[sharer leaves] huddle sharer exit → page: sharerStopped ${stopped ? stopped.at - exit.at : '-'} ms, user:left ${left ? left.at - exit.at : '-'} ms, share closed ${s1?.closedAt ? s1.closedAt - exit.at : '-'} ms after the exit`,
  );
  console.log(`[sharer leaves] page ← sharer: ${describeScreen(s1)}`);
  console.log(`[sharer leaves] viewer ← sharer: ${describeReceived(fromSharer)}`);
  console.log(`[sharer leaves] viewer ← page: ${describeReceived(fromPage)}`);
  await assertNoProblems(h, problems, 'A sharer leaving mid-share');
});
