// Two Huddles, each behind its own symmetric NAT (masquerade fully-random: a new public port
// for every destination, so the port STUN reports is useless to the peer). No direct pair can
// work; with the STUN and TURN servers the signaling server hands out (REST credentials, no
// ICE flag on the CLIs), the call goes through the relay: video (barcodes) and audio both
// ways, the relay's counters carry the media, and the reports say relay.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { huddleReceivedProblems, huddleExitProblems, huddleId, receivedFrom, describeReceived } from '../engine/helpers.mjs';

const CALL_SECONDS = 10;
const MIN_BARCODES = 90;

test('Huddle ↔ Huddle behind symmetric NATs connect through TURN', { skip: labSkipReason() ?? false, timeout: 90000 }, async (t) => {
  const lab = await startLab(t, { nat: 'symmetric', serverIce: 'turn' });
  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: CALL_SECONDS + 2 });
  await huddleId(a);
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: CALL_SECONDS });
  const [exitA, exitB] = await Promise.all([a.waitExit(40000), b.waitExit(40000)]);
  const ra = a.report();
  const rb = b.report();

  const problems = [
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
    ...huddleReceivedProblems(ra, 'bob@example.com', { who: 'alice ← bob', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 200 }),
    ...huddleReceivedProblems(rb, 'alice@example.com', { who: 'bob ← alice', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 200 }),
  ];

  for (const [who, report, other] of [['alice', ra, 'bob@example.com'], ['bob', rb, 'alice@example.com']]) {
    const [c] = connectionsWith(report, other);
    if (!c) problems.push(`${who}'s report lists no connection with ${other}`);
    else {
      if (c.local_candidate_type !== 'relay' && c.remote_candidate_type !== 'relay') problems.push(`${who}: the selected pair is not relayed: ${JSON.stringify(c)}`);
      console.log(`${who}'s connection: ${JSON.stringify(c)}`);
    }
  }

  // Everything went through the server host: the relay carried the media, no media went
  // from site to site directly.
  const relay = await lab.turn.relayCounters();
  const direct = await lab.net.directCounter();
  // Both directions crossed the relay ports (one side may reach the other's relay directly).
  if (relay.in.bytes < 250_000 || relay.out.bytes < 250_000) problems.push(`the relay carried too little: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);
  if (direct.bytes > 20_000) problems.push(`${direct.bytes} bytes of media went directly from site to site through symmetric NATs`);
  console.log(`relay: in ${relay.in.bytes} B, out ${relay.out.bytes} B; site to site directly: ${direct.bytes} B`);
  console.log(`alice ← bob: ${describeReceived(receivedFrom(ra, 'bob@example.com', 'video')[0])}`);
  console.log(`bob ← alice: ${describeReceived(receivedFrom(rb, 'alice@example.com', 'video')[0])}`);
  await assertLabOk(lab, problems, 'Huddle ↔ Huddle through TURN');
});
