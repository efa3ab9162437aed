// A hostile peer: a Chromium page whose every VP8 keyframe declares 16383x16383 (rewritten
// after its encoder by encoded insertable streams). Huddle refuses those frames before
// decoding (a log line and the report's frames_refused), and the call survives: Huddle still
// hears the page, the page still sees Huddle's video, and Huddle leaves cleanly.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  assertNoProblems,
  huddleId,
  TEST_TIMEOUT_MS,
} from './helpers.mjs';

const HUD = 'huddle@example.com';
const HOSTILE = 'hostile@example.com';

test('an oversized VP8 keyframe from a peer is refused before decoding, and the call survives', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  const problems = [];
  const hud = h.huddle({ email: HUD, duration: 12 });
  await huddleId(hud);
  const browser = await h.browser();
  const page = await h.page(browser, { email: HOSTILE, query: { hostile: 'oversize' } });
  try {
    await pollUntil(
      () => page.stats(),
      (s) => (remoteByEmail(s, HUD)?.barcodes ?? 0) >= 30,
      { timeoutMs: 30000, what: 'the hostile page receiving huddle video' },
    );
    await pollUntil(
      () => page.info(),
      (i) => i.oversizedKeyframes >= 1,
      { timeoutMs: 10000, what: 'the page sending an oversized keyframe' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  const exit = await hud.waitExit(30000);
  const report = hud.report();
  if (exit.code !== 0) problems.push(`huddle exit code ${exit.code} signal ${exit.signal}`);
  const video = report?.received.find((s) => s.kind === 'video' && s.remote_email === HOSTILE);
  const audio = report?.received.find((s) => s.kind === 'audio' && s.remote_email === HOSTILE);
  if (!video) problems.push('huddle never received the hostile video track');
  else {
    if (!(video.frames_refused > 0)) problems.push(`no frame refused: ${JSON.stringify(video)}`);
    if (video.frames_decoded !== 0) problems.push(`decoded ${video.frames_decoded} frames of a 16383x16383 stream`);
  }
  if (!audio || !(audio.packets > 100)) problems.push(`the call did not survive: audio from the page ${JSON.stringify(audio)}`);
  if (!/remote video refused before decoding/.test(hud.stderr())) problems.push('huddle did not log the refusal');
  const after = remoteByEmail(await page.stats(), HUD);
  if (!(after?.barcodes >= 30)) problems.push(`the page stopped seeing huddle: ${JSON.stringify(after)}`);
  t.diagnostic(`hostile video: ${video?.frames_refused} frames refused, ${video?.frames_decoded} decoded; audio packets ${audio?.packets}`);
  await assertNoProblems(h, problems, 'hostile keyframe');
});
