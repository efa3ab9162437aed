// The network lab: a small internet built from Linux network namespaces, for calls that
// cross NATs and constrained links. Needs root (CAP_NET_ADMIN), iproute2, nftables and tc.
//
// buildInternet() builds this (one site per participant; names get a per-run prefix):
//
//                         srv  203.0.113.10/24     huddle-server and coturn; a default route
//                          │                       (a real server can send anywhere: coturn
//                         wan  203.0.113.1         closes an allocation when a send fails)
//         100.64.1.1/24 ┌──┴──┐ 100.64.2.1/24      the "internet": forwards between public
//                       │     │                    addresses; private ones are blackholed
//         100.64.1.2  nat-a  nat-b  100.64.2.2     NAT routers: nftables masquerade
//         10.1.0.1/24   │     │     10.2.0.1/24    (endpoint-independent mapping) or masquerade
//                       │     │                    fully-random (symmetric); unsolicited inbound
//         10.1.0.2    cli-a  cli-b  10.2.0.2       dropped before conntrack keeps an entry
//                                                  participants: huddle, Chromium
//
// Every router's two links can be shaped at run time (Router: cap, loss, block) and counted
// (Router.counters): "up" is what the site sends (lan0 → wan0, egress on wan0), "down" what it
// receives (wan0 → lan0, egress on lan0). Only addresses inside these namespaces are used.
//
// Teardown always runs: NetLab.teardown() (call it from t.after), at process exit, on SIGINT and
// SIGTERM; and every new lab first removes the namespaces of earlier runs whose process died.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Prefix of every namespace the lab creates: `hlab<pid>-<lab>-<role>`. */
const PREFIX = 'hlab';
const NAME_RE = new RegExp(`^${PREFIX}(\\d+)-`);
/** Temporary directories: `huddle-lab-<pid>-XXXXXX`. */
const TMP_PREFIX = 'huddle-lab-';
const TMP_RE = new RegExp(`^${TMP_PREFIX}(\\d+)-`);

/** The server host's address (TEST-NET-3) and its gateway in the wan namespace. */
export const SERVER_IP = '203.0.113.10';
const SERVER_GW = '203.0.113.1';
/** Private ranges: a real backbone does not route them; the wan namespace drops them silently. */
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

/** Runs a command; resolves with its stdout, rejects with its stderr. `input` goes to stdin. */
export function run(cmd, args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('error', (e) => reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`)));
    p.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
    if (input !== undefined) {
      // A command that exits without reading its input must not crash us (EPIPE).
      p.stdin.on('error', () => {});
      p.stdin.end(input);
    }
  });
}

function runSync(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Why the lab cannot run here (a clear reason for a test skip), or null when it can.
 * Only "not root" and "no network namespaces" skip; a missing nft, tc or coturn is a failure
 * (scripts/setup.sh installs them).
 */
export function labSkipReason() {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, nftables, tc)';
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    runSync('ip', ['netns', 'add', probe]);
    runSync('ip', ['netns', 'del', probe]);
  } catch (e) {
    return `network namespaces unavailable here (ip netns add: ${String(e.stderr || e.message).trim()})`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Cleanup of this run (exit, signals) and of crashed earlier runs
// ---------------------------------------------------------------------------

const liveLabs = new Set();

function killNamespaceProcesses(ns) {
  let pids = [];
  try {
    pids = runSync('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

function deleteNamespaceSync(ns) {
  killNamespaceProcesses(ns);
  try {
    runSync('ip', ['netns', 'del', ns]);
  } catch {}
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/**
 * Removes the namespaces (and temporary directories) of earlier lab runs whose process is
 * gone (a crash, a SIGKILL).
 */
export function cleanStaleNamespaces() {
  const removed = [];
  let names = [];
  try {
    names = runSync('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  } catch {}
  for (const ns of names) {
    const m = ns.match(NAME_RE);
    if (!m || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    deleteNamespaceSync(ns);
    removed.push(ns);
  }
  for (const d of readdirSync(os.tmpdir())) {
    const m = d.match(TMP_RE);
    if (!m || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
    removed.push(d);
  }
  return removed;
}

function teardownAllSync() {
  for (const lab of liveLabs) lab.teardownSync();
}
process.on('exit', teardownAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    teardownAllSync();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

// ---------------------------------------------------------------------------
// The lab: namespaces, links, processes
// ---------------------------------------------------------------------------

let labCount = 0;

export class NetLab {
  constructor() {
    labCount += 1;
    this.id = `${PREFIX}${process.pid}-${labCount}`;
    this.namespaces = [];
    this.processes = new Set();
    this.dir = mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
    this.closed = false;
    liveLabs.add(this);
  }

  /** The namespace name of `role` (e.g. 'wan', 'nat-a'). */
  ns(role) {
    return `${this.id}-${role}`;
  }

  /** `ip netns exec NS`: the prefix that runs a command inside `role`'s namespace. */
  wrap(role) {
    return ['ip', 'netns', 'exec', this.ns(role)];
  }

  /** Runs a command inside `role`'s namespace (resolves with stdout). */
  exec(role, cmd, args, opts) {
    return run('ip', ['netns', 'exec', this.ns(role), cmd, ...args], opts);
  }

  /** `ip` with `-n NS` (no fork into the namespace needed). */
  ip(role, ...args) {
    return run('ip', ['-n', this.ns(role), ...args]);
  }

  async addNamespace(role) {
    const ns = this.ns(role);
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.ip(role, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair: `ifA` in `roleA` with `cidrA`, `ifB` in `roleB` with `cidrB`, both up. */
  async link(roleA, ifA, cidrA, roleB, ifB, cidrB) {
    await run('ip', ['link', 'add', ifA, 'netns', this.ns(roleA), 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(roleB)]);
    await this.ip(roleA, 'addr', 'add', cidrA, 'dev', ifA);
    await this.ip(roleB, 'addr', 'add', cidrB, 'dev', ifB);
    await this.ip(roleA, 'link', 'set', ifA, 'up');
    await this.ip(roleB, 'link', 'set', ifB, 'up');
  }

  async forwarding(role) {
    await this.exec(role, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  }

  /**
   * Spawns `cmd args` inside `role`'s namespace (ip netns exec execs it: the child's pid is
   * the command's). Killed at teardown if still running.
   */
  spawn(role, cmd, args, opts = {}) {
    const p = spawn('ip', ['netns', 'exec', this.ns(role), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.processes.add(p);
    p.on('exit', () => this.processes.delete(p));
    return p;
  }

  /**
   * An executable that runs Chromium inside `role`'s namespace, for Playwright's
   * executablePath (Playwright talks to it over pipes, which ip netns exec keeps).
   */
  chromiumIn(role, chromium = '/usr/bin/chromium') {
    const file = path.join(this.dir, `chromium-${role}`);
    writeFileSync(file, `#!/bin/sh\nexec ip netns exec ${this.ns(role)} ${chromium} "$@"\n`);
    chmodSync(file, 0o755);
    return file;
  }

  /** A file path in the lab's temporary directory (removed at teardown). */
  file(name) {
    return path.join(this.dir, name);
  }

  /** A fresh folder in the lab's temporary directory (removed at teardown). */
  folder(name) {
    const d = path.join(this.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  async teardown() {
    if (this.closed) return;
    for (const p of this.processes) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    }
    const deadline = Date.now() + 2000;
    while ([...this.processes].some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.teardownSync();
  }

  teardownSync() {
    if (this.closed) return;
    this.closed = true;
    liveLabs.delete(this);
    for (const p of this.processes) {
      try {
        p.kill('SIGKILL');
      } catch {}
    }
    for (const ns of this.namespaces) deleteNamespaceSync(ns);
    this.namespaces = [];
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }
}

// ---------------------------------------------------------------------------
// NAT routers and their controls
// ---------------------------------------------------------------------------

const DIRS = {
  // What the site sends: leaves through wan0 (where an uplink cap sits).
  up: { iif: 'lan0', oif: 'wan0', egress: 'wan0' },
  // What the site receives: leaves through lan0.
  down: { iif: 'wan0', oif: 'lan0', egress: 'lan0' },
};

function dirsOf(dir) {
  if (dir === 'both') return ['up', 'down'];
  if (!DIRS[dir]) throw new Error(`direction ${dir}: up, down or both`);
  return [dir];
}

/**
 * A NAT router namespace: `nat` is 'eim' (masquerade: endpoint-independent mapping, ports
 * kept where possible) or 'symmetric' (masquerade fully-random: a new random port per
 * destination). Inbound packets that start no known flow are dropped after conntrack saw them
 * but before it confirms an entry, as home routers do (a kept entry would make the NAT
 * change the port of a later outgoing flow to the same peer, and STUN would never connect).
 */
export class Router {
  constructor(lab, role, { nat, lanIp, wanIp }) {
    this.lab = lab;
    this.role = role;
    this.nat = nat;
    this.lanIp = lanIp;
    this.wanIp = wanIp;
    this.caps = {};
  }

  async configure() {
    const masq = this.nat === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
    if (!['eim', 'symmetric'].includes(this.nat)) throw new Error(`nat ${this.nat}: eim or symmetric`);
    await this.lab.exec(this.role, 'nft', ['-f', '-'], {
      input: `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ${masq}
  }
}
table ip guard {
  counter unsolicited { }
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname "wan0" ct state new counter name "unsolicited" drop
  }
}
table ip count {
  counter up { }
  counter down { }
  chain forward {
    type filter hook forward priority -100; policy accept;
    iifname "lan0" oifname "wan0" counter name "up"
    iifname "wan0" oifname "lan0" counter name "down"
  }
}
`,
    });
  }

  /**
   * Caps a direction to `kbit` kbit/s with a queue of `queueMs` (what does not fit is
   * dropped). kind 'tbf' (token bucket, default) or 'htb' (a class with a byte FIFO).
   */
  async cap({ kbit, queueMs = 200, dir = 'up', kind = 'tbf' }) {
    if (!(kbit > 0)) throw new Error(`cap: kbit must be > 0 (${kbit})`);
    const bytesPerSec = (kbit * 1000) / 8;
    // A burst of at least two full packets, or 20 ms at the rate (a shaper's usual bucket).
    const burst = Math.max(3200, Math.round(bytesPerSec * 0.02));
    for (const d of dirsOf(dir)) {
      const dev = DIRS[d].egress;
      await this.uncap(d);
      if (kind === 'tbf') {
        await this.lab.exec(this.role, 'tc', ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', String(burst), 'latency', `${queueMs}ms`]);
      } else if (kind === 'htb') {
        const limit = Math.max(3200, Math.round((bytesPerSec * queueMs) / 1000));
        await this.lab.exec(this.role, 'tc', ['qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1']);
        await this.lab.exec(this.role, 'tc', ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${kbit}kbit`, 'ceil', `${kbit}kbit`, 'burst', String(burst)]);
        await this.lab.exec(this.role, 'tc', ['qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', 'bfifo', 'limit', String(limit)]);
      } else {
        throw new Error(`cap kind ${kind}: tbf or htb`);
      }
      this.caps[d] = { kbit, queueMs, kind };
    }
  }

  /** Removes the cap of a direction (back to the veth's default: no queue, no limit). */
  async uncap(dir = 'both') {
    for (const d of dirsOf(dir)) {
      if (!this.caps[d]) continue;
      await this.lab.exec(this.role, 'tc', ['qdisc', 'del', 'dev', DIRS[d].egress, 'root']).catch(() => {});
      delete this.caps[d];
    }
  }

  /** Drops `percent` % of a direction's packets at random (nft numgen); 0 removes it. */
  async loss(percent, { dir = 'up' } = {}) {
    for (const d of dirsOf(dir)) {
      if (!(percent > 0)) {
        await this.dropTable(`loss_${d}`);
        continue;
      }
      if (!(percent <= 100)) throw new Error(`loss ${percent}%: 0 to 100`);
      await this.dropping(`loss_${d}`, d, [`numgen random mod 100 < ${Math.round(percent)} counter name "dropped" drop`]);
    }
  }

  /** Drops everything in a direction (default both) until unblock(). */
  async block({ dir = 'both' } = {}) {
    for (const d of dirsOf(dir)) await this.dropping(`block_${d}`, d, ['counter name "dropped" drop']);
  }

  async unblock({ dir = 'both' } = {}) {
    for (const d of dirsOf(dir)) await this.dropTable(`block_${d}`);
  }

  /**
   * Stalls one DTLS handshake for good: the first datagram of a direction that opens with TLS
   * HandshakeType `message` (11, Certificate, opens the DTLS client's last flight) marks its
   * source port, and every DTLS handshake datagram from that port is dropped from then on
   * (counted in counters() as dtlsDropped). Later connections, on new ports, pass. Until
   * allowDtls().
   */
  async stallDtls({ message, dir = 'both' }) {
    if (!Number.isInteger(message) || message < 0 || message > 255) throw new Error(`stallDtls: message ${message} is not a HandshakeType`);
    // The UDP payload starts 64 bits into the transport header: a DTLS record's type is its
    // first byte (22: handshake), the handshake message type its 14th (after the header).
    // The set holds one port; once full, adding fails and the rule just ends.
    for (const d of dirsOf(dir))
      await this.dropping(
        `dtls_${d}`,
        d,
        [`meta l4proto udp @th,64,8 22 @th,168,8 ${message} add @stalled { udp sport }`, 'udp sport @stalled @th,64,8 22 counter name "dropped" drop'],
        'set stalled { type inet_service; size 1; flags dynamic; }',
      );
  }

  async allowDtls({ dir = 'both' } = {}) {
    for (const d of dirsOf(dir)) await this.dropTable(`dtls_${d}`);
  }

  /** Removes every cap, drop and block. */
  async clear() {
    await this.uncap('both');
    await this.loss(0, { dir: 'both' });
    await this.unblock({ dir: 'both' });
    await this.allowDtls({ dir: 'both' });
  }

  /**
   * (Re)makes table `table`: `rules` on the forward path of direction `d`, after `decls`; a
   * rule may count what it drops in the table's counter "dropped".
   */
  async dropping(table, d, rules, decls = '') {
    await this.dropTable(table);
    const { iif, oif } = DIRS[d];
    await this.lab.exec(this.role, 'nft', ['-f', '-'], {
      input: `
table ip ${table} {
  counter dropped { }
  ${decls}
  chain forward {
    type filter hook forward priority 0; policy accept;
${rules.map((r) => `    iifname "${iif}" oifname "${oif}" ${r}`).join('\n')}
  }
}
`,
    });
  }

  async dropTable(table) {
    await this.lab.exec(this.role, 'nft', ['delete', 'table', 'ip', table]).catch((e) => {
      if (!/No such file or directory|does not exist/i.test(e.message)) throw e;
    });
  }

  /**
   * Counters since the router was built: per direction the packets and bytes offered
   * (forwarded towards the egress, before any drop), dropped at random (loss), by a block or
   * by a DTLS stall, and the egress qdisc's figures when capped (sent, dropped, queued).
   * { at, unsolicited: {packets, bytes}, up: { offered, lossDropped, blockDropped, dtlsDropped, qdisc }, down: … }
   */
  async counters() {
    const json = JSON.parse(await this.lab.exec(this.role, 'nft', ['-j', 'list', 'counters']));
    const named = {};
    for (const o of json.nftables) if (o.counter) named[`${o.counter.table}/${o.counter.name}`] = { packets: o.counter.packets, bytes: o.counter.bytes };
    const zero = { packets: 0, bytes: 0 };
    const out = { at: Date.now(), unsolicited: named['guard/unsolicited'] || zero };
    for (const d of ['up', 'down']) {
      let qdisc = null;
      if (this.caps[d]) {
        const list = JSON.parse(await this.lab.exec(this.role, 'tc', ['-s', '-j', 'qdisc', 'show', 'dev', DIRS[d].egress]));
        const root = list.find((q) => q.root) || list[0];
        // Drops happen in the leaf (htb's byte FIFO) or the root (tbf): sum them all.
        qdisc = {
          kind: root.kind,
          sentBytes: root.bytes,
          sentPackets: root.packets,
          droppedPackets: list.reduce((a, q) => a + (q.drops || 0), 0),
          backlogBytes: list.reduce((a, q) => a + (q.backlog || 0), 0),
        };
      }
      out[d] = {
        offered: named[`count/${d}`] || zero,
        lossDropped: named[`loss_${d}/dropped`] || zero,
        blockDropped: named[`block_${d}/dropped`] || zero,
        dtlsDropped: named[`dtls_${d}/dropped`] || zero,
        qdisc,
      };
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// The standard topology
// ---------------------------------------------------------------------------

/**
 * Builds the drawing at the top: `sites` is a list of { name, nat } (name: a short tag,
 * 'a', 'b', …). Returns { lab, server: { role, ip }, sites: { [name]: { router, client: { role,
 * ip } } }, directCounter(), teardown() }. Site i (from 1) gets 100.64.i.0/24 outside and 10.i.0.0/24 inside.
 */
export async function buildInternet({ sites }) {
  cleanStaleNamespaces();
  const lab = new NetLab();
  try {
    await lab.addNamespace('wan');
    await lab.addNamespace('srv');
    await lab.forwarding('wan');
    await lab.link('wan', 'srv', `${SERVER_GW}/24`, 'srv', 'eth0', `${SERVER_IP}/24`);
    await lab.ip('srv', 'route', 'add', 'default', 'via', SERVER_GW);
    for (const r of PRIVATE_RANGES) await lab.ip('wan', 'route', 'add', 'blackhole', r);
    // Media from one site straight to another (not through the server host): a direct path.
    // Media-sized packets only: ICE keeps checking pairs that cannot work (~100-byte packets).
    await lab.exec('wan', 'nft', ['-f', '-'], {
      input: `
table ip count {
  counter direct { }
  chain forward {
    type filter hook forward priority -100; policy accept;
    iifname "to-*" oifname "to-*" meta length > 300 counter name "direct"
  }
}
`,
    });

    const out = {
      lab,
      server: { role: 'srv', ip: SERVER_IP },
      sites: {},
      teardown: () => lab.teardown(),
      /** Media-sized packets (> 300 bytes) that went from one site to another directly: { packets, bytes }. */
      async directCounter() {
        const json = JSON.parse(await lab.exec('wan', 'nft', ['-j', 'list', 'counters', 'table', 'ip', 'count']));
        const c = json.nftables.find((o) => o.counter && o.counter.name === 'direct').counter;
        return { packets: c.packets, bytes: c.bytes };
      },
    };
    let i = 0;
    for (const { name, nat } of sites) {
      i += 1;
      if (!/^[a-z0-9]{1,6}$/.test(name)) throw new Error(`site name ${name}: 1-6 lowercase letters or digits`);
      const natRole = `nat-${name}`;
      const cliRole = `cli-${name}`;
      const wanIp = `100.64.${i}.2`;
      const lanIp = `10.${i}.0.1`;
      const clientIp = `10.${i}.0.2`;
      await lab.addNamespace(natRole);
      await lab.addNamespace(cliRole);
      await lab.forwarding(natRole);
      await lab.link('wan', `to-${name}`, `100.64.${i}.1/24`, natRole, 'wan0', `${wanIp}/24`);
      await lab.link(natRole, 'lan0', `${lanIp}/24`, cliRole, 'eth0', `${clientIp}/24`);
      await lab.ip(natRole, 'route', 'add', 'default', 'via', `100.64.${i}.1`);
      await lab.ip(cliRole, 'route', 'add', 'default', 'via', lanIp);
      const router = new Router(lab, natRole, { nat, lanIp, wanIp });
      await router.configure();
      out.sites[name] = { name, router, client: { role: cliRole, ip: clientIp } };
    }
    return out;
  } catch (e) {
    await lab.teardown();
    throw e;
  }
}
