// Transports (websocket, polling, upgrade) and CORS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  joined,
  uniqRoom,
  assertOkOnly,
  httpRequest,
  sleep,
} from './helpers.mjs';
import WebSocket from 'ws';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

test('connect over websocket only', async (t) => {
  const s = await connect(srv.url, { t, transports: ['websocket'] });
  assert.equal(s.connected, true);
  assert.equal(typeof s.id, 'string');
  assert.ok(s.id.length > 0);
  assert.equal(s.io.engine.transport.name, 'websocket');
});

test('connect over polling only, and a full join/relay/chat round trip over polling', async (t) => {
  const room = uniqRoom('poll');
  const a = await joined(srv.url, room, { t, transports: ['polling'] });
  assert.equal(a.io.engine.transport.name, 'polling');
  const b = await joined(srv.url, room, { t, transports: ['polling'] });
  assert.equal((await nextEvent(a, 'user:joined')).id, b.id);
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  assertOkOnly(await request(b, 'user:call', { to: a.id, offer }));
  assert.deepEqual(await nextEvent(a, 'incoming:call'), { from: b.id, offer });
  const msg = await request(a, 'chat:send', { text: 'over polling' });
  assert.equal(msg.ok, true);
  assert.deepEqual(await nextEvent(b, 'chat:message'), msg.message);
  // stays connected across a few seconds of polling
  await sleep(1500);
  assert.equal(a.connected, true);
  assertOkOnly(await request(a, 'call:end', { to: b.id }));
  assert.deepEqual(await nextEvent(b, 'call:ended'), { from: a.id });
});

test('a websocket client and a polling client in one room talk to each other', async (t) => {
  const room = uniqRoom('mixed');
  const ws = await joined(srv.url, room, { t, transports: ['websocket'] });
  const poll = await joined(srv.url, room, { t, transports: ['polling'] });
  const cand = { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  assertOkOnly(await request(ws, 'ice:candidate', { to: poll.id, candidate: cand }));
  assert.deepEqual(await nextEvent(poll, 'ice:candidate'), { from: ws.id, candidate: cand });
  assertOkOnly(await request(poll, 'ice:candidate', { to: ws.id, candidate: cand }));
  assert.deepEqual(await nextEvent(ws, 'ice:candidate'), { from: poll.id, candidate: cand });
});

test('default transports (polling then upgrade to websocket) work', async (t) => {
  const s = await connect(srv.url, { t, transports: ['polling', 'websocket'] });
  await new Promise((resolve) => {
    if (s.io.engine.transport.name === 'websocket') return resolve();
    s.io.engine.once('upgrade', resolve);
    setTimeout(resolve, 5000);
  });
  assert.equal(s.io.engine.transport.name, 'websocket', 'upgraded to websocket');
  const room = uniqRoom('upg');
  const ack = await request(s, 'room:join', { email: 'up@example.com', room });
  assert.equal(ack.ok, true);
});

// Since 1.1 (issue 14) a web page must not join a server that does not name its origin:
// no origin is allowed by default; clients without an Origin header (native, Node) are
// not affected.
const ORIGIN = 'http://app.example';
const OTHER = 'http://evil.example';

function wsStatus(server, origin) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${server.host}:${server.port}/socket.io/?EIO=4&transport=websocket`, {
      headers: origin ? { Origin: origin } : {},
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.on('error', () => {});
  });
}

test('CORS by default: a polling handshake or WebSocket upgrade with an Origin is refused (403); without one it works', async (t) => {
  const polled = await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: OTHER } });
  assert.equal(polled.status, 403);
  assert.match(polled.body, /origin http:\/\/evil\.example is not allowed/);
  assert.equal(polled.headers['access-control-allow-origin'], undefined);
  const upgraded = await wsStatus(srv, OTHER);
  assert.equal(upgraded.status, 403);
  assert.match(upgraded.body, /not allowed/);
  // the official client sent from a page of another origin: connect_error
  await assert.rejects(connect(srv.url, { transports: ['websocket'], extraHeaders: { Origin: OTHER } }), /connect_error/);
  // no Origin header (a native client, Node): fine
  assert.equal((await wsStatus(srv, null)).status, 101);
  const plain = await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(plain.status, 200);
  assert.match(plain.body, /^0\{.*"sid"/, 'engine.io open packet');
  // a preflight from a page gets no CORS grant
  const pre = await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling`, {
    method: 'OPTIONS',
    headers: { Origin: OTHER, 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
});

test('--allow-origin (repeatable): listed origins connect over polling and WebSocket with a CORS grant; others do not', async (t) => {
  const own = await startServer({ args: ['--allow-origin', ORIGIN, '--allow-origin', 'http://second.example'] });
  for (const origin of [ORIGIN, 'http://second.example']) {
    const r = await httpRequest(`${own.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.equal((await wsStatus(own, origin)).status, 101);
  }
  const pre = await httpRequest(`${own.url}/socket.io/?EIO=4&transport=polling`, {
    method: 'OPTIONS',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.ok(pre.status >= 200 && pre.status < 300, `preflight status ${pre.status}`);
  assert.equal(pre.headers['access-control-allow-origin'], ORIGIN);
  // the official client from an allowed page joins over both transports
  for (const transports of [['websocket'], ['polling']]) {
    const s = await connect(own.url, { t, transports, extraHeaders: { Origin: ORIGIN } });
    const ack = await request(s, 'room:join', { email: 'page@example.com', room: uniqRoom('origin') });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  }
  assert.equal((await wsStatus(own, OTHER)).status, 403);
  const refused = await httpRequest(`${own.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: OTHER } });
  assert.equal(refused.status, 403);
});

test('many clients can connect and join at once', async (t) => {
  const room = uniqRoom('many');
  const socks = await Promise.all(
    Array.from({ length: 30 }, () => connect(srv.url, { t, transports: ['websocket'] })),
  );
  const acks = await Promise.all(socks.map((s, i) => request(s, 'room:join', { email: `m${i}@example.com`, room }, 15000)));
  for (const a of acks) assert.equal(a.ok, true, JSON.stringify(a));
  const counts = acks.map((a) => a.participants.length).sort((x, y) => x - y);
  assert.deepEqual(counts, Array.from({ length: 30 }, (_, i) => i), 'each join saw a distinct number of others');
});

test('an event sent right after connecting is never lost (official client, 200 connections)', async () => {
  // socket.io-client sends buffered emits immediately after the namespace CONNECT packet;
  // the server must already be listening for events at that point.
  const N = 200;
  let lost = 0;
  const { io } = await import('socket.io-client');
  for (let i = 0; i < N; i++) {
    const s = io(srv.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
    const acked = await new Promise((resolve) => {
      s.timeout(3000).emit('room:leave', {}, (err, ack) => resolve(!err && ack && ack.ok === false));
    });
    if (!acked) lost += 1;
    s.disconnect();
  }
  assert.equal(lost, 0, `${lost} of ${N} requests emitted right after connect got no ack`);
});

test('an event sent right after the raw namespace CONNECT is never lost (200 raw connections)', async () => {
  const { rawSocket } = await import('./helpers.mjs');
  const N = 200;
  let lost = 0;
  for (let i = 0; i < N; i++) {
    const raw = await rawSocket(srv, { settleMs: 0 });
    await raw.send('421["room:leave",{}]');
    try {
      await raw.waitFor((m) => typeof m === 'string' && m.startsWith('431'), 3000);
    } catch {
      lost += 1;
    }
    raw.close();
  }
  assert.equal(lost, 0, `${lost} of ${N} requests sent right after "40" got no ack`);
});
