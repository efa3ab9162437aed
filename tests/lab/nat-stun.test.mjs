// Two Huddles, each behind its own endpoint-independent NAT (nftables masquerade); the server
// hands out only a STUN server (no ICE flag on the CLIs): they find each other's public
// (server-reflexive) addresses and connect directly, router to router; video (barcodes) and
// audio flow both ways, nothing is relayed, and the reports say srflx.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { huddleReceivedProblems, huddleExitProblems, huddleId, receivedFrom, describeReceived } from '../engine/helpers.mjs';

const CALL_SECONDS = 10;
/** Enough to prove a steady picture on a busy 2-core machine (30 fps × ~8 s would be 240). */
const MIN_BARCODES = 90;

test('Huddle ↔ Huddle behind endpoint-independent NATs connect through STUN, directly', { skip: labSkipReason() ?? false, timeout: 90000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim', serverIce: 'stun' });
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

  // Each report's call went over a server-reflexive pair (STUN found the NATs' addresses).
  for (const [who, report, other] of [['alice', ra, 'bob@example.com'], ['bob', rb, 'alice@example.com']]) {
    const [c] = connectionsWith(report, other);
    if (!c) problems.push(`${who}'s report lists no connection with ${other}`);
    else {
      if (c.purpose !== 'call') problems.push(`${who}: connection purpose ${c.purpose}`);
      if (c.local_candidate_type !== 'srflx' && c.remote_candidate_type !== 'srflx') problems.push(`${who}: the selected pair is not server-reflexive: ${JSON.stringify(c)}`);
      if ([c.local_candidate_type, c.remote_candidate_type].includes('relay')) problems.push(`${who}: relayed: ${JSON.stringify(c)}`);
      if (!(c.connect_ms > 0)) problems.push(`${who}: no connect_ms: ${JSON.stringify(c)}`);
      console.log(`${who}'s connection: ${JSON.stringify(c)}`);
    }
  }

  // The media went router to router: each site sent it out through its NAT straight to the
  // other (the backbone forwarded it between them), the relay saw none.
  const direct = await lab.net.directCounter();
  if (direct.bytes < 600_000) problems.push(`only ${direct.bytes} bytes went directly from site to site`);
  const relay = await lab.turn.relayCounters();
  if (relay.in.bytes + relay.out.bytes > 0) problems.push(`the relay carried ${relay.in.bytes + relay.out.bytes} bytes (expected none: STUN only)`);
  console.log(`site to site directly: ${direct.bytes} B`);
  for (const name of ['a', 'b']) {
    const c = await lab.site(name).router.counters();
    if (c.up.offered.bytes < 300_000) problems.push(`site ${name} sent only ${c.up.offered.bytes} bytes through its NAT`);
    console.log(`site ${name}: sent ${c.up.offered.bytes} B, received ${c.down.offered.bytes} B, unsolicited inbound dropped ${c.unsolicited.packets} packets`);
  }
  console.log(`alice ← bob: ${describeReceived(receivedFrom(ra, 'bob@example.com', 'video')[0])}`);
  console.log(`bob ← alice: ${describeReceived(receivedFrom(rb, 'alice@example.com', 'video')[0])}`);
  await assertLabOk(lab, problems, 'Huddle ↔ Huddle through STUN');
});
