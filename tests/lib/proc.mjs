// Processes: what /proc says about them, starting them with their output kept, free
// ports. Shared by the test suites and the benchmarks (Linux).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/** Clock ticks per second, the unit of /proc/PID/stat's CPU times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * A process's /proc/PID/stat: { pid, ppid, comm, state, ticks } (ticks: user + system CPU
 * time in clock ticks), or null when it is gone.
 */
export function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return {
      pid,
      ppid: Number(f[1]),
      comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
      state: f[0],
      ticks: Number(f[11]) + Number(f[12]),
    };
  } catch {
    return null;
  }
}

/** Every process id on the machine. */
export function allPids() {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** `pid` and every process below it. */
export function processTree(pid) {
  const parent = new Map();
  for (const p of allPids()) {
    const s = procStat(p);
    if (s) parent.set(p, s.ppid);
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

function statusField(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Resident memory of a process in bytes, or null when it is gone. */
export function rssBytes(pid) {
  const kb = statusField(pid, 'VmRSS');
  return kb === null ? null : kb * 1024;
}

/** Threads of a process, or null when it is gone. */
export function threadCount(pid) {
  return statusField(pid, 'Threads');
}

/**
 * Keeps a spawned process's output (the last ~500 KB) and says when it ends:
 * { proc, name, exited (a promise of {code, signal}), alive, log(), stop(graceMs) }.
 * stop() sends SIGTERM, then SIGKILL after graceMs.
 */
export function supervise(proc, name) {
  let out = '';
  const keep = (c) => {
    out += c.toString('utf8');
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const running = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    name,
    exited,
    get alive() {
      return running();
    },
    log: () => out,
    async stop(graceMs = 3000) {
      if (!running()) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => {
        if (running()) proc.kill('SIGKILL');
      }, graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
