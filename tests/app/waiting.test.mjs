// The app as a guest at a room with a door, under WebDriver. `huddle` CLIs host the rooms
// (locked with a passcode, waiting room on). The app is asked for the passcode, knocks, and
// shows its waiting screen (the room, its own camera); leaving it withdraws the knock (the
// host hears it) and the lobby says so; a host that admits after a while lets it into the
// call (the host's video drawn); a host that turns everyone away sends it back to the lobby
// with the reason; a server gone while waiting is said, and leaving still works.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServer } from '../server/helpers.mjs';
import { startHuddle } from '../engine/helpers.mjs';
import { APP_BIN, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const PASSCODE = 'let-me-in';
const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');
const stats = (s) => s.execute('return window.__huddle ? window.__huddle.renderStats() : null;');
const text = (s, css) => s.execute('return document.querySelector(arguments[0])?.textContent ?? null;', [css]);
const screen = async (s) => (await appState(s))?.screen;

test('the app knocks at CLI-hosted rooms: passcode prompt, waiting screen, leave; admitted; denied; server gone', { timeout: 240000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const server = await startServer();
  t.after(() => server.stop());
  const driver = await startDriver({ display: x.display });
  t.after(() => driver.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-waiting-'));
  const stamp = Date.now() % 1_000_000;
  const cli = [];
  t.after(async () => {
    for (const c of cli) await c.stop(2000);
  });
  /** A CLI host of `room` (a camera only where its video is looked for): joins first, locks it with the passcode, turns the waiting room on. */
  const host = async (room, policy, camera = 'none') => {
    const c = startHuddle({
      server: server.url,
      email: `host-${room}@example.com`,
      name: 'Host',
      room,
      dir,
      duration: 120,
      camera,
      mic: 'none',
      extraArgs: ['--lock-passcode', PASSCODE, '--waiting-room', ...policy],
    });
    cli.push(c);
    await c.waitForLine(/room settings: locked on, waiting room on/, 20000);
    return c;
  };
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', server.url, '--fake-devices'] });
  t.after(() => s.close());
  /** Types `room` in the lobby (replacing what is there) and presses Join. */
  const join = async (room) => {
    await s.execute('const r = document.querySelector("#room"); r.value = ""; r.dispatchEvent(new Event("input"));');
    await s.type('#room', room);
    await s.click('#join');
  };

  try {
    await s.waitFor('#email');
    await s.type('#email', 'guest@example.com');

    // 1. A host that decides nothing: the passcode prompt, the waiting screen, then leaving it.
    const roomA = `wait${stamp}a`;
    const hostA = await host(roomA, []);
    await join(roomA);
    await s.waitFor('#passcode-error:not([hidden])');
    assert.match(await text(s, '#passcode-error'), /locked/);
    await s.type('#passcode', PASSCODE);
    await s.click('#join');
    await until(async () => (await screen(s)) === 'waiting', { what: 'the waiting screen' });
    assert.equal(await text(s, '#waiting-title'), 'Waiting for the host to let you in');
    assert.equal(await text(s, '#waiting-room-number'), `Room ${roomA}`);
    const knock = await hostA.waitForLine(/knock: guest@example\.com \((\S+)\) is waiting/, 15000);
    // The camera preview runs while waiting (drawn frames keep counting).
    const drawn = async () => (await stats(s))?.local?.framesDrawn ?? 0;
    const before = await drawn();
    await until(async () => (await drawn()) > before + 5, { what: 'the camera preview on the waiting screen' });
    await s.click('#waiting-cancel');
    await hostA.waitForLine(new RegExp(`${knock[1]} stopped waiting`), 15000);
    await until(async () => (await screen(s)) === 'lobby', { what: 'back in the lobby' });
    assert.equal(await text(s, '#lobby-notice'), `You left the waiting room of room ${roomA}.`);

    // 2. A host that admits after 3 s: the waiting screen, then the room with the host's video.
    const roomB = `wait${stamp}b`;
    const hostB = await host(roomB, ['--admit-after', '3'], 'test:320x240');
    await join(roomB); // the passcode typed before is still there
    await until(async () => (await screen(s)) === 'waiting', { what: 'the waiting screen (room B)' });
    assert.equal(await text(s, '#waiting-room-number'), `Room ${roomB}`);
    await hostB.waitForLine(/admitted \S+/, 15000);
    await until(async () => (await screen(s)) === 'room', { what: 'let into room B' });
    const inside = await appState(s);
    assert.equal(inside.room, roomB);
    const hostId = inside.participants.find((p) => p.email === `host-${roomB}@example.com`)?.id;
    assert.ok(hostId, JSON.stringify(inside.participants));
    await until(async () => (await stats(s))?.[`${hostId}/video`]?.framesDrawn > 10, {
      timeoutMs: 30000,
      what: "the host's video drawn",
    });
    await hostB.waitForLine(/receiving video from guest@example\.com/, 30000);
    await s.click('#leave');
    await until(async () => (await screen(s)) === 'lobby', { what: 'back in the lobby after leaving room B' });

    // 3. A host that turns everyone away: back in the lobby with the reason.
    const roomC = `wait${stamp}c`;
    const hostC = await host(roomC, ['--deny-all']);
    await join(roomC);
    await hostC.waitForLine(/denied \S+/, 15000);
    await until(async () => (await screen(s)) === 'lobby' && (await text(s, '#lobby-notice')) === "The host didn't let you in.", {
      what: 'the lobby saying the host did not let us in',
    });

    // 4. The server goes away while we wait: the screen says so, and leaving still works.
    const roomD = `wait${stamp}d`;
    await host(roomD, []);
    await join(roomD);
    await until(async () => (await screen(s)) === 'waiting', { what: 'the waiting screen (room D)' });
    await server.kill9();
    await until(async () => /Reconnecting/.test(await text(s, '#waiting-status')), {
      timeoutMs: 30000,
      what: 'the waiting screen saying the connection is lost',
    });
    await s.click('#waiting-cancel');
    await until(async () => (await screen(s)) === 'lobby', { timeoutMs: 15000, what: 'back in the lobby with the server gone' });
    assert.equal(await text(s, '#lobby-notice'), `You left the waiting room of room ${roomD}.`);
  } catch (e) {
    e.message += `\n--- app and driver log (last 4000) ---\n${driver.log().slice(-4000)}`;
    for (const c of cli) e.message += `\n--- ${c.stdout().slice(-1500)}`;
    throw e;
  }
});
