// The path between two Huddles (endpoint-independent NATs, STUN from the server) is cut for
// 5 s mid-call by dropping everything on one site's router. ICE notices (consent checks
// unanswered: "disconnected" after 3 s), the offerer restarts ICE 2 s later, and once the
// path is back media flows again in the same room, without leaving. The test prints how
// long after the unblock each side was connected again.
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { huddleExitProblems, huddleId, receivedFrom, describeReceived } from '../engine/helpers.mjs';

const CALL_SECONDS = 22;
const BLOCK_MS = 5000;
/** Frames with media back: a call that never resumed gets at most ~6 s worth (< 180 at 30 fps). */
const MIN_FRAMES = 240;

test('a path blocked for 5 s mid-call resumes through an ICE restart', { skip: labSkipReason() ?? false, timeout: 120000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', serverIce: 'stun' });
  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: CALL_SECONDS + 2 });
  await huddleId(a);
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: CALL_SECONDS });
  await b.waitForLine(/connected to /, 20000);
  await sleep(4000);
  const router = lab.site('a').router;
  await router.block();
  await sleep(BLOCK_MS);
  // The drop counters go with the block: read them first.
  const blocked = await router.counters();
  await router.unblock();
  const unblockedAt = Date.now();
  const [exitA, exitB] = await Promise.all([a.waitExit(60000), b.waitExit(60000)]);
  const ra = a.report();
  const rb = b.report();
  const problems = [
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
  ];
  for (const [who, hp, report, other] of [['alice', a, ra, 'bob@example.com'], ['bob', b, rb, 'alice@example.com']]) {
    const video = receivedFrom(report, other, 'video')[0];
    if (!video || video.frames_decoded < MIN_FRAMES) problems.push(`${who} decoded ${video?.frames_decoded ?? 0} frames from ${other} (media did not resume?)`);
    const again = hp.lines.find((l) => l.at >= unblockedAt - BLOCK_MS && /connected to /.test(l.text) && l !== hp.lineAt(/connected to /));
    if (!again) problems.push(`${who} never said it was connected again`);
    else console.log(`${who}: connected again ${((again.at - unblockedAt) / 1000).toFixed(1)} s after the unblock`);
    const conns = connectionsWith(report, other);
    if (conns.length !== 1) problems.push(`${who} has ${conns.length} connections with ${other} (expected the same one throughout)`);
    console.log(`${who}'s connection: ${JSON.stringify(conns)}; ${describeReceived(video)}`);
  }
  // The newcomer (bob) made the call, so it restarts ICE.
  const restarts = connectionsWith(rb, 'alice@example.com')[0]?.ice_restarts ?? 0;
  if (restarts < 1) problems.push(`bob's connection was never ICE-restarted`);
  const dropped = blocked.up.blockDropped.packets + blocked.down.blockDropped.packets;
  if (dropped < 50) problems.push(`router a dropped only ${dropped} packets while blocked`);
  console.log(`router a dropped ${dropped} packets while blocked`);
  await assertLabOk(lab, problems, 'path blocked mid-call');
});
