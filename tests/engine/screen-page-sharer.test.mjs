// A Chromium page shares its screen (a 1280×720 canvas with the BCv1 barcode) with two Huddle
// viewers: one in the room when the share starts (sharerStarted, then the page's share:offer)
// and one that joins while it is on (sharerAvailable; the page gets viewerJoined and offers).
// Both Huddle reports show a `screen` stream from the page's email with ≥ 60 barcodes read;
// Midway the page sends the first viewer a second share:offer on the open share connection
// (a renegotiation): Huddle answers it and the screen keeps flowing. When the page stops,
// both print "screen share stopped by <page id>" and the calls go on.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  describeReceived,
  huddleScreenProblems,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  sleep,
} from './helpers.mjs';

const PAGE = 'chromium-sharer@example.com';
const VIEWER = 'viewer@example.com';
const LATE = 'late-viewer@example.com';
const MIN_BARCODES = 60;
/** How long the late viewer watches before the page stops (s); ≥ 60 barcodes at ≥ 10 fps. */
const LATE_WATCH_S = 9;

test('Chromium shares its screen with two Huddle viewers (one late), then stops', { timeout: 90000 }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];

  // The page sends its camera and tone in the calls as usual; the Huddle viewers only audio.
  const page = await h.page(browser, { email: PAGE });
  const viewer = h.huddle({ email: VIEWER, duration: 90, camera: 'none' });
  const viewerId = await huddleId(viewer);
  try {
    await viewer.waitForLine(/^connected to /m, 20000);
  } catch (e) {
    problems.push(`viewer: ${e.message}`);
  }

  const started = await page.startSharing();
  if (!started.ok) problems.push(`the page's startSharing was refused: ${JSON.stringify(started.ack)}`);
  const pageRe = page.id.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  try {
    await viewer.waitForLine(new RegExp(`screen share started by ${pageRe}`), 10000);
    await viewer.waitForLine(/receiving screen from /, 20000);
  } catch (e) {
    problems.push(`viewer: ${e.message}`);
  }

  // The late viewer joins once the share is flowing.
  await sleep(2000);
  const late = h.huddle({ email: LATE, duration: 90, camera: 'none' });
  const lateId = await huddleId(late);
  const lateJoinedAt = late.lineAt(/joined room/)?.at ?? null;
  try {
    await late.waitForLine(new RegExp(`screen share started by ${pageRe}`), 10000);
    await late.waitForLine(/receiving screen from /, 20000);
  } catch (e) {
    problems.push(`late viewer: ${e.message}`);
  }
  let shareDuring = null;
  try {
    shareDuring = await pollUntil(
      () => page.shareInfo(),
      (s) => s.viewers.filter((v) => v.connectionState === 'connected').length === 2,
      { timeoutMs: 15000, what: "the page's share connections to both viewers connected" },
    );
  } catch (e) {
    problems.push(e.message);
    shareDuring = await page.shareInfo();
  }
  // Renegotiate the first viewer's share connection: a second share:offer, answered with
  // share:answer, the connection stays up and keeps carrying the screen.
  await sleep((LATE_WATCH_S * 1000) / 3);
  const before = (await page.shareInfo()).viewers.find((v) => v.id === viewerId && v.connectionState !== 'closed');
  let reneg = null;
  try {
    await page.renegotiateShare(viewerId);
    reneg = await pollUntil(
      async () => (await page.shareInfo()).viewers.find((v) => v.id === viewerId && v.connectionState !== 'closed'),
      (v) => v && v.answers >= 2 && v.signalingState === 'stable',
      { timeoutMs: 10000, what: "Huddle's share:answer to the renegotiation" },
    );
  } catch (e) {
    problems.push(`renegotiation: ${e.message}`);
  }
  await sleep((LATE_WATCH_S * 2000) / 3);
  const after = (await page.shareInfo()).viewers.find((v) => v.id === viewerId && v.connectionState !== 'closed');
  const sentAfterReneg = (after?.outbound?.framesSent ?? 0) - (reneg?.outbound?.framesSent ?? before?.outbound?.framesSent ?? 0);
  if (!after || after.connectionState !== 'connected') problems.push(`after the renegotiation the share connection to the viewer is ${after?.connectionState}`);
  if (sentAfterReneg < 60) problems.push(`the page sent the viewer only ${sentAfterReneg} screen frames after the renegotiation`);

  // Stop: both viewers are told, the page's share connections close.
  const stopAck = await page.stopSharing();
  if (stopAck?.ok !== true) problems.push(`the page's stopSharing ack ${JSON.stringify(stopAck)}`);
  const stopRe = new RegExp(`screen share stopped by ${pageRe}`);
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
  const shareAfter = await page.shareInfo();
  await sleep(1500);
  const exits = {};
  for (const [hp, who] of [
    [late, 'late viewer'],
    [viewer, 'viewer'],
  ]) {
    await hp.stop(10000);
    exits[who] = await hp.exited;
  }
  const reports = { viewer: viewer.report(), late: late.report() };
  const info = await page.info();

  // --- the page as sharer ---
  const joinedEvent = shareDuring.viewerJoined.find((v) => v.id === lateId);
  if (!joinedEvent) problems.push(`the page got no viewerJoined for the late viewer: ${JSON.stringify(shareDuring.viewerJoined)}`);
  else if (!joinedEvent.offered) problems.push('the page did not offer its screen on viewerJoined');
  if (shareAfter.open.length !== 0) problems.push(`share connections still open after stopSharing: ${shareAfter.open}`);
  for (const v of shareAfter.viewers) {
    if (v.connectionState !== 'closed') problems.push(`share connection to ${v.email}: ${v.connectionState} after stopSharing`);
    if (!v.connectedAt) problems.push(`share connection to ${v.email} never connected`);
  }
  if (info.errors.length) problems.push(`page errors: ${JSON.stringify(info.errors)}`);

  // The screen kept flowing to the renegotiated viewer: it decoded most of what was sent.
  const sentToViewer = after?.outbound?.framesSent ?? null;
  // --- the Huddle viewers ---
  const screens = {};
  for (const [key, who] of [
    ['viewer', 'viewer'],
    ['late', 'late viewer'],
  ]) {
    const r = huddleScreenProblems(reports[key], PAGE, { who, minBarcodes: MIN_BARCODES });
    problems.push(...r.problems);
    screens[key] = r.screen;
    problems.push(...huddleExitProblems(exits[who], reports[key], { who, peersConnected: 2 }));
  }
  if (screens.viewer && sentToViewer && screens.viewer.frames_decoded < 0.8 * sentToViewer)
    problems.push(`viewer decoded ${screens.viewer.frames_decoded} screen frames of ≥ ${sentToViewer} sent (the renegotiation stalled it?)`);
  if (screens.late && !(screens.late.time_to_first_frame_from_join_ms > 0))
    problems.push(`late viewer: time_to_first_frame_from_join_ms ${screens.late.time_to_first_frame_from_join_ms}`);

  // --- figures ---
  const outbound = shareDuring.viewers.map((v) => `${v.email}: ${JSON.stringify(v.outbound)}`).join('; ');
  console.log(`[page sharer] page → viewers, outbound while sharing: ${outbound}`);
  console.log(`[page sharer] viewer ← page: ${describeReceived(screens.viewer)}`);
  console.log(`[page sharer] late viewer ← page: ${describeReceived(screens.late)} (joined ${lateJoinedAt && started.ackAt ? lateJoinedAt - started.ackAt : '?'} ms into the share)`);
  console.log(
    `[page sharer] g2g p50/p95 ms: viewer ${screens.viewer?.latency_ms?.p50}/${screens.viewer?.latency_ms?.p95} (n ${screens.viewer?.latency_ms?.n}), ` +
      `late ${screens.late?.latency_ms?.p50}/${screens.late?.latency_ms?.p95} (n ${screens.late?.latency_ms?.n}); ` +
      `first frame: viewer ${screens.viewer?.time_to_first_frame_ms?.toFixed?.(0)} ms from sharerStarted; ` +
      `late viewer ${screens.late?.time_to_first_frame_ms?.toFixed?.(0)} ms from sharerAvailable, ${screens.late?.time_to_first_frame_from_join_ms?.toFixed?.(0)} ms from its join`,
  );
  console.log(`[page sharer] renegotiation: answers ${reneg?.answers}, ${sentAfterReneg} frames sent after it, viewer decoded ${screens.viewer?.frames_decoded} of ${sentToViewer}+ sent`);
  console.log(`[page sharer] ids: page ${page.id}, viewer ${viewerId}, late ${lateId}; page drew ${shareAfter.framesDrawn} screen frames`);
  await assertNoProblems(h, problems, 'Chromium sharer → 2 Huddle viewers');
});
