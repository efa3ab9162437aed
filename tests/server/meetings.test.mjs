// Since 1.1: chat history, the lock, the listing and removals belong to a meeting. A
// meeting starts when someone joins an empty room whose last meeting ended, and ends when
// the room has stayed empty for --meeting-idle-ms; a restart inside that window does not
// end it. --chat-retention-days 0 deletes a meeting's chat when it ends.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  joinAll,
  joined,
  uniqRoom,
  uniqEmail,
  assertError,
  assertOkOnly,
  eventually,
  sleep,
  tmpDir,
} from './helpers.mjs';

after(cleanup);

/** Runs one SQL query against a database file with the sqlite3 command line tool. */
function sql(db, query) {
  return execFileSync('sqlite3', [db, query], { encoding: 'utf8' }).trim();
}

test('history, lock and listing last while the room is empty for less than the idle time, and end after it', async (t) => {
  // Long enough that the steps below fit inside it even on a busy machine.
  const idleMs = 5000;
  const srv = await startServer({ meetingIdleMs: idleMs });
  const room = uniqRoom('meeting');
  const [a] = await joinAll(srv.url, room, 1, { t });
  const first = await request(a, 'chat:send', { text: 'said in the first meeting' });
  assert.equal((await request(a, 'room:lock', { passcode: 'meeting one', listed: true })).locked, true);
  assertOkOnly(await request(a, 'room:leave', {}));

  // back within the idle time: the same meeting
  const b = await connect(srv.url, { t });
  assertError(await request(b, 'room:join', { email: uniqEmail(), room }), 'passcode_required');
  const inside = await request(b, 'room:join', { email: uniqEmail(), room, passcode: 'meeting one' });
  assert.deepEqual(inside.history, [first.message]);
  assert.deepEqual((await request(b, 'rooms:list', {})).rooms, [{ room, count: 1, locked: true }]);
  assertOkOnly(await request(b, 'room:leave', {}));
  assert.deepEqual((await request(b, 'rooms:list', {})).rooms, [{ room, count: 0, locked: true }], 'listed while empty');

  // empty for longer than the idle time: the meeting is over
  await sleep(idleMs + 500);
  assert.deepEqual((await request(b, 'rooms:list', {})).rooms, [], 'no longer listed');
  const c = await joined(srv.url, room, { t });
  assert.deepEqual(c.joinAck.history, [], 'whoever reuses the room number reads nothing of the last meeting');
  assert.equal(c.joinAck.locked, false);
  assert.equal(c.joinAck.hostId, c.id);
  // ids go on increasing in the room
  const next = await request(c, 'chat:send', { text: 'a new meeting' });
  assert.ok(next.message.id > first.message.id, `${next.message.id} > ${first.message.id}`);
});

test('someone present keeps the meeting going however long it lasts', async (t) => {
  const srv = await startServer({ meetingIdleMs: 300 });
  const room = uniqRoom('long');
  const [a] = await joinAll(srv.url, room, 1, { t });
  const said = await request(a, 'chat:send', { text: 'still the same meeting' });
  await sleep(900);
  const b = await joined(srv.url, room, { t });
  assert.deepEqual(b.joinAck.history, [said.message]);
});

test('a restart (kill -9) inside the idle time carries the meeting on: history, lock, listing, removals', async (t) => {
  const db = path.join(tmpDir(), 'chat.db');
  const opts = { db, meetingIdleMs: 20000 };
  let srv = await startServer(opts);
  const room = uniqRoom('restart');
  const [host, x] = await joinAll(srv.url, room, 2, { t });
  const said = await request(host, 'chat:send', { text: 'before the crash' });
  assert.equal((await request(host, 'room:lock', { passcode: 'survives', listed: true })).locked, true);
  assertOkOnly(await request(host, 'room:remove', { id: x.id }));
  // acked means on disk: crash right away
  await srv.kill9();
  srv = await startServer(opts);

  const s = await connect(srv.url, { t });
  assert.deepEqual((await request(s, 'rooms:list', {})).rooms, [{ room, count: 0, locked: true }]);
  assertError(await request(s, 'room:join', { email: uniqEmail(), room }), 'passcode_required');
  assertError(await request(s, 'room:join', { email: x.email, room, passcode: 'survives' }), 'removed');
  const ack = await request(s, 'room:join', { email: uniqEmail(), room, passcode: 'survives' });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.deepEqual(ack.history, [said.message]);
  assert.equal(ack.hostId, s.id, 'nobody to admit: the first one in is host');
  assert.equal(ack.locked, true);
});

test('a restart after the idle time starts a new meeting, even after a crash with people in the room', async (t) => {
  const db = path.join(tmpDir(), 'chat.db');
  const opts = { db, meetingIdleMs: 1000 };
  let srv = await startServer(opts);
  const room = uniqRoom('late');
  const [a] = await joinAll(srv.url, room, 1, { t });
  await request(a, 'chat:send', { text: 'before a long outage' });
  assert.equal((await request(a, 'room:lock', { passcode: 'gone later' })).locked, true);
  await sleep(600); // the server notes it is alive while people are in rooms
  await srv.kill9();
  await sleep(1500);
  srv = await startServer(opts);
  const b = await connect(srv.url, { t });
  const ack = await request(b, 'room:join', { email: uniqEmail(), room });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.deepEqual(ack.history, []);
  assert.equal(ack.locked, false);
});

test('--chat-retention-days 0: a meeting\'s chat is deleted from the database when it ends; others keep theirs', async (t) => {
  const dir = tmpDir();
  const db = path.join(dir, 'chat.db');
  const srv = await startServer({ db, meetingIdleMs: 500, chatRetentionDays: 0 });
  const gone = uniqRoom('gone');
  const kept = uniqRoom('kept');
  const [a] = await joinAll(srv.url, gone, 1, { t });
  const [b] = await joinAll(srv.url, kept, 1, { t });
  await request(a, 'chat:send', { text: 'ephemeral words' });
  await request(b, 'chat:send', { text: 'the meeting goes on' });
  const count = (room) => Number(sql(db, `SELECT COUNT(*) FROM chat_messages WHERE room = '${room}'`));
  assert.equal(count(gone), 1);
  assertOkOnly(await request(a, 'room:leave', {}));
  await eventually(() => count(gone) === 0, 5000);
  assert.equal(count(kept), 1, 'a meeting in progress keeps its chat');
  assert.equal(sql(db, `SELECT COUNT(*) FROM meetings WHERE room = '${gone}'`), '0');
});

test('the default retention keeps an ended meeting\'s chat in the database, never shown to a later meeting', async (t) => {
  const db = path.join(tmpDir(), 'chat.db');
  const srv = await startServer({ db, meetingIdleMs: 300 });
  const room = uniqRoom('kept');
  const [a] = await joinAll(srv.url, room, 1, { t });
  await request(a, 'chat:send', { text: 'kept for 30 days' });
  assertOkOnly(await request(a, 'room:leave', {}));
  await eventually(() => sql(db, `SELECT COUNT(*) FROM meetings WHERE room = '${room}' AND ended_at IS NOT NULL`) === '1', 5000);
  assert.equal(sql(db, `SELECT COUNT(*) FROM chat_messages WHERE room = '${room}'`), '1');
  // an ended meeting keeps no passcode or removals
  assert.equal(sql(db, `SELECT COUNT(*) FROM meetings WHERE room = '${room}' AND passcode IS NULL AND removed = '[]'`), '1');
  const b = await joined(srv.url, room, { t });
  assert.deepEqual(b.joinAck.history, []);
});

test('those still waiting when a meeting ends are let go with lobby:denied', async (t) => {
  const srv = await startServer({ meetingIdleMs: 400 });
  const room = uniqRoom('letgo');
  const [h] = await joinAll(srv.url, room, 1, { t });
  const m = await joined(srv.url, room, { t });
  assert.equal((await request(h, 'room:lock', { waitingRoom: true })).waitingRoom, true);
  // Someone the host removed knocks again: only a host may let it back, so an emptied
  // room does not let it in (anyone else waiting would be, as host).
  const email = uniqEmail();
  const w = await connect(srv.url, { t });
  assert.equal((await request(w, 'room:join', { email, room })).waiting, true);
  await nextEvent(h, 'lobby:knock');
  assertOkOnly(await request(h, 'lobby:admit', { id: w.id }));
  await nextEvent(w, 'lobby:admitted');
  assertOkOnly(await request(h, 'room:remove', { id: w.id }));
  await nextEvent(w, 'room:removed');
  assert.equal((await request(w, 'room:join', { email, room })).waiting, true);
  await nextEvent(h, 'lobby:knock');
  // the host goes, then the last member: the room is empty, w still waits
  assertOkOnly(await request(h, 'room:leave', {}));
  await nextEvent(m, 'lobby:knock');
  assertOkOnly(await request(m, 'room:leave', {}));
  await noEvent(w, 'lobby:admitted');
  assert.deepEqual(await nextEvent(w, 'lobby:denied', 5000), { room });
  // and may join the new meeting like anyone
  const ack = await request(w, 'room:join', { email, room });
  assert.equal(ack.hostId, w.id);
});
