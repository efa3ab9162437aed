// Harness self-check: two Chromium participant pages call each other through huddle-server,
// with no Huddle involved. When this fails, the engine interop tests cannot be trusted; when
// it passes and they fail, the fault is on Huddle's side (or in the interop between the two).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, pollUntil, remoteByEmail, summarizeRemote, latencySummary, TEST_TIMEOUT_MS, sleep } from './helpers.mjs';

test('page ↔ page: two Chromium participants exchange barcode video and tone audio', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  const browser = await h.browser();
  const a = await h.page(browser, { email: 'page-a@example.com', tone: 660 });
  const b = await h.page(browser, { email: 'page-b@example.com', tone: 880 });
  assert.deepEqual(
    b.joined.participants.map((p) => p.id),
    [a.id],
    'the second page sees the first in its join ack',
  );
  try {
    const enough = (s, email) => {
      const r = remoteByEmail(s, email);
      return r && r.barcodes >= 60 && r.audioLoudSamples >= 5;
    };
    await pollUntil(() => a.stats(), (s) => enough(s, b.email), { timeoutMs: 30000, what: 'page A receiving page B' });
    await pollUntil(() => b.stats(), (s) => enough(s, a.email), { timeoutMs: 30000, what: 'page B receiving page A' });
  } catch (e) {
    e.message += `\n${await h.dump()}`;
    throw e;
  }
  const ra = remoteByEmail(await a.stats(), b.email);
  const rb = remoteByEmail(await b.stats(), a.email);
  console.log(`page A ← page B: ${JSON.stringify(summarizeRemote(ra))}`);
  console.log(`page B ← page A: ${JSON.stringify(summarizeRemote(rb))}`);
  for (const [r, tone, who] of [
    [ra, 880, 'A ← B'],
    [rb, 660, 'B ← A'],
  ]) {
    assert.equal(r.connectionState, 'connected', who);
    assert.ok(r.audioRmsMax > 0.02, `${who}: audio RMS ${r.audioRmsMax}`);
    assert.ok(Math.abs(r.audioFreq - tone) <= 30, `${who}: tone ${r.audioFreq} Hz, expected ${tone}`);
    assert.ok(latencySummary(r.latencies).p50 < 1000, `${who}: latency ${JSON.stringify(latencySummary(r.latencies))}`);
    assert.ok(r.localCandidatesSent > 0, `${who}: no loopback candidate sent`);
    assert.ok(
      r.remoteCandidateAddrs.every((x) => x === '127.0.0.1'),
      `${who}: only loopback candidates travel: ${r.remoteCandidateAddrs}`,
    );
  }

  // Leaving: B leaves (call:end, room:leave); A sees call:ended / user:left and closes the peer.
  await b.leave();
  const closed = await pollUntil(
    () => a.stats(),
    (s) => remoteByEmail(s, b.email)?.closedAt,
    { timeoutMs: 10000, what: 'page A closing the call with B' },
  );
  const rc = remoteByEmail(closed, b.email);
  assert.equal(rc.connectionState, 'closed');
  assert.ok(['call:ended', 'user:left'].includes(rc.closeReason), rc.closeReason);
  await sleep(100);
  const info = await a.info();
  assert.deepEqual(info.errors, [], 'page A errors');
});
