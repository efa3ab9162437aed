// TLS (issue 12): --tls-cert/--tls-key serve HTTPS and WSS on the listen port. The test
// makes its own CA and a certificate for 127.0.0.1 with openssl; the official client
// trusts that CA, and a client trusting another CA is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { io } from 'socket.io-client';
import {
  SERVER_BIN,
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  uniqRoom,
  uniqEmail,
  assertOkOnly,
  tmpDir,
} from './helpers.mjs';

after(cleanup);

const openssl = (dir, ...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, and a certificate for 127.0.0.1 signed by it: { ca, cert, key } (file paths). */
function makeCa(dir, name) {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=Huddle ${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}-server.key`, '-out', `${name}-server.csr`, '-subj', '/CN=127.0.0.1');
  writeFileSync(
    path.join(dir, `${name}-ext.cnf`),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, 'x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`,
    '-CAcreateserial', '-out', `${name}-server.pem`, '-days', '2', '-extfile', `${name}-ext.cnf`);
  return {
    ca: path.join(dir, `${name}-ca.pem`),
    cert: path.join(dir, `${name}-server.pem`),
    key: path.join(dir, `${name}-server.key`),
  };
}

let dir;
let good;
let other;
let srv;
before(async () => {
  dir = tmpDir('huddle-tls-');
  good = makeCa(dir, 'good');
  other = makeCa(dir, 'other');
  srv = await startServer({ args: ['--tls-cert', good.cert, '--tls-key', good.key] });
});

function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(ca), agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

test('the server says https, and /healthz answers over HTTPS to a client trusting the CA', async () => {
  assert.equal(srv.scheme, 'https');
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await httpsGet(`${srv.url}/healthz`, good.ca);
  assert.deepEqual(r, { status: 200, body: 'ok' });
});

test('socket.io-client over WSS and over HTTPS polling: join, relay, chat', async (t) => {
  const room = uniqRoom('tls');
  const ca = readFileSync(good.ca);
  const a = await connect(srv.url, { t, transports: ['websocket'], ca });
  const b = await connect(srv.url, { t, transports: ['polling'], ca });
  const c = await connect(srv.url, { t, transports: ['polling', 'websocket'], ca });
  for (const s of [a, b, c]) assert.equal((await request(s, 'room:join', { email: uniqEmail(), room })).ok, true);
  assertOkOnly(await request(a, 'call:end', { to: b.id }));
  assert.deepEqual(await nextEvent(b, 'call:ended'), { from: a.id });
  const said = await request(b, 'chat:send', { text: 'encrypted on the way' });
  assert.deepEqual(await nextEvent(a, 'chat:message'), said.message);
  assert.deepEqual(await nextEvent(c, 'chat:message'), said.message);
});

test('a client trusting another CA is refused (WSS and polling), and so is one trusting none', async () => {
  for (const [label, opts] of [
    ['websocket, other CA', { transports: ['websocket'], ca: readFileSync(other.ca) }],
    ['polling, other CA', { transports: ['polling'], ca: readFileSync(other.ca) }],
    ['websocket, system CAs only', { transports: ['websocket'] }],
    ['polling, system CAs only', { transports: ['polling'] }],
  ]) {
    const error = await new Promise((resolve) => {
      const s = io(srv.url, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
      s.once('connect', () => {
        s.disconnect();
        resolve(null);
      });
      s.once('connect_error', (e) => {
        s.disconnect();
        resolve(e);
      });
    });
    assert.ok(error, `${label}: must not connect`);
    if (opts.transports[0] === 'websocket') {
      // (the polling transport's XHR only reports status 0)
      const why = String(error.description?.message ?? error.description ?? error.message);
      assert.match(why, /certificate|self[- ]signed|unable to verify/i, `${label}: ${why}`);
    }
  }
  await assert.rejects(httpsGet(`${srv.url}/healthz`, other.ca), /certificate/i);
});

test('bad certificate settings: a clear error and a non-zero exit', () => {
  const run = (...args) => {
    const r = spawnSync(SERVER_BIN, ['--listen', '127.0.0.1:0', '--db', ':memory:', ...args], { encoding: 'utf8', timeout: 10000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const missing = path.join(dir, 'missing.pem');
  for (const [args, message] of [
    [['--tls-cert', missing, '--tls-key', good.key], /cannot read the TLS certificate .*missing\.pem/],
    [['--tls-cert', good.cert, '--tls-key', missing], /cannot read the TLS private key .*missing\.pem/],
    [['--tls-cert', good.key, '--tls-key', good.key], /no certificate in/],
    [['--tls-cert', good.cert, '--tls-key', other.key], /do not go together/],
    [['--tls-cert', good.cert], /--tls-key/],
  ]) {
    const r = run(...args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.out, message, args.join(' '));
    assert.doesNotMatch(r.out, /listening on/);
  }
});
