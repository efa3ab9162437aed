// Helpers for the desktop app's end-to-end tests: a virtual display (Xvfb), tauri-driver
// (WebDriver for Tauri windows, backed by Debian's WebKitWebDriver) and the built app.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, sleep } from '../server/helpers.mjs';
import { freePort, supervise as logged } from '../lib/proc.mjs';
import { until as waitUntil } from '../lib/wait.mjs';

export { REPO_ROOT, sleep, freePort };

const targetDir = process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, 'target');
/** The app built with its UI inside (`cargo build -p huddle-app --features custom-protocol`). */
export const APP_BIN = process.env.HUDDLE_APP_BIN || path.join(targetDir, 'debug', 'huddle-app');
export const TAURI_DRIVER =
  process.env.TAURI_DRIVER || (existsSync(path.join(os.homedir(), '.cargo', 'bin', 'tauri-driver'))
    ? path.join(os.homedir(), '.cargo', 'bin', 'tauri-driver')
    : 'tauri-driver');
/** Screenshots and logs kept after the run. */
export const ARTIFACTS = process.env.HUDDLE_ARTIFACTS || path.join(REPO_ROOT, 'tests', 'app', 'artifacts');

/** A virtual X display: { display, stop }. */
export async function startXvfb() {
  for (let n = 90 + Math.floor(Math.random() * 100); ; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const display = `:${n}`;
    const p = logged(
      spawn('Xvfb', [display, '-screen', '0', '1600x1000x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'pipe'] }),
      'Xvfb',
    );
    for (let i = 0; i < 100; i++) {
      if (existsSync(`/tmp/.X11-unix/X${n}`)) return { display, ...p };
      if (p.proc.exitCode !== null) break;
      await sleep(50);
    }
    await p.stop();
    if (n > 400) throw new Error(`Xvfb would not start:\n${p.log()}`);
  }
}

/**
 * tauri-driver on a free port, with the app's environment: the display, synthetic devices,
 * and config/data directories of its own (settings, the hosted server's chat database).
 */
export async function startDriver({ display, env = {} }) {
  if (!existsSync(APP_BIN)) {
    throw new Error(`app binary not found at ${APP_BIN}: cargo build -p huddle-app --features custom-protocol`);
  }
  const home = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-test-'));
  const port = await freePort();
  const nativePort = await freePort();
  const appEnv = {
    ...process.env,
    DISPLAY: display,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    HUDDLE_FAKE_DEVICES: '1',
    HUDDLE_LOG: process.env.HUDDLE_LOG || 'info,rtc_dtls=error',
    // No GPU here: software GL for WebGL, no DMA-BUF renderer.
    WEBKIT_DISABLE_DMABUF_RENDERER: '1',
    LIBGL_ALWAYS_SOFTWARE: '1',
    // One running app per instance name (its D-Bus name): apps of other tests, or left
    // over, never take this test's launches.
    HUDDLE_INSTANCE: `test${port}`,
    ...env,
  };
  const p = logged(
    spawn(TAURI_DRIVER, ['--port', String(port), '--native-port', String(nativePort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: appEnv,
    }),
    'tauri-driver',
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/status`);
      if (r.ok || r.status < 500) return { url, home, env: appEnv, ...p };
    } catch {
      // Not up yet.
    }
    if (p.proc.exitCode !== null) break;
    await sleep(50);
  }
  await p.stop();
  throw new Error(`tauri-driver did not start:\n${p.log()}`);
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Polls `fn` until it returns a truthy value; throws with `what` and the last value. */
export function until(fn, { timeoutMs = 20000, stepMs = 200, what = 'condition' } = {}) {
  return waitUntil(fn, { timeoutMs, stepMs, what, retryErrors: false });
}
