// --rate-limit N (events per second per connection, 0 = off)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  request,
  nextEvent,
  joinAll,
  uniqRoom,
  assertOkOnly,
  sleep,
  clearEvents,
} from './helpers.mjs';

after(cleanup);

/** Emit n media:state requests without awaiting; resolve with every ack (null = none came). */
function blast(socket, n, timeoutMs = 10000) {
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((resolve) => {
          socket
            .timeout(timeoutMs)
            .emit('media:state', { audio: i % 2 === 0, video: true }, (err, ack) => resolve(err ? null : ack));
        }),
    ),
  );
}

test('--rate-limit 20: a blast of 200 gets some rate_limited, the connection survives and recovers', async (t) => {
  const srv = await startServer({ rateLimit: 20 });
  const [a, b, c] = await joinAll(srv.url, uniqRoom('rl'), 3, { t });
  const acks = await blast(a, 200);
  const missing = acks.filter((x) => x === null).length;
  const ok = acks.filter((x) => x && x.ok === true).length;
  const limited = acks.filter((x) => x && x.ok === false && x.error && x.error.code === 'rate_limited');
  const other = acks.filter(
    (x) => x !== null && !(x.ok === true) && !(x.error && x.error.code === 'rate_limited'),
  );
  assert.deepEqual(other, [], 'every ack is ok or rate_limited');
  assert.ok(limited.length > 0, `some acks are rate_limited (ok ${ok}, limited ${limited.length})`);
  assert.ok(ok > 0, 'some requests pass');
  for (const l of limited) assert.equal(typeof l.error.message, 'string');
  assert.equal(a.connected, true, 'connection survives');

  // other connections are unaffected, right now
  assertOkOnly(await request(b, 'media:state', { audio: false, video: false }));
  assert.deepEqual(await nextEvent(c, 'media:state', 5000, (d) => d.id === b.id), { id: b.id, audio: false, video: false });
  assert.equal((await request(c, 'chat:send', { text: 'not limited' })).ok, true);

  // after a second and a half of quiet, a's requests succeed again
  await sleep(1500);
  assertOkOnly(await request(a, 'media:state', { audio: true, video: true }));
  assertOkOnly(await request(a, 'call:end', { to: b.id }));
  assert.equal(a.connected, true);
  clearEvents(a, b, c);
  // a steady 10/s stays under the limit
  for (let i = 0; i < 10; i++) {
    assertOkOnly(await request(a, 'media:state', { audio: true, video: i % 2 === 0 }), `steady request ${i}`);
    await sleep(100);
  }
  // checked last so that the checks above run anyway: every request of the blast got an ack
  assert.equal(missing, 0, `${missing} of 200 requests got no ack at all (ok ${ok}, rate_limited ${limited.length})`);
});

test('--rate-limit 20: relays and chat are limited too, without ack -> error event rate_limited', async (t) => {
  const srv = await startServer({ rateLimit: 20 });
  const [a, b] = await joinAll(srv.url, uniqRoom('rl2'), 2, { t });
  for (let i = 0; i < 100; i++) a.emit('call:end', { to: b.id });
  const err = await nextEvent(a, 'error', 10000);
  assert.equal(err.code, 'rate_limited');
  assert.equal(err.event, 'call:end');
  await sleep(1500);
  assert.equal(a.connected, true);
  assert.equal((await request(a, 'chat:send', { text: 'back' })).ok, true);
});

test('--rate-limit 0 turns limiting off: 200 quick requests all pass', async (t) => {
  const srv = await startServer({ rateLimit: 0 });
  const [a] = await joinAll(srv.url, uniqRoom('rl0'), 2, { t });
  const acks = await blast(a, 200);
  const missing = acks.filter((x) => x === null).length;
  const notOk = acks.filter((x) => x !== null && x.ok !== true);
  assert.deepEqual(notOk, [], 'no request refused');
  assert.equal(missing, 0, `${missing} of 200 requests got no ack`);
});
