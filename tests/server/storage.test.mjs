// Chat durability across kill -9 and restart; --db :memory:.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  startServer,
  cleanup,
  request,
  nextEvent,
  joined,
  uniqRoom,
  tmpDir,
} from './helpers.mjs';

after(cleanup);

function listRecursive(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...listRecursive(p));
  }
  return out;
}

test('acked messages survive kill -9; ids continue after restart', async (t) => {
  const dir = tmpDir('huddle-db-');
  const db = path.join(dir, 'chat.db');
  const room = uniqRoom('durable');
  const other = uniqRoom('durable-other');

  const s1 = await startServer({ db });
  assert.ok(existsSync(db), `database file ${db} created`);
  const a = await joined(s1.url, room, { t, email: 'keeper@example.com', name: 'Keeper' });
  const o = await joined(s1.url, other, { t });
  const acked = [];
  for (let i = 0; i < 10; i++) {
    const ack = await request(a, 'chat:send', { text: `durable ${i} ✓`, clientId: `k${i}` });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    acked.push(ack.message);
  }
  // a burst, acked concurrently, and the kill right after the last ack
  const burst = await Promise.all(
    Array.from({ length: 10 }, (_, i) => request(a, 'chat:send', { text: `burst ${i}` })),
  );
  for (const ack of burst) {
    assert.equal(ack.ok, true, JSON.stringify(ack));
    acked.push(ack.message);
  }
  const otherMsg = (await request(o, 'chat:send', { text: 'other room' })).message;
  await s1.kill9();
  assert.equal(s1.alive, false);
  acked.sort((x, y) => (x.id < y.id ? -1 : 1));

  const s2 = await startServer({ db });
  const b = await joined(s2.url, room, { t });
  assert.deepEqual(b.joinAck.history, acked, 'history after kill -9 holds every acked message, oldest first');
  const after1 = await request(b, 'chat:send', { text: 'after restart' });
  assert.equal(after1.ok, true);
  const lastOld = acked[acked.length - 1].id;
  assert.ok(after1.message.id > lastOld, `new id ${after1.message.id} > old ${lastOld} (string order)`);
  assert.ok(Number(after1.message.id) > Number(lastOld), `new id > old (numeric)`);
  const ob = await joined(s2.url, other, { t });
  assert.deepEqual(ob.joinAck.history, [otherMsg]);

  // a clean stop keeps everything too
  const st = await s2.stop();
  assert.equal(st.code, 0, `SIGTERM exit ${JSON.stringify(st)}`);
  const s3 = await startServer({ db });
  const c = await joined(s3.url, room, { t });
  assert.deepEqual(c.joinAck.history, [...acked, after1.message]);
  const after2 = await request(c, 'chat:send', { text: 'after second restart' });
  assert.ok(Number(after2.message.id) > Number(after1.message.id));
});

test('--db :memory: works and creates no file', async (t) => {
  const cwd = tmpDir('huddle-cwd-');
  const home = tmpDir('huddle-home-');
  const xdg = path.join(home, 'xdg');
  mkdirSync(xdg);
  const srv = await startServer({
    db: ':memory:',
    cwd,
    env: { HOME: home, XDG_DATA_HOME: xdg, XDG_CONFIG_HOME: xdg, XDG_STATE_HOME: xdg },
  });
  const room = uniqRoom('mem');
  const a = await joined(srv.url, room, { t });
  const b = await joined(srv.url, room, { t });
  const m = await request(a, 'chat:send', { text: 'in memory' });
  assert.equal(m.ok, true);
  assert.deepEqual(await nextEvent(b, 'chat:message'), m.message);
  const c = await joined(srv.url, room, { t });
  assert.deepEqual(c.joinAck.history, [m.message]);
  const st = await srv.stop();
  assert.equal(st.code, 0);
  assert.deepEqual(listRecursive(cwd), [], 'nothing created in the working directory');
  assert.deepEqual(listRecursive(home).filter((p) => p !== xdg), [], 'nothing created in HOME');
  assert.deepEqual(listRecursive(xdg), [], 'nothing created in XDG dirs');

  // and nothing persists: a new :memory: server has empty history
  const srv2 = await startServer({ db: ':memory:', cwd });
  const d = await joined(srv2.url, room, { t });
  assert.deepEqual(d.joinAck.history, []);
});
