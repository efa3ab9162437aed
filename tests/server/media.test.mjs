// media:state
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  request,
  requestArgs,
  nextEvent,
  noEvent,
  joined,
  joinAll,
  uniqRoom,
  assertError,
  assertOkOnly,
  expectAllErrors,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

test('a fresh joiner is audio:true, video:true', async (t) => {
  const room = uniqRoom('fresh');
  const a = await joined(srv.url, room, { t, email: 'fresh@example.com', name: 'Fresh' });
  const b = await joined(srv.url, room, { t });
  assert.deepEqual(b.joinAck.participants, [
    { id: a.id, email: 'fresh@example.com', name: 'Fresh', audio: true, video: true },
  ]);
});

test('media:state: ack ok, others get {id, audio, video}, the sender does not', async (t) => {
  const [a, b, c] = await joinAll(srv.url, uniqRoom('media'), 3, { t });
  assertOkOnly(await request(a, 'media:state', { audio: false, video: true }));
  assert.deepEqual(await nextEvent(b, 'media:state'), { id: a.id, audio: false, video: true });
  assert.deepEqual(await nextEvent(c, 'media:state'), { id: a.id, audio: false, video: true });
  await noEvent(a, 'media:state');
});

test('extra fields in media:state are not forwarded', async (t) => {
  const [a, b] = await joinAll(srv.url, uniqRoom('mediaextra'), 2, { t });
  assertOkOnly(await request(a, 'media:state', { audio: true, video: false, evil: 1, id: 'spoof' }));
  assert.deepEqual(await nextEvent(b, 'media:state'), { id: a.id, audio: true, video: false });
});

test("a later joiner's ack carries the latest state", async (t) => {
  const room = uniqRoom('latest');
  const [a, b] = await joinAll(srv.url, room, 2, { t });
  assertOkOnly(await request(a, 'media:state', { audio: false, video: false }));
  assertOkOnly(await request(a, 'media:state', { audio: true, video: false }));
  assertOkOnly(await request(b, 'media:state', { audio: false, video: true }));
  await nextEvent(a, 'media:state');
  const c = await joined(srv.url, room, { t });
  const byId = Object.fromEntries(c.joinAck.participants.map((p) => [p.id, p]));
  assert.equal(byId[a.id].audio, true);
  assert.equal(byId[a.id].video, false);
  assert.equal(byId[b.id].audio, false);
  assert.equal(byId[b.id].video, true);
});

test('media state is reset when a connection joins another room? no: it follows the connection', async (t) => {
  // The protocol does not say the state resets; it says participants carry the latest state.
  const r1 = uniqRoom('m1');
  const r2 = uniqRoom('m2');
  const [a] = await joinAll(srv.url, r1, 1, { t });
  assertOkOnly(await request(a, 'media:state', { audio: false, video: false }));
  const ack = await request(a, 'room:join', { email: a.email, room: r2 });
  assert.equal(ack.ok, true);
  const c = await joined(srv.url, r2, { t });
  const p = c.joinAck.participants.find((x) => x.id === a.id);
  assert.ok(p, 'a is listed');
  assert.equal(typeof p.audio, 'boolean');
  assert.equal(typeof p.video, 'boolean');
});

test('media:state with wrong types -> bad_request, nothing forwarded, state unchanged', async (t) => {
  const room = uniqRoom('mediabad');
  const [a, b] = await joinAll(srv.url, room, 2, { t });
  await expectAllErrors(
    'bad_request',
    [
      ['audio is a string', [{ audio: 'yes', video: true }]],
      ['video is a number', [{ audio: true, video: 1 }]],
      ['video missing', [{ audio: false }]],
      ['audio missing', [{ video: false }]],
      ['audio null', [{ audio: null, video: false }]],
      ['payload is a string', ['audio']],
      ['payload is an array', [[true, true]]],
      ['no payload', []],
    ].map(([label, args]) => [label, () => requestArgs(a, 'media:state', args)]),
  );
  await noEvent(b, 'media:state');
  const c = await joined(srv.url, room, { t });
  const p = c.joinAck.participants.find((x) => x.id === a.id);
  assert.equal(p.audio, true);
  assert.equal(p.video, true);
});
