// Process lifecycle: SIGTERM, command-line flags, log format.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  startServer,
  cleanup,
  connect,
  request,
  joinAll,
  uniqRoom,
  waitDisconnect,
  SERVER_BIN,
} from './helpers.mjs';

after(cleanup);

async function termAndTime(server) {
  const t0 = Date.now();
  server.proc.kill('SIGTERM');
  const res = await Promise.race([
    server.exited,
    new Promise((r) => setTimeout(() => r({ timeout: true }), 10000)),
  ]);
  const ms = Date.now() - t0;
  if (res.timeout) await server.kill9();
  return { ...res, ms };
}

test('SIGTERM on an idle server: exit code 0 within a few seconds', async () => {
  const srv = await startServer();
  const r = await termAndTime(srv);
  assert.ok(!r.timeout, 'process exited');
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${srv.logs().slice(-2000)}`);
  assert.ok(r.ms < 5000, `exited in ${r.ms} ms`);
});

test('SIGTERM with websocket and polling clients connected and joined: exit 0 within a few seconds', async (t) => {
  const srv = await startServer({ db: undefined });
  const room = uniqRoom('term');
  const socks = await joinAll(srv.url, room, 2, { t });
  const poll = await connect(srv.url, { t, transports: ['polling'] });
  assert.equal((await request(poll, 'room:join', { email: 'p@example.com', room })).ok, true);
  assert.equal((await request(socks[0], 'chat:send', { text: 'bye' })).ok, true);
  const discs = [...socks, poll].map((s) => waitDisconnect(s, 10000).catch(() => 'no disconnect'));
  const r = await termAndTime(srv);
  assert.ok(!r.timeout, 'process exited within 10 s');
  assert.equal(r.code, 0, `exit ${JSON.stringify(r)}`);
  assert.ok(r.ms < 5000, `exited in ${r.ms} ms`);
  const reasons = await Promise.all(discs);
  for (const reason of reasons) assert.notEqual(reason, 'no disconnect');
});

test('SIGINT also stops the server cleanly', async () => {
  const srv = await startServer();
  const t0 = Date.now();
  srv.proc.kill('SIGINT');
  const r = await Promise.race([srv.exited, new Promise((res) => setTimeout(() => res({ timeout: true }), 10000))]);
  if (r.timeout) await srv.kill9();
  assert.ok(!r.timeout, 'exited');
  assert.ok(Date.now() - t0 < 5000);
  // a clean exit, or the default action of SIGINT: both stop the server
  assert.ok(r.code === 0 || r.code === 130 || r.signal === 'SIGINT', `exit ${JSON.stringify(r)}`);
});

test('--log-format json: log lines are JSON and one carries the listening address', async () => {
  const srv = await startServer({ logFormat: 'json' });
  const lines = srv
    .logs()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const listening = lines.find((l) => l.includes('listening on'));
  assert.ok(listening, 'listening line present');
  const parsed = JSON.parse(listening);
  assert.equal(typeof parsed, 'object');
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
  await srv.stop();
});

function runToExit(args, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const p = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      resolve({ code: null, timeout: true, out });
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('invalid flags make the process exit non-zero without serving', async () => {
  for (const args of [
    ['--listen', '127.0.0.1:0', '--db', ':memory:', '--room-size', 'abc'],
    ['--listen', '127.0.0.1:0', '--db', ':memory:', '--log-format', 'xml'],
    ['--listen', 'not-an-address', '--db', ':memory:'],
    ['--listen', '127.0.0.1:0', '--db', ':memory:', '--no-such-flag'],
    ['--listen', '127.0.0.1:0', '--db', ':memory:', '--threads', '0'],
  ]) {
    const r = await runToExit(args);
    assert.ok(!r.timeout, `${args.join(' ')} should exit, output: ${r.out.slice(0, 500)}`);
    assert.notEqual(r.code, 0, `${args.join(' ')} exit code`);
  }
});

test('a port already in use: exit non-zero', async () => {
  const srv = await startServer();
  const r = await runToExit(['--listen', `127.0.0.1:${srv.port}`, '--db', ':memory:']);
  assert.ok(!r.timeout, `should exit: ${r.out.slice(0, 500)}`);
  assert.notEqual(r.code, 0);
  assert.ok(srv.alive);
});

test('--help works', async () => {
  const r = await runToExit(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--listen', '--db', '--admin-token', '--room-size', '--history', '--max-sdp-bytes', '--max-chat-chars', '--rate-limit', '--threads', '--log-format']) {
    assert.ok(r.out.includes(flag), `--help mentions ${flag}`);
  }
});

test('--threads 2: the same protocol on a multi-threaded runtime (join, relay, chat, sharing)', async (t) => {
  const srv = await startServer({ args: ['--threads', '2'] });
  assert.match(srv.logs(), /threads=2/);
  const room = uniqRoom('threads');
  const [a, b] = await joinAll(srv.url, room, 2, { t });
  const candidate = { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  const delivered = new Promise((res) => b.once('ice:candidate', res));
  assert.deepEqual(await request(a, 'ice:candidate', { to: b.id, candidate }), { ok: true });
  assert.deepEqual(await delivered, { from: a.id, candidate });
  const chat = await request(b, 'chat:send', { text: 'on two threads' });
  assert.equal(chat.ok, true);
  const started = new Promise((res) => b.once('sharerStarted', res));
  assert.deepEqual(await request(a, 'startSharing'), { ok: true });
  assert.equal(await started, a.id);
});
