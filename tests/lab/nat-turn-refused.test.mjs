// A signaling server configured with the wrong TURN secret hands out credentials coturn
// refuses. Behind symmetric NATs nothing else can connect: each Huddle says so within
// seconds — no relay candidate, naming the TURN server — and leaves with an error instead of
// hanging; with --relay-only the connection is given up as soon as gathering ends.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason } from './lab.mjs';
import { huddleId } from '../engine/helpers.mjs';

const CONNECT_TIMEOUT_S = 6;

test('a wrong TURN secret: a clear error within seconds, no hang', { skip: labSkipReason() ?? false, timeout: 90000 }, async (t) => {
  const lab = await startLab(t, { nat: 'symmetric', serverIce: 'turn', turnSecret: 'not-the-secret-coturn-has' });
  const args = ['--connect-timeout', String(CONNECT_TIMEOUT_S)];
  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: 60, extraArgs: args });
  await huddleId(a);
  const startedAt = Date.now();
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: 60, extraArgs: [...args, '--relay-only'] });
  const [exitA, exitB] = await Promise.all([a.waitExit(40000), b.waitExit(40000)]);
  const tookS = (Date.now() - startedAt) / 1000;
  const problems = [];
  for (const [who, hp, exit] of [['alice', a, exitA], ['bob (relay-only)', b, exitB]]) {
    const report = hp.report();
    if (exit.code === 0) problems.push(`${who} exited 0 although no call could come up`);
    const errors = report?.errors ?? [];
    const relayError = errors.find((e) => e.includes('no relay candidate') && e.includes('turn:'));
    if (!relayError) problems.push(`${who}'s report has no "no relay candidate" error naming the TURN server: ${JSON.stringify(errors)}`);
    if (!hp.stderr().includes('no relay candidate')) problems.push(`${who}'s log does not say "no relay candidate"`);
    if (report?.peers_connected !== 0) problems.push(`${who} connected to ${report?.peers_connected} peers`);
    console.log(`${who}: exit ${JSON.stringify(exit)}, errors ${JSON.stringify(errors)}`);
  }
  // The connect timeout bounds it: a few seconds after meeting, not ICE's own give-up.
  if (tookS > CONNECT_TIMEOUT_S + 10) problems.push(`took ${tookS.toFixed(1)} s to give up`);
  console.log(`both gave up ${tookS.toFixed(1)} s after bob started`);
  await assertLabOk(lab, problems, 'wrong TURN secret');
});
