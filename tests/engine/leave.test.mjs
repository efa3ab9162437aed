// Leaving mid-call:
//  - Huddle leaving (its --duration ends) is seen by the page: call:ended (Huddle sends
//    `call:end` on leaving) and user:left, and the page's RTCPeerConnection is closed;
//  - a page leaving mid-call (the page is closed, no goodbye) does not disturb Huddle's call
//    with the other page, and Huddle still exits 0.
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
  sleep,
} from './helpers.mjs';

const HUD = 'huddle@example.com';

test('Huddle leaving is seen by the page: call:ended / user:left, then the peer connection is closed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];
  const page = await h.page(browser, { email: 'chromium@example.com' });
  const hud = h.huddle({ email: HUD, duration: 6 });
  const hid = await huddleId(hud);

  let exit = null;
  hud.exited.then((e) => {
    exit = e;
  });
  try {
    await pollUntil(
      () => page.stats(),
      (s) => exit !== null || (remoteByEmail(s, HUD)?.barcodes ?? 0) >= 30,
      { timeoutMs: 30000, what: 'the page receiving huddle video' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  const during = remoteByEmail(await page.stats(), HUD);
  if (!during || during.connectionState !== 'connected')
    problems.push(`before huddle left, the page's connection with huddle was ${during?.connectionState}`);
  exit = await hud.waitExit(30000);
  const exitAt = exit.at;

  // After huddle is gone: user:left for its id, and the peer connection closed.
  let final = null;
  let info = null;
  try {
    await pollUntil(
      async () => {
        info = await page.info();
        final = remoteByEmail(await page.stats(), HUD);
        return { info, final };
      },
      ({ info: i, final: f }) => i.events.some((e) => e.name === 'user:left' && e.id === hid) && f?.closedAt,
      { timeoutMs: 10000, what: 'user:left from huddle and the peer connection closed' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  const userLeft = info?.events.find((e) => e.name === 'user:left' && e.id === hid);
  const callEnded = info?.events.find((e) => e.name === 'call:ended' && e.from === hid);
  if (!callEnded) problems.push('the page got no call:ended from huddle (Huddle sends call:end {to} on leaving)');
  if (callEnded && userLeft && callEnded.at > userLeft.at) problems.push('call:ended arrived after user:left');
  if (final) {
    if (final.connectionState !== 'closed') problems.push(`the page's connection with huddle is ${final.connectionState}, not closed`);
    if (final.signalingState !== 'closed') problems.push(`signaling state ${final.signalingState}, not closed`);
  }
  if (info && info.errors.length) problems.push(`page errors: ${JSON.stringify(info.errors)}`);

  const report = hud.report();
  problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 }));
  console.log(
    `[huddle leaves] call:ended ${callEnded ? callEnded.at - exitAt : 'never'} ms and user:left ${userLeft ? userLeft.at - exitAt : 'never'} ms relative to huddle's exit; ` +
      `peer closed by ${final?.closeReason} ${final?.closedAt ? final.closedAt - exitAt : '-'} ms relative to exit; page received ${final?.barcodes} barcodes`,
  );
  await assertNoProblems(h, problems, 'Huddle leaving');
});

test("A page leaving mid-call (page closed) does not disturb Huddle's call with the other page", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];
  const a = await h.page(browser, { email: 'page-a@example.com', tone: 660 });
  const b = await h.page(browser, { email: 'page-b@example.com', tone: 880 });
  const hud = h.huddle({ email: HUD, duration: 14 });
  await huddleId(hud);

  let exit = null;
  hud.exited.then((e) => {
    exit = e;
  });
  // Both calls up and carrying video.
  try {
    await pollUntil(
      async () => ({ a: await a.stats(), b: await b.stats() }),
      (s) => exit !== null || ((remoteByEmail(s.a, HUD)?.barcodes ?? 0) >= 30 && (remoteByEmail(s.b, HUD)?.barcodes ?? 0) >= 30),
      { timeoutMs: 30000, what: 'both pages receiving huddle video' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  if (exit !== null) problems.push(`huddle exited before page B left: ${JSON.stringify(exit)}`);

  // Page B vanishes: no call:end, no room:leave; its socket and peer connections just die.
  const before = remoteByEmail(await a.stats(), HUD);
  const closedAt = Date.now();
  const remaining = (hud.startedAt + 14000 - closedAt) / 1000;
  await b.close();

  // Page A's call with huddle continues until huddle's duration ends.
  let last = null;
  while (exit === null) {
    try {
      last = remoteByEmail(await a.stats(), HUD);
    } catch {}
    await sleep(250);
  }
  exit = await hud.waitExit(30000);
  const report = hud.report();
  const sa = await a.stats();
  const after = remoteByEmail(sa, HUD);
  const info = await a.info();

  // Huddle ends its calls (call:end) a moment before its process exits: a connection
  // closed that way is the graceful end, not a disturbance.
  if (!last || (last.connectionState !== 'connected' && last.closeReason !== 'call:ended'))
    problems.push(`page A's connection with huddle was ${last?.connectionState} just before huddle left`);
  const n0 = before?.latencies.length ?? 0;
  const postLat = latencySummary(after?.latencies.slice(n0));
  const postBarcodes = (after?.barcodes ?? 0) - (before?.barcodes ?? 0);
  const minPost = Math.max(30, Math.floor(remaining * 10));
  if (postBarcodes < minPost)
    problems.push(`page A read ${postBarcodes} barcodes from huddle in the ${remaining.toFixed(1)} s after page B left (< ${minPost})`);
  if (postLat.n > 0 && !(postLat.p50 < 1000)) problems.push(`page A ← huddle latency after page B left: p50 ${postLat.p50} ms`);
  const bLeft = info.events.find((e) => e.name === 'user:left' && e.email === 'page-b@example.com');
  if (!bLeft) problems.push('page A got no user:left for page B');

  problems.push(...pageReceivedProblems(sa, HUD, { who: 'page A ← huddle', minBarcodes: 100, tone: HUDDLE_TONE_HZ }));
  problems.push(...huddleExitProblems(exit, report, { who: 'huddle' }));
  problems.push(
    ...huddleReceivedProblems(report, 'page-a@example.com', {
      who: 'huddle ← page A',
      minFrames: 100,
      minBarcodes: 100,
      minAudioPackets: 200,
    }),
  );
  console.log(
    `[page leaves] page A ← huddle after page B left: ${postBarcodes} barcodes in ${remaining.toFixed(1)} s, latency ${JSON.stringify(postLat)}; overall ${JSON.stringify(summarizeRemote(after || {}))}`,
  );
  console.log(`[page leaves] huddle ← page A: ${describeReceived(receivedFrom(report, 'page-a@example.com', 'video')[0])}`);
  console.log(`[page leaves] huddle ← page B: ${describeReceived(receivedFrom(report, 'page-b@example.com', 'video')[0])}`);
  console.log(`[page leaves] huddle peers_met ${report?.peers_met} peers_connected ${report?.peers_connected} errors ${JSON.stringify(report?.errors)}`);
  console.log(`[page leaves] huddle stdout:\n${hud.stdout()}`);
  await assertNoProblems(h, problems, 'A page leaving mid-call');
});
