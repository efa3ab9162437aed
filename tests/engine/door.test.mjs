// The room's door (PROTOCOL.md 1.1 "Room access") from the `huddle` CLI, against the real
// server: a host that locks its room with a passcode and a waiting room; a guest without the
// passcode (or with a wrong one) refused; with it, it waits, the host lets it in, video flows,
// and the host removes it; a host that turns everyone away; `huddle rooms` listing a room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startHarness, HUDDLE_BIN, TEST_TIMEOUT_MS } from './helpers.mjs';

const PASSCODE = 'open-sesame';

/** Runs `huddle ARGS` to its end: { code, stdout, stderr }. */
function run(args, ms = 20000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(HUDDLE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`huddle ${args.join(' ')} did not end within ${ms} ms\n${stdout}\n${stderr}`));
    }, ms);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function withDump(h, body) {
  try {
    await body();
  } catch (e) {
    e.message += `\n\n${await h.dump()}`;
    throw e;
  }
}

test('a locked room with a waiting room: no passcode refused, wrong one refused, the right one waits, is let in, receives video, is removed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  await withDump(h, async () => {
    const host = h.huddle({
      email: 'host@example.com',
      duration: 40,
      extraArgs: ['--lock-passcode', PASSCODE, '--waiting-room', '--admit-all', '--remove-after', '5'],
    });
    await host.waitForLine(/room settings: locked on, waiting room on/, 20000);

    // Without the passcode: refused at the door, nobody in the room hears of it.
    const bare = h.huddle({ email: 'nopass@example.com', duration: 5 });
    const bareExit = await bare.waitExit(20000);
    assert.notEqual(bareExit.code, 0, 'joining a locked room without its passcode fails');
    assert.match(bare.stderr(), /passcode_required|pass its passcode/);
    assert.doesNotMatch(bare.stdout(), /joined room/);
    // A wrong passcode.
    const wrong = h.huddle({ email: 'wrong@example.com', duration: 5, extraArgs: ['--passcode', 'not-it'] });
    const wrongExit = await wrong.waitExit(20000);
    assert.notEqual(wrongExit.code, 0);
    assert.match(wrong.stderr(), /bad_passcode|wrong passcode/);
    assert.doesNotMatch(host.stdout(), /knock/, 'refused joiners never knock');

    // The right passcode: waits, knocks, is let in, receives the host's video.
    const guest = h.huddle({ email: 'guest@example.com', duration: 30, extraArgs: ['--passcode', PASSCODE] });
    await guest.waitForLine(/waiting in room .* waiting room/, 20000);
    await host.waitForLine(/knock: guest@example.com \((\S+)\) is waiting/, 10000);
    await host.waitForLine(/admitted \S+/, 10000);
    await guest.waitForLine(/admitted into room/, 10000);
    await guest.waitForLine(/joined room \S+ as \S+ .*host@example.com/, 10000);
    await guest.waitForLine(/receiving video from host@example.com/, 20000);

    // The host removes it (5 s after it joined): its calls end and it leaves with an error.
    await host.waitForLine(/removed \S+/, 20000);
    const guestExit = await guest.waitExit(20000);
    assert.match(guest.stdout(), /removed from room \S+ by \S+/);
    assert.notEqual(guestExit.code, 0, 'a removed participant exits with an error');
    const report = guest.report();
    assert.equal(report?.admission, 'removed');
    const video = report.received.find((s) => s.kind === 'video' && s.remote_email === 'host@example.com');
    assert.ok(video && video.frames_decoded > 10, `video flowed before the removal: ${JSON.stringify(video)}`);
    // Removed for the rest of the meeting: coming back goes through the waiting room
    // again (only the host can let it back in; this host admits everyone).
    const again = h.huddle({ email: 'guest@example.com', duration: 3, extraArgs: ['--passcode', PASSCODE] });
    await again.waitForLine(/waiting in room/, 20000);
    await host.waitForLine(/knock: guest@example.com [^\n]*\n(.|\n)*knock: guest@example.com/, 10000);
    await again.waitExit(20000);
    // The host is unharmed.
    assert.ok(host.alive, 'the host is still in its room');
    await host.stop(5000);
  });
});

test('a host that turns everyone away: the guest is denied and leaves with a report', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  await withDump(h, async () => {
    const host = h.huddle({ email: 'host@example.com', duration: 30, camera: 'none', mic: 'none', extraArgs: ['--waiting-room', '--deny-all'] });
    await host.waitForLine(/room settings: locked off, waiting room on/, 20000);
    const guest = h.huddle({ email: 'guest@example.com', duration: 20, camera: 'none', mic: 'none' });
    await guest.waitForLine(/waiting in room/, 20000);
    await host.waitForLine(/denied \S+/, 10000);
    const exit = await guest.waitExit(15000);
    assert.notEqual(exit.code, 0);
    assert.match(guest.stdout(), /did not let you in/);
    assert.equal(guest.report()?.admission, 'denied');
    assert.doesNotMatch(guest.stdout(), /joined room/);
    await host.stop(5000);
  });
});

test('huddle rooms lists a listed room with how many are in it, and not an unlisted one', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  await withDump(h, async () => {
    const host = h.huddle({ email: 'host@example.com', duration: 30, camera: 'none', mic: 'none', extraArgs: ['--listed'] });
    await host.waitForLine(/listed on/, 20000);
    const hidden = h.huddle({ email: 'other@example.com', room: `${h.room}-hidden`, duration: 30, camera: 'none', mic: 'none' });
    await hidden.waitForLine(/joined room/, 20000);
    const { code, stdout, stderr } = await run(['rooms', '--server', h.server.url, '--json']);
    assert.equal(code, 0, stderr);
    const rooms = JSON.parse(stdout);
    assert.deepEqual(rooms, [{ room: h.room, count: 1, locked: false }]);
    const table = await run(['rooms', '--server', h.server.url]);
    assert.match(table.stdout, new RegExp(`${h.room}\\s+1 in the room`));
    await host.stop(5000);
    await hidden.stop(5000);
  });
});
