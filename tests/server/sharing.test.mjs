// Screen sharing: startSharing / stopSharing, conflicts, late joiners, atomic arbitration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  clearEvents,
  joined,
  joinAll,
  uniqRoom,
  assertError,
  assertOkOnly,
  httpRequest,
} from './helpers.mjs';

const ADMIN = 'sharing-admin-token';
const auth = { headers: { authorization: `Bearer ${ADMIN}` } };

let srv;
before(async () => {
  srv = await startServer({ adminToken: ADMIN });
});
after(cleanup);

test('startSharing: ack ok, every other member gets sharerStarted (bare id), not the sharer', async (t) => {
  const [a, b, c] = await joinAll(srv.url, uniqRoom('share'), 3, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  assert.equal(await nextEvent(b, 'sharerStarted'), a.id);
  assert.equal(await nextEvent(c, 'sharerStarted'), a.id);
  await noEvent(a, 'sharerStarted');
});

test('a second sharer gets sharingConflict (bare id) and a sharing_conflict ack with sharerId', async (t) => {
  const [a, b, c] = await joinAll(srv.url, uniqRoom('conflict'), 3, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  await nextEvent(b, 'sharerStarted');
  await nextEvent(c, 'sharerStarted');
  const ack = await request(b, 'startSharing', {});
  const err = assertError(ack, 'sharing_conflict');
  assert.equal(err.sharerId, a.id);
  assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'sharerId']);
  assert.equal(await nextEvent(b, 'sharingConflict'), a.id);
  // nothing else changes
  await noEvent(a, null);
  await noEvent(c, null);
  const late = await joined(srv.url, a.joinAck.room, { t });
  assert.equal(late.joinAck.sharerId, a.id);
});

test('the sharer calling startSharing again -> ok, still the sharer', async (t) => {
  const [a, b] = await joinAll(srv.url, uniqRoom('again'), 2, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  await nextEvent(b, 'sharerStarted');
  assertOkOnly(await request(a, 'startSharing', {}));
  assertError(await request(b, 'startSharing', {}), 'sharing_conflict');
  assert.equal(await nextEvent(b, 'sharingConflict'), a.id);
});

test('stopSharing by a non-sharer -> not_sharer and nothing happens', async (t) => {
  const [a, b, c] = await joinAll(srv.url, uniqRoom('notsharer'), 3, { t });
  // no sharer at all
  assertError(await request(b, 'stopSharing', {}), 'not_sharer');
  assertOkOnly(await request(a, 'startSharing', {}));
  await nextEvent(b, 'sharerStarted');
  await nextEvent(c, 'sharerStarted');
  assertError(await request(b, 'stopSharing', {}), 'not_sharer');
  await noEvent(a, 'sharerStopped');
  await noEvent(c, 'sharerStopped');
  // a is still the sharer
  const err = assertError(await request(c, 'startSharing', {}), 'sharing_conflict');
  assert.equal(err.sharerId, a.id);
});

test('stopSharing: others get sharerStopped (bare id); the room can be taken again', async (t) => {
  const [a, b, c] = await joinAll(srv.url, uniqRoom('stop'), 3, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  await nextEvent(b, 'sharerStarted');
  await nextEvent(c, 'sharerStarted');
  assertOkOnly(await request(a, 'stopSharing', {}));
  assert.equal(await nextEvent(b, 'sharerStopped'), a.id);
  assert.equal(await nextEvent(c, 'sharerStopped'), a.id);
  await noEvent(a, 'sharerStopped');
  // stopping again: not the sharer any more
  assertError(await request(a, 'stopSharing', {}), 'not_sharer');
  // someone else can share now
  assertOkOnly(await request(b, 'startSharing', {}));
  assert.equal(await nextEvent(a, 'sharerStarted'), b.id);
  assert.equal(await nextEvent(c, 'sharerStarted'), b.id);
});

test('late joiner while sharing: sharerAvailable to the joiner, viewerJoined to the sharer, sharerId in ack', async (t) => {
  const room = uniqRoom('late');
  const [a, b] = await joinAll(srv.url, room, 2, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  await nextEvent(b, 'sharerStarted');
  const s = await connect(srv.url, { t });
  const ack = await request(s, 'room:join', { email: 'late@example.com', room });
  assert.equal(ack.ok, true);
  assert.equal(ack.sharerId, a.id);
  assert.equal(await nextEvent(s, 'sharerAvailable'), a.id);
  assert.equal(await nextEvent(a, 'viewerJoined'), s.id);
  await noEvent(b, ['viewerJoined', 'sharerAvailable']);
  // the viewer / sharer pair can negotiate the screen share right away
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  assertOkOnly(await request(a, 'share:offer', { to: s.id, offer }));
  assert.deepEqual(await nextEvent(s, 'share:offer'), { from: a.id, offer });
  const ans = { type: 'answer', sdp: 'v=0\r\n' };
  assertOkOnly(await request(s, 'share:answer', { to: a.id, ans }));
  assert.deepEqual(await nextEvent(a, 'share:answer'), { from: s.id, ans });
});

test('no sharer: a joiner gets no sharerAvailable and sharerId null', async (t) => {
  const room = uniqRoom('nosharer');
  const [a] = await joinAll(srv.url, room, 1, { t });
  const s = await joined(srv.url, room, { t });
  assert.equal(s.joinAck.sharerId, null);
  await noEvent(s, 'sharerAvailable');
  await noEvent(a, 'viewerJoined');
});

test('startSharing / stopSharing when not joined -> not_joined', async (t) => {
  const s = await connect(srv.url, { t });
  assertError(await request(s, 'startSharing', {}), 'not_joined');
  const ack = await request(s, 'stopSharing', {});
  assert.equal(ack.ok, false);
  assert.ok(['not_joined', 'not_sharer'].includes(ack.error.code), JSON.stringify(ack));
});

test('a sharer alone in the room can share; /api/rooms shows the sharer', async (t) => {
  const room = uniqRoom('alone');
  const [a] = await joinAll(srv.url, room, 1, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  const r = await httpRequest(`${srv.url}/api/rooms`, auth);
  assert.equal(r.status, 200);
  const entry = JSON.parse(r.body).find((x) => x.room === room);
  assert.deepEqual(entry, { room, count: 1, sharerId: a.id });
});

test('sharing is per room: sharers in two rooms do not conflict', async (t) => {
  const [a, b] = await joinAll(srv.url, uniqRoom('p1'), 2, { t });
  const [c, d] = await joinAll(srv.url, uniqRoom('p2'), 2, { t });
  assertOkOnly(await request(a, 'startSharing', {}));
  assertOkOnly(await request(c, 'startSharing', {}));
  assert.equal(await nextEvent(b, 'sharerStarted'), a.id);
  assert.equal(await nextEvent(d, 'sharerStarted'), c.id);
  await noEvent(b, 'sharerStarted');
  await noEvent(d, 'sharerStarted');
});

test('arbitration: 20 simultaneous startSharing -> exactly one winner, 19 conflicts naming it (5 rounds)', async (t) => {
  const N = 20;
  const room = uniqRoom('race');
  const socks = await joinAll(srv.url, room, N, { t });
  for (let round = 0; round < 5; round++) {
    clearEvents(socks);
    // emit all without awaiting, then await all acks
    const pending = socks.map(
      (s) =>
        new Promise((resolve, reject) => {
          s.timeout(15000).emit('startSharing', {}, (err, ack) => (err ? reject(err) : resolve(ack)));
        }),
    );
    const acks = await Promise.all(pending);
    const winners = acks.map((a, i) => [a, socks[i]]).filter(([a]) => a.ok === true);
    assert.equal(winners.length, 1, `round ${round}: winners ${winners.length}; acks ${JSON.stringify(acks)}`);
    const winner = winners[0][1];
    for (let i = 0; i < N; i++) {
      if (socks[i] === winner) {
        assert.deepEqual(acks[i], { ok: true });
        continue;
      }
      const err = assertError(acks[i], 'sharing_conflict', `round ${round}`);
      assert.equal(err.sharerId, winner.id, `round ${round}: loser names ${err.sharerId}, winner is ${winner.id}`);
      assert.equal(await nextEvent(socks[i], 'sharingConflict', 10000), winner.id);
      assert.equal(await nextEvent(socks[i], 'sharerStarted', 10000), winner.id);
    }
    await noEvent(winner, ['sharerStarted', 'sharingConflict']);
    // state agrees: /api/rooms shows the winner
    const r = JSON.parse((await httpRequest(`${srv.url}/api/rooms`, auth)).body).find((x) => x.room === room);
    assert.equal(r.sharerId, winner.id);
    assert.equal(r.count, N);
    assertOkOnly(await request(winner, 'stopSharing', {}));
    for (const s of socks) if (s !== winner) assert.equal(await nextEvent(s, 'sharerStopped', 10000), winner.id);
  }
});

test('since 1.1 screen-share relays go only between the sharer and a viewer; anything else is not_sharer', async (t) => {
  const room = uniqRoom('shonly');
  const [s, v, w] = await joinAll(srv.url, room, 3, { t });
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  const ans = { type: 'answer', sdp: 'v=0\r\n' };
  const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  // nobody shares: no screen-share relay at all
  assertError(await request(v, 'share:offer', { to: w.id, offer }), 'not_sharer');
  assertError(await request(v, 'share:ice', { to: w.id, candidate }), 'not_sharer');
  assertOkOnly(await request(s, 'startSharing', {}));
  clearEvents(s, v, w);
  // allowed: an offer from the sharer, an answer to it, candidates both ways
  assertOkOnly(await request(s, 'share:offer', { to: v.id, offer }));
  assert.deepEqual(await nextEvent(v, 'share:offer'), { from: s.id, offer });
  assertOkOnly(await request(v, 'share:answer', { to: s.id, ans }));
  assert.deepEqual(await nextEvent(s, 'share:answer'), { from: v.id, ans });
  assertOkOnly(await request(s, 'share:ice', { to: v.id, candidate }));
  assert.deepEqual(await nextEvent(v, 'share:ice'), { from: s.id, candidate });
  assertOkOnly(await request(v, 'share:ice', { to: s.id, candidate }));
  assert.deepEqual(await nextEvent(s, 'share:ice'), { from: v.id, candidate });
  // refused: a viewer pushing a screen (to the sharer or to another viewer), an answer
  // that does not go to the sharer, candidates between two viewers
  assertError(await request(v, 'share:offer', { to: w.id, offer }), 'not_sharer');
  assertError(await request(v, 'share:offer', { to: s.id, offer }), 'not_sharer');
  assertError(await request(s, 'share:answer', { to: v.id, ans }), 'not_sharer');
  assertError(await request(w, 'share:answer', { to: v.id, ans }), 'not_sharer');
  assertError(await request(v, 'share:ice', { to: w.id, candidate }), 'not_sharer');
  // without an ack: the error event, and still nothing delivered
  v.emit('share:offer', { to: w.id, offer });
  const err = await nextEvent(v, 'error');
  assert.equal(err.code, 'not_sharer');
  assert.equal(err.event, 'share:offer');
  await noEvent(w, ['share:offer', 'share:answer', 'share:ice']);
  await noEvent(s, ['share:offer', 'share:answer', 'share:ice']);
  // order of checks: validation, then membership, then permission
  const outsider = await joined(srv.url, uniqRoom('shout'), { t });
  assertError(await request(v, 'share:offer', { to: outsider.id, offer }), 'not_in_room');
  assertError(await request(v, 'share:offer', { to: w.id }), 'bad_request');
  // the sharer stops: its relays stop too
  assertOkOnly(await request(s, 'stopSharing', {}));
  assertError(await request(s, 'share:offer', { to: v.id, offer }), 'not_sharer');
});
