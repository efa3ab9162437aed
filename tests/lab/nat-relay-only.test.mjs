// `huddle join --relay-only` on an open network (endpoint-independent NATs, where a direct
// pair would work): the call goes over a relay pair all the same, through the TURN server
// the signaling server hands out; barcodes both ways.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { huddleReceivedProblems, huddleExitProblems, huddleId, describeReceived, receivedFrom } from '../engine/helpers.mjs';

const CALL_SECONDS = 8;
const MIN_BARCODES = 60;

test('--relay-only relays the call where a direct pair would work', { skip: labSkipReason() ?? false, timeout: 90000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', serverIce: 'turn' });
  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: CALL_SECONDS + 2, extraArgs: ['--relay-only'] });
  await huddleId(a);
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: CALL_SECONDS, extraArgs: ['--relay-only'] });
  const [exitA, exitB] = await Promise.all([a.waitExit(40000), b.waitExit(40000)]);
  const ra = a.report();
  const rb = b.report();
  const problems = [
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
    ...huddleReceivedProblems(ra, 'bob@example.com', { who: 'alice ← bob', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 150 }),
    ...huddleReceivedProblems(rb, 'alice@example.com', { who: 'bob ← alice', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 150 }),
  ];
  // With relay-only on both sides, each side's own candidate is a relay.
  for (const [who, report, other] of [['alice', ra, 'bob@example.com'], ['bob', rb, 'alice@example.com']]) {
    const [c] = connectionsWith(report, other);
    if (!c) problems.push(`${who}'s report lists no connection with ${other}`);
    else {
      if (c.local_candidate_type !== 'relay') problems.push(`${who}: our candidate is not a relay: ${JSON.stringify(c)}`);
      console.log(`${who}'s connection: ${JSON.stringify(c)}`);
    }
  }
  const relay = await lab.turn.relayCounters();
  if (relay.in.bytes < 200_000 || relay.out.bytes < 200_000) problems.push(`the relay carried too little: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);
  const direct = await lab.net.directCounter();
  if (direct.bytes > 20_000) problems.push(`${direct.bytes} bytes went directly from site to site despite --relay-only`);
  console.log(`relay: in ${relay.in.bytes} B, out ${relay.out.bytes} B; directly: ${direct.bytes} B`);
  console.log(`alice ← bob: ${describeReceived(receivedFrom(ra, 'bob@example.com', 'video')[0])}`);
  await assertLabOk(lab, problems, '--relay-only');
});
