// ICE servers (issue 12): STUN/TURN in join acks, lobby:admitted and ice:servers, TURN
// credentials in coturn's REST scheme, checked against a real coturn started here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  REPO_ROOT,
  SERVER_BIN,
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  joinAll,
  joined,
  uniqRoom,
  uniqEmail,
  assertError,
  tmpDir,
  sleep,
} from './helpers.mjs';

const coturns = [];
after(async () => {
  for (const c of coturns) c.kill('SIGKILL');
  await cleanup();
});

const rest = (secret, username) => createHmac('sha1', secret).update(username).digest('base64');

/** Checks an iceServers list: the STUN entry, then the TURN entry with REST credentials. */
function checkIceServers(list, { stun, turn, secret, id, ttl }) {
  assert.equal(list.length, 2, JSON.stringify(list));
  assert.deepEqual(list[0], { urls: stun });
  const t = list[1];
  assert.deepEqual(t.urls, turn);
  const [expiry, who] = t.username.split(':');
  assert.equal(who, id, 'the username names the socket');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(Number(expiry) - (now + ttl)) <= 5, `expiry ${expiry} is now + ${ttl}`);
  assert.equal(t.credential, rest(secret, t.username));
  return Number(expiry);
}

test('nothing configured: empty lists; ice:servers is for joined clients', async (t) => {
  const srv = await startServer();
  const s = await connect(srv.url, { t });
  assertError(await request(s, 'ice:servers', {}), 'not_joined');
  const ack = await request(s, 'room:join', { email: uniqEmail(), room: uniqRoom('noice') });
  assert.deepEqual(ack.iceServers, []);
  assert.deepEqual(await request(s, 'ice:servers', {}), { ok: true, iceServers: [] });
  assertError(await request(s, 'ice:servers', 'x'), 'bad_request');
});

test('--stun and --turn-url with a secret: join acks, lobby:admitted and ice:servers carry them, with fresh REST credentials', async (t) => {
  const stun = ['stun:stun.example.org:3478', 'stun:stun2.example.org:3478'];
  const turn = ['turn:turn.example.org:3478', 'turn:turn.example.org:3478?transport=tcp'];
  const srv = await startServer({
    args: ['--stun', stun[0], '--stun', stun[1], '--turn-url', turn[0], '--turn-url', turn[1], '--turn-secret', 's3cret', '--turn-ttl', '600'],
  });
  const room = uniqRoom('ice');
  const [host] = await joinAll(srv.url, room, 1, { t });
  const first = checkIceServers(host.joinAck.iceServers, { stun, turn, secret: 's3cret', id: host.id, ttl: 600 });
  await sleep(1100);
  const fresh = await request(host, 'ice:servers', {});
  assert.equal(fresh.ok, true);
  const second = checkIceServers(fresh.iceServers, { stun, turn, secret: 's3cret', id: host.id, ttl: 600 });
  assert.ok(second > first, 'fresh credentials expire later');
  // an admitted joiner gets its own
  assert.equal((await request(host, 'room:lock', { waitingRoom: true })).waitingRoom, true);
  const w = await connect(srv.url, { t });
  assert.equal((await request(w, 'room:join', { email: uniqEmail(), room })).waiting, true);
  await nextEvent(host, 'lobby:knock');
  await request(host, 'lobby:admit', { id: w.id });
  const admitted = await nextEvent(w, 'lobby:admitted');
  checkIceServers(admitted.iceServers, { stun, turn, secret: 's3cret', id: w.id, ttl: 600 });
});

test('the same from environment variables, the secret from a file', async (t) => {
  const file = path.join(tmpDir(), 'turn-secret');
  writeFileSync(file, 'from a file\n');
  const srv = await startServer({
    env: {
      HUDDLE_STUN: 'stun:a.example:3478,stun:b.example:3478',
      HUDDLE_TURN_URL: 'turn:t.example:3478',
      HUDDLE_TURN_SECRET_FILE: file,
      HUDDLE_TURN_TTL: '120',
    },
  });
  const s = await joined(srv.url, uniqRoom('env'), { t });
  checkIceServers(s.joinAck.iceServers, {
    stun: ['stun:a.example:3478', 'stun:b.example:3478'],
    turn: ['turn:t.example:3478'],
    secret: 'from a file',
    id: s.id,
    ttl: 120,
  });
});

test('bad ICE settings: a clear error and a non-zero exit', () => {
  const run = (...args) => {
    const r = spawnSync(SERVER_BIN, ['--listen', '127.0.0.1:0', '--db', ':memory:', ...args], { encoding: 'utf8', timeout: 10000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  for (const [args, message] of [
    [['--turn-url', 'turn:t.example:3478'], /TURN URLs need a shared secret/],
    [['--turn-secret', 'x'], /no TURN URL/],
    [['--stun', 'http://stun.example'], /is not a STUN URL/],
    [['--turn-url', 'stun:t.example', '--turn-secret', 'x'], /is not a TURN URL/],
    [['--turn-url', 'turn:t.example', '--turn-secret-file', '/nonexistent/secret'], /cannot read the TURN secret file/],
    [['--turn-url', 'turn:t.example', '--turn-secret', 'x', '--turn-secret-file', '/etc/hostname'], /cannot be used with/],
  ]) {
    const r = run(...args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.out, message, args.join(' '));
    assert.doesNotMatch(r.out, /listening on/);
  }
});

// -- a real coturn ----------------------------------------------------------------------

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** coturn with REST authentication (use-auth-secret) on 127.0.0.1. */
async function startCoturn(secret) {
  const dir = tmpDir('huddle-coturn-');
  const port = await freeUdpPort();
  const minPort = 45000 + Math.floor(Math.random() * 140) * 100;
  const args = [
    '-n',
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--listening-port=${port}`,
    `--min-port=${minPort}`,
    `--max-port=${minPort + 99}`,
    '--realm=huddle.test',
    '--use-auth-secret',
    `--static-auth-secret=${secret}`,
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--fingerprint',
    '--relay-threads=1',
    // the check below relays between two allocations on this host
    '--allow-loopback-peers',
    `--userdb=${dir}/turndb`,
    `--pidfile=${dir}/turn.pid`,
    '--log-file=stdout',
    '--simple-log',
  ];
  const proc = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  coturns.push(proc);
  let log = '';
  proc.stdout.on('data', (c) => (log += c));
  proc.stderr.on('data', (c) => (log += c));
  for (let i = 0; i < 100 && !/listener opened on|Total General servers/i.test(log); i++) await sleep(50);
  await sleep(200);
  assert.equal(proc.exitCode, null, `turnserver exited:\n${log}`);
  return { port, proc, log: () => log };
}

/** Allocates relays on coturn with these credentials and sends through them (coturn's own client). */
function allocate(port, username, credential) {
  const r = spawnSync('turnutils_uclient', ['-y', '-n', '3', '-u', username, '-w', credential, '-p', String(port), '127.0.0.1'], {
    encoding: 'utf8',
    timeout: 20000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * A TURN client over UDP speaking just enough of RFC 5766 to check credentials and peer
 * rules as a WebRTC stack meets them: `allocate` (an unauthenticated request for the
 * realm and nonce, then the signed one) resolves to { ok: true, relayed } or
 * { ok: false, code }; `permit(ip)` (CreatePermission) to { ok } or { ok: false, code }.
 */
async function turnClient(port) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const MAGIC = 0x2112a442;
  const COOKIE = [0x21, 0x12, 0xa4, 0x42];
  const attr = (type, value) => {
    const pad = (4 - (value.length % 4)) % 4;
    const b = Buffer.alloc(4 + value.length + pad);
    b.writeUInt16BE(type, 0);
    b.writeUInt16BE(value.length, 2);
    value.copy(b, 4);
    return b;
  };
  const message = (method, attrs, key) => {
    const header = Buffer.alloc(20);
    header.writeUInt16BE(method, 0);
    header.writeUInt32BE(MAGIC, 4);
    randomBytes(12).copy(header, 8);
    let body = Buffer.concat(attrs);
    if (key) {
      // MESSAGE-INTEGRITY covers the message with its length already counting itself
      header.writeUInt16BE(body.length + 24, 2);
      const mac = createHmac('sha1', key).update(Buffer.concat([header, body])).digest();
      body = Buffer.concat([body, attr(0x0008, mac)]);
    }
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  };
  const exchange = (msg) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no TURN answer')), 3000);
      sock.once('message', (m) => {
        clearTimeout(timer);
        const attrs = {};
        for (let at = 20; at + 4 <= m.length; ) {
          const type = m.readUInt16BE(at);
          const len = m.readUInt16BE(at + 2);
          attrs[type] = m.subarray(at + 4, at + 4 + len);
          at += 4 + len + ((4 - (len % 4)) % 4);
        }
        resolve({ type: m.readUInt16BE(0), attrs });
      });
      sock.send(msg, port, '127.0.0.1');
    });
  const failure = (answer) => {
    const e = answer.attrs[0x0009]; // ERROR-CODE
    return { ok: false, code: e ? e[2] * 100 + e[3] : null };
  };
  let auth = null; // the signed attributes and key, once allocated
  return {
    async allocate(username, credential) {
      const transport = attr(0x0019, Buffer.from([17, 0, 0, 0])); // REQUESTED-TRANSPORT: UDP
      const challenge = await exchange(message(0x0003, [transport]));
      const realm = challenge.attrs[0x0014];
      const nonce = challenge.attrs[0x0015];
      assert.ok(realm && nonce, 'a 401 with realm and nonce first');
      const key = createHash('md5').update(`${username}:${realm}:${credential}`).digest();
      const signed = [attr(0x0006, Buffer.from(username)), attr(0x0014, realm), attr(0x0015, nonce)];
      const answer = await exchange(message(0x0003, [...signed, transport], key));
      if (answer.type !== 0x0103) return failure(answer);
      auth = { signed, key };
      const x = answer.attrs[0x0016]; // XOR-RELAYED-ADDRESS
      const rport = x.readUInt16BE(2) ^ (MAGIC >>> 16);
      const ip = [0, 1, 2, 3].map((i) => x[4 + i] ^ COOKIE[i]).join('.');
      return { ok: true, relayed: `${ip}:${rport}` };
    },
    async permit(ip) {
      const peer = Buffer.alloc(8); // XOR-PEER-ADDRESS, IPv4
      peer[1] = 0x01;
      peer.writeUInt16BE(9 ^ (MAGIC >>> 16), 2);
      ip.split('.').forEach((o, i) => (peer[4 + i] = Number(o) ^ COOKIE[i]));
      const answer = await exchange(message(0x0008, [attr(0x0012, peer), ...auth.signed], auth.key));
      return answer.type === 0x0108 ? { ok: true } : failure(answer);
    },
    close: () => sock.close(),
  };
}

async function turnAllocate(port, username, credential) {
  const turn = await turnClient(port);
  try {
    return await turn.allocate(username, credential);
  } finally {
    turn.close();
  }
}

test('a real coturn (use-auth-secret) accepts the credentials the server hands out, and not those of another secret', async (t) => {
  const secret = `secret-${process.pid}-${Date.now()}`;
  const coturn = await startCoturn(secret);
  const turnUrl = `turn:127.0.0.1:${coturn.port}`;
  const srv = await startServer({ args: ['--turn-url', turnUrl, '--turn-secret', secret] });
  const s = await joined(srv.url, uniqRoom('coturn'), { t });
  const [entry] = s.joinAck.iceServers;
  assert.deepEqual(entry.urls, [turnUrl]);
  const allocation = await turnAllocate(coturn.port, entry.username, entry.credential);
  assert.equal(allocation.ok, true, `Allocate refused (${allocation.code})\n--- coturn ---\n${coturn.log().slice(-3000)}`);
  assert.match(allocation.relayed, /^127\.0\.0\.1:\d+$/);
  // data goes through relays made with them (coturn's own client, two allocations)
  const relayed = allocate(coturn.port, entry.username, entry.credential);
  assert.equal(relayed.code, 0, `relaying with the handed-out credentials failed:\n${relayed.out}`);
  assert.match(relayed.out, /tot_recv_bytes ~ [1-9]/, 'data went through the relay');
  // fresh ones from ice:servers work too
  const fresh = (await request(s, 'ice:servers', {})).iceServers[0];
  assert.equal((await turnAllocate(coturn.port, fresh.username, fresh.credential)).ok, true);

  // a server configured with another secret hands out credentials coturn refuses
  const wrong = await startServer({ args: ['--turn-url', turnUrl, '--turn-secret', 'not-the-secret'] });
  const w = await joined(wrong.url, uniqRoom('coturn-wrong'), { t });
  const bad = w.joinAck.iceServers[0];
  assert.deepEqual(await turnAllocate(coturn.port, bad.username, bad.credential), { ok: false, code: 401 });
  const refused = allocate(coturn.port, bad.username, bad.credential);
  assert.notEqual(refused.code, 0, 'coturn must refuse credentials made with another secret');
  // and so are expired ones made with the right secret
  const expired = `${Math.floor(Date.now() / 1000) - 60}:${s.id}`;
  assert.deepEqual(await turnAllocate(coturn.port, expired, rest(secret, expired)), { ok: false, code: 401 });
});

test('deploy/turnserver.conf: coturn takes it, accepts the server\'s credentials and refuses to relay to private and loopback peers', async (t) => {
  const dir = tmpDir('huddle-coturn-');
  const port = await freeUdpPort();
  const minPort = 45000 + Math.floor(Math.random() * 140) * 100;
  const secret = `deploy-${process.pid}`;
  // The deployment-specific values (marked CHANGE in the file) as a person deploying sets
  // them, for 127.0.0.1; every other line is the file's.
  const conf = readFileSync(path.join(REPO_ROOT, 'deploy', 'turnserver.conf'), 'utf8')
    .split('\n')
    .filter((l) => !/^(external-ip|cert|pkey|listening-port|tls-listening-port|min-port|max-port|static-auth-secret)=/.test(l))
    .concat([
      'listening-ip=127.0.0.1',
      'relay-ip=127.0.0.1',
      `listening-port=${port}`,
      `min-port=${minPort}`,
      `max-port=${minPort + 99}`,
      `static-auth-secret=${secret}`,
      'no-tls',
      'no-dtls',
      `userdb=${dir}/turndb`,
      `pidfile=${dir}/turn.pid`,
    ])
    .join('\n');
  writeFileSync(path.join(dir, 'turnserver.conf'), conf);
  const proc = spawn('turnserver', ['-c', path.join(dir, 'turnserver.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  coturns.push(proc);
  let log = '';
  proc.stdout.on('data', (c) => (log += c));
  proc.stderr.on('data', (c) => (log += c));
  await sleep(1000);
  assert.equal(proc.exitCode, null, `turnserver exited:\n${log}`);
  assert.doesNotMatch(log, /ERROR|Bad configuration/i);

  const srv = await startServer({ args: ['--turn-url', `turn:127.0.0.1:${port}`, '--turn-secret', secret] });
  const s = await joined(srv.url, uniqRoom('deploy'), { t });
  const [entry] = s.joinAck.iceServers;
  const turn = await turnClient(port);
  try {
    const allocation = await turn.allocate(entry.username, entry.credential);
    assert.equal(allocation.ok, true, `Allocate refused (${allocation.code})\n${log.slice(-3000)}`);
    // a public peer is fine; the machine's own and private networks are not
    assert.deepEqual(await turn.permit('8.8.8.8'), { ok: true });
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0']) {
      assert.deepEqual(await turn.permit(ip), { ok: false, code: 403 }, ip);
    }
  } finally {
    turn.close();
  }
});
