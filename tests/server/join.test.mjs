// room:join, room:leave, disconnect, validation and room size.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  requestArgs,
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
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

describe('room:join', () => {
  test('ack shape for the first joiner; echo arrives before the ack', async (t) => {
    const room = uniqRoom('join');
    const s = await connect(srv.url, { t });
    const ack = await request(s, 'room:join', { email: 'ada@example.com', room, name: 'Ada' });
    assert.deepEqual(ack, {
      ok: true,
      id: s.id,
      room,
      participants: [],
      sharerId: null,
      history: [],
      // since 1.1: the first joiner is the host; nothing locked; no ICE servers configured
      hostId: s.id,
      locked: false,
      waitingRoom: false,
      iceServers: [],
    });
    const echo = await nextEvent(s, 'room:join');
    assert.deepEqual(echo, { email: 'ada@example.com', room, name: 'Ada' });
    const log = eventLog(s);
    assert.ok(
      log.indexOf('room:join') >= 0 && log.indexOf('room:join') < log.indexOf('@ack:room:join'),
      `room:join echo must arrive before the ack; order: ${log.join(', ')}`,
    );
  });

  test('echo contains only the fields sent (no name when none sent)', async (t) => {
    const room = uniqRoom('echo');
    const s = await connect(srv.url, { t });
    const ack = await request(s, 'room:join', { email: 'bob@example.com', room });
    assert.equal(ack.ok, true);
    const echo = await nextEvent(s, 'room:join');
    assert.deepEqual(echo, { email: 'bob@example.com', room });
  });

  test('a room number like 1234 is a valid room, and a 64-char room is ok', async (t) => {
    const s = await connect(srv.url, { t });
    const numeric = String(1000 + Math.floor(Math.random() * 8999)) + String(process.pid);
    const a1 = await request(s, 'room:join', { email: uniqEmail(), room: numeric });
    assert.equal(a1.ok, true, JSON.stringify(a1));
    assert.equal(a1.room, numeric);
    const s2 = await connect(srv.url, { t });
    const long = ('R64_-' + uniqRoom('x').replace(/-/g, '_') + 'z'.repeat(64)).slice(0, 64);
    assert.equal(long.length, 64);
    const a2 = await request(s2, 'room:join', { email: uniqEmail(), room: long });
    assert.equal(a2.ok, true, JSON.stringify(a2));
    assert.equal(a2.room, long);
  });

  test('existing members get user:joined; the joiner gets participants with default media state', async (t) => {
    const room = uniqRoom('members');
    const a = await joined(srv.url, room, { t, email: 'a@example.com', name: 'Alice' });
    const b = await joined(srv.url, room, { t, email: 'b@example.com' });
    assert.deepEqual(await nextEvent(a, 'user:joined'), {
      email: 'b@example.com',
      id: b.id,
      name: null,
      count: 2,
    });
    assert.deepEqual(b.joinAck, {
      ok: true,
      id: b.id,
      room,
      participants: [{ id: a.id, email: 'a@example.com', name: 'Alice', audio: true, video: true }],
      sharerId: null,
      history: [],
      hostId: a.id,
      locked: false,
      waitingRoom: false,
      iceServers: [],
    });
    const c = await joined(srv.url, room, { t, email: 'c@example.com', name: 'Carol' });
    const expected = { email: 'c@example.com', id: c.id, name: 'Carol', count: 3 };
    assert.deepEqual(await nextEvent(a, 'user:joined'), expected);
    assert.deepEqual(await nextEvent(b, 'user:joined'), expected);
    const parts = [...c.joinAck.participants].sort((x, y) => x.id.localeCompare(y.id));
    const want = [
      { id: a.id, email: 'a@example.com', name: 'Alice', audio: true, video: true },
      { id: b.id, email: 'b@example.com', name: null, audio: true, video: true },
    ].sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(parts, want);
    // the joiner itself gets no user:joined about itself
    await noEvent(c, 'user:joined');
  });

  test('rejoining the same room is a no-op that still acks', async (t) => {
    const room = uniqRoom('rejoin');
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, members: [a] });
    clearEvents(a, b);
    const ack = await request(b, 'room:join', { email: b.email, room });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.id, b.id);
    assert.equal(ack.room, room);
    assert.deepEqual(
      ack.participants.map((p) => p.id),
      [a.id],
      'participants after a rejoin: still only the other member',
    );
    await noEvent(a, ['user:joined', 'user:left']);
    // the room still has two members: a third joiner sees count 3
    const c = await joined(srv.url, room, { t });
    assert.equal((await nextEvent(a, 'user:joined')).count, 3);
    assert.equal(c.joinAck.participants.length, 2);
  });

  test('joining another room leaves the old one first', async (t) => {
    const r1 = uniqRoom('old');
    const r2 = uniqRoom('new');
    const a = await joined(srv.url, r1, { t, email: 'mover@example.com' });
    const b = await joined(srv.url, r1, { t, members: [a] });
    const c = await joined(srv.url, r2, { t });
    clearEvents(a, b, c);
    const ack = await request(a, 'room:join', { email: 'mover@example.com', room: r2 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.room, r2);
    assert.deepEqual(ack.participants.map((p) => p.id), [c.id]);
    assert.deepEqual(await nextEvent(b, 'user:left'), { id: a.id, email: 'mover@example.com', count: 1 });
    assert.deepEqual(await nextEvent(c, 'user:joined'), {
      email: 'mover@example.com',
      id: a.id,
      name: null,
      count: 2,
    });
    assert.deepEqual(await nextEvent(a, 'room:join'), { email: 'mover@example.com', room: r2 });
    // a no longer receives traffic of the old room
    const d = await joined(srv.url, r1, { t });
    assert.equal((await nextEvent(b, 'user:joined')).id, d.id);
    await noEvent(a, 'user:joined');
    assert.deepEqual(d.joinAck.participants.map((p) => p.id), [b.id]);
  });
});

describe('room:join validation', () => {
  const okRoom = () => uniqRoom('val');

  function longEmail(total) {
    // local part 60 chars, domain labels of at most 50 chars, exactly `total` bytes
    const local = 'l'.repeat(60);
    let rest = total - local.length - 1 - '.com'.length;
    const labels = [];
    while (rest > 0) {
      let n = Math.min(50, rest);
      if (rest - n === 1) n -= 1;
      labels.push('d'.repeat(n));
      rest -= n;
      if (rest > 0) rest -= 1; // the dot before the next label
    }
    return `${local}@${labels.join('.')}.com`;
  }

  test('a 254-byte email is accepted, 255 bytes is invalid_email', async (t) => {
    const e254 = longEmail(254);
    const e255 = longEmail(255);
    assert.equal(Buffer.byteLength(e254), 254);
    assert.equal(Buffer.byteLength(e255), 255);
    const s = await connect(srv.url, { t });
    const ok = await request(s, 'room:join', { email: e254, room: okRoom() });
    assert.equal(ok.ok, true, `254-byte email ${e254}: ${JSON.stringify(ok)}`);
    const s2 = await connect(srv.url, { t });
    assertError(await request(s2, 'room:join', { email: e255, room: okRoom() }), 'invalid_email');
  });

  for (const [label, email] of [
    ['no @', 'adaexample.com'],
    ['space in local part', 'a da@example.com'],
    ['space in domain', 'ada@exa mple.com'],
    ['leading space', ' ada@example.com'],
    ['empty local part', '@example.com'],
    ['empty domain', 'ada@'],
    ['only @', '@'],
    ['empty string', ''],
    ['way too long', 'a'.repeat(300) + '@example.com'],
  ]) {
    test(`invalid email (${label}) -> invalid_email, no state change`, async (t) => {
      const room = okRoom();
      const member = await joined(srv.url, room, { t });
      const s = await connect(srv.url, { t });
      assertError(await request(s, 'room:join', { email, room }), 'invalid_email');
      await noEvent(member, 'user:joined');
      await noEvent(s, 'room:join');
    });
  }

  for (const [label, room] of [
    ['empty', ''],
    ['65 chars', 'a'.repeat(65)],
    ['space', 'a b'],
    ['slash', 'a/b'],
    ['dot', 'a.b'],
    ['unicode', 'salle-é'],
    ['newline', 'ab\n'],
  ]) {
    test(`invalid room (${label}) -> invalid_room`, async (t) => {
      const s = await connect(srv.url, { t });
      assertError(await request(s, 'room:join', { email: uniqEmail(), room }), 'invalid_room');
      await noEvent(s, 'room:join');
      // still not joined
      assertError(await request(s, 'room:leave', {}), 'not_joined');
    });
  }

  test('a 64-char name is ok, 65 chars is bad_request (characters, not bytes)', async (t) => {
    const s = await connect(srv.url, { t });
    const name64 = 'é'.repeat(64);
    const ack = await request(s, 'room:join', { email: uniqEmail(), room: okRoom(), name: name64 });
    assert.equal(ack.ok, true, `64-char (128-byte) name: ${JSON.stringify(ack)}`);
    const s2 = await connect(srv.url, { t });
    assertError(
      await request(s2, 'room:join', { email: uniqEmail(), room: okRoom(), name: 'n'.repeat(65) }),
      'bad_request',
    );
  });

  for (const [label, args] of [
    ['email is a number', [{ email: 5, room: 'typecheck' }]],
    ['room is a number', [{ email: 'ok@example.com', room: 1234 }]],
    ['name is a number', [{ email: 'ok@example.com', room: 'typecheck', name: 7 }]],
    ['missing email', [{ room: 'typecheck' }]],
    ['missing room', [{ email: 'ok@example.com' }]],
    ['payload is a string', ['ok@example.com']],
    ['payload is an array', [['ok@example.com', 'typecheck']]],
    ['payload is null', [null]],
    ['no payload', []],
  ]) {
    test(`wrong shape (${label}) -> bad_request`, async (t) => {
      const s = await connect(srv.url, { t });
      assertError(await requestArgs(s, 'room:join', args), 'bad_request');
      await noEvent(s, 'room:join');
      assertError(await request(s, 'room:leave', {}), 'not_joined');
    });
  }

  test('a failed join while in a room changes nothing', async (t) => {
    const room = okRoom();
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, members: [a] });
    clearEvents(a, b);
    assertError(await request(b, 'room:join', { email: 'bad', room: okRoom() }), 'invalid_email');
    assertError(await request(b, 'room:join', { email: b.email, room: 'a b' }), 'invalid_room');
    await noEvent(a, 'user:left');
    // b is still in the room: a relay from a reaches b
    assertOkOnly(await request(a, 'call:end', { to: b.id }));
    assert.deepEqual(await nextEvent(b, 'call:ended'), { from: a.id });
  });
});

describe('room:leave and disconnect', () => {
  test('room:leave acks ok and others get user:left', async (t) => {
    const room = uniqRoom('leave');
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, email: 'leaver@example.com', members: [a] });
    const c = await joined(srv.url, room, { t, members: [a, b] });
    clearEvents(a, b, c);
    assertOkOnly(await request(b, 'room:leave', {}));
    const expected = { id: b.id, email: 'leaver@example.com', count: 2 };
    assert.deepEqual(await nextEvent(a, 'user:left'), expected);
    assert.deepEqual(await nextEvent(c, 'user:left'), expected);
    await noEvent(b, 'user:left');
    // leaving again: not_joined
    assertError(await request(b, 'room:leave', {}), 'not_joined');
    // b no longer gets room traffic
    const d = await joined(srv.url, room, { t });
    await nextEvent(a, 'user:joined');
    await noEvent(b, 'user:joined');
    assert.equal(d.joinAck.participants.length, 2);
  });

  test('room:leave when never joined -> not_joined', async (t) => {
    const s = await connect(srv.url, { t });
    assertError(await request(s, 'room:leave', {}), 'not_joined');
  });

  test('disconnect acts as leave', async (t) => {
    const room = uniqRoom('disc');
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, email: 'gone@example.com', members: [a] });
    clearEvents(a);
    b.disconnect();
    assert.deepEqual(await nextEvent(a, 'user:left'), { id: b.sid, email: 'gone@example.com', count: 1 });
  });

  test('a sharer leaving: others get sharerStopped (bare id) BEFORE user:left', async (t) => {
    const room = uniqRoom('shleave');
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, members: [a] });
    assertOkOnly(await request(b, 'startSharing', {}));
    assert.equal(await nextEvent(a, 'sharerStarted'), b.id);
    clearEvents(a);
    assertOkOnly(await request(b, 'room:leave', {}));
    assert.equal(await nextEvent(a, 'sharerStopped'), b.id);
    const left = await nextEvent(a, 'user:left');
    assert.equal(left.id, b.id);
    const log = eventLog(a).filter((n) => n === 'sharerStopped' || n === 'user:left');
    assert.deepEqual(log.slice(-2), ['sharerStopped', 'user:left']);
    // the room has no sharer any more
    const c = await joined(srv.url, room, { t });
    assert.equal(c.joinAck.sharerId, null);
    await noEvent(c, 'sharerAvailable');
  });

  test('a sharer disconnecting: sharerStopped before user:left', async (t) => {
    const room = uniqRoom('shdisc');
    const a = await joined(srv.url, room, { t });
    const b = await joined(srv.url, room, { t, members: [a] });
    assertOkOnly(await request(b, 'startSharing', {}));
    assert.equal(await nextEvent(a, 'sharerStarted'), b.id);
    clearEvents(a);
    b.disconnect();
    assert.equal(await nextEvent(a, 'sharerStopped'), b.sid);
    assert.equal((await nextEvent(a, 'user:left')).id, b.sid);
    const log = eventLog(a).filter((n) => n === 'sharerStopped' || n === 'user:left');
    assert.deepEqual(log.slice(-2), ['sharerStopped', 'user:left']);
  });

  test('a sharer switching rooms: old room gets sharerStopped then user:left', async (t) => {
    const r1 = uniqRoom('shsw1');
    const r2 = uniqRoom('shsw2');
    const a = await joined(srv.url, r1, { t });
    const b = await joined(srv.url, r1, { t, members: [a] });
    assertOkOnly(await request(b, 'startSharing', {}));
    await nextEvent(a, 'sharerStarted');
    clearEvents(a);
    const ack = await request(b, 'room:join', { email: b.email, room: r2 });
    assert.equal(ack.ok, true);
    assert.equal(ack.sharerId, null);
    assert.equal(await nextEvent(a, 'sharerStopped'), b.id);
    assert.equal((await nextEvent(a, 'user:left')).id, b.id);
    const log = eventLog(a).filter((n) => n === 'sharerStopped' || n === 'user:left');
    assert.deepEqual(log.slice(-2), ['sharerStopped', 'user:left']);
  });

  test('an empty room is forgotten but its history stays', async (t) => {
    const room = uniqRoom('empty');
    const a = await joined(srv.url, room, { t });
    const sent = await request(a, 'chat:send', { text: 'still here?' });
    assert.equal(sent.ok, true);
    assertOkOnly(await request(a, 'room:leave', {}));
    const b = await joined(srv.url, room, { t });
    assert.deepEqual(b.joinAck.participants, []);
    assert.equal(b.joinAck.sharerId, null);
    assert.deepEqual(b.joinAck.history, [sent.message]);
  });
});

describe('room size', () => {
  let small;
  before(async () => {
    small = await startServer({ roomSize: 3 });
  });

  test('--room-size 3: the fourth joiner gets room_full and changes nothing', async (t) => {
    const room = uniqRoom('full');
    const members = await joinAll(small.url, room, 3, { t });
    const d = await connect(small.url, { t });
    assertError(await request(d, 'room:join', { email: uniqEmail(), room }), 'room_full');
    for (const m of members) await noEvent(m, 'user:joined', 100);
    await noEvent(d, 'room:join');
    // relays from d are refused: it is in no room
    assertError(await request(d, 'call:end', { to: members[0].id }), 'not_in_room');
    // other rooms are unaffected
    const other = await connect(small.url, { t });
    assert.equal((await request(other, 'room:join', { email: uniqEmail(), room: uniqRoom('other') })).ok, true);
    // after one leaves, d can join
    assertOkOnly(await request(members[2], 'room:leave', {}));
    const ack = await request(d, 'room:join', { email: uniqEmail(), room });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.participants.length, 2);
  });

  test('--room-size 3: rejoin of a member of a full room is still a no-op ack', async (t) => {
    const room = uniqRoom('fullrejoin');
    const members = [];
    for (let i = 0; i < 3; i++) members.push(await joined(small.url, room, { t }));
    const ack = await request(members[1], 'room:join', { email: members[1].email, room });
    assert.equal(ack.ok, true, JSON.stringify(ack));
  });
});
