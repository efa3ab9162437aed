// coturn (Debian's `turnserver`) inside a lab namespace, with REST credentials
// (use-auth-secret): username `<expiry>:<id>`, password base64(HMAC-SHA1(secret, username)).
//
// coturn 4.6.1 cannot mix static users with the shared secret ("Shared secret overrides
// username/password based auth method"), so the lab's fixed credential for today's CLI (which
// splits `turn:USER:PASS@HOST` at the first colon) is the REST form without an id: the
// username is only the expiry, which has no colon. coturn checks it like any REST credential.
import { createHmac, randomBytes } from 'node:crypto';
import { run } from './netlab.mjs';

export const TURN_PORT = 3478;
export const REALM = 'huddle.test';
/** Relay ports: a small range, enough for a few calls. */
const MIN_PORT = 40000;
const MAX_PORT = 40099;

/** REST credentials valid for `ttlSeconds`: { username, credential }. id null: no id part. */
export function restCredentials(secret, { id = 'lab', ttlSeconds = 3600, now = Date.now() } = {}) {
  const expiry = Math.floor(now / 1000) + ttlSeconds;
  const username = id === null ? String(expiry) : `${expiry}:${id}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/**
 * Starts turnserver in `role`'s namespace on `ip`:3478 (UDP; STUN and TURN), relaying from
 * the same address. Resolves once it listens. Returns { ip, port, secret, proc, logs(),
 * credentials(opts), relayPorts, stop() }.
 */
export async function startCoturn(lab, role, ip, { secret = randomBytes(12).toString('hex') } = {}) {
  const args = [
    '-n', // no /etc/turnserver.conf
    `--listening-ip=${ip}`,
    `--relay-ip=${ip}`,
    `--listening-port=${TURN_PORT}`,
    `--min-port=${MIN_PORT}`,
    `--max-port=${MAX_PORT}`,
    `--realm=${REALM}`,
    '--use-auth-secret',
    `--static-auth-secret=${secret}`,
    '--no-tls',
    '--no-dtls',
    '--no-tcp-relay',
    '--no-cli',
    '--fingerprint',
    '--relay-threads=1',
    `--userdb=${lab.file('turndb')}`,
    `--pidfile=${lab.file('turn.pid')}`,
    '--log-file=stdout',
    '--simple-log',
  ];
  const proc = lab.spawn(role, 'turnserver', args);
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

  // Ready when the UDP port is bound in its namespace.
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exited) throw new Error(`turnserver exited (${JSON.stringify(exited)}) before listening:\n${log.slice(-3000)}`);
    const ss = await lab.exec(role, 'ss', ['-Hlun', `sport = :${TURN_PORT}`]).catch(() => '');
    if (ss.includes(`${ip}:${TURN_PORT}`)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`turnserver did not listen on ${ip}:${TURN_PORT} within 10 s:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  // Relayed traffic, counted where it enters and leaves the relay ports: proof that a call
  // went through the relay (and how much of it).
  await lab.exec(role, 'nft', ['-f', '-'], {
    input: `
table ip relay {
  counter in { }
  counter out { }
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport ${MIN_PORT}-${MAX_PORT} counter name "in"
  }
  chain output {
    type filter hook output priority 0; policy accept;
    udp sport ${MIN_PORT}-${MAX_PORT} counter name "out"
  }
}
`,
  });

  return {
    ip,
    port: TURN_PORT,
    secret,
    proc,
    relayPorts: [MIN_PORT, MAX_PORT],
    logs: () => log,
    /** Packets and bytes through the relay ports: { in: {packets, bytes}, out: {…} }. */
    async relayCounters() {
      const json = JSON.parse(await lab.exec(role, 'nft', ['-j', 'list', 'counters', 'table', 'ip', 'relay']));
      const out = {};
      for (const o of json.nftables) if (o.counter) out[o.counter.name] = { packets: o.counter.packets, bytes: o.counter.bytes };
      return out;
    },
    /** REST credentials (see restCredentials). */
    credentials: (opts) => restCredentials(secret, opts),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await new Promise((r) => proc.once('exit', r));
      clearTimeout(t);
    },
  };
}

/** Checks an allocation by hand (turnutils_uclient) from `role`: resolves with its output. */
export function probeTurn(lab, role, turn, { username, credential }) {
  return run('ip', ['netns', 'exec', lab.ns(role), 'timeout', '10', 'turnutils_uclient', '-u', username, '-w', credential, '-n', '3', '-m', '1', '-y', turn.ip]);
}
