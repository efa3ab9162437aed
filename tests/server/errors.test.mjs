// Error reporting: the `error` event for requests sent without an ack callback, unknown events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  requestArgs,
  nextEvent,
  noEvent,
  joinAll,
  uniqRoom,
  assertError,
  assertOkOnly,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

function assertErrorEvent(ev, code, event) {
  assert.ok(ev && typeof ev === 'object', `error event payload: ${JSON.stringify(ev)}`);
  assert.equal(ev.code, code, JSON.stringify(ev));
  assert.equal(ev.event, event, JSON.stringify(ev));
  assert.equal(typeof ev.message, 'string', JSON.stringify(ev));
  assert.deepEqual(Object.keys(ev).sort(), ['code', 'event', 'message'], JSON.stringify(ev));
}

test('room:leave without ack when not joined -> error event {code: not_joined, message, event}', async (t) => {
  const s = await connect(srv.url, { t });
  s.emit('room:leave', {});
  assertErrorEvent(await nextEvent(s, 'error'), 'not_joined', 'room:leave');
});

test('failures without an ack callback: each request type reports an error event', async (t) => {
  const s = await connect(srv.url, { t });
  const cases = [
    ['room:join', { email: 'nope', room: 'x' }, 'invalid_email'],
    ['room:join', { email: 'a@example.com', room: 'a b' }, 'invalid_room'],
    ['room:join', 'not-an-object', 'bad_request'],
    ['startSharing', {}, 'not_joined'],
    ['stopSharing', {}, null], // not_joined or not_sharer
    ['chat:send', { text: 'hi' }, 'not_joined'],
    ['user:call', { to: 'someone', offer: { type: 'offer', sdp: 'v=0' } }, 'not_in_room'],
    ['ice:candidate', { to: 'someone', candidate: { candidate: '', sdpMid: '0', sdpMLineIndex: 0 } }, 'not_in_room'],
  ];
  for (const [event, payload, code] of cases) {
    s.emit(event, payload);
    const ev = await nextEvent(s, 'error');
    if (code === null) {
      assert.ok(['not_joined', 'not_sharer'].includes(ev.code), JSON.stringify(ev));
      assert.equal(ev.event, event);
    } else {
      assertErrorEvent(ev, code, event);
    }
  }
});

test('a failure with an ack callback does not ALSO produce an error event', async (t) => {
  const s = await connect(srv.url, { t });
  assertError(await request(s, 'room:leave', {}), 'not_joined');
  await noEvent(s, 'error');
});

test('a successful request without ack has its side effects and no error event', async (t) => {
  const [a, b] = await joinAll(srv.url, uniqRoom('noack'), 2, { t });
  a.emit('chat:send', { text: 'fire and forget' });
  assert.equal((await nextEvent(b, 'chat:message')).text, 'fire and forget');
  a.emit('media:state', { audio: false, video: true });
  assert.deepEqual(await nextEvent(b, 'media:state'), { id: a.id, audio: false, video: true });
  a.emit('startSharing', {});
  assert.equal(await nextEvent(b, 'sharerStarted'), a.id);
  a.emit('stopSharing', {});
  assert.equal(await nextEvent(b, 'sharerStopped'), a.id);
  a.emit('room:leave', {});
  assert.equal((await nextEvent(b, 'user:left')).id, a.id);
  await noEvent(a, 'error');
});

test('a bad_request without ack -> error event and no state change', async (t) => {
  const [a, b] = await joinAll(srv.url, uniqRoom('badnoack'), 2, { t });
  a.emit('media:state', { audio: 'yes', video: true });
  assertErrorEvent(await nextEvent(a, 'error'), 'bad_request', 'media:state');
  a.emit('chat:send', { text: '' });
  assertErrorEvent(await nextEvent(a, 'error'), 'bad_request', 'chat:send');
  await noEvent(b, null);
});

test('unknown event without ack -> error event unknown_event; with ack -> error ack unknown_event', async (t) => {
  const s = await connect(srv.url, { t });
  s.emit('no:such:event', { x: 1 });
  assertErrorEvent(await nextEvent(s, 'error'), 'unknown_event', 'no:such:event');
  const ack = await request(s, 'another:unknown', { y: 2 });
  assertError(ack, 'unknown_event');
  // the connection keeps working
  const [a, b] = await joinAll(srv.url, uniqRoom('unk'), 2, { t });
  a.emit('totally-made-up');
  assert.equal((await nextEvent(a, 'error')).code, 'unknown_event');
  assertOkOnly(await request(a, 'call:end', { to: b.id }));
  assert.deepEqual(await nextEvent(b, 'call:ended'), { from: a.id });
});

test('unknown events with odd names and no payload do not disturb the connection', async (t) => {
  const s = await connect(srv.url, { t });
  for (const name of ['', ' ', 'room:join ', 'ROOM:JOIN', 'constructor', '__proto__', 'x'.repeat(1000)]) {
    const ack = await requestArgs(s, name, []);
    assertError(ack, 'unknown_event', `event name ${JSON.stringify(name).slice(0, 40)}`);
  }
  const [a] = await joinAll(srv.url, uniqRoom('odd'), 1, { t });
  assert.equal((await request(a, 'chat:send', { text: 'still fine' })).ok, true);
});
