// A 3-party mesh: 2 Chromium pages + 1 Huddle. Every participant must receive every other's
// video (barcodes read) and audio.
//  - huddle joins last: it calls both pages;
//  - a page joins last: it calls the other page and huddle.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  summarizeRemote,
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

// Three senders and four decoders on a busy 2-core machine: lower bars than the 1:1 call.
const MIN_BARCODES = 50;
const MIN_AUDIO_PACKETS = 150;

const A = { email: 'page-a@example.com', tone: 660 };
const B = { email: 'page-b@example.com', tone: 880 };
const HUD = 'huddle@example.com';

async function runMesh(t, order) {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];
  let a;
  let b;
  let hud;
  if (order === 'huddle-last') {
    a = await h.page(browser, A);
    b = await h.page(browser, B);
    hud = h.huddle({ email: HUD, duration: 10 });
  } else {
    a = await h.page(browser, A);
    hud = h.huddle({ email: HUD, duration: 12 });
    await huddleId(hud);
    b = await h.page(browser, B);
    const others = b.joined.participants.map((p) => p.email).sort();
    if (others.join() !== [A.email, HUD].sort().join())
      problems.push(`page B's join ack lists ${JSON.stringify(others)}, expected page A and huddle`);
  }

  let exit = null;
  hud.exited.then((e) => {
    exit = e;
  });
  const enough = (s, email) => (remoteByEmail(s, email)?.barcodes ?? 0) >= MIN_BARCODES;
  try {
    await pollUntil(
      async () => ({ a: await a.stats(), b: await b.stats() }),
      (s) => exit !== null || (enough(s.a, HUD) && enough(s.b, HUD) && enough(s.a, B.email) && enough(s.b, A.email)),
      { timeoutMs: 40000, what: 'both pages reading barcodes from everyone' },
    );
  } catch (e) {
    problems.push(e.message);
  }
  exit = await hud.waitExit(30000);
  const report = hud.report();
  const sa = await a.stats();
  const sb = await b.stats();

  problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 2 }));
  problems.push(...pageReceivedProblems(sa, HUD, { who: 'page A ← huddle', minBarcodes: MIN_BARCODES, tone: HUDDLE_TONE_HZ }));
  problems.push(...pageReceivedProblems(sb, HUD, { who: 'page B ← huddle', minBarcodes: MIN_BARCODES, tone: HUDDLE_TONE_HZ }));
  problems.push(...pageReceivedProblems(sa, B.email, { who: 'page A ← page B', minBarcodes: MIN_BARCODES, tone: B.tone }));
  problems.push(...pageReceivedProblems(sb, A.email, { who: 'page B ← page A', minBarcodes: MIN_BARCODES, tone: A.tone }));
  for (const [p, who] of [
    [A, 'huddle ← page A'],
    [B, 'huddle ← page B'],
  ]) {
    problems.push(
      ...huddleReceivedProblems(report, p.email, {
        who,
        minFrames: MIN_BARCODES,
        minBarcodes: MIN_BARCODES,
        minAudioPackets: MIN_AUDIO_PACKETS,
      }),
    );
  }

  for (const [s, from, who] of [
    [sa, HUD, 'A ← huddle'],
    [sb, HUD, 'B ← huddle'],
    [sa, B.email, 'A ← B'],
    [sb, A.email, 'B ← A'],
  ]) {
    const r = remoteByEmail(s, from);
    console.log(`[mesh ${order}] page ${who}: ${JSON.stringify(r ? summarizeRemote(r) : null)}`);
  }
  for (const p of [A, B]) {
    console.log(
      `[mesh ${order}] huddle ← ${p.email}: ${describeReceived(receivedFrom(report, p.email, 'video')[0])}; ${describeReceived(receivedFrom(report, p.email, 'audio')[0])}`,
    );
  }
  if (report) console.log(`[mesh ${order}] huddle sent: ${JSON.stringify(report.sent)}`);
  await assertNoProblems(h, problems, `3-party mesh (${order})`);
}

test('3-party mesh: 2 Chromium pages + Huddle joining last (huddle calls both)', { timeout: TEST_TIMEOUT_MS }, (t) =>
  runMesh(t, 'huddle-last'),
);

test('3-party mesh: page A, Huddle, then page B joining last (page B calls both)', { timeout: TEST_TIMEOUT_MS }, (t) =>
  runMesh(t, 'page-last'),
);
