// The app over TLS (issue 12, case 7): huddle-server serves HTTPS/WSS with a certificate from a
// test CA. The app trusting that CA (HUDDLE_CA_CERT) joins the https:// server and draws a
// `huddle` CLI peer's video (the CLI trusting it with --ca-cert); the app trusting another CA
// is refused with a clear error in the lobby and never joins.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServer } from '../server/helpers.mjs';
import { startHuddle } from '../engine/helpers.mjs';
import { makeCa } from '../lib/testca.mjs';
import { APP_BIN, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const stats = (s) => s.execute('return window.__huddle ? window.__huddle.renderStats() : null;');
const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');
const lobbyError = (s) => s.execute(`const e = document.querySelector('#lobby-error'); return e && !e.hidden ? e.textContent : null;`);

/** The app under WebDriver trusting `ca`, on the lobby of `serverUrl`. */
async function openApp(t, display, ca, serverUrl) {
  const driver = await startDriver({ display, env: { HUDDLE_CA_CERT: ca } });
  t.after(() => driver.stop());
  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', serverUrl, '--fake-devices'] });
  t.after(() => s.close());
  // The window may still be loading its page when the session starts (a script run across
  // the load fails with "unload"): ask again until the lobby is there.
  await until(() => s.execute(`return !!document.querySelector('#email');`).catch(() => false), { timeoutMs: 20000, what: 'the lobby' });
  return s;
}

test('the app joins an https server with a test CA, and refuses one its CA did not sign', { timeout: 180000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = { good: makeCa(dir, 'good'), other: makeCa(dir, 'other') };
  const x = await startXvfb();
  t.after(() => x.stop());
  const server = await startServer({ args: ['--tls-cert', certs.good.cert, '--tls-key', certs.good.key] });
  t.after(() => server.stop());
  assert.match(server.url, /^https:\/\//);
  const room = `tls${Date.now() % 1_000_000}`;
  const cli = [];
  t.after(async () => {
    for (const c of cli) await c.stop(2000);
  });

  // The right CA: the app joins, a CLI peer joins over WSS too, and its video is drawn.
  const s = await openApp(t, x.display, certs.good.ca, server.url);
  await s.type('#email', 'ada@example.com');
  await s.type('#room', room);
  await s.click('#join');
  await until(async () => (await appState(s))?.screen === 'room', { timeoutMs: 30000, what: 'the room over WSS' });
  const bob = startHuddle({ server: server.url, email: 'bob@example.com', name: 'Bob', room, dir, duration: 40, extraArgs: ['--ca-cert', certs.good.ca] });
  cli.push(bob);
  const bobId = (await bob.waitForLine(/joined room \S+ as (\S+)/, 20000))[1];
  await bob.waitForLine(/receiving video from ada@example\.com/, 30000);
  await until(async () => (await stats(s))?.[`${bobId}/video`]?.framesDrawn > 20, { timeoutMs: 30000, what: "Bob's video drawn" });
  await s.close();

  // Another CA: a clear error in the lobby, no room.
  const w = await openApp(t, x.display, certs.other.ca, server.url);
  await w.type('#email', 'mallory@example.com');
  await w.type('#room', room);
  await w.click('#join');
  const said = await until(() => lobbyError(w), { timeoutMs: 30000, what: 'a connection error in the lobby' });
  console.log(`wrong CA, the lobby says: ${said}`);
  assert.match(said, /certificate|verif|TLS/i);
  assert.notEqual((await appState(w))?.screen, 'room');
});
