// Since 1.1: passcodes on join, what a wrong one costs, and the limit on guessing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  joinAll,
  uniqRoom,
  uniqEmail,
  assertError,
  expectAllErrors,
} from './helpers.mjs';

const PASSCODE = 'correct horse';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

/** A room with a host and a member, locked with PASSCODE. */
async function lockedRoom(server, t, extra = {}) {
  const room = uniqRoom('pass');
  const [host, member] = await joinAll(server.url, room, 2, { t });
  const ack = await request(host, 'room:lock', { passcode: PASSCODE, ...extra });
  assert.equal(ack.locked, true, JSON.stringify(ack));
  await nextEvent(member, 'room:settings');
  return { room, host, member };
}

test('no passcode -> passcode_required, a wrong one -> bad_passcode; nothing happens and nobody in the room learns of it', async (t) => {
  const { room, host, member } = await lockedRoom(srv, t);
  const s = await connect(srv.url, { t });
  const email = uniqEmail();
  assertError(await request(s, 'room:join', { email, room }), 'passcode_required');
  assertError(await request(s, 'room:join', { email, room, passcode: 'wrong guess' }), 'bad_passcode');
  assertError(await request(s, 'room:join', { email, room, passcode: PASSCODE.toUpperCase() }), 'bad_passcode');
  await noEvent(host, null);
  await noEvent(member, null);
  await noEvent(s, 'room:join');
  // it is in no room: relays and chat are refused
  assertError(await request(s, 'chat:send', { text: 'let me in' }), 'not_joined');
  assertError(await request(s, 'call:end', { to: host.id }), 'not_in_room');
  // a failed join keeps a connection where it was
  const other = uniqRoom('before');
  const [o] = await joinAll(srv.url, other, 1, { t });
  assert.equal((await request(s, 'room:join', { email, room: other })).ok, true);
  await nextEvent(o, 'user:joined');
  assertError(await request(s, 'room:join', { email, room, passcode: 'nope' }), 'bad_passcode');
  await noEvent(o, 'user:left');
  // the right one lets it in as usual
  const ack = await request(s, 'room:join', { email, room, passcode: PASSCODE });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.locked, true);
  assert.equal(ack.hostId, host.id);
  assert.equal((await nextEvent(host, 'user:joined')).id, s.id);
  assert.equal((await nextEvent(o, 'user:left')).id, s.id);
});

test('the passcode is never echoed, and joining an unlocked room ignores one', async (t) => {
  const { room } = await lockedRoom(srv, t);
  const s = await connect(srv.url, { t });
  const email = uniqEmail();
  const ack = await request(s, 'room:join', { email, room, passcode: PASSCODE });
  assert.ok(!JSON.stringify(ack).includes(PASSCODE));
  assert.deepEqual(await nextEvent(s, 'room:join'), { email, room });
  const free = await connect(srv.url, { t });
  assert.equal((await request(free, 'room:join', { email: uniqEmail(), room: uniqRoom('free'), passcode: 'whatever' })).ok, true);
  // a passcode over 64 characters is malformed whatever the room
  assertError(await request(free, 'room:join', { email: uniqEmail(), room, passcode: 'p'.repeat(65) }), 'bad_request');
  assertError(await request(free, 'room:join', { email: uniqEmail(), room, passcode: 1234 }), 'bad_request');
});

test('a changed or cleared passcode applies at once; members stay', async (t) => {
  const { room, host, member } = await lockedRoom(srv, t);
  assert.equal((await request(host, 'room:lock', { passcode: 'new passcode' })).locked, true);
  const s = await connect(srv.url, { t });
  assertError(await request(s, 'room:join', { email: uniqEmail(), room, passcode: PASSCODE }), 'bad_passcode');
  assert.equal((await request(s, 'room:join', { email: uniqEmail(), room, passcode: 'new passcode' })).ok, true);
  assert.equal((await request(host, 'room:lock', { passcode: null })).locked, false);
  const free = await connect(srv.url, { t });
  assert.equal((await request(free, 'room:join', { email: uniqEmail(), room })).ok, true);
  // a member rejoining its own room needs nothing
  assert.equal((await request(host, 'room:lock', { passcode: PASSCODE })).locked, true);
  assert.equal((await request(member, 'room:join', { email: 'x@example.com', room })).ok, true);
});

test('more than 5 wrong passcodes from one connection: rate_limited for the rest of the minute, even with the right one', async (t) => {
  const { room, host } = await lockedRoom(srv, t);
  const s = await connect(srv.url, { t });
  const email = uniqEmail();
  for (let i = 1; i <= 5; i++) {
    assertError(await request(s, 'room:join', { email, room, passcode: `guess ${i}` }), 'bad_passcode', `guess ${i}`);
  }
  assertError(await request(s, 'room:join', { email, room, passcode: 'guess 6' }), 'rate_limited');
  assertError(await request(s, 'room:join', { email, room, passcode: PASSCODE }), 'rate_limited', 'not checked any more');
  assertError(await request(s, 'room:join', { email, room }), 'rate_limited');
  await noEvent(host, null);
  // only that connection: another (same loopback address, exempt by default) is checked
  const other = await connect(srv.url, { t });
  assert.equal((await request(other, 'room:join', { email: uniqEmail(), room, passcode: PASSCODE })).ok, true);
  // and that connection may still join rooms without a passcode
  assert.equal((await request(s, 'room:join', { email, room: uniqRoom('open') })).ok, true);
});

test('loopback is exempt from the per-address limit: 25 wrong from 127.0.0.1 on 5 connections, then a right one works', async (t) => {
  const { room } = await lockedRoom(srv, t);
  for (let c = 0; c < 5; c++) {
    const s = await connect(srv.url, { t });
    await expectAllErrors(
      'bad_passcode',
      [1, 2, 3, 4, 5].map((i) => [`conn ${c} guess ${i}`, () => request(s, 'room:join', { email: uniqEmail(), room, passcode: `no ${i}` })]),
    );
  }
  const fresh = await connect(srv.url, { t });
  assert.equal((await request(fresh, 'room:join', { email: uniqEmail(), room, passcode: PASSCODE })).ok, true);
});

test('--no-loopback-exemption: more than 20 wrong from one address limits every connection from it', async (t) => {
  const strict = await startServer({ args: ['--no-loopback-exemption'] });
  const { room, host } = await lockedRoom(strict, t);
  // five connections, four wrong each: nobody over its own limit, 20 from the address
  for (let c = 0; c < 5; c++) {
    const s = await connect(strict.url, { t });
    for (let i = 0; i < 4; i++) {
      assertError(await request(s, 'room:join', { email: uniqEmail(), room, passcode: `x${c}${i}` }), 'bad_passcode');
    }
    s.disconnect();
  }
  const s = await connect(strict.url, { t });
  assertError(await request(s, 'room:join', { email: uniqEmail(), room, passcode: 'the 21st' }), 'rate_limited');
  const fresh = await connect(strict.url, { t });
  assertError(await request(fresh, 'room:join', { email: uniqEmail(), room, passcode: PASSCODE }), 'rate_limited');
  await noEvent(host, null);
  // rooms without a passcode are not affected
  assert.equal((await request(fresh, 'room:join', { email: uniqEmail(), room: uniqRoom('open') })).ok, true);
});

test('a locked room with the waiting room: the passcode first, then the wait', async (t) => {
  const { room, host } = await lockedRoom(srv, t, { waitingRoom: true });
  const s = await connect(srv.url, { t });
  const email = uniqEmail();
  assertError(await request(s, 'room:join', { email, room }), 'passcode_required');
  assertError(await request(s, 'room:join', { email, room, passcode: 'wrong' }), 'bad_passcode');
  await noEvent(host, 'lobby:knock');
  assert.deepEqual(await request(s, 'room:join', { email, room, passcode: PASSCODE }), { ok: true, waiting: true, room });
  assert.deepEqual(await nextEvent(host, 'lobby:knock'), { id: s.id, email, name: null });
});
