// The room's door in the app, under WebDriver: the app's user hosts the room, locks it with a
// passcode and turns the waiting room on; a `huddle` CLI without the passcode is refused; with
// it, it knocks, the host admits it from the knock toast, video flows both ways; the host
// removes it.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServer } from '../server/helpers.mjs';
import { startHuddle } from '../engine/helpers.mjs';
import { APP_BIN, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const PASSCODE = 'open-sesame';
const stats = (s) => s.execute('return window.__huddle ? window.__huddle.renderStats() : null;');
const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');

test('the app hosts a locked room with a waiting room: refuse, knock, admit, video, remove', { timeout: 180000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const server = await startServer();
  t.after(() => server.stop());
  const driver = await startDriver({ display: x.display });
  t.after(() => driver.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-door-'));
  const room = `door${Date.now() % 1_000_000}`;
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', server.url, '--fake-devices'] });
  t.after(() => s.close());
  const cli = [];
  t.after(async () => {
    for (const c of cli) await c.stop(2000);
  });
  const guest = (extraArgs, duration = 40) => {
    const c = startHuddle({ server: server.url, email: 'bob@example.com', name: 'Bob', room, dir, duration, extraArgs });
    cli.push(c);
    return c;
  };

  await s.waitFor('#email');
  await s.type('#email', 'ada@example.com');
  await s.type('#room', room);
  await s.click('#join');
  await until(async () => (await appState(s))?.screen === 'room', { what: 'the room' });

  // The host's controls: a passcode, then the waiting room.
  await s.click('#toggle-participants');
  await s.waitFor('#host-controls:not([hidden])');
  await s.type('#host-passcode', PASSCODE);
  await s.click('#host-lock');
  await until(() => s.execute(`return document.querySelector('#host-state')?.textContent === 'Locked with a passcode';`), {
    what: 'the room locked',
  });
  await s.click('#host-waiting-room');
  await until(() => s.execute(`return document.querySelector('#host-waiting-room')?.checked === true;`), { what: 'the waiting room on' });

  // Without the passcode: refused.
  const bare = guest([], 5);
  const bareExit = await bare.waitExit(20000);
  assert.notEqual(bareExit.code, 0);
  assert.match(bare.stderr(), /passcode_required/);

  // With it: knocks (a toast, and the waiting list); the host admits; video flows.
  const bob = guest(['--passcode', PASSCODE]);
  await bob.waitForLine(/waiting in room/, 20000);
  await s.waitFor('[data-toast-admit]', 15000);
  await s.waitFor('#waiting-list [data-admit]', 5000);
  await s.click('#waiting-list [data-admit]');
  const m = await bob.waitForLine(/joined room \S+ as (\S+)/, 15000);
  const bobId = m[1];
  await bob.waitForLine(/receiving video from ada@example\.com/, 30000);
  await until(async () => (await stats(s))?.[`${bobId}/video`]?.framesDrawn > 20, { timeoutMs: 30000, what: "Bob's video drawn" });

  // The host removes Bob: his calls end and he leaves.
  await s.waitFor(`[data-remove="${bobId}"]`);
  await s.click(`[data-remove="${bobId}"]`);
  const exit = await bob.waitExit(20000);
  assert.notEqual(exit.code, 0);
  assert.match(bob.stdout(), /removed from room/);
  await until(() => s.execute(`return !document.querySelector('.tile[data-participant-id="${bobId}"]');`), { what: "Bob's tile gone" });
});
