// One running app: a second `huddle-app huddle://join?…` hands its link to the running
// window and exits. On Linux the two meet on the D-Bus session bus, so the test starts a
// session bus of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
