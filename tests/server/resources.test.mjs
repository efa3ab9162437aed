// Hostile use of resources (issue 14): connection caps per server and per address, the
// client address behind a local proxy, and a client that never reads what it is sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  joinAll,
  uniqRoom,
  uniqEmail,
  assertOkOnly,
  assertHealthy,
  rawSocket,
  httpRequest,
  getMetrics,
  metricSum,
  eventually,
  rssOf,
  sleep,
} from './helpers.mjs';

after(cleanup);

const handshake = (server, headers = {}) =>
  httpRequest(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers });

test('65 connections from one address (--no-loopback-exemption): the 65th is refused with a reason, the 64 others are fine', async (t) => {
  const srv = await startServer({ args: ['--no-loopback-exemption'] });
  const socks = await Promise.all(Array.from({ length: 64 }, () => connect(srv.url, { t, settleMs: 0 })));
  assert.ok(socks.every((s) => s.connected));
  // the 65th, over WebSocket (the official client) and over polling (raw HTTP)
  await assert.rejects(connect(srv.url, { t, settleMs: 0 }), /connect_error/);
  const refused = await handshake(srv);
  assert.equal(refused.status, 429);
  assert.match(refused.body, /too many connections from your address \(limit 64\)/);
  // nobody else is affected
  const room = uniqRoom('cap');
  for (const s of socks.slice(0, 3)) {
    assert.equal((await request(s, 'room:join', { email: uniqEmail(), room })).ok, true);
  }
  assertOkOnly(await request(socks[0], 'call:end', { to: socks[1].id }));
  assert.deepEqual(await nextEvent(socks[1], 'call:ended'), { from: socks[0].id });
  await assertHealthy(srv);
  const m = await getMetrics(srv);
  assert.ok(metricSum(m, 'huddle_connections_refused_total', { reason: 'max_connections_per_ip' }) >= 2);
  assert.equal(metricSum(m, 'huddle_connections'), 64);
  // a place frees up when one leaves
  socks[63].disconnect();
  const back = await eventually(() => connect(srv.url, { t, settleMs: 0 }).catch(() => null), 5000, 100);
  assert.equal(back.connected, true);
});

test('over polling too: a polling session holds its place until it ends', async (t) => {
  const srv = await startServer({ args: ['--no-loopback-exemption', '--max-connections-per-ip', '2'] });
  const polling = { t, settleMs: 0, transports: ['polling'] };
  const [a] = await Promise.all([connect(srv.url, polling), connect(srv.url, polling)]);
  await assert.rejects(connect(srv.url, polling), /connect_error/);
  a.disconnect();
  const back = await eventually(() => connect(srv.url, polling).catch(() => null), 5000, 100);
  assert.equal(back.io.engine.transport.name, 'polling');
});

test('loopback is exempt from the per-address cap by default (a local reverse proxy is one address)', async (t) => {
  const srv = await startServer({ args: ['--max-connections-per-ip', '3'] });
  const socks = await Promise.all(Array.from({ length: 6 }, () => connect(srv.url, { t, settleMs: 0 })));
  assert.ok(socks.every((s) => s.connected));
});

test('--max-connections 5: the 6th is refused (503) with a reason; the others are fine', async (t) => {
  const srv = await startServer({ args: ['--max-connections', '5'] });
  const socks = await Promise.all(Array.from({ length: 5 }, () => connect(srv.url, { t, settleMs: 0 })));
  const refused = await handshake(srv);
  assert.equal(refused.status, 503);
  assert.match(refused.body, /connection limit \(5\)/);
  await assert.rejects(connect(srv.url, { t, settleMs: 0 }), /connect_error/);
  const room = uniqRoom('full');
  for (const s of socks.slice(0, 2)) assert.equal((await request(s, 'room:join', { email: uniqEmail(), room })).ok, true);
  assertOkOnly(await request(socks[0], 'call:end', { to: socks[1].id }));
  // /healthz and /metrics are plain HTTP, not connections: still served
  await assertHealthy(srv);
});

test('--trust-forwarded-for: behind a local proxy each forwarded address has its own cap; the last entry counts', async (t) => {
  const srv = await startServer({ args: ['--trust-forwarded-for', '--max-connections-per-ip', '2'] });
  const via = (chain) => ({ 'X-Forwarded-For': chain });
  // the client cannot choose its address: a proxy appends the one it saw, the last entry
  for (const spoof of ['10.0.0.1, 198.51.100.7', '10.0.0.2, 198.51.100.7']) {
    assert.equal((await handshake(srv, via(spoof))).status, 200, spoof);
  }
  const third = await handshake(srv, via('10.0.0.3, 198.51.100.7'));
  assert.equal(third.status, 429, 'a third from 198.51.100.7');
  assert.equal((await handshake(srv, via('198.51.100.8'))).status, 200, 'another client behind the proxy');
  // the official client through the "proxy"
  const s = await connect(srv.url, { t, settleMs: 0, extraHeaders: via('203.0.113.9') });
  assert.equal((await request(s, 'room:join', { email: uniqEmail(), room: uniqRoom('fwd') })).ok, true);
  // without the flag the header is ignored (and loopback is exempt)
  const plain = await startServer({ args: ['--max-connections-per-ip', '1', '--no-loopback-exemption'] });
  assert.equal((await handshake(plain, via('198.51.100.7'))).status, 200);
  assert.equal((await handshake(plain, via('198.51.100.8'))).status, 429, 'all of it is 127.0.0.1');
});

test('a client that never reads is disconnected once 4 MiB wait for it; server memory stays flat; others are unaffected', async (t) => {
  const srv = await startServer({ rateLimit: 0 });
  const room = uniqRoom('slow');
  const [attacker, bystander] = await joinAll(srv.url, room, 2, { t });
  // the victim: a raw WebSocket client that joins, then stops reading
  const victim = await rawSocket(srv);
  victim.send(`420${JSON.stringify(['room:join', { email: 'slow@example.com', room }])}`);
  await victim.waitFor((m) => typeof m === 'string' && m.startsWith('430'));
  await nextEvent(attacker, 'user:joined');
  await nextEvent(bystander, 'user:joined');
  victim.ws._socket.pause();
  await sleep(300);
  const before = rssOf(srv.proc.pid);

  // 60 KB offers to the victim: 1500 of them would be 90 MB
  const sdp = 'v=0\r\n' + 'a'.repeat(60 * 1024);
  let delivered = 0;
  let refused = 0;
  let peak = before;
  for (let batch = 0; batch < 30 && refused === 0; batch++) {
    const acks = await Promise.all(
      Array.from({ length: 50 }, () => request(attacker, 'user:call', { to: victim.sid, offer: { type: 'offer', sdp } }, 20000)),
    );
    for (const ack of acks) {
      if (ack.ok) delivered++;
      else if (ack.error.code === 'not_in_room') refused++;
      else assert.fail(`unexpected ack ${JSON.stringify(ack)}`);
    }
    peak = Math.max(peak, rssOf(srv.proc.pid));
  }
  assert.ok(refused > 0, `the victim was cut off (delivered ${delivered} offers, ${(delivered * 60) / 1024} MB)`);
  const gone = await nextEvent(bystander, 'user:left', 5000);
  assert.equal(gone.id, victim.sid);
  const grew = (peak - before) / (1024 * 1024);
  assert.ok(grew < 24, `server RSS grew by ${grew.toFixed(1)} MB while ${delivered} offers queued for a non-reader`);
  const m = await getMetrics(srv);
  assert.equal(metricSum(m, 'huddle_slow_clients_disconnected_total'), 1);
  // the others carry on
  const said = await request(bystander, 'chat:send', { text: 'still here' });
  assert.deepEqual(await nextEvent(attacker, 'chat:message'), said.message);
  assertOkOnly(await request(attacker, 'call:end', { to: bystander.id }));
  await assertHealthy(srv);
  t.diagnostic(`delivered ${delivered} offers before the cut; RSS ${(before / 1048576).toFixed(1)} -> peak ${(peak / 1048576).toFixed(1)} MB`);
  victim.close();
});
