// Since 1.1: the waiting room (lobby:knock, lobby:admit, lobby:deny, lobby:admitted,
// lobby:denied, lobby:left, not_waiting).
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
  eventLog,
  joinAll,
  joined,
  uniqRoom,
  uniqEmail,
  assertError,
  assertOkOnly,
  expectAllErrors,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

/** A room with a host and a member, its waiting room on. */
async function waitingRoom(server, t, extra = {}) {
  const room = uniqRoom('lobby');
  const [host, member] = await joinAll(server.url, room, 2, { t });
  const ack = await request(host, 'room:lock', { waitingRoom: true, ...extra });
  assert.equal(ack.waitingRoom, true, JSON.stringify(ack));
  await nextEvent(member, 'room:settings');
  return { room, host, member };
}

/** Connects and asks to join `room`; returns the socket, which waits. */
async function knock(server, room, t, { email = uniqEmail(), name, passcode } = {}) {
  const s = await connect(server.url, { t });
  const payload = { email, room };
  if (name) payload.name = name;
  if (passcode) payload.passcode = passcode;
  assert.deepEqual(await request(s, 'room:join', payload), { ok: true, waiting: true, room });
  s.email = email;
  return s;
}

test('a joiner waits: its ack says so, the host gets lobby:knock, the room hears nothing and it receives no room events', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t);
  const w = await knock(srv, room, t, { name: 'Wanda' });
  assert.deepEqual(await nextEvent(host, 'lobby:knock'), { id: w.id, email: w.email, name: 'Wanda' });
  await noEvent(member, ['user:joined', 'lobby:knock']);
  // room traffic does not reach it
  assert.equal((await request(member, 'chat:send', { text: 'members only' })).ok, true);
  assertOkOnly(await request(member, 'media:state', { audio: false, video: true }));
  await noEvent(w, null);
  // and it cannot act in the room
  assertError(await request(w, 'chat:send', { text: 'hello?' }), 'not_joined');
  assertError(await request(w, 'call:end', { to: host.id }), 'not_in_room');
  assertError(await request(w, 'ice:servers', {}), 'not_joined');
  // asking again does not knock twice
  assert.deepEqual(await request(w, 'room:join', { email: w.email, room }), { ok: true, waiting: true, room });
  await noEvent(host, 'lobby:knock');
});

test('admitted: lobby:admitted carries a whole join ack and the join proceeds as room:join', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t);
  assertOkOnly(await request(member, 'startSharing', {}));
  await nextEvent(host, 'sharerStarted');
  const sent = await request(member, 'chat:send', { text: 'said before the admission' });
  const w = await knock(srv, room, t, { name: 'Walt' });
  await nextEvent(host, 'lobby:knock');
  clearEvents(host, member);
  assertOkOnly(await request(host, 'lobby:admit', { id: w.id }));
  const admitted = await nextEvent(w, 'lobby:admitted');
  assert.deepEqual(admitted, {
    id: w.id,
    room,
    participants: [
      { id: host.id, email: host.email, name: null, audio: true, video: true },
      { id: member.id, email: member.email, name: null, audio: true, video: true },
    ],
    sharerId: member.id,
    history: [sent.message],
    hostId: host.id,
    locked: false,
    waitingRoom: true,
    iceServers: [],
  });
  // effects 2-5 of room:join
  for (const s of [host, member]) {
    assert.deepEqual(await nextEvent(s, 'user:joined'), { email: w.email, id: w.id, name: 'Walt', count: 3 });
  }
  assert.deepEqual(await nextEvent(w, 'room:join'), { email: w.email, room, name: 'Walt' });
  assert.equal(await nextEvent(w, 'sharerAvailable'), member.id);
  assert.equal(await nextEvent(member, 'viewerJoined'), w.id);
  const order = eventLog(w).filter((n) => ['room:join', 'sharerAvailable', 'lobby:admitted'].includes(n));
  assert.deepEqual(order, ['room:join', 'sharerAvailable', 'lobby:admitted']);
  // it is a member now
  const later = await request(member, 'chat:send', { text: 'welcome' });
  assert.deepEqual(await nextEvent(w, 'chat:message'), later.message);
  assertOkOnly(await request(w, 'call:end', { to: host.id }));
});

test('denied: lobby:denied and in no room; admitting it again is not_waiting', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t);
  const w = await knock(srv, room, t);
  await nextEvent(host, 'lobby:knock');
  assertOkOnly(await request(host, 'lobby:deny', { id: w.id }));
  assert.deepEqual(await nextEvent(w, 'lobby:denied'), { room });
  await noEvent(member, 'user:joined');
  assertError(await request(host, 'lobby:admit', { id: w.id }), 'not_waiting');
  assertError(await request(host, 'lobby:deny', { id: w.id }), 'not_waiting');
  assertError(await request(w, 'room:leave', {}), 'not_joined');
  // it may knock again
  await knock(srv, room, t, { email: w.email });
});

test('lobby:admit and lobby:deny: validation, membership, permission, then not_waiting', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t);
  const w = await knock(srv, room, t);
  await nextEvent(host, 'lobby:knock');
  const nobody = await connect(srv.url, { t });
  const elsewhere = await joined(srv.url, uniqRoom('other'), { t });
  for (const ev of ['lobby:admit', 'lobby:deny']) {
    await expectAllErrors('bad_request', [
      [`${ev} no id`, () => request(host, ev, {})],
      [`${ev} id is a number`, () => request(host, ev, { id: 7 })],
      [`${ev} from a non-host, malformed`, () => request(member, ev, { id: null })],
    ]);
    assertError(await request(nobody, ev, { id: w.id }), 'not_joined');
    assertError(await request(w, ev, { id: w.id }), 'not_joined', 'waiting is not joined');
    assertError(await request(member, ev, { id: w.id }), 'not_host');
    assertError(await request(elsewhere, ev, { id: w.id }), 'not_waiting', 'the host of another room');
    assertError(await request(host, ev, { id: member.id }), 'not_waiting');
    assertError(await request(host, ev, { id: 'no-such-id' }), 'not_waiting');
  }
  await noEvent(w, ['lobby:admitted', 'lobby:denied']);
});

test('a waiting connection that disconnects, leaves or joins elsewhere: the host gets lobby:left', async (t) => {
  const { room, host } = await waitingRoom(srv, t);
  const a = await knock(srv, room, t);
  const b = await knock(srv, room, t);
  const c = await knock(srv, room, t);
  for (let i = 0; i < 3; i++) await nextEvent(host, 'lobby:knock');
  const aid = a.id;
  a.disconnect();
  assert.deepEqual(await nextEvent(host, 'lobby:left'), { id: aid });
  assertOkOnly(await request(b, 'room:leave', {}));
  assert.deepEqual(await nextEvent(host, 'lobby:left'), { id: b.id });
  assert.equal((await request(c, 'room:join', { email: c.email, room: uniqRoom('elsewhere') })).ok, true);
  assert.deepEqual(await nextEvent(host, 'lobby:left'), { id: c.id });
  for (const s of [b, c]) assertError(await request(host, 'lobby:admit', { id: s.id }), 'not_waiting');
});

test('when the host changes, the new host gets a lobby:knock for each one still waiting', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t);
  const a = await knock(srv, room, t, { name: 'A' });
  const b = await knock(srv, room, t, { name: 'B' });
  await nextEvent(host, 'lobby:knock');
  await nextEvent(host, 'lobby:knock');
  await noEvent(member, 'lobby:knock');
  assertOkOnly(await request(host, 'room:leave', {}));
  assert.deepEqual(await nextEvent(member, 'host:changed'), { hostId: member.id });
  assert.deepEqual(await nextEvent(member, 'lobby:knock'), { id: a.id, email: a.email, name: 'A' });
  assert.deepEqual(await nextEvent(member, 'lobby:knock'), { id: b.id, email: b.email, name: 'B' });
  assertOkOnly(await request(member, 'lobby:admit', { id: b.id }));
  const admitted = await nextEvent(b, 'lobby:admitted');
  assert.equal(admitted.hostId, member.id);
});

test('nobody in the room to admit: a joiner who passes the passcode enters and becomes host; the waiting ones knock on it', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t, { passcode: 'door code' });
  assertOkOnly(await request(member, 'room:leave', {}));
  assertOkOnly(await request(host, 'room:leave', {}));
  // the room is empty within its meeting: still locked, but the next one walks in
  const n = await connect(srv.url, { t });
  assertError(await request(n, 'room:join', { email: uniqEmail(), room }), 'passcode_required');
  const ack = await request(n, 'room:join', { email: uniqEmail(), room, passcode: 'door code' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.waiting, undefined);
  assert.equal(ack.hostId, n.id);
  assert.equal(ack.locked, true);
  assert.equal(ack.waitingRoom, true);
  const w = await knock(srv, room, t, { passcode: 'door code' });
  assert.deepEqual(await nextEvent(n, 'lobby:knock'), { id: w.id, email: w.email, name: null });
  assertOkOnly(await request(n, 'lobby:admit', { id: w.id }));
  assert.equal((await nextEvent(w, 'lobby:admitted')).hostId, n.id);
});

test('the room empties while people wait: the longest waiting is let in as host, the others knock on it', async (t) => {
  const { room, host, member } = await waitingRoom(srv, t, { passcode: 'door code' });
  const first = await knock(srv, room, t, { passcode: 'door code', name: 'First' });
  const second = await knock(srv, room, t, { passcode: 'door code', name: 'Second' });
  await nextEvent(host, 'lobby:knock');
  await nextEvent(host, 'lobby:knock');
  assertOkOnly(await request(member, 'room:leave', {}));
  await noEvent(first, 'lobby:admitted');
  // the last member goes (here by disconnecting, as when an app quits)
  host.disconnect();
  const admitted = await nextEvent(first, 'lobby:admitted');
  assert.equal(admitted.id, first.id);
  assert.equal(admitted.room, room);
  assert.equal(admitted.hostId, first.id, 'nobody left to admit: it is host');
  assert.deepEqual(admitted.participants, []);
  assert.equal(admitted.locked, true);
  assert.equal(admitted.waitingRoom, true);
  assert.deepEqual(await nextEvent(first, 'room:join'), { email: first.email, room, name: 'First' });
  assert.deepEqual(await nextEvent(first, 'lobby:knock'), { id: second.id, email: second.email, name: 'Second' });
  await noEvent(second, ['lobby:admitted', 'user:joined']);
  // it acts as host: lets the second one in
  assertOkOnly(await request(first, 'lobby:admit', { id: second.id }));
  const next = await nextEvent(second, 'lobby:admitted');
  assert.equal(next.hostId, first.id);
  assert.deepEqual(next.participants.map((p) => p.id), [first.id]);
  assert.deepEqual(await nextEvent(first, 'user:joined'), { email: second.email, id: second.id, name: 'Second', count: 2 });
});

test('a removed email can come back only through the waiting room, admitted by the host', async (t) => {
  const room = uniqRoom('readmit');
  const [host, x] = await joinAll(srv.url, room, 2, { t });
  assertOkOnly(await request(host, 'room:remove', { id: x.id }));
  await nextEvent(x, 'room:removed');
  assertError(await request(x, 'room:join', { email: x.email, room }), 'removed');
  assert.equal((await request(host, 'room:lock', { waitingRoom: true })).waitingRoom, true);
  // now it may knock; the host decides
  const back = await knock(srv, room, t, { email: x.email });
  assert.equal((await nextEvent(host, 'lobby:knock')).id, back.id);
  assertOkOnly(await request(host, 'lobby:admit', { id: back.id }));
  assert.equal((await nextEvent(back, 'lobby:admitted')).room, room);
  // admitted: the removal is lifted for that email
  assertOkOnly(await request(back, 'room:leave', {}));
  assert.equal((await request(host, 'room:lock', { waitingRoom: false })).ok, true);
  assert.equal((await request(back, 'room:join', { email: x.email, room })).ok, true);
});

test('--room-size: the host cannot admit into a full room; the knock stays', async (t) => {
  const small = await startServer({ roomSize: 2 });
  const { room, host } = await waitingRoom(small, t);
  const w = await knock(small, room, t);
  await nextEvent(host, 'lobby:knock');
  assertError(await request(host, 'lobby:admit', { id: w.id }), 'room_full');
  await noEvent(w, 'lobby:admitted');
  assertOkOnly(await request(host, 'lobby:deny', { id: w.id }));
  await nextEvent(w, 'lobby:denied');
});
