// Huddle shares its screen (`--share test`: synthetic 1280×720 with the BCv1 barcode) with a
// Chromium page and a Huddle viewer that are in the room when the share starts
// (sharerStarted, then the sharer's share:offer) and with a second Huddle viewer that joins
// while the share is on (sharerAvailable + viewerJoined, then a share:offer to it).
// Every viewer reads ≥ 60 screen barcodes; then the sharer stops (--share-for) and every viewer
// sees sharerStopped and closes its share connection, while the calls go on.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  screenByEmail,
  summarizeScreen,
  describeScreen,
  latencySummary,
  describeReceived,
  receivedFrom,
  huddleScreenProblems,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  sleep,
} from './helpers.mjs';

const SHARER = 'sharer@example.com';
const VIEWER = 'viewer@example.com';
const LATE = 'late-viewer@example.com';
const PAGE = 'chromium@example.com';
const MIN_BARCODES = 60;
const SHARE_AT = 3; // s after the sharer joined
const SHARE_FOR = 16; // s
/**
 * Huddle's RTP clock must follow its capture clock (asserted for the screen and the camera at
 * the page, over ≥ 60 barcoded frames): a frame's RTP timestamp advances by the time since
 * the previous frame, not a nominal 1/fps. It used to advance by 1/fps, so on a busy machine
 * (fewer than fps frames a second) the RTP clock fell behind and Chromium's playout delay grew
 * (frames arrived in ~20 ms but were shown hundreds of ms later). Chromium's own canvas sender
 * stays within ~1% (screen-page.test.mjs); Huddle now measures 0.9998–0.9999.
 */
const MAX_RTP_CLOCK_ERROR = 0.03;

test('Huddle shares its screen with a Chromium page and two Huddle viewers (one late), then stops', { timeout: 90000 }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];

  // In the room before the share: the page and one Huddle viewer. The sharer joins last and
  // calls both (mesh rule); its share starts SHARE_AT s after its join. Only the sharer sends
  // camera video (the others send audio): the machine is small and the screen is the subject.
  const page = await h.page(browser, { email: PAGE, mode: 'audio' });
  const viewer = h.huddle({ email: VIEWER, duration: 90, camera: 'none' });
  const viewerId = await huddleId(viewer);
  const sharer = h.huddle({ email: SHARER, duration: 90, share: 'test', shareAt: SHARE_AT, shareFor: SHARE_FOR });
  const sharerId = await huddleId(sharer);

  // The share starts: the sharer says so, the page and the viewer are told.
  let sharingLine = null;
  try {
    sharingLine = (await sharer.waitForLine(/^sharing (.+)$/m, 20000))[1];
    await viewer.waitForLine(new RegExp(`screen share started by ${sharerId}`), 10000);
  } catch (e) {
    problems.push(e.message);
  }
  const shareStartedAt = sharer.lineAt(/^sharing /)?.at ?? null;

  // The share flows to the page before the late viewer comes.
  try {
    await pollUntil(
      () => page.stats(),
      (s) => (screenByEmail(s, SHARER)?.barcodes ?? 0) >= 30,
      { timeoutMs: 30000, what: 'the page reading 30 screen barcodes from the sharer' },
    );
  } catch (e) {
    problems.push(e.message);
  }

  // The late viewer: sharerAvailable for it, viewerJoined for the sharer, then a share:offer.
  const late = h.huddle({ email: LATE, duration: 90, camera: 'none' });
  const lateId = await huddleId(late);
  const lateJoinedAt = late.lineAt(/joined room/)?.at ?? null;
  try {
    await late.waitForLine(new RegExp(`screen share started by ${sharerId}`), 10000);
    await late.waitForLine(new RegExp(`receiving screen from ${SHARER.replace('.', '\\.')}`), 20000);
  } catch (e) {
    problems.push(`late viewer: ${e.message}`);
  }

  // The sharer stops after SHARE_FOR s: every viewer sees sharerStopped, and its share
  // connection closes.
  try {
    await sharer.waitForLine(/^stopped sharing$/m, (SHARE_FOR + 15) * 1000);
  } catch (e) {
    problems.push(e.message);
  }
  const stoppedAt = sharer.lineAt(/^stopped sharing$/)?.at ?? Date.now();
  const stopRe = new RegExp(`screen share stopped by ${sharerId}`);
  for (const [hp, who] of [
    [viewer, 'viewer'],
    [late, 'late viewer'],
  ]) {
    try {
      await hp.waitForLine(stopRe, 10000);
    } catch (e) {
      problems.push(`${who}: ${e.message}`);
    }
  }
  let pageScreen = null;
  try {
    const s = await pollUntil(
      () => page.stats(),
      (x) => screenByEmail(x, SHARER)?.connectionState === 'closed',
      { timeoutMs: 10000, what: "the page's share connection closing" },
    );
    pageScreen = screenByEmail(s, SHARER);
  } catch (e) {
    problems.push(e.message);
    pageScreen = screenByEmail(await page.stats(), SHARER);
  }

  // The calls go on without the share for a moment; then everyone leaves.
  await sleep(2000);
  const statsAfter = await page.stats();
  const call = remoteByEmail(statsAfter, SHARER);
  const info = await page.info();
  const exits = {};
  for (const [hp, who] of [
    [late, 'late viewer'],
    [viewer, 'viewer'],
    [sharer, 'sharer'],
  ]) {
    await hp.stop(10000);
    exits[who] = await hp.exited;
  }
  const reports = { sharer: sharer.report(), viewer: viewer.report(), late: late.report() };

  // --- the page ---
  if (!pageScreen) problems.push('page: no screen from the sharer at all');
  else {
    if (pageScreen.announcedBy !== 'sharerStarted') problems.push(`page: the share was announced by ${pageScreen.announcedBy}, expected sharerStarted`);
    if (pageScreen.barcodes < MIN_BARCODES)
      problems.push(`page: ${pageScreen.barcodes} screen barcodes (< ${MIN_BARCODES}); frames ${pageScreen.videoFrames}, unreadable ${pageScreen.unreadable}, crc ${pageScreen.crcFailures}`);
    if (pageScreen.stoppedBy !== 'sharerStopped') problems.push(`page: the share ended by ${pageScreen.stoppedBy}, expected sharerStopped`);
    if (pageScreen.connectionState !== 'closed') problems.push(`page: share connection ${pageScreen.connectionState} after the stop`);
    if (pageScreen.videoTracks !== 1 || pageScreen.audioTracks !== 0)
      problems.push(`page: share connection carried ${pageScreen.videoTracks} video and ${pageScreen.audioTracks} audio tracks (expected 1 and 0)`);
    if (pageScreen.width !== 1280 || pageScreen.height !== 720) problems.push(`page: screen ${pageScreen.width}x${pageScreen.height}, expected 1280x720`);
    if (!pageScreen.remoteCandidateAddrs.every((a) => a === '127.0.0.1')) problems.push(`page: share candidates ${pageScreen.remoteCandidateAddrs}`);
    const lat = latencySummary(pageScreen.latencies);
    if (lat.n > 0 && !(lat.p50 < 1000)) problems.push(`page: screen latency p50 ${lat.p50} ms`);
  }
  if (!info.events.some((e) => e.name === 'sharerStarted' && e.value === sharerId)) problems.push('page: no sharerStarted naming the sharer');
  if (!info.events.some((e) => e.name === 'sharerStopped' && e.value === sharerId)) problems.push('page: no sharerStopped naming the sharer');
  // The camera call is a separate connection and outlives the share.
  if (!call || call.connectionState !== 'connected') problems.push(`page: the call with the sharer is ${call?.connectionState} after the share stopped`);
  if (call && call.videoTracks !== 1) problems.push(`page: the call with the sharer got ${call.videoTracks} video tracks (the screen belongs on its own connection)`);
  if (info.errors.length) problems.push(`page errors: ${JSON.stringify(info.errors)}`);

  // --- the Huddle viewers ---
  const hv = {};
  for (const [key, who, hp] of [
    ['viewer', 'viewer', viewer],
    ['late', 'late viewer', late],
  ]) {
    const r = huddleScreenProblems(reports[key], SHARER, { who, minBarcodes: MIN_BARCODES });
    problems.push(...r.problems);
    hv[key] = r.screen;
    // Calls with the page, the sharer and the other viewer.
    problems.push(...huddleExitProblems(exits[who], reports[key], { who, peersConnected: 3 }));
    if (r.screen && (r.screen.width !== 1280 || r.screen.height !== 720)) problems.push(`${who}: screen ${r.screen.width}x${r.screen.height}`);
    // Not asserted (a known wart): a late viewer announces the share twice, once from the join
    // ack's sharerId and once from sharerAvailable.
    const starts = hp.stdout().match(new RegExp(`screen share started by ${sharerId}`, 'g'))?.length ?? 0;
    if (starts !== 1) console.log(`[huddle sharer] note: ${who} printed "screen share started by ${sharerId}" ${starts} times`);
  }
  if (hv.late && !(hv.late.time_to_first_frame_from_join_ms > 0)) problems.push(`late viewer: time_to_first_frame_from_join_ms ${hv.late.time_to_first_frame_from_join_ms}`);

  // --- the sharer ---
  problems.push(...huddleExitProblems(exits.sharer, reports.sharer, { who: 'sharer', peersConnected: 3 }));
  const sent = (reports.sharer?.sent || []).filter((s) => s.kind === 'screen');
  if (sent.length !== 1) problems.push(`sharer: ${sent.length} sent screen entries (expected 1)`);
  if (!/screen share stopped by/.test(sharer.stdout())) problems.push('sharer: no "screen share stopped by" line for its own stop');

  // --- figures ---
  const pl = latencySummary(pageScreen?.latencies);
  console.log(`[huddle sharer] sharing "${sharingLine}" from ${shareStartedAt ? shareStartedAt - sharer.startedAt : '?'} ms after spawn; stopped after ${shareStartedAt ? stoppedAt - shareStartedAt : '?'} ms`);
  console.log(`[huddle sharer] sent: ${JSON.stringify(sent[0] || null)}`);
  console.log(`[huddle sharer] page ← sharer: ${describeScreen(pageScreen)}`);
  console.log(`[huddle sharer] viewer ← sharer: ${describeReceived(hv.viewer)}`);
  console.log(`[huddle sharer] late viewer ← sharer: ${describeReceived(hv.late)} (joined ${lateJoinedAt && shareStartedAt ? lateJoinedAt - shareStartedAt : '?'} ms into the share)`);
  console.log(
    `[huddle sharer] g2g p50/p95 ms: page ${pl.p50}/${pl.p95} (n ${pl.n}), viewer ${hv.viewer?.latency_ms?.p50}/${hv.viewer?.latency_ms?.p95} (n ${hv.viewer?.latency_ms?.n}), ` +
      `late ${hv.late?.latency_ms?.p50}/${hv.late?.latency_ms?.p95} (n ${hv.late?.latency_ms?.n}); ` +
      `first frame from sharerStarted: page ${pageScreen?.firstFrameFromAnnounceMs} ms, viewer ${hv.viewer?.time_to_first_frame_ms?.toFixed?.(0)} ms; ` +
      `late viewer: ${hv.late?.time_to_first_frame_ms?.toFixed?.(0)} ms from sharerAvailable, ${hv.late?.time_to_first_frame_from_join_ms?.toFixed?.(0)} ms from its join`,
  );
  console.log(`[huddle sharer] page screen summary: ${JSON.stringify(summarizeScreen(pageScreen))}`);
  const thirds = (xs) => {
    const n = Math.floor((xs?.length ?? 0) / 3);
    return n ? [xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n)].map((x) => latencySummary(x).p50).join(' → ') : '-';
  };
  const clock = (k) => (k ? `RTP/capture clock ${k.ratio?.toFixed(4)}, drift ${k.driftMs} ms over ${k.n} frames` : 'no RTP timestamps');
  console.log(
    `[huddle sharer] page latency p50 by thirds: screen ${thirds(pageScreen?.latencies)} (to the last packet's arrival: ${thirds(pageScreen?.receiveLatencies)}; ${clock(pageScreen?.rtpClock)}); ` +
      `the sharer's camera in the call: ${thirds(call?.latencies)} (arrival: ${thirds(call?.receiveLatencies)}; ${clock(call?.rtpClock)})`,
  );
  for (const [k, what] of [
    [pageScreen?.rtpClock, "the sharer's screen"],
    [call?.rtpClock, "the sharer's camera"],
  ]) {
    if (k && k.n >= 60 && Math.abs(k.ratio - 1) > MAX_RTP_CLOCK_ERROR) {
      problems.push(`${what} at the page: RTP clock runs at ${k.ratio.toFixed(3)}× the capture clock (${k.driftMs} ms over ${k.n} frames; playout delay grows)`);
    }
  }
  console.log(`[huddle sharer] ids: sharer ${sharerId}, viewer ${viewerId}, late ${lateId}, page ${page.id}; page call with sharer: ${call?.connectionState}, ${receivedFrom(reports.viewer, SHARER, 'video').length} video stream(s) at the viewer`);
  await assertNoProblems(h, problems, 'Huddle sharer → Chromium + 2 Huddle viewers');
});
