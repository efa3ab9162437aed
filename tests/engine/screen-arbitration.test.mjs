// Screen-sharing arbitration seen from the clients, with mixed clients: a Chromium page and a
// Huddle (`--share test --share-at X`) ask to share at the same instant. Exactly one wins; the
// other is refused with the conflict naming the winner (page: sharing_conflict ack with
// sharerId and the sharingConflict event; Huddle: "cannot share: <id> is already sharing",
// and it stays in the call). After the winner stops, the other can share:
//  - Huddle won: it stops (--share-for), then the page's startSharing succeeds;
//  - the page won: it stops, then a second Huddle with a later --share-at succeeds (the CLI
//    does not retry).
// A second Huddle shares last in both cases, so every branch ends with a Huddle share
// after a stop.
// The race at the same instant is decided by the server (either may win); a second run has
// the page ask 250 ms after Huddle so that the Huddle-wins branch (and the page's retry) is
// exercised every time too (on a slow machine the page may still win it: the test says which).
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
const H1 = 'huddle-1@example.com';
const H2 = 'huddle-2@example.com';
/** The race: this long after huddle 1's join (s). */
const RACE_AT = 4;
/** The winner shares this long (s) before stopping. */
const HOLD = 5;
/** Huddle 2 shares this long after huddle 1's join (s): after both branches are done. */
const H2_SHARE_AT = 17;
const H2_SHARE_FOR = 5;

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

for (const [title, pageOffsetMs] of [
  ['at the same instant', 0],
  ['Huddle 250 ms first', 250],
]) {
  test(`Page and Huddle start sharing ${title}: exactly one wins, the other can share after it stops`, { timeout: 90000 }, async (t) => {
    await runRace(t, title, pageOffsetMs);
  });
}

async function runRace(t, title, pageOffsetMs) {
  const h = await startHarness(t);
  const browser = await h.browser();
  const problems = [];

  const page = await h.page(browser, { email: PAGE, mode: 'audio' });
  // Huddle 2 first (its --share-at counts from its own join, so it must be known before
  // huddle 1 sets the clock), then huddle 1, the contender.
  const h2Spawn = Date.now();
  const hud2 = h.huddle({ email: H2, duration: 90, camera: 'none', share: 'test', shareAt: H2_SHARE_AT + 1.5, shareFor: H2_SHARE_FOR });
  const h2Id = await huddleId(hud2);
  const h2JoinedAt = hud2.lineAt(/joined room/).at;
  const hud1 = h.huddle({ email: H1, duration: 90, camera: 'none', share: 'test', shareAt: RACE_AT, shareFor: HOLD });
  const h1Id = await huddleId(hud1);
  const t0 = hud1.lineAt(/joined room/).at;
  // Huddle 2's share is due at h2JoinedAt + H2_SHARE_AT + 1.5 s; keep it after both branches.
  const h2ShareDue = h2JoinedAt + (H2_SHARE_AT + 1.5) * 1000;
  if (h2ShareDue - t0 < H2_SHARE_AT * 1000 - 500)
    problems.push(`setup: huddle 2's share is due only ${h2ShareDue - t0} ms after huddle 1's join (spawned ${t0 - h2Spawn} ms apart)`);

  // The race: the page's startSharing is sent at the instant huddle 1's --share-at fires.
  const raceAt = t0 + RACE_AT * 1000;
  const pageTry = await page.startSharing(raceAt + pageOffsetMs);
  let hudLine = null;
  try {
    hudLine = (await hud1.waitForLine(/^(sharing .+|cannot share: .+)$/m, 15000))[1];
  } catch (e) {
    problems.push(`huddle 1: ${e.message}`);
  }
  const hudLineAt = hud1.lineAt(/^(sharing |cannot share: )/)?.at ?? null;
  const hudWon = /^sharing /.test(hudLine || '');
  const pageWon = pageTry.ok;
  const winner = pageWon ? 'page' : hudWon ? 'huddle 1' : 'nobody';
  console.log(
    `[arbitration ${title}] race at +${RACE_AT} s: page sent startSharing ${pageTry.requestedAt - raceAt} ms after the instant (ack in ${pageTry.ackAt - pageTry.requestedAt} ms, ok ${pageTry.ok}); ` +
      `huddle 1 printed "${hudLine}" ${hudLineAt ? hudLineAt - raceAt : '?'} ms after it; winner: ${winner}`,
  );

  if (pageWon === hudWon) problems.push(`exactly one must win: page ok ${pageWon}, huddle 1 "${hudLine}"`);

  if (pageWon && !hudWon) {
    // Huddle 1 is refused naming the page, and stays in the call; it views the page's screen.
    if (!new RegExp(`cannot share: ${esc(page.id)} is already sharing`).test(hudLine || ''))
      problems.push(`huddle 1's refusal does not name the page (${page.id}): "${hudLine}"`);
    try {
      await hud1.waitForLine(new RegExp(`screen share started by ${esc(page.id)}`), 10000);
      await hud1.waitForLine(/receiving screen from /, 15000);
    } catch (e) {
      problems.push(`huddle 1 viewing the page's screen: ${e.message}`);
    }
    // The page stops after HOLD s; everyone is told.
    await sleep(Math.max(0, pageTry.ackAt + HOLD * 1000 - Date.now()));
    const stopAck = await page.stopSharing();
    if (stopAck?.ok !== true) problems.push(`the page's stopSharing ack ${JSON.stringify(stopAck)}`);
    for (const [hp, who] of [
      [hud1, 'huddle 1'],
      [hud2, 'huddle 2'],
    ]) {
      try {
        await hp.waitForLine(new RegExp(`screen share stopped by ${esc(page.id)}`), 10000);
      } catch (e) {
        problems.push(`${who}: ${e.message}`);
      }
    }
    if (!hud1.alive) problems.push('huddle 1 left after its refusal');
  } else if (hudWon && !pageWon) {
    // The page is refused naming huddle 1: the ack and the sharingConflict event.
    const err = pageTry.ack?.error;
    if (err?.code !== 'sharing_conflict' || err?.sharerId !== h1Id)
      problems.push(`the page's refusal: ${JSON.stringify(pageTry.ack)} (expected sharing_conflict naming ${h1Id})`);
    try {
      await pollUntil(
        () => page.shareInfo(),
        (s) => s.conflicts.length > 0,
        { timeoutMs: 5000, what: 'the sharingConflict event at the page' },
      );
    } catch (e) {
      problems.push(e.message);
    }
    const conflicts = (await page.shareInfo()).conflicts;
    if (conflicts.length !== 1 || conflicts[0].sharerId !== h1Id) problems.push(`the page's sharingConflict events: ${JSON.stringify(conflicts)} (expected one naming ${h1Id})`);
    // The page views huddle 1's screen, until huddle 1 stops (--share-for).
    let viewed = null;
    try {
      viewed = await pollUntil(
        () => page.stats(),
        (s) => screenByEmail(s, H1)?.connectionState === 'closed',
        { timeoutMs: (HOLD + 15) * 1000, what: "huddle 1's share (viewed by the page) to stop" },
      );
    } catch (e) {
      problems.push(e.message);
    }
    const s1 = screenByEmail(viewed || (await page.stats()), H1);
    console.log(`[arbitration ${title}] page ← huddle 1 (winner): ${describeScreen(s1)}`);
    if (!s1 || s1.barcodes < 30) problems.push(`the page read ${s1?.barcodes} barcodes of huddle 1's screen (< 30)`);
    if (s1 && s1.stoppedBy !== 'sharerStopped') problems.push(`huddle 1's share ended at the page by ${s1.stoppedBy}`);
    // Now the page can share.
    const again = await page.startSharing();
    if (!again.ok) problems.push(`the page's startSharing after huddle 1 stopped: ${JSON.stringify(again.ack)}`);
    for (const [hp, who] of [
      [hud1, 'huddle 1'],
      [hud2, 'huddle 2'],
    ]) {
      try {
        await hp.waitForLine(new RegExp(`screen share started by ${esc(page.id)}`), 10000);
      } catch (e) {
        problems.push(`${who}: ${e.message}`);
      }
    }
    await sleep(3000);
    const stopAck = await page.stopSharing();
    if (stopAck?.ok !== true) problems.push(`the page's stopSharing ack ${JSON.stringify(stopAck)}`);
  }

  // Huddle 2 shares last (its --share-at), after whoever stopped: it must win, and the page
  // views it.
  let h2Line = null;
  try {
    h2Line = (await hud2.waitForLine(/^(sharing .+|cannot share: .+)$/m, Math.max(5000, h2ShareDue - Date.now() + 15000)))[1];
  } catch (e) {
    problems.push(`huddle 2: ${e.message}`);
  }
  if (!/^sharing /.test(h2Line || '')) problems.push(`huddle 2 could not share after the others stopped: "${h2Line}"`);
  let s2 = null;
  try {
    const st = await pollUntil(
      () => page.stats(),
      (s) => (screenByEmail(s, H2)?.barcodes ?? 0) >= 30,
      { timeoutMs: 25000, what: "the page reading 30 barcodes of huddle 2's screen" },
    );
    s2 = screenByEmail(st, H2);
  } catch (e) {
    problems.push(e.message);
  }
  try {
    await hud1.waitForLine(new RegExp(`screen share started by ${esc(h2Id)}`), 10000);
    await hud2.waitForLine(/^stopped sharing$/m, (H2_SHARE_FOR + 15) * 1000);
    await hud1.waitForLine(new RegExp(`screen share stopped by ${esc(h2Id)}`), 10000);
  } catch (e) {
    problems.push(e.message);
  }
  await sleep(1000);

  const exits = {};
  for (const [hp, who] of [
    [hud2, 'huddle 2'],
    [hud1, 'huddle 1'],
  ]) {
    await hp.stop(10000);
    exits[who] = await hp.exited;
  }
  const r1 = hud1.report();
  const r2 = hud2.report();
  problems.push(...huddleExitProblems(exits['huddle 1'], r1, { who: 'huddle 1', peersConnected: 2 }));
  problems.push(...huddleExitProblems(exits['huddle 2'], r2, { who: 'huddle 2', peersConnected: 2 }));
  const info = await page.info();
  if (info.errors.length) problems.push(`page errors: ${JSON.stringify(info.errors)}`);

  // Who viewed whose screen (every share but one's own).
  const h1Screens = (r1?.received || []).filter((r) => r.kind === 'screen');
  const h2Screens = (r2?.received || []).filter((r) => r.kind === 'screen');
  if (receivedFrom(r1, H2, 'screen').length !== 1) problems.push(`huddle 1's report has ${receivedFrom(r1, H2, 'screen').length} screens from huddle 2 (expected 1)`);
  if (receivedFrom(r2, H1, 'screen').length !== (hudWon ? 1 : 0)) problems.push(`huddle 2's report has ${receivedFrom(r2, H1, 'screen').length} screens from huddle 1`);
  console.log(`[arbitration ${title}] page ← huddle 2 (last): ${describeScreen(s2)}`);
  for (const r of h1Screens) console.log(`[arbitration ${title}] huddle 1 ← ${describeReceived(r)}`);
  for (const r of h2Screens) console.log(`[arbitration ${title}] huddle 2 ← ${describeReceived(r)}`);
  console.log(`[arbitration ${title}] ids: page ${page.id}, huddle 1 ${h1Id}, huddle 2 ${h2Id}; huddle 1 said: ${hud1.lines.filter((l) => /shar/.test(l.text)).map((l) => `"${l.text}"`).join(', ')}`);
  await assertNoProblems(h, problems, `Sharing arbitration ${title} (winner: ${winner})`);
}
