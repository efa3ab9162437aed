// A Chromium page behind one symmetric NAT and a Huddle behind another, through coturn: both
// use the STUN and TURN servers the signaling server hands out in its join ack (REST
// credentials; no ICE setting on either) and connect over a relay pair; barcodes are read
// both ways and the tones are heard.
import { test } from 'node:test';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import {
  pollUntil,
  remoteByEmail,
  summarizeRemote,
  pageReceivedProblems,
  huddleReceivedProblems,
  huddleExitProblems,
  receivedFrom,
  describeReceived,
  HUDDLE_TONE_HZ,
} from '../engine/helpers.mjs';

const CALL_SECONDS = 10;
const MIN_BARCODES = 90;
const PAGE_TONE = 660;

test('Chromium ↔ Huddle behind symmetric NATs connect through TURN', { skip: labSkipReason() ?? false, timeout: 120000 }, async (t) => {
  const lab = await startLab(t, { nat: 'symmetric', serverIce: 'turn' });
  const browser = await lab.browser('a');
  const page = await lab.page(browser, { email: 'chromium@example.com', ice: 'server', tone: PAGE_TONE });
  const hud = lab.huddle('b', { email: 'huddle@example.com', ice: 'none', duration: CALL_SECONDS });
  const problems = [];

  let exit = null;
  hud.exited.then((e) => (exit = e));
  try {
    await pollUntil(
      () => page.stats(),
      (s) => exit !== null || (remoteByEmail(s, 'huddle@example.com')?.barcodes ?? 0) >= MIN_BARCODES * 2,
      { timeoutMs: 40000, what: `the page reading ${MIN_BARCODES * 2} barcodes from huddle` },
    );
  } catch (e) {
    problems.push(e.message);
  }
  exit = await hud.waitExit(30000);
  const report = hud.report();
  const stats = await page.stats();
  const fromHuddle = remoteByEmail(stats, 'huddle@example.com');

  problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 }));
  problems.push(...pageReceivedProblems(stats, 'huddle@example.com', { who: 'page ← huddle', minBarcodes: MIN_BARCODES, tone: HUDDLE_TONE_HZ }));
  problems.push(
    ...huddleReceivedProblems(report, 'chromium@example.com', { who: 'huddle ← page', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 200 }),
  );
  const pair = fromHuddle?.selectedPair;
  if (!pair || (pair.local !== 'relay' && pair.remote !== 'relay')) problems.push(`the page's selected pair is not relayed: ${JSON.stringify(pair)}`);
  const [conn] = connectionsWith(report, 'chromium@example.com');
  if (!conn || (conn.local_candidate_type !== 'relay' && conn.remote_candidate_type !== 'relay')) problems.push(`huddle's connection is not relayed: ${JSON.stringify(conn)}`);
  console.log(`huddle's connection: ${JSON.stringify(conn)}`);
  const relay = await lab.turn.relayCounters();
  // Both directions crossed the relay ports (one side may reach the other's relay directly).
  if (relay.in.bytes < 250_000 || relay.out.bytes < 250_000) problems.push(`the relay carried too little: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);

  console.log(`page ← huddle: ${JSON.stringify(fromHuddle ? summarizeRemote(fromHuddle) : null)}`);
  console.log(`page's selected pair: ${JSON.stringify(pair)}`);
  console.log(`huddle ← page: ${describeReceived(receivedFrom(report, 'chromium@example.com', 'video')[0])}`);
  console.log(`relay: in ${relay.in.bytes} B, out ${relay.out.bytes} B`);
  await assertLabOk(lab, problems, 'Chromium ↔ Huddle through TURN');
});
