// The desktop app end to end: the built binary in a real window under Xvfb, driven through
// WebDriver (tauri-driver + WebKitWebDriver), with synthetic devices, in a room with a
// `huddle` CLI participant.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServer } from '../server/helpers.mjs';
import { startHuddle, huddleId } from '../engine/helpers.mjs';
import { APP_BIN, artifactPath, startDriver, startXvfb, until, sleep } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const stats = (s) => s.execute('return window.__huddle ? window.__huddle.renderStats() : null;');
const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');

async function select(s, css, value) {
  // The device lists load after the lobby shows: wait for the option (slow under load).
  await until(
    () => s.execute('return [...(document.querySelector(arguments[0])?.options || [])].some((o) => o.value === arguments[1]);', [css, value]),
    { timeoutMs: 20000, what: `${css} offering ${value}` },
  ).catch(() => {});
  const ok = await s.execute(
    `const el = document.querySelector(arguments[0]);
     if (!el || ![...el.options].some((o) => o.value === arguments[1])) return false;
     el.value = arguments[1];
     el.dispatchEvent(new Event('input', { bubbles: true }));
     el.dispatchEvent(new Event('change', { bubbles: true }));
     return true;`,
    [css, value],
  );
  assert.ok(ok, `${css} has no option ${value}`);
}

async function screenshot(s, name) {
  writeFileSync(artifactPath(name), await s.screenshot());
}

/** Frames of `key` keep being drawn and carry readable barcodes. */
async function assertMovingVideo(s, key, { frames = 20, barcodes = 5, what }) {
  const first = await until(
    async () => {
      const st = (await stats(s))?.[key];
      return st && st.framesDrawn >= frames && st.barcodesRead >= barcodes ? st : null;
    },
    { timeoutMs: 30000, what: `${what}: ${frames} frames drawn with ${barcodes} barcodes on ${key}` },
  );
  // Two seconds: under load (two cores shared) a screen is drawn at a few frames a second.
  await sleep(2000);
  const later = (await stats(s))[key];
  assert.ok(later.framesDrawn > first.framesDrawn + 5, `${what} stopped moving: ${JSON.stringify(later)}`);
  assert.ok(later.lastBarcodeMs > first.lastBarcodeMs, `${what}: the barcode time did not advance`);
  return later;
}

test('the app: lobby, join, a CLI peer, chat both ways, sharing both ways, leave', { timeout: 240000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const server = await startServer();
  t.after(() => server.stop());
  const driver = await startDriver({ display: x.display });
  t.after(() => driver.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-e2e-'));
  const room = `app${Date.now() % 1_000_000}`;

  const s = await newSession(driver.url, { application: APP_BIN, args: ['--server', server.url] });
  t.after(() => s.close());
  let bob = null;
  t.after(async () => bob?.stop(2000));
  try {
    // Lobby: the synthetic camera previews and the tone moves the meter.
    await s.waitFor('#email');
    await select(s, '#camera-select', 'test');
    await select(s, '#mic-select', 'sine');
    await until(async () => (await stats(s))?.local?.framesDrawn > 10, { what: 'the camera preview' });
    await s.type('#email', 'ada@example.com');
    await s.type('#room', room);
    await s.type('#name', 'Ada');
    await screenshot(s, 'lobby.png');

    // Bad input is explained in place, and nothing is lost.
    await s.type('#email', 'not-an-email');
    await s.click('#join');
    await until(
      () => s.execute(`return [...document.querySelectorAll('[id$="error"]')].map((e) => e.textContent).join(' ').trim();`),
      { what: 'an inline error for the bad email' },
    );
    assert.equal((await appState(s)).screen, 'lobby');
    await s.type('#email', 'ada@example.com');

    await s.click('#join');
    await s.waitFor('#stage');
    await until(async () => (await appState(s))?.screen === 'room', { what: 'the room' });

    // A CLI participant joins: its tile appears with moving video, and it says hello.
    bob = startHuddle({
      server: server.url,
      email: 'bob@example.com',
      name: 'Bob',
      room,
      dir,
      duration: 70,
      chat: ['hello from bob'],
      share: 'test',
      shareAt: 30,
      // Long enough that the share still runs while it is checked, even when the steps
      // before run late.
      shareFor: 20,
    });
    const bobId = await huddleId(bob);
    await s.waitFor(`.tile[data-participant-id="${bobId}"]`);
    await assertMovingVideo(s, `${bobId}/video`, { what: "Bob's camera" });
    await until(
      () => s.execute(`return document.querySelector('#chat-list')?.textContent.includes('hello from bob');`),
      { what: "Bob's chat line in the chat list" },
    );

    // Chat from the app: shown at once, confirmed by the server, received by Bob.
    await s.click('#toggle-chat');
    await s.type('#chat-input', 'hello from the app');
    await s.click('#chat-send');
    await until(
      () =>
        s.execute(
          `return [...document.querySelectorAll('#chat-list [data-state="sent"]')].some((e) => e.textContent.includes('hello from the app'));`,
        ),
      { what: 'our chat line confirmed' },
    );
    await bob.waitForLine(/chat ada@example\.com: hello from the app/);
    await screenshot(s, 'room.png');

    // We share the synthetic screen; Bob receives it.
    await s.click('#toggle-share');
    await s.waitFor('#share-picker [data-source-id="test"]');
    await s.click('#share-picker [data-source-id="test"]');
    await bob.waitForLine(/receiving screen from ada@example\.com/, 20000);
    await sleep(3000);
    await s.click('#toggle-share');
    await bob.waitForLine(/screen share stopped by/, 10000);

    // Bob shares: the stage switches to his screen, which moves.
    await until(async () => (await appState(s))?.sharerId === bobId, { timeoutMs: 40000, what: 'Bob sharing' });
    await s.waitFor('#stage[data-mode="share"]');
    await assertMovingVideo(s, `${bobId}/screen`, { what: "Bob's screen" });
    await screenshot(s, 'room-share.png');
    await until(() => s.execute(`return !!document.querySelector('#stage[data-mode="grid"]');`), {
      timeoutMs: 30000,
      what: 'the grid again after Bob stops sharing',
    });

    // Leave: back in the lobby; Bob sees us go.
    await s.click('#leave');
    await until(async () => (await appState(s))?.screen === 'lobby', { what: 'the lobby after leaving' });
    await bob.waitForLine(/- ada@example\.com left/, 10000);
    await bob.stop(5000);
    const report = bob.report();
    assert.ok(report, `Bob wrote no report\n${bob.describe()}`);
    const fromAda = (kind) => report.received.find((r) => r.remote_email === 'ada@example.com' && r.kind === kind);
    const video = fromAda('video');
    const screen = fromAda('screen');
    assert.ok(video?.barcodes_read > 10, `Bob read no barcodes from Ada's camera: ${JSON.stringify(video)}`);
    assert.ok(screen?.barcodes_read > 10, `Bob read no barcodes from Ada's screen: ${JSON.stringify(screen)}`);
    assert.ok(fromAda('audio')?.packets > 50, `Bob heard nothing from Ada: ${JSON.stringify(fromAda('audio'))}`);
  } catch (e) {
    try {
      await screenshot(s, 'failure.png');
    } catch {}
    e.message += `\n--- app and driver log (last 6000) ---\n${driver.log().slice(-6000)}`;
    if (bob) e.message += `\n--- bob ---\n${bob.describe()}`;
    throw e;
  }
});
