// The app started from a join link with no server configured: it hosts the signaling
// server itself and joins at once; a CLI participant reaches it through that server.
// And bad input or an unreachable server is explained in the lobby, losing nothing.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startHuddle, huddleId } from '../engine/helpers.mjs';
import { APP_BIN, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');
const appInfo = (s) => s.executeAsync('return await window.__TAURI_INTERNALS__.invoke("app_info", {});');

test('a huddle:// link with --join, and a server hosted by the app', { timeout: 120000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const driver = await startDriver({ display: x.display, env: { HUDDLE_SERVER: '' } });
  t.after(() => driver.stop());
  const room = `link${Date.now() % 1_000_000}`;
  const s = await newSession(driver.url, {
    application: APP_BIN,
    args: [`huddle://join?room=${room}`, '--email', 'cara@example.com', '--name', 'Cara', '--join'],
  });
  t.after(() => s.close());
  let dan = null;
  t.after(async () => dan?.stop(2000));
  try {
    await until(async () => (await appState(s))?.screen === 'room', { what: 'joined at once from the link' });
    const info = await appInfo(s);
    assert.equal(info.server.hosted, true, JSON.stringify(info.server));
    assert.match(info.server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-link-'));
    dan = startHuddle({ server: info.server.url, email: 'dan@example.com', room, dir, duration: 30 });
    const danId = await huddleId(dan);
    await s.waitFor(`.tile[data-participant-id="${danId}"]`);
    await until(async () => (await s.execute('return window.__huddle.renderStats();'))?.[`${danId}/video`]?.barcodesRead > 5, {
      what: "Dan's video through the hosted server",
    });
    const state = await appState(s);
    assert.equal(state.room, room);
  } catch (e) {
    e.message += `\n--- app and driver log (last 4000) ---\n${driver.log().slice(-4000)}`;
    if (dan) e.message += `\n--- dan ---\n${dan.describe()}`;
    throw e;
  }
});

test('the lobby explains bad input and an unreachable server', { timeout: 90000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const driver = await startDriver({ display: x.display });
  t.after(() => driver.stop());
  // Nothing listens on port 9 of this machine.
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', 'http://127.0.0.1:9'] });
  t.after(() => s.close());
  const text = (css) => s.execute('return (document.querySelector(arguments[0])?.textContent || "").trim();', [css]);
  const visible = (css) => s.execute('const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.textContent.trim().length > 0;', [css]);

  await s.waitFor('#email');
  await s.type('#email', 'eve@example.com');
  await s.type('#room', 'no spaces!');
  await s.click('#join');
  await until(() => visible('#room-error'), { what: 'an error under the room field' });
  assert.equal((await appState(s)).screen, 'lobby');
  // What was typed is kept.
  assert.equal(await s.execute('return document.querySelector("#email").value;'), 'eve@example.com');

  await s.type('#room', '4242');
  await s.click('#join');
  await until(() => visible('#lobby-error'), { timeoutMs: 30000, what: 'the unreachable-server message' });
  const message = await text('#lobby-error');
  assert.match(message, /reach/i, message);
  assert.match(message, /127\.0\.0\.1:9/, message);
  assert.equal((await appState(s)).screen, 'lobby');
  assert.equal(await s.execute('return document.querySelector("#room").value;'), '4242');
});
