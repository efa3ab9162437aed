// TLS signaling off loopback: huddle-server serves HTTPS/WSS (--tls-cert/--tls-key) with a
// certificate from a test CA for its lab address. Two Huddles behind NATs trust that CA
// (--ca-cert), join over WSS and call each other (STUN from the server); a Huddle trusting
// another CA is refused with a clear error and exits at once.
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLab, assertLabOk, labSkipReason, connectionsWith } from './lab.mjs';
import { SERVER_IP } from './netlab.mjs';
import { makeCa } from '../lib/testca.mjs';
import { huddleExitProblems, huddleReceivedProblems, huddleId } from '../engine/helpers.mjs';

const CALL_SECONDS = 6;
const MIN_BARCODES = 40;

test('the CLI joins over WSS with a test CA, and refuses a server its CA did not sign', { skip: labSkipReason() ?? false, timeout: 90000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-lab-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = { good: makeCa(dir, 'good', { ips: [SERVER_IP] }), other: makeCa(dir, 'other', { ips: [SERVER_IP] }) };
  const lab = await startLab(t, {
    nat: 'eim',
    serverIce: 'stun',
    serverArgs: () => ['--tls-cert', certs.good.cert, '--tls-key', certs.good.key],
  });
  const problems = [];
  if (!lab.server.url.startsWith('https://')) problems.push(`the server is not on https: ${lab.server.url}`);

  const a = lab.huddle('a', { email: 'alice@example.com', ice: 'none', duration: CALL_SECONDS + 2, extraArgs: ['--ca-cert', certs.good.ca] });
  await huddleId(a);
  const b = lab.huddle('b', { email: 'bob@example.com', ice: 'none', duration: CALL_SECONDS, extraArgs: ['--ca-cert', certs.good.ca] });
  const wrong = lab.huddle('b', { email: 'mallory@example.com', ice: 'none', duration: CALL_SECONDS, extraArgs: ['--ca-cert', certs.other.ca] });
  const [exitA, exitB, exitWrong] = await Promise.all([a.waitExit(40000), b.waitExit(40000), wrong.waitExit(20000)]);
  const ra = a.report();
  const rb = b.report();
  problems.push(
    ...huddleExitProblems(exitA, ra, { who: 'alice', peersConnected: 1 }),
    ...huddleExitProblems(exitB, rb, { who: 'bob', peersConnected: 1 }),
    ...huddleReceivedProblems(ra, 'bob@example.com', { who: 'alice ← bob', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 100 }),
    ...huddleReceivedProblems(rb, 'alice@example.com', { who: 'bob ← alice', minFrames: MIN_BARCODES, minBarcodes: MIN_BARCODES, minAudioPackets: 100 }),
  );
  if (connectionsWith(ra, 'bob@example.com').length !== 1) problems.push('alice has no connection with bob in her report');

  // The wrong CA: refused before joining, with the reason, and a failing exit.
  if (exitWrong.code === 0) problems.push('the Huddle trusting another CA exited 0');
  const said = wrong.stderr();
  if (!/cannot join/.test(said) || !/certificate|verify/i.test(said)) problems.push(`no clear TLS error from the Huddle trusting another CA:\n${said.slice(-1500)}`);
  if (wrong.lineAt(/joined room/)) problems.push('the Huddle trusting another CA joined');
  console.log(`wrong CA: ${said.trim().split('\n').filter((l) => /huddle:/.test(l)).join(' | ')}`);
  await assertLabOk(lab, problems, 'TLS signaling');
});
