// HTTP introspection: /healthz, /metrics, /api/rooms, admin token.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  joined,
  joinAll,
  uniqRoom,
  assertError,
  assertOkOnly,
  httpRequest,
  getMetrics,
  metricSum,
  eventually,
  waitDisconnect,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

test('GET /healthz -> 200 ok', async () => {
  const r = await httpRequest(`${srv.url}/healthz`);
  assert.equal(r.status, 200);
  assert.equal(r.body.trim(), 'ok');
});

test('unknown HTTP path -> 404, server stays up', async () => {
  const r = await httpRequest(`${srv.url}/no/such/path`);
  assert.equal(r.status, 404);
  assert.equal((await httpRequest(`${srv.url}/healthz`)).status, 200);
});

describe('/metrics', () => {
  const NAMES = [
    'huddle_connections',
    'huddle_rooms',
    'huddle_joins_total',
    'huddle_relays_total',
    'huddle_chat_messages_total',
    'huddle_errors_total',
    'process_resident_memory_bytes',
  ];

  test('Prometheus text with every metric', async () => {
    const m = await getMetrics(srv);
    assert.match(String(m.headers['content-type']), /text\/plain/);
    for (const name of NAMES) {
      assert.ok(m.raw.includes(name), `metrics text mentions ${name}`);
    }
    for (const name of NAMES.filter((n) => n !== 'huddle_errors_total')) {
      assert.notEqual(metricSum(m, name), undefined, `a sample of ${name}`);
    }
    assert.ok(metricSum(m, 'process_resident_memory_bytes') > 1024 * 1024, 'RSS > 1 MiB');
  });

  test('numbers change after connections, joins, relays, chat and errors', async (t) => {
    const own = await startServer();
    const m0 = await getMetrics(own);
    assert.equal(metricSum(m0, 'huddle_connections'), 0);
    assert.equal(metricSum(m0, 'huddle_rooms'), 0);
    assert.equal(metricSum(m0, 'huddle_joins_total'), 0);
    assert.equal(metricSum(m0, 'huddle_relays_total'), 0);
    assert.equal(metricSum(m0, 'huddle_chat_messages_total'), 0);
    assert.equal(metricSum(m0, 'huddle_errors_total') ?? 0, 0);

    const room = uniqRoom('metrics');
    const [a, b] = await joinAll(own.url, room, 2, { t });
    const lone = await connect(own.url, { t });
    await eventually(async () => metricSum(await getMetrics(own), 'huddle_connections') === 3);
    const m1 = await getMetrics(own);
    assert.equal(metricSum(m1, 'huddle_rooms'), 1);
    assert.equal(metricSum(m1, 'huddle_joins_total'), 2);

    assertOkOnly(await request(a, 'user:call', { to: b.id, offer: { type: 'offer', sdp: 'v=0' } }));
    assertOkOnly(await request(b, 'call:accepted', { to: a.id, ans: { type: 'answer', sdp: 'v=0' } }));
    assertOkOnly(await request(a, 'ice:candidate', { to: b.id, candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } }));
    assert.equal((await request(a, 'chat:send', { text: 'counted' })).ok, true);
    assertError(await request(lone, 'room:leave', {}), 'not_joined');
    assertError(await request(lone, 'chat:send', { text: 'x' }), 'not_joined');
    assertError(await request(a, 'chat:send', { text: '' }), 'bad_request');
    await nextEvent(b, 'chat:message');

    const m2 = await getMetrics(own);
    assert.equal(metricSum(m2, 'huddle_relays_total'), 3, 'three relays counted');
    assert.equal(metricSum(m2, 'huddle_chat_messages_total'), 1);
    assert.equal(metricSum(m2, 'huddle_errors_total'), 3, 'three errors counted');
    assert.equal(metricSum(m2, 'huddle_errors_total', { code: 'not_joined' }), 2, 'errors by code: not_joined');
    assert.equal(metricSum(m2, 'huddle_errors_total', { code: 'bad_request' }), 1, 'errors by code: bad_request');

    // a second room, then everyone leaves
    const c = await joined(own.url, uniqRoom('metrics2'), { t });
    await eventually(async () => metricSum(await getMetrics(own), 'huddle_rooms') === 2);
    assert.equal(metricSum(await getMetrics(own), 'huddle_joins_total'), 3);
    for (const s of [a, b, c, lone]) {
      const d = waitDisconnect(s);
      s.disconnect();
      await d;
    }
    await eventually(async () => {
      const m = await getMetrics(own);
      return metricSum(m, 'huddle_connections') === 0 && metricSum(m, 'huddle_rooms') === 0;
    });
  });
});

describe('/api/rooms', () => {
  test('since 1.1 it needs the admin token: without --admin-token it does not exist (404)', async (t) => {
    const own = await startServer();
    const room = uniqRoom('api0');
    await joinAll(own.url, room, 1, { t });
    for (const headers of [{}, { authorization: 'Bearer anything' }]) {
      const r = await httpRequest(`${own.url}/api/rooms`, { headers });
      assert.equal(r.status, 404);
      assert.ok(!r.body.includes(room), 'no room name leaks');
    }
    // /metrics stays open without a token
    assert.equal((await httpRequest(`${own.url}/metrics`)).status, 200);
  });

  test('with --admin-token: JSON [{room, count, sharerId}]', async (t) => {
    const own = await startServer({ adminToken: 'tok' });
    const auth = { headers: { authorization: 'Bearer tok' } };
    const r0 = await httpRequest(`${own.url}/api/rooms`, auth);
    assert.equal(r0.status, 200);
    assert.match(String(r0.headers['content-type']), /application\/json/);
    assert.deepEqual(JSON.parse(r0.body), []);
    const r1 = uniqRoom('api1');
    const r2 = uniqRoom('api2');
    const [a] = await joinAll(own.url, r1, 2, { t });
    await joinAll(own.url, r2, 1, { t });
    assertOkOnly(await request(a, 'startSharing', {}));
    const rooms = JSON.parse((await httpRequest(`${own.url}/api/rooms`, auth)).body);
    rooms.sort((x, y) => x.room.localeCompare(y.room));
    assert.deepEqual(
      rooms,
      [
        { room: r1, count: 2, sharerId: a.id },
        { room: r2, count: 1, sharerId: null },
      ].sort((x, y) => x.room.localeCompare(y.room)),
    );
  });

  test('with --admin-token: 401 without or with a wrong bearer token, 200 with it (/api/rooms and /metrics)', async (t) => {
    const own = await startServer({ adminToken: 'secret' });
    for (const url of [`${own.url}/api/rooms`, `${own.url}/metrics`]) {
      assert.equal((await httpRequest(url)).status, 401, `${url}: no Authorization header`);
      assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer secre' } })).status, 401);
      assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer secret' } })).status, 200);
    }
    const url = `${own.url}/api/rooms`;
    assert.equal((await httpRequest(url)).status, 401, 'no Authorization header');
    assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer wrong' } })).status, 401, 'wrong token');
    assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer secre' } })).status, 401, 'prefix of token');
    assert.equal((await httpRequest(url, { headers: { authorization: 'Bearer secrets' } })).status, 401, 'token + extra');
    assert.equal((await httpRequest(url, { headers: { authorization: 'secret' } })).status, 401, 'no Bearer scheme');
    assert.equal((await httpRequest(url, { headers: { authorization: 'Basic c2VjcmV0' } })).status, 401, 'Basic');
    const ok = await httpRequest(url, { headers: { authorization: 'Bearer secret' } });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), []);
    const room = uniqRoom('admin');
    await joinAll(own.url, room, 1, { t });
    const ok2 = await httpRequest(url, { headers: { authorization: 'Bearer secret' } });
    assert.deepEqual(JSON.parse(ok2.body), [{ room, count: 1, sharerId: null }]);
    // healthz stays public
    assert.equal((await httpRequest(`${own.url}/healthz`)).status, 200);
  });
});
