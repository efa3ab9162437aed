// Shared helpers for the black-box interop tests of huddle-server.
//
// Every test file starts its own server process(es) with startServer() and
// registers `after(cleanup)` so that sockets and processes never outlive the file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { httpRequest as request_, parsePrometheus } from '../lib/http.mjs';
import { rssBytes, supervise } from '../lib/proc.mjs';
import { sleep, until } from '../lib/wait.mjs';

export { sleep };

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
export const SERVER_BIN =
  process.env.HUDDLE_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'huddle-server');

/** Default wait for something that must happen (slow, busy 2-core machine). */
export const WAIT_MS = Number(process.env.HUDDLE_TEST_WAIT_MS || 5000);
/**
 * Pause after a socket connects before the tests use it. The server drops events that
 * arrive right after the namespace CONNECT (a known server bug, tested on its own in
 * connect.test.mjs); waiting a little keeps the rest of the suite from inheriting it.
 * Set HUDDLE_TEST_SETTLE_MS=0 to send right away.
 */
export const SETTLE_MS = Number(process.env.HUDDLE_TEST_SETTLE_MS ?? 150);
/** Default wait when asserting that something does NOT happen. */
export const QUIET_MS = Number(process.env.HUDDLE_TEST_QUIET_MS || 300);


// ---------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------

const servers = new Set();
const sockets = new Set();
const tmpDirs = new Set();

process.on('exit', () => {
  for (const s of servers) {
    try {
      if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    } catch {}
  }
  for (const d of tmpDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
});

/** A fresh temporary directory, removed at process exit. */
export function tmpDir(prefix = 'huddle-test-') {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

/** process.env without HUDDLE_* server settings (they would override our flags' defaults). */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('HUDDLE_') && k !== 'HUDDLE_SERVER_BIN' && !k.startsWith('HUDDLE_TEST_')) delete env[k];
  }
  return env;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const LISTEN_RE = /listening on (https?):\/\/([0-9.]+):(\d+)/;

/**
 * Start the real binary on a free port.
 *
 * opts: { db (default ':memory:'), roomSize, history, maxSdpBytes, maxChatChars,
 *         rateLimit, adminToken, logFormat, meetingIdleMs, chatRetentionDays,
 *         args: [...extra flags, e.g. ['--allow-origin', url]], env, cwd, startTimeoutMs,
 *         listen (default '127.0.0.1:0'), wrap: [command, ...args] to run the binary under
 *         (e.g. ip netns exec NS, or unshare) }
 * Returns { url, scheme, port, host, proc, args, logs(), stop(), kill9(), exited }.
 */
export async function startServer(opts = {}) {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(
      `huddle-server binary not found at ${SERVER_BIN} (build it, or set HUDDLE_SERVER_BIN)`,
    );
  }
  const args = ['--listen', opts.listen ?? '127.0.0.1:0', '--db', opts.db ?? ':memory:'];
  const flag = (name, v) => {
    if (v !== undefined && v !== null) args.push(name, String(v));
  };
  flag('--room-size', opts.roomSize);
  flag('--history', opts.history);
  flag('--max-sdp-bytes', opts.maxSdpBytes);
  flag('--max-chat-chars', opts.maxChatChars);
  flag('--rate-limit', opts.rateLimit);
  flag('--admin-token', opts.adminToken);
  flag('--log-format', opts.logFormat);
  flag('--meeting-idle-ms', opts.meetingIdleMs);
  flag('--chat-retention-days', opts.chatRetentionDays);
  if (opts.args) args.push(...opts.args);

  const [command, ...commandArgs] = opts.wrap ? [...opts.wrap, SERVER_BIN, ...args] : [SERVER_BIN, ...args];
  const proc = spawn(command, commandArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: opts.cwd,
    env: { ...cleanEnv(), ...(opts.env || {}) },
  });
  const supervised = supervise(proc, 'huddle-server');
  let out = '';
  let resolveAddr;
  let rejectAddr;
  const addr = new Promise((res, rej) => {
    resolveAddr = res;
    rejectAddr = rej;
  });
  // Until the address is known (the line may arrive in pieces).
  const onData = (chunk) => {
    out += chunk.toString('utf8');
    const m = out.replace(ANSI, '').match(LISTEN_RE);
    if (m) {
      resolveAddr({ scheme: m[1], host: m[2], port: Number(m[3]) });
      proc.stdout.off('data', onData);
      proc.stderr.off('data', onData);
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = supervised.exited.then((r) => {
    rejectAddr(new Error(`huddle-server exited before listening (code ${r.code}, signal ${r.signal})`));
    return r;
  });
  proc.on('error', (e) => rejectAddr(e));

  const server = {
    proc,
    args,
    exited,
    logs: () => supervised.log().replace(ANSI, ''),
    get alive() {
      return supervised.alive;
    },
    /** SIGTERM, then SIGKILL after `graceMs`. Resolves to {code, signal}. */
    async stop(graceMs = 5000) {
      servers.delete(server);
      return supervised.stop(graceMs);
    },
    async kill9() {
      servers.delete(server);
      if (server.alive) proc.kill('SIGKILL');
      return exited;
    },
  };
  servers.add(server);

  const startTimeout = opts.startTimeoutMs ?? 20000;
  let timer;
  try {
    const { scheme, host, port } = await Promise.race([
      addr,
      new Promise((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`huddle-server did not log "listening on" within ${startTimeout} ms`)),
          startTimeout,
        );
      }),
    ]);
    server.host = host;
    server.port = port;
    server.scheme = scheme;
    server.url = `${scheme}://${host}:${port}`;
  } catch (e) {
    await server.kill9();
    e.message += `\nargs: ${args.join(' ')}\n--- server output ---\n${server.logs()}`;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return server;
}

/** Disconnect every tracked socket and stop every tracked server. */
export async function cleanup() {
  for (const s of sockets) {
    try {
      s.disconnect();
    } catch {}
  }
  sockets.clear();
  await Promise.all([...servers].map((s) => s.stop(3000)));
}

// ---------------------------------------------------------------------------
// Socket.IO clients with an event recorder
// ---------------------------------------------------------------------------

function attachRecorder(socket) {
  const rec = { log: [], waiters: new Set(), seq: 0 };
  socket.__rec = rec;
  socket.onAny((name, ...args) => {
    const e = { seq: rec.seq++, name, args, data: args[0], at: Date.now(), consumed: false };
    rec.log.push(e);
    for (const w of rec.waiters) {
      if (!e.consumed && w.match(e)) {
        e.consumed = true;
        rec.waiters.delete(w);
        w.resolve(e);
      }
    }
  });
  return rec;
}

/**
 * Connect a socket.io-client socket (forceNew, no reconnection) and wait until connected.
 * opts: { transports (default ['websocket']), t (a node:test context: disconnect at its end),
 *         timeoutMs, ...other io() options }
 */
export function connect(url, opts = {}) {
  const { t, timeoutMs = WAIT_MS * 2, transports = ['websocket'], settleMs, ...rest } = opts;
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    transports,
    ...rest,
  });
  attachRecorder(socket);
  sockets.add(socket);
  if (t) t.after(() => socket.disconnect());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error(`connect to ${url} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      const settle = settleMs ?? SETTLE_MS;
      if (settle > 0) setTimeout(() => resolve(socket), settle);
      else resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.disconnect();
      reject(new Error(`connect_error: ${err && err.message}`));
    });
  });
}

/** Connect several sockets. */
export function connectMany(url, n, opts = {}) {
  return Promise.all(Array.from({ length: n }, () => connect(url, opts)));
}

/**
 * Send `event` with `args` and an ack callback; resolves to the ack's first argument.
 * The ack's arrival is recorded in the socket's event log as `@ack:<event>` (for order checks).
 */
export function requestArgs(socket, event, args, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, ...args, (err, ...res) => {
      if (err) {
        reject(new Error(`no ack for "${event}" within ${timeoutMs} ms`));
        return;
      }
      const rec = socket.__rec;
      if (rec) {
        rec.log.push({
          seq: rec.seq++,
          name: `@ack:${event}`,
          args: res,
          data: res[0],
          at: Date.now(),
          consumed: true,
        });
      }
      resolve(res[0]);
    });
  });
}

/** emitWithAck with a timeout: request(socket, 'room:join', {email, room}). */
export function request(socket, event, payload, timeoutMs = WAIT_MS) {
  return requestArgs(socket, event, [payload], timeoutMs);
}

/**
 * Resolve with the data (first argument) of the next not-yet-consumed `name` event
 * (events that arrived before the call count). Optional predicate on the data.
 */
export function nextEvent(socket, name, timeoutMs = WAIT_MS, predicate = () => true) {
  return nextEventEntry(socket, name, timeoutMs, predicate).then((e) => e.data);
}

/** Like nextEvent but resolves with the whole log entry {seq, name, args, data}. */
export function nextEventEntry(socket, name, timeoutMs = WAIT_MS, predicate = () => true) {
  const rec = socket.__rec;
  const match = (e) => e.name === name && predicate(e.data);
  const found = rec.log.find((e) => !e.consumed && match(e));
  if (found) {
    found.consumed = true;
    return Promise.resolve(found);
  }
  return new Promise((resolve, reject) => {
    const w = {
      match,
      resolve: (e) => {
        clearTimeout(timer);
        resolve(e);
      },
    };
    const timer = setTimeout(() => {
      rec.waiters.delete(w);
      const seen = rec.log
        .slice(-15)
        .map((e) => `${e.name}${e.consumed ? '(consumed)' : ''}`)
        .join(', ');
      reject(
        new Error(`event "${name}" not received on ${socket.id} within ${timeoutMs} ms; last events: [${seen}]`),
      );
    }, timeoutMs);
    rec.waiters.add(w);
  });
}

/**
 * Assert that no unconsumed event named `names` (a string, an array, or null for any
 * event) arrives on `socket` within `ms` (events that already arrived count too).
 */
export async function noEvent(socket, names = null, ms = QUIET_MS) {
  await sleep(ms);
  const list = names === null ? null : Array.isArray(names) ? names : [names];
  const bad = socket.__rec.log.filter(
    (e) => !e.consumed && !e.name.startsWith('@') && (list === null || list.includes(e.name)),
  );
  assert.deepEqual(
    bad.map((e) => ({ name: e.name, data: e.data })),
    [],
    `unexpected event(s) on ${socket.id}`,
  );
}

/** Mark every recorded event of the socket(s) as consumed. */
export function clearEvents(...socks) {
  for (const s of socks.flat()) for (const e of s.__rec.log) e.consumed = true;
}

/** Names of every event (and `@ack:` markers) recorded on the socket, in arrival order. */
export function eventLog(socket) {
  return socket.__rec.log.map((e) => e.name);
}

/** Wait until the socket is disconnected (resolve with the reason). */
export function waitDisconnect(socket, timeoutMs = WAIT_MS) {
  if (!socket.connected) return Promise.resolve('already');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket not disconnected')), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

// ---------------------------------------------------------------------------
// Protocol conveniences
// ---------------------------------------------------------------------------

let roomCounter = 0;
/** A unique valid room name. */
export function uniqRoom(prefix = 'r') {
  roomCounter += 1;
  return `${prefix}-${process.pid}-${roomCounter}-${Math.random().toString(36).slice(2, 8)}`.slice(0, 64);
}

let emailCounter = 0;
export function uniqEmail(prefix = 'user') {
  emailCounter += 1;
  return `${prefix}${emailCounter}@example.com`;
}

/**
 * Connect and join `room`. Returns the socket; its join ack is in socket.joinAck.
 * Consumes the joiner's own `room:join` echo, and, for each socket in `members`, the
 * `user:joined` about the new socket (so that no late delivery leaks into later checks).
 */
export async function joined(url, room, { email, name, t, transports, members = [] } = {}) {
  const s = await connect(url, { t, transports });
  const payload = { email: email ?? uniqEmail(), room };
  if (name !== undefined) payload.name = name;
  const ack = await request(s, 'room:join', payload);
  assert.equal(ack && ack.ok, true, `room:join failed: ${JSON.stringify(ack)}`);
  s.joinAck = ack;
  s.email = payload.email;
  s.displayName = name ?? null;
  s.sid = s.id; // socket.io-client forgets the id on disconnect
  await nextEvent(s, 'room:join');
  for (const m of members) await nextEvent(m, 'user:joined', WAIT_MS, (d) => d && d.id === s.id);
  return s;
}

/**
 * Join several sockets, one after the other, into `room`, then clear their event logs.
 * Returns the sockets.
 */
export async function joinAll(url, room, n, opts = {}) {
  const list = [];
  for (let i = 0; i < n; i++) {
    list.push(
      await joined(url, room, { ...opts, members: [...(opts.members || []), ...list], name: opts.names ? opts.names[i] : opts.name }),
    );
  }
  clearEvents(list);
  return list;
}

/** Assert an ack is an error with `code` (and a human message). Returns the error object. */
export function assertError(ack, code, msg = '') {
  assert.ok(ack && typeof ack === 'object', `ack is not an object: ${JSON.stringify(ack)} ${msg}`);
  assert.equal(ack.ok, false, `expected ok:false (${code}), got ${JSON.stringify(ack)} ${msg}`);
  assert.ok(ack.error && typeof ack.error === 'object', `no error object: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `wrong error code in ${JSON.stringify(ack)} ${msg}`);
  assert.equal(typeof ack.error.message, 'string', `error.message not a string: ${JSON.stringify(ack)}`);
  return ack.error;
}

/** Assert an ack is exactly {ok:true}. */
export function assertOkOnly(ack, msg = '') {
  assert.deepEqual(ack, { ok: true }, msg);
}

/** Poll `fn` until it returns truthy (errors count as not yet); returns its value. */
export function eventually(fn, timeoutMs = WAIT_MS, stepMs = 50) {
  return until(fn, { timeoutMs, stepMs });
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/** Plain HTTP(S) request (any header allowed, e.g. Origin): { status, headers, body }. */
export function httpRequest(url, opts = {}) {
  return request_(url, { timeoutMs: WAIT_MS, ...opts });
}

/** GET /api/rooms with the admin token; the parsed list. */
export async function apiRooms(server, token) {
  const r = await httpRequest(`${server.url}/api/rooms`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `GET /api/rooms: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** Resident memory of a process, in bytes (Linux). */
export function rssOf(pid) {
  const rss = rssBytes(pid);
  if (rss === null) throw new Error(`no VmRSS for ${pid}`);
  return rss;
}

export async function healthz(server) {
  const r = await httpRequest(`${server.url}/healthz`);
  return r;
}

export async function assertHealthy(server, msg = '') {
  assert.ok(server.alive, `server process died ${msg}\n--- server output ---\n${server.logs().slice(-4000)}`);
  const r = await healthz(server);
  assert.equal(r.status, 200, `healthz status ${msg}`);
  assert.equal(r.body.trim(), 'ok', `healthz body ${msg}`);
}

/** Parse Prometheus text: returns Map name -> [{labels, value}]. */
export const parseMetrics = parsePrometheus;

export async function getMetrics(server) {
  const r = await httpRequest(`${server.url}/metrics`);
  assert.equal(r.status, 200, 'GET /metrics status');
  return { raw: r.body, map: parseMetrics(r.body), headers: r.headers };
}

/** Sum of all samples of `name` whose labels include `labels`. undefined if absent. */
export function metricSum(metrics, name, labels = {}) {
  const samples = metrics.map.get(name);
  if (!samples) return undefined;
  let sum = 0;
  let any = false;
  for (const s of samples) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
      any = true;
    }
  }
  return any ? sum : undefined;
}

// ---------------------------------------------------------------------------
// Raw Engine.IO / Socket.IO over WebSocket (for hostile input)
// ---------------------------------------------------------------------------

/**
 * Open a raw websocket to /socket.io/ and complete the Engine.IO + namespace handshake
 * (unless opts.handshake === false). Answers pings. Returns
 * { ws, sid, messages, send(data), waitFor(pred, ms), closed (promise), isOpen() }.
 */
export async function rawSocket(server, opts = {}) {
  const ws = new WebSocket(`ws://${server.host}:${server.port}/socket.io/?EIO=4&transport=websocket`, {
    maxPayload: 64 * 1024 * 1024,
  });
  const messages = [];
  const waiters = new Set();
  let open = false;
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      open = false;
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? data : data.toString('utf8');
    if (text === '2') {
      try {
        ws.send('3');
      } catch {}
    }
    messages.push(text);
    for (const w of waiters) {
      if (w.pred(text)) {
        waiters.delete(w);
        w.resolve(text);
      }
    }
  });
  const waitFor = (pred, ms = WAIT_MS) => {
    const found = messages.find((m) => pred(m));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`raw socket: expected message not received; got ${JSON.stringify(messages.slice(-10)).slice(0, 500)}`));
      }, ms);
      waiters.add(w);
      closed.then(() => {
        if (waiters.has(w)) {
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error('raw socket closed while waiting'));
        }
      });
    });
  };
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  open = true;
  const handshake = await waitFor((m) => typeof m === 'string' && m.startsWith('0{'));
  const engine = JSON.parse(handshake.slice(1));
  let sid = null;
  if (opts.handshake !== false) {
    ws.send('40');
    const ns = await waitFor((m) => typeof m === 'string' && m.startsWith('40'));
    sid = JSON.parse(ns.slice(2)).sid;
    const settle = opts.settleMs ?? SETTLE_MS;
    if (settle > 0) await sleep(settle);
  }
  return {
    ws,
    sid,
    engine,
    messages,
    waitFor,
    closed,
    isOpen: () => open && ws.readyState === WebSocket.OPEN,
    send: (data, o) =>
      new Promise((resolve) => {
        if (ws.readyState !== WebSocket.OPEN) return resolve(false);
        ws.send(data, o || {}, () => resolve(true));
      }),
    close: () => {
      try {
        ws.terminate();
      } catch {}
    },
  };
}

/** Bytes of a string in UTF-8. */
export const utf8Len = (s) => Buffer.byteLength(s, 'utf8');

/**
 * Run every [label, makeAckPromise] case, collect the ones whose ack is not an error with
 * `code`, and fail once at the end listing all of them (so one bug does not hide others).
 */
export async function expectAllErrors(code, cases) {
  const wrong = [];
  for (const [label, run] of cases) {
    let ack;
    try {
      ack = await run();
    } catch (e) {
      wrong.push(`${label}: ${e.message}`);
      continue;
    }
    const ok =
      ack && ack.ok === false && ack.error && ack.error.code === code && typeof ack.error.message === 'string';
    if (!ok) wrong.push(`${label}: ${JSON.stringify(ack)}`);
  }
  assert.deepEqual(wrong, [], `cases that did not answer ${code}`);
}
