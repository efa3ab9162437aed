// TURN credentials that expire mid-call: the server hands out REST credentials valid for
// only 12 s. Before they expire each Huddle asks for fresh ones (`ice:servers`), gives them
// to its connections (webrtc-rs `set_configuration`) and restarts ICE, so the relay is
// used with the new credentials; the call goes on relayed, without leaving the room.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { huddleReceivedProblems, huddleExitProblems, huddleId, receivedFrom, describeReceived } from '../engine/helpers.mjs';

const TTL_S = 12;
const CALL_SECONDS = 20;
const MIN_BARCODES = 200;

test('TURN credentials are renewed before they expire, with an ICE restart, and the call goes on', { skip: labSkipReason() ?? false, timeout: 120000 }, async (t) => {
  const lab = await startLab(t, { nat: 'symmetric', serverIce: 'turn', turnTtl: TTL_S });
  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: CALL_SECONDS + 2 });
  await huddleId(a);
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: CALL_SECONDS });
  const [exitA, exitB] = await Promise.all([a.waitExit(60000), b.waitExit(60000)]);
  const ra = a.report();
  const rb = b.report();
  const problems = [
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
    ...huddleReceivedProblems(ra, 'bob@example.com', { who: 'alice ← bob', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 400 }),
    ...huddleReceivedProblems(rb, 'alice@example.com', { who: 'bob ← alice', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 400 }),
  ];
  for (const [who, hp, report, other] of [['alice', a, ra, 'bob@example.com'], ['bob', b, rb, 'alice@example.com']]) {
    if (!hp.stderr().includes('new ICE servers; restarting ICE')) problems.push(`${who} never restarted ICE with new servers`);
    const conns = connectionsWith(report, other);
    if (conns.length !== 1) problems.push(`${who} has ${conns.length} connections with ${other} (expected one throughout)`);
    const c = conns[0];
    if (c && !(c.ice_restarts >= 1)) problems.push(`${who}'s connection was never restarted: ${JSON.stringify(c)}`);
    console.log(`${who}'s connection: ${JSON.stringify(c)}; ${describeReceived(receivedFrom(report, other, 'video')[0])}`);
  }
  // Still through the relay after the restarts: one side's pair is a relay (the other may
  // see that relay address as peer-reflexive), and the relay carried the call.
  const types = [ra, rb].flatMap((r) => (r?.connections ?? []).flatMap((c) => [c.local_candidate_type, c.remote_candidate_type]));
  if (!types.includes('relay')) problems.push(`no relay in either selected pair after the restarts: ${JSON.stringify(types)}`);
  const relay = await lab.turn.relayCounters();
  if (relay.in.bytes < 500_000 || relay.out.bytes < 500_000) problems.push(`the relay carried too little: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);
  console.log(`relay: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);
  await assertLabOk(lab, problems, 'TURN credentials renewed');
});
