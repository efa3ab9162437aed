// One running app: a second `huddle-app huddle://join?…` hands its link to the running
// window and exits. On Linux the two meet on the D-Bus session bus, so the test starts a
// session bus of its own. Without a session bus every launch runs alone, and says so.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { supervise } from '../lib/proc.mjs';
import { APP_BIN, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

/** A private D-Bus session bus: { address, stop }. */
async function startSessionBus() {
  const p = supervise(
    spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] }),
    'dbus-daemon',
  );
  await until(() => /^unix:\S+/m.test(p.log()) || !p.alive, { what: 'the session bus address' });
  const address = /^(unix:\S+)/m.exec(p.log())?.[1];
  if (!address) throw new Error(`dbus-daemon did not start:\n${p.log()}`);
  return { address, stop: () => p.stop() };
}

test('a second launch hands its link to the running window and exits', { timeout: 120000 }, async (t) => {
  const bus = await startSessionBus();
  t.after(() => bus.stop());
  const x = await startXvfb();
  t.after(() => x.stop());
  const driver = await startDriver({
    display: x.display,
    env: { HUDDLE_SERVER: '', DBUS_SESSION_BUS_ADDRESS: bus.address },
  });
  t.after(() => driver.stop());
  const s = await newSession(driver.url, { application: APP_BIN, args: [] });
  t.after(() => s.close());
  const value = (css) => s.execute('return document.querySelector(arguments[0])?.value ?? null;', [css]);
  let second = null;
  t.after(async () => second?.stop(2000));
  try {
    await s.waitFor('#room');
    assert.equal(await value('#room'), '');

    const room = `again${Date.now() % 1_000_000}`;
    // The same environment (display, bus, instance name) as the running app.
    second = supervise(
      spawn(APP_BIN, [`huddle://join?room=${room}&passcode=pw7&server=http://127.0.0.2:4100`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: driver.env,
      }),
      'second huddle-app',
    );
    const giveUp = new Promise((resolve) => setTimeout(resolve, 30000, null).unref());
    const ended = await Promise.race([second.exited, giveUp]);
    assert.ok(ended, `the second launch did not exit:\n${second.log().slice(-3000)}`);
    assert.deepEqual(ended, { code: 0, signal: null }, second.log().slice(-3000));

    // The running window got the link as it gets one at start: room and passcode filled,
    // the link's server shown for confirmation.
    await until(async () => (await value('#room')) === room, { what: 'the room from the second launch' });
    assert.equal(await value('#passcode'), 'pw7');
    await s.waitFor('#link-server');
    const notice = await s.execute('return document.querySelector("#link-server").textContent;');
    assert.match(notice, /127\.0\.0\.2/, notice);
  } catch (e) {
    e.message += `\n--- app and driver log (last 4000) ---\n${driver.log().slice(-4000)}`;
    throw e;
  }
});

test('without a session bus each launch runs alone and says why', { timeout: 120000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const home = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-nobus-'));
  const env = {
    ...process.env,
    DISPLAY: x.display,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    HUDDLE_FAKE_DEVICES: '1',
    HUDDLE_LOG: 'info,rtc_dtls=error',
    WEBKIT_DISABLE_DMABUF_RENDERER: '1',
    LIBGL_ALWAYS_SOFTWARE: '1',
    // A bus that is not there.
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(home, 'no-bus')}`,
  };
  const launch = (name) => {
    const p = supervise(
      spawn(APP_BIN, ['--server', 'http://127.0.0.1:9', 'huddle://join?room=alone'], { stdio: ['ignore', 'pipe', 'pipe'], env }),
      name,
    );
    t.after(() => p.stop(2000));
    return p;
  };
  const first = launch('first huddle-app');
  const second = launch('second huddle-app');
  // Both come up to their lobby (neither hands over to the other), each saying why.
  for (const p of [first, second]) {
    await until(() => /lobby interactive/.test(p.log()) || !p.alive, { timeoutMs: 60000, what: 'the lobby' });
    assert.ok(p.alive, p.log().slice(-3000));
    assert.match(p.log(), /single-instance: .*launching normally/, p.log().slice(-3000));
  }
});
