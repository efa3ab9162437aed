// Since 1.1: the host, room:lock and room:settings, listed rooms, room:remove.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  clearEvents,
  eventLog,
  joined,
  joinAll,
  uniqRoom,
  uniqEmail,
  assertError,
  assertOkOnly,
  waitDisconnect,
  expectAllErrors,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

describe('the host', () => {
  test('whoever joins an empty room is host; hostId is in every join ack', async (t) => {
    const room = uniqRoom('host');
    const [a, b, c] = await joinAll(srv.url, room, 3, { t });
    for (const s of [a, b, c]) assert.equal(s.joinAck.hostId, a.id);
    // a rejoin of the same room still says who the host is
    const again = await request(b, 'room:join', { email: b.email, room });
    assert.equal(again.hostId, a.id);
  });

  test('the host leaving hands over to whoever has been in longest: host:changed to everyone left', async (t) => {
    const room = uniqRoom('handover');
    const [a, b, c, d] = await joinAll(srv.url, room, 4, { t });
    // a non-host leaving changes nothing
    assertOkOnly(await request(c, 'room:leave', {}));
    await nextEvent(b, 'user:left');
    await noEvent(b, 'host:changed');
    // the host leaves: b has been here longer than d
    assertOkOnly(await request(a, 'room:leave', {}));
    for (const s of [b, d]) {
      assert.deepEqual(await nextEvent(s, 'host:changed'), { hostId: b.id });
      const order = eventLog(s).filter((n) => n === 'user:left' || n === 'host:changed');
      assert.deepEqual(order.slice(-2), ['user:left', 'host:changed'], 'user:left first');
    }
    await noEvent(a, 'host:changed');
    // the new host's powers are real, the old host has none
    const lock = await request(b, 'room:lock', { waitingRoom: false });
    assert.equal(lock.ok, true, JSON.stringify(lock));
    assertError(await request(d, 'room:lock', { waitingRoom: true }), 'not_host');
    // a newcomer learns the new host
    const e = await joined(srv.url, room, { t });
    assert.equal(e.joinAck.hostId, b.id);
    // disconnecting hands over too
    clearEvents(d, e);
    b.disconnect();
    assert.deepEqual(await nextEvent(d, 'host:changed'), { hostId: d.id });
    assert.deepEqual(await nextEvent(e, 'host:changed'), { hostId: d.id });
  });

  test('a host switching rooms hands over the old room and is host of an empty new one', async (t) => {
    const r1 = uniqRoom('sw1');
    const r2 = uniqRoom('sw2');
    const [a, b] = await joinAll(srv.url, r1, 2, { t });
    const ack = await request(a, 'room:join', { email: a.email, room: r2 });
    assert.equal(ack.hostId, a.id);
    assert.deepEqual(await nextEvent(b, 'host:changed'), { hostId: b.id });
  });
});

describe('room:lock', () => {
  test('the host sets and clears a passcode and the waiting room; others get room:settings without the passcode', async (t) => {
    const room = uniqRoom('lock');
    const [h, m] = await joinAll(srv.url, room, 2, { t });
    const ack = await request(h, 'room:lock', { passcode: 'open sesame' });
    assert.deepEqual(ack, { ok: true, locked: true, waitingRoom: false, listed: false });
    const settings = await nextEvent(m, 'room:settings');
    assert.deepEqual(settings, { locked: true, waitingRoom: false, listed: false });
    assert.ok(!JSON.stringify(settings).includes('sesame'));
    await noEvent(h, 'room:settings');
    // fields left out keep their value
    assert.deepEqual(await request(h, 'room:lock', { waitingRoom: true }), {
      ok: true,
      locked: true,
      waitingRoom: true,
      listed: false,
    });
    assert.deepEqual(await nextEvent(m, 'room:settings'), { locked: true, waitingRoom: true, listed: false });
    // null clears the passcode
    assert.deepEqual(await request(h, 'room:lock', { passcode: null }), {
      ok: true,
      locked: false,
      waitingRoom: true,
      listed: false,
    });
    assert.deepEqual(await nextEvent(m, 'room:settings'), { locked: false, waitingRoom: true, listed: false });
    // a newcomer's ack reflects the settings (waiting room on: it waits)
    const n = await connect(srv.url, { t });
    const wait = await request(n, 'room:join', { email: uniqEmail(), room });
    assert.deepEqual(wait, { ok: true, waiting: true, room });
    assertOkOnly(await request(h, 'lobby:admit', { id: n.id }));
    const admitted = await nextEvent(n, 'lobby:admitted');
    assert.equal(admitted.locked, false);
    assert.equal(admitted.waitingRoom, true);
  });

  test('checks in order: validation (4-64 chars), then membership, then permission', async (t) => {
    const room = uniqRoom('lockorder');
    const [h, m] = await joinAll(srv.url, room, 2, { t });
    const outsider = await connect(srv.url, { t });
    await expectAllErrors('bad_request', [
      ['3-char passcode', () => request(h, 'room:lock', { passcode: 'abc' })],
      ['65-char passcode', () => request(h, 'room:lock', { passcode: 'p'.repeat(65) })],
      ['passcode is a number', () => request(h, 'room:lock', { passcode: 1234 })],
      ['waitingRoom is a string', () => request(h, 'room:lock', { waitingRoom: 'yes' })],
      ['listed is a number', () => request(h, 'room:lock', { listed: 1 })],
      ['payload is an array', () => request(h, 'room:lock', ['1234'])],
      ['bad payload from a non-host', () => request(m, 'room:lock', { passcode: 'abc' })],
      ['bad payload from nowhere', () => request(outsider, 'room:lock', { passcode: 'abc' })],
    ]);
    assertError(await request(outsider, 'room:lock', { passcode: '1234' }), 'not_joined');
    assertError(await request(m, 'room:lock', { passcode: '1234' }), 'not_host');
    await noEvent(m, 'room:settings');
    // boundaries: 4 and 64 characters (characters, not bytes)
    assert.equal((await request(h, 'room:lock', { passcode: 'éééé' })).locked, true);
    assert.equal((await request(h, 'room:lock', { passcode: 'é'.repeat(64) })).locked, true);
    const v = await connect(srv.url, { t });
    const ok = await request(v, 'room:join', { email: uniqEmail(), room, passcode: 'é'.repeat(64) });
    assert.equal(ok.ok, true, JSON.stringify(ok));
  });

  test('a v1.0 client in a room nobody locks sees the 1.0 protocol plus extra fields', async (t) => {
    const room = uniqRoom('v10');
    const [a, b] = await joinAll(srv.url, room, 2, { t });
    await noEvent(a, ['room:settings', 'host:changed', 'lobby:knock']);
    await noEvent(b, ['room:settings', 'host:changed', 'lobby:knock']);
    assert.equal(b.joinAck.locked, false);
    assert.equal(b.joinAck.waitingRoom, false);
  });
});

describe('listed rooms', () => {
  test('rooms:list shows listed rooms only, with counts and whether locked; anyone may ask', async (t) => {
    const own = await startServer();
    const open = uniqRoom('listed');
    const hidden = uniqRoom('hidden');
    const [h, m] = await joinAll(own.url, open, 2, { t });
    await joinAll(own.url, hidden, 1, { t });
    const stranger = await connect(own.url, { t });
    assert.deepEqual(await request(stranger, 'rooms:list', {}), { ok: true, rooms: [] }, 'unlisted by default');
    const ack = await request(h, 'room:lock', { listed: true });
    assert.deepEqual(ack, { ok: true, locked: false, waitingRoom: false, listed: true });
    assert.deepEqual(await nextEvent(m, 'room:settings'), { locked: false, waitingRoom: false, listed: true });
    assert.deepEqual(await request(stranger, 'rooms:list', {}), {
      ok: true,
      rooms: [{ room: open, count: 2, locked: false }],
    });
    await request(h, 'room:lock', { passcode: '4321' });
    assert.deepEqual((await request(m, 'rooms:list', {})).rooms, [{ room: open, count: 2, locked: true }]);
    // an empty payload works too
    assert.equal((await new Promise((r) => stranger.emit('rooms:list', r))).ok, true);
    assertError(await request(stranger, 'rooms:list', 'x'), 'bad_request');
    assert.equal((await request(h, 'room:lock', { listed: false })).listed, false);
    assert.deepEqual((await request(stranger, 'rooms:list', {})).rooms, []);
  });
});

describe('room:remove', () => {
  test('the target gets room:removed and leaves as with room:leave (sharerStopped, user:left); it cannot come back this meeting', async (t) => {
    const room = uniqRoom('remove');
    const [h, x, m] = await joinAll(srv.url, room, 3, { t });
    assertOkOnly(await request(x, 'startSharing', {}));
    await nextEvent(m, 'sharerStarted');
    clearEvents(h, x, m);
    assertOkOnly(await request(h, 'room:remove', { id: x.id }));
    assert.deepEqual(await nextEvent(x, 'room:removed'), { room, by: h.id });
    for (const s of [h, m]) {
      assert.equal(await nextEvent(s, 'sharerStopped'), x.id);
      assert.deepEqual(await nextEvent(s, 'user:left'), { id: x.id, email: x.email, count: 2 });
    }
    await noEvent(x, ['user:left', 'sharerStopped']);
    // it is in no room
    assertError(await request(x, 'chat:send', { text: 'still here?' }), 'not_joined');
    assertError(await request(x, 'call:end', { to: h.id }), 'not_in_room');
    // neither that connection nor the same email on another can rejoin
    assertError(await request(x, 'room:join', { email: x.email, room }), 'removed');
    assertError(await request(x, 'room:join', { email: 'disguise@example.com', room }), 'removed');
    const again = await connect(srv.url, { t });
    assertError(await request(again, 'room:join', { email: x.email, room }), 'removed');
    await noEvent(m, 'user:joined');
    // other rooms are fine
    assert.equal((await request(x, 'room:join', { email: x.email, room: uniqRoom('elsewhere') })).ok, true);
  });

  test('checks in order: validation, membership (not_joined, not_in_room), permission (not_host)', async (t) => {
    const room = uniqRoom('rmorder');
    const [h, m, n] = await joinAll(srv.url, room, 3, { t });
    const outsider = await joined(srv.url, uniqRoom('rmout'), { t });
    const nobody = await connect(srv.url, { t });
    await expectAllErrors('bad_request', [
      ['no id', () => request(h, 'room:remove', {})],
      ['id is a number', () => request(h, 'room:remove', { id: 5 })],
      ['id is empty', () => request(m, 'room:remove', { id: '' })],
      ['the host removing itself', () => request(h, 'room:remove', { id: h.id })],
    ]);
    assertError(await request(nobody, 'room:remove', { id: m.id }), 'not_joined');
    assertError(await request(h, 'room:remove', { id: outsider.id }), 'not_in_room');
    assertError(await request(h, 'room:remove', { id: 'no-such-socket-id' }), 'not_in_room');
    assertError(await request(m, 'room:remove', { id: outsider.id }), 'not_in_room', 'membership before permission');
    assertError(await request(m, 'room:remove', { id: n.id }), 'not_host');
    await noEvent(n, ['room:removed', 'user:left']);
  });
});
