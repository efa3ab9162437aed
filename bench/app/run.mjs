// Desktop app benchmark: cold start, memory of the whole process tree (lobby, 4-person
// room), and what the frame path adds between the engine's decoder and the WebGL draw,
// WebSocket and IPC channel side by side. Prints a Markdown table (docs/benchmarks.md).
//
//   bash bench/app/run.sh          (builds release binaries, then runs this)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../tests/server/helpers.mjs';
import { startHuddle, huddleId } from '../../tests/engine/helpers.mjs';
import { APP_BIN, startDriver, startXvfb, until, sleep } from '../../tests/app/helpers.mjs';
import { newSession } from '../../tests/app/webdriver.mjs';
import { procStat, processTree as tree } from '../../tests/lib/proc.mjs';

const TICKS = 100; // clock ticks per second (getconf CLK_TCK)
const STARTS = Number(process.env.STARTS || 5);
const WINDOW_S = Number(process.env.WINDOW_S || 10);

function memory(pids) {
  let rss = 0;
  let pss = 0;
  const by = {};
  for (const p of pids) {
    try {
      const t = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      const r = Number(t.match(/^Rss:\s+(\d+)/m)?.[1] || 0);
      const q = Number(t.match(/^Pss:\s+(\d+)/m)?.[1] || 0);
      rss += r;
      pss += q;
      const comm = procStat(p)?.comm || String(p);
      by[comm] = (by[comm] || 0) + q / 1024;
    } catch {}
  }
  const parts = Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
  return { rssMb: rss / 1024, pssMb: pss / 1024, parts };
}

function cpuTicks(pids) {
  const by = {};
  for (const p of pids) {
    const s = procStat(p);
    if (s) by[`${s.comm}:${p}`] = s.ticks;
  }
  return by;
}

/** CPU % of one core over `seconds`, split into the app process and WebKit's processes. */
async function cpuOver(appPid, seconds) {
  const pids = tree(appPid);
  const a = cpuTicks(pids);
  await sleep(seconds * 1000);
  const b = cpuTicks(pids);
  let app = 0;
  let webkit = 0;
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? v);
    if (k.startsWith('huddle-app')) app += d;
    else webkit += d;
  }
  return { app: (100 * app) / TICKS / seconds, webkit: (100 * webkit) / TICKS / seconds };
}

function appPidUnder(driverPid) {
  for (const p of tree(driverPid)) if (procStat(p)?.comm === 'huddle-app') return p;
  return null;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f1 = (v) => (v == null ? '–' : Number(v).toFixed(1));

async function coldStarts(x, server) {
  const results = [];
  let lobbyMem = null;
  for (let i = 0; i < STARTS; i++) {
    const home = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-bench-'));
    const t0 = performance.now();
    const proc = spawn(APP_BIN, ['--server', server.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DISPLAY: x.display,
        XDG_CONFIG_HOME: path.join(home, 'c'),
        XDG_DATA_HOME: path.join(home, 'd'),
        XDG_CACHE_HOME: path.join(home, 'k'),
        HUDDLE_FAKE_DEVICES: '1',
        HUDDLE_LOG: 'info',
        NO_COLOR: '1',
        WEBKIT_DISABLE_DMABUF_RENDERER: '1',
      },
    });
    let log = '';
    const ready = new Promise((resolve, reject) => {
      const onData = (c) => {
        log += c.toString();
        const m = log.match(/lobby interactive ms="?(\d+)/);
        if (m) resolve({ wall: performance.now() - t0, inProcess: Number(m[1]) });
      };
      proc.stderr.on('data', onData);
      proc.stdout.on('data', onData);
      proc.on('exit', () => reject(new Error(`app exited:\n${log}`)));
      setTimeout(() => reject(new Error(`no lobby in 30 s:\n${log}`)), 30000);
    });
    const r = await ready;
    results.push(r);
    if (i === STARTS - 1) {
      await sleep(5000); // settled, with the camera preview and the meter running
      lobbyMem = memory(tree(proc.pid));
    }
    proc.kill('SIGTERM');
    await new Promise((res) => proc.on('exit', res));
  }
  return { results, lobbyMem };
}

async function joinFromLobby(s, room, { camera, mic }) {
  await s.waitFor('#email');
  await until(() => s.execute(`return document.querySelector('#camera-select')?.options.length > 0;`), { what: 'devices' });
  for (const [css, v] of [['#camera-select', camera], ['#mic-select', mic]]) {
    await s.execute(
      `const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change', { bubbles: true }));`,
      [css, v],
    );
  }
  await s.type('#email', `bench-${Date.now()}@example.com`);
  await s.type('#room', room);
  await s.click('#join');
  await until(async () => (await s.execute('return window.__huddle?.state().screen;')) === 'room', { what: 'the room' });
}

async function room4(x, server, dir, extraEnv = {}) {
  const driver = await startDriver({ display: x.display, env: extraEnv });
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', server.url] });
  const room = `bench4-${Date.now() % 100000}`;
  const others = [];
  try {
    await joinFromLobby(s, room, { camera: 'test', mic: 'sine' });
    for (const n of ['b', 'c', 'd']) {
      others.push(startHuddle({ server: server.url, email: `${n}@example.com`, room, dir, duration: 120 }));
    }
    for (const o of others) await huddleId(o);
    await sleep(15000);
    const pid = appPidUnder(driver.proc.pid);
    if (process.env.TINY) {
      console.error('before tiny', JSON.stringify(memory(tree(pid))));
      await s.executeAsync(`const keys = Object.keys(window.__huddle.renderStats());
        await window.__TAURI_INTERNALS__.invoke('set_view_sizes', { sizes: keys.map((k) => ({ stream: k, width: 16, height: 12 })) });`);
      await sleep(20000);
      console.error('after tiny', JSON.stringify(memory(tree(pid))));
    }
    if (process.env.HOLD_S) {
      console.error('pids', tree(pid).map((p) => `${p}:${procStat(p)?.comm}`).join(' '));
      await sleep(Number(process.env.HOLD_S) * 1000);
    }
    const mem = memory(tree(pid));
    const cpu = await cpuOver(pid, WINDOW_S);
    const st = await s.execute('return window.__huddle.renderStats();');
    return { mem, cpu, tiles: Object.keys(st).length };
  } finally {
    for (const o of others) await o.stop(2000);
    await s.close();
    await driver.stop();
  }
}

async function framePath(x, server, dir, which, extraEnv = {}) {
  const driver = await startDriver({ display: x.display, env: { HUDDLE_FRAME_PATH: which, ...extraEnv } });
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', server.url] });
  const room = `benchpath-${which}-${Date.now() % 100000}`;
  let bob = null;
  try {
    // Big enough that a 1280×720 share is drawn unscaled.
    await s.cmd('POST', '/window/rect', { width: 1600, height: 1000 });
    await joinFromLobby(s, room, { camera: 'none', mic: 'none' });
    const pid = appPidUnder(driver.proc.pid);
    await sleep(2000);
    const idle = await cpuOver(pid, 5);
    bob = startHuddle({ server: server.url, email: 'sharer@example.com', room, dir, duration: 120, camera: 'none', mic: 'none', share: 'test720', shareAt: 1 });
    const id = await huddleId(bob);
    const key = `${id}/screen`;
    await until(async () => (await s.execute('return window.__huddle.renderStats();'))?.[key]?.framesDrawn > 30, { timeoutMs: 30000, what: 'the share drawn' });
    await sleep(2000);
    await s.execute('window.__huddle.resetRenderStats();');
    const busy = await cpuOver(pid, WINDOW_S);
    const st = (await s.execute('return window.__huddle.renderStats();'))[key];
    return { which, idle, busy, st };
  } finally {
    await bob?.stop(2000);
    await s.close();
    await driver.stop();
  }
}

const x = await startXvfb();
const server = await startServer();
const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-bench-'));
try {
  const extraEnv = JSON.parse(process.env.BENCH_APP_ENV || '{}');
  if (process.env.ONLY === 'room4') {
    console.log(JSON.stringify(await room4(x, server, dir, extraEnv)));
    process.exit(0);
  }
  if (process.env.ONLY === 'paths') {
    for (const which of ['websocket', 'channel']) {
      const p = await framePath(x, server, dir, which, extraEnv);
      console.log(which, JSON.stringify({ idle: p.idle, busy: p.busy, ...p.st }));
    }
    process.exit(0);
  }
  console.error('cold starts…');
  const { results, lobbyMem } = await coldStarts(x, server);
  console.error('4-person room…');
  const r4 = await room4(x, server, dir, extraEnv);
  console.error('frame paths…');
  const paths = [];
  for (const which of ['websocket', 'channel']) paths.push(await framePath(x, server, dir, which, extraEnv));

  const deb = (() => {
    const target = process.env.CARGO_TARGET_DIR || path.join(process.cwd(), 'target');
    const d = path.join(target, 'release', 'bundle', 'deb');
    try {
      const f = readdirSync(d).filter((n) => n.endsWith('.deb'));
      return f.map((n) => `${n}: ${(statSync(path.join(d, n)).size / 1e6).toFixed(1)} MB`).join(', ');
    } catch {
      return 'not built (npm run tauri build -- --bundles deb)';
    }
  })();

  console.log(`| figure | value |\n|---|---|`);
  console.log(`| cold start → interactive lobby, in-process (median / max of ${STARTS}) | ${median(results.map((r) => r.inProcess))} / ${Math.max(...results.map((r) => r.inProcess))} ms |`);
  console.log(`| cold start → interactive lobby, from spawn (median / max) | ${median(results.map((r) => r.wall)).toFixed(0)} / ${Math.max(...results.map((r) => r.wall)).toFixed(0)} ms |`);
  console.log(`| process tree idle in the lobby (camera preview on): RSS / PSS | ${f1(lobbyMem.rssMb)} / ${f1(lobbyMem.pssMb)} MB (PSS: ${lobbyMem.parts}) |`);
  console.log(`| process tree in a 4-person room (${r4.tiles} streams drawn): RSS / PSS | ${f1(r4.mem.rssMb)} / ${f1(r4.mem.pssMb)} MB (PSS: ${r4.mem.parts}) |`);
  console.log(`| CPU in the 4-person room: app / WebKit processes (% of a core) | ${f1(r4.cpu.app)} / ${f1(r4.cpu.webkit)} |`);
  console.log(`| installer | ${deb} |`);
  console.log('');
  console.log('| frame path, 1280×720 @ 30 share | frames recv / drawn | decode → drawn p50 / p95 (ms) | of which prepare / transport / to draw (p50 ms) | barcode → drawn p50 / p95 (ms) | CPU app / WebKit, idle → with stream (% core) |');
  console.log('|---|---|---|---|---|---|');
  for (const p of paths) {
    const st = p.st;
    console.log(
      `| ${p.which} (${st.width}×${st.height}) | ${st.framesReceived} / ${st.framesDrawn} | ${f1(st.pathP50)} / ${f1(st.pathP95)} | ${f1(st.stages?.prepareP50)} / ${f1(st.stages?.transportP50)} / ${f1(st.stages?.drawWaitP50)} | ${f1(st.g2gP50)} / ${f1(st.g2gP95)} | ${f1(p.idle.app)} / ${f1(p.idle.webkit)} → ${f1(p.busy.app)} / ${f1(p.busy.webkit)} |`,
    );
  }
} finally {
  await server.stop();
  await x.stop();
}
