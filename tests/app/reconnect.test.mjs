// The signaling server goes away mid-call and comes back: the app shows a banner while it
// reconnects, rejoins the room on its own, and the call with a CLI peer resumes.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServer } from '../server/helpers.mjs';
import { startHuddle, huddleId } from '../engine/helpers.mjs';
import { APP_BIN, freePort, startDriver, startXvfb, until } from './helpers.mjs';
import { newSession } from './webdriver.mjs';

const appState = (s) => s.execute('return window.__huddle ? window.__huddle.state() : null;');
const bannerShown = (s) => s.execute('const b = document.querySelector("#reconnect-banner"); return !!b && !b.hidden;');

test('the app rides out a signaling server restart', { timeout: 150000 }, async (t) => {
  const x = await startXvfb();
  t.after(() => x.stop());
  const listen = `127.0.0.1:${await freePort()}`;
  let server = await startServer({ listen });
  t.after(() => server.stop());
  const driver = await startDriver({ display: x.display });
  t.after(() => driver.stop());
  const room = `re${Date.now() % 1_000_000}`;
  const s = await newSession(driver.url, {
    application: APP_BIN,
    args: ['--server', server.url, '--email', 'fay@example.com', '--room', room, '--join'],
  });
  t.after(() => s.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'huddle-app-reconnect-'));
  const gus = startHuddle({ server: server.url, email: 'gus@example.com', room, dir, duration: 90 });
  t.after(() => gus.stop(2000));
  try {
    await until(async () => (await appState(s))?.screen === 'room', { what: 'joined from the command line' });
    const gusId = await huddleId(gus);
    await s.waitFor(`.tile[data-participant-id="${gusId}"]`);
    assert.equal(await bannerShown(s), false);
    const firstSelfId = (await appState(s)).selfId;

    await server.kill9();
    await until(() => bannerShown(s), { timeoutMs: 30000, what: 'the reconnecting banner' });
    assert.equal((await appState(s)).screen, 'room', 'the room stays on screen while reconnecting');

    server = await startServer({ listen });
    await until(async () => !(await bannerShown(s)), { timeoutMs: 60000, what: 'the banner gone after rejoining' });
    // We are a new connection in the same room; Gus rejoins too, with a new id, and his
    // tile comes back with moving video.
    const after = await appState(s);
    assert.equal(after.screen, 'room');
    assert.notEqual(after.selfId, firstSelfId, 'a rejoin gets a new id');
    await gus.waitForLine(/signaling back: rejoined/, 60000);
    const gus2 = await until(
      async () =>
        (await appState(s))?.participants?.find((p) => p.email === 'gus@example.com' && p.id !== gusId),
      { timeoutMs: 30000, what: 'Gus back in the participant list under his new id' },
    );
    assert.ok(
      !(await appState(s)).participants.some((p) => p.id === gusId),
      "Gus's old id is gone from the list",
    );
    await s.waitFor(`.tile[data-participant-id="${gus2.id}"]`);
    await until(
      async () => (await s.execute('return window.__huddle.renderStats();'))[`${gus2.id}/video`]?.barcodesRead > 5,
      { timeoutMs: 40000, what: "Gus's video after the restart" },
    );
  } catch (e) {
    e.message += `\n--- app and driver log (last 5000) ---\n${driver.log().slice(-5000)}\n--- gus ---\n${gus.describe()}`;
    throw e;
  }
});
