// The database going wrong (issue 14): one that cannot be opened is a clear error and a
// non-zero exit; a full disk fails only the messages it could not store (their senders
// get `internal`), loses nothing already acked, shows in /healthz, and heals.
//
// The full disk is real: a small tmpfs mounted in a private mount namespace of the server
// (unshare -m, as root, which CI is), filled from outside through /proc/PID/root.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import {
  SERVER_BIN,
  startServer,
  cleanup,
  request,
  nextEvent,
  joinAll,
  joined,
  uniqRoom,
  httpRequest,
  eventually,
  tmpDir,
} from './helpers.mjs';

after(cleanup);

const isRoot = process.getuid?.() === 0;

/** Runs the binary to its end; its exit code and output. */
function runServer(args, wrap = []) {
  const [cmd, ...rest] = [...wrap, SERVER_BIN, '--listen', '127.0.0.1:0', ...args];
  const r = spawnSync(cmd, rest, { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a database that cannot be opened: a clear error naming it, and a non-zero exit', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'not a folder');
  const under = runServer(['--db', path.join(file, 'chat.db')]);
  assert.notEqual(under.code, 0);
  assert.match(under.out, /cannot open chat storage at .*a-file\/chat\.db/);
  assert.match(under.out, /cannot create the database folder/);
  assert.doesNotMatch(under.out, /listening on/);

  const garbage = path.join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not an SQLite database, not even close'.repeat(200));
  const notDb = runServer(['--db', garbage]);
  assert.notEqual(notDb.code, 0);
  assert.match(notDb.out, /cannot open chat storage at .*garbage\.db.*not a database/s);
});

test('a database file that cannot be written (read-only filesystem): a clear error, a non-zero exit', { skip: !isRoot && 'needs root for a private read-only mount' }, async () => {
  const dir = tmpDir();
  // A real database on a tmpfs, which is then remounted read-only.
  const script = [
    `mount -t tmpfs -o size=4m tmpfs ${dir}`,
    `"$0" --listen 127.0.0.1:0 --db ${dir}/chat.db & pid=$!`,
    'sleep 1; kill -TERM $pid; wait $pid',
    `mount -o remount,ro ${dir}`,
    `exec "$0" --listen 127.0.0.1:0 --db ${dir}/chat.db`,
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, SERVER_BIN], {
    encoding: 'utf8',
    timeout: 20000,
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.notEqual(r.status, 0, out);
  assert.match(out, /cannot open chat storage at .*chat\.db: (the database is read-only|unable to open the database file); check that .* writable/);
});

test('disk full: the sender gets internal, nothing acked is lost, /healthz says why, and writes resume when there is room', { skip: !isRoot && 'needs root for a private tmpfs' }, async (t) => {
  const dir = tmpDir();
  const srv = await startServer({
    db: path.join(dir, 'chat.db'),
    wrap: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs ${dir} && exec "$@"`, 'sh'],
  });
  // the server's view of the folder
  const inside = `/proc/${srv.proc.pid}/root${dir}`;
  const room = uniqRoom('full');
  const [a, b] = await joinAll(srv.url, room, 2, { t });
  const acked = [];
  for (let i = 0; i < 5; i++) {
    const r = await request(a, 'chat:send', { text: `before ${i}` });
    assert.equal(r.ok, true);
    acked.push(r.message);
    await nextEvent(b, 'chat:message');
  }
  // fill the disk
  mkdirSync(inside, { recursive: true });
  const filler = path.join(inside, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(16 * 1024, 120);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    assert.equal(e.code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  // messages now fail, each with `internal`, and nobody receives them
  let failed = 0;
  const text = 'x'.repeat(2000);
  for (let i = 0; i < 40 && failed < 3; i++) {
    const r = await request(a, 'chat:send', { text: `${text} during ${i}` });
    if (r.ok) {
      acked.push(r.message);
      await nextEvent(b, 'chat:message');
    } else {
      assert.equal(r.error.code, 'internal', JSON.stringify(r));
      failed++;
    }
  }
  assert.equal(failed, 3, 'writes fail once the disk is full');
  const sick = await httpRequest(`${srv.url}/healthz`);
  assert.equal(sick.status, 503);
  assert.match(sick.body, /storage: .*full/i);
  // the server itself carries on
  assert.equal(srv.alive, true);
  const late = await joined(srv.url, room, { t });
  assert.deepEqual(late.joinAck.history, acked, 'everything acked is there, nothing else');

  // room again: healthy, and messages are stored
  unlinkSync(filler);
  await eventually(async () => (await httpRequest(`${srv.url}/healthz`)).status === 200, 5000);
  const after = await request(a, 'chat:send', { text: 'after' });
  assert.equal(after.ok, true, JSON.stringify(after));
  acked.push(after.message);
  const later = await joined(srv.url, room, { t });
  assert.deepEqual(later.joinAck.history, acked);
});
