// Janus (Debian's `janus`, VideoRoom) in the lab, and the Janus client driver that speaks to it.
//
//   const janus = await startJanus(lab.lab, 'srv', SERVER_IP);        // stops in t.after
//   const driver = await startDriver(lab.lab, 'srv', janus);          // server/examples/janus_driver
//   await driver.call('create_room', { room: 'r1' });
//   const ev = await driver.waitEvent((e) => e.peer === 'b' && e.kind === 'updated');
//
// Janus is configured by deploy/janus/render.sh (the deployment configuration), with the
// WebSocket API on the host's own address so that anything in the lab can reach it. It
// gathers no ICE candidates on loopback: it runs on a host with a real (veth) address.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './netlab.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(here, '..', '..');
export const JANUS_WS_PORT = 8188;
/** Janus's ICE/RTP ports; coturn's relay ports (40000-40099) stay clear. */
export const JANUS_RTP_PORTS = '20000-20199';
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, 'target');
export const DRIVER_BIN = process.env.HUDDLE_JANUS_DRIVER_BIN || path.join(TARGET, 'debug', 'examples', 'janus_driver');

/**
 * Renders the configuration and starts janus in `role`'s namespace on `ip`; resolves once its
 * WebSocket API answers `info` (apiSecret, adminKey: given to start it again as it was).
 * Returns { ip, url, apiSecret, adminKey, info, proc, logs(), stop() }.
 */
export async function startJanus(lab, role, ip, { sessionTimeout = 60, apiSecret = randomBytes(12).toString('hex'), adminKey = randomBytes(12).toString('hex') } = {}) {
  const dir = lab.folder(`janus-${role}`);
  // prettier-ignore
  const command = await run('bash', [
    path.join(REPO_ROOT, 'deploy', 'janus', 'render.sh'),
    '--out', dir, '--api-secret', apiSecret, '--admin-key', adminKey,
    '--ice-address', ip, '--ws-ip', ip, '--ws-port', String(JANUS_WS_PORT),
    '--rtp-ports', JANUS_RTP_PORTS, '--session-timeout', String(sessionTimeout),
  ]);
  if (!command.startsWith('janus ')) throw new Error(`render.sh said: ${command}`);
  const proc = lab.spawn(role, 'janus', ['-o', '-C', path.join(dir, 'janus.jcfg'), '-F', dir]);
  let log = '';
  const onData = (c) => {
    log += c.toString('utf8');
    if (log.length > 1_000_000) log = log.slice(-500_000);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  let exited = null;
  proc.on('exit', (code, signal) => (exited = { code, signal }));
  proc.on('error', (e) => (exited = { error: e.message }));

  const url = `ws://${ip}:${JANUS_WS_PORT}`;
  const deadline = Date.now() + 15000;
  let info = null;
  for (;;) {
    if (exited) throw new Error(`janus exited (${JSON.stringify(exited)}) before answering:\n${log.slice(-3000)}`);
    try {
      info = JSON.parse(await lab.exec(role, process.execPath, [path.join(here, 'janus-ping.mjs'), url]));
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`janus did not answer on ${url} within 15 s (${e.message}):\n${log.slice(-3000)}`);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    ip,
    url,
    apiSecret,
    adminKey,
    info,
    proc,
    logs: () => log,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await new Promise((r) => proc.once('exit', r));
      clearTimeout(t);
    },
  };
}

/**
 * The Janus client driver (server/examples/janus_driver) in `role`'s namespace, connected to
 * `janus`. call(op, fields) resolves with the answer or rejects with Janus's refusal;
 * events() lists every handle event so far; waitEvent(pred, ms) waits for one.
 */
export async function startDriver(lab, role, janus, { timeoutMs = 10000 } = {}) {
  if (!existsSync(DRIVER_BIN)) throw new Error(`janus_driver not found at ${DRIVER_BIN} (cargo build -p huddle-server --example janus_driver, or set HUDDLE_JANUS_DRIVER_BIN)`);
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' };
  const proc = spawn('ip', ['netns', 'exec', lab.ns(role), DRIVER_BIN, '--url', janus.url, '--api-secret', janus.apiSecret, '--admin-key', janus.adminKey], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  lab.processes.add(proc);
  proc.on('exit', () => lab.processes.delete(proc));
  let stderr = '';
  proc.stderr.on('data', (c) => {
    stderr += c.toString('utf8');
    if (stderr.length > 500_000) stderr = stderr.slice(-250_000);
  });
  const pending = new Map();
  const events = [];
  const eventWaiters = new Set();
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    proc.on('exit', (code) => reject(new Error(`janus_driver exited (${code}):\n${stderr.slice(-3000)}`)));
  });
  let partial = '';
  proc.stdout.on('data', (c) => {
    partial += c.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      const m = JSON.parse(line);
      if (m.ready) ready();
      else if (m.event) {
        m.event.at = Date.now();
        events.push(m.event);
        for (const w of eventWaiters) {
          if (w.pred(m.event)) {
            eventWaiters.delete(w);
            w.resolve(m.event);
          }
        }
      } else if (pending.has(m.id)) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p.resolve(m);
        else p.reject(new Error(`${p.op}: ${m.error}`));
      }
    }
  });
  proc.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`janus_driver exited (${code ?? signal}) during ${p.op}:\n${stderr.slice(-2000)}`));
    pending.clear();
  });
  await readyP;

  let nextId = 0;
  return {
    proc,
    logs: () => stderr,
    events: () => events,
    call(op, fields = {}) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`janus_driver: no answer to ${op} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          op,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        proc.stdin.write(`${JSON.stringify({ id, op, ...fields })}\n`);
      });
    },
    /** The first event (already seen since `since`, or coming) matching pred. */
    waitEvent(pred, ms = 10000, { since = 0 } = {}) {
      const seen = events.find((e) => e.at >= since && pred(e));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        eventWaiters.add(w);
        setTimeout(() => {
          if (eventWaiters.delete(w)) reject(new Error(`no matching Janus event within ${ms} ms; events so far: ${JSON.stringify(events.slice(-20))}`));
        }, ms);
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await new Promise((r) => proc.once('exit', r));
      clearTimeout(t);
    },
  };
}
