// Janus's VideoRoom in the lab, driven by Huddle's Rust Janus client (server/examples/
// janus_driver, on the server host next to Janus): Chromium on one site publishes its barcode
// camera and a tone, Chromium on another site (each behind its own NAT) subscribes and reads
// the barcodes. Then what the SFU path needs beyond that: pausing a feed (not on screen) and
// resuming it, the screen as a second published stream picked up by the subscriber, the
// publisher unpublishing (Janus renegotiates the subscription by itself) and leaving.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLab, labSkipReason } from './lab.mjs';
import { SERVER_IP } from './netlab.mjs';
import { startJanus, startDriver } from './janus.mjs';
import { pollUntil } from '../engine/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FILES = {
  '/sfu-probe.html': [path.join(here, 'page', 'sfu-probe.html'), 'text/html; charset=utf-8'],
  '/sfu-probe.js': [path.join(here, 'page', 'sfu-probe.js'), 'text/javascript; charset=utf-8'],
  '/barcode.mjs': [path.join(here, '..', 'engine', 'barcode.mjs'), 'text/javascript; charset=utf-8'],
};

/** The probe page in a Chromium on site `name` (served straight from disk, never the network). */
async function probePage(lab, name, ice) {
  const browser = await lab.browser(name);
  const context = await browser.newContext();
  await context.route('http://localhost/**', (route) => {
    const file = FILES[new URL(route.request().url()).pathname];
    if (!file) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ status: 200, contentType: file[1], body: readFileSync(file[0]) });
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page ${name}: ${e.message}`));
  await page.goto(`http://localhost/sfu-probe.html?ice=${encodeURIComponent(JSON.stringify(ice))}`);
  await page.waitForFunction(() => window.sfu?.ready);
  return page;
}

/** Relays a page's local candidates to Janus (trickle) until gathering completes. */
function trickle(page, which, driver, peer) {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const { candidates, done: complete } = await page.evaluate((w) => window.sfu.takeCandidates(w), which);
      for (const candidate of candidates) await driver.call('trickle', { peer, candidate });
      if (complete) {
        await driver.call('trickle', { peer, candidate: null });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { done, stop: () => (stopped = true) };
}

const stats = (page) => page.evaluate(() => window.sfu.stats());

test('Janus VideoRoom through the lab: publish, subscribe, pause, screen, unpublish', { skip: labSkipReason() ?? false, timeout: 180000 }, async (t) => {
  const lab = await startLab(t, { nat: 'eim' });
  const janus = await startJanus(lab.lab, 'srv', SERVER_IP);
  t.after(() => janus.stop());
  assert.deepEqual(Object.keys(janus.info.plugins), ['janus.plugin.videoroom']);
  const driver = await startDriver(lab.lab, 'srv', janus);
  t.after(() => driver.stop());
  const dump = () => `--- driver log ---\n${driver.logs().slice(-3000)}\n--- janus log ---\n${janus.logs().slice(-3000)}`;
  const ice = lab.iceServers('stun').page;
  const room = lab.room;
  const trickles = [];
  t.after(() => trickles.forEach((x) => x.stop()));

  try {
    await driver.call('create_room', { room });
    const [pageA, pageB] = await Promise.all([probePage(lab, 'a', ice), probePage(lab, 'b', ice)]);

    // B is in the room (a publisher handle that hears room news) before A publishes.
    await driver.call('publisher', { peer: 'b-room', room, feed: 'feed-b', display: 'B' });
    const joinedA = await driver.call('publisher', { peer: 'a', room, feed: 'feed-a', display: 'A' });
    assert.deepEqual(joinedA.joined.publishers, []);

    // A publishes (its offer to Janus; Janus's answer back; A's candidates trickled).
    const { offer, mids } = await pageA.evaluate(() => window.sfu.publishOffer());
    const { answer } = await driver.call('publish', { peer: 'a', offer, descriptions: [{ mid: mids.video, description: 'camera' }] });
    assert.equal(answer.type, 'answer');
    assert.match(answer.sdp, /a=candidate:.* 203\.0\.113\.10 /, "Janus's answer carries its candidate (half-trickle)");
    await pageA.evaluate((a) => window.sfu.publishAnswer(a), answer);
    trickles.push(trickle(pageA, 'pub', driver, 'a'));
    await driver.waitEvent((e) => e.peer === 'a' && e.kind === 'webrtcup', 15000);
    const news = await driver.waitEvent((e) => e.peer === 'b-room' && e.kind === 'publishers', 15000);
    assert.equal(news.publishers[0].id, 'feed-a');
    const camera = news.publishers[0].streams.find((s) => s.mid === mids.video);
    assert.equal(camera.description, 'camera');
    assert.equal(camera.codec, 'vp8');

    // B subscribes to all of A's streams on one receive-only connection (Janus offers).
    const subscribed = await driver.call('subscriber', { peer: 'b', room, streams: [{ feed: 'feed-a' }] });
    const subVideo = subscribed.streams.find((s) => s.type === 'video' && s.feed_mid === mids.video);
    assert.ok(subVideo, `the subscription carries A's camera: ${JSON.stringify(subscribed.streams)}`);
    assert.ok(subscribed.streams.some((s) => s.type === 'audio'), 'and its audio');
    const subAnswer = await pageB.evaluate((o) => window.sfu.subscribeAnswer(o), subscribed.offer);
    await driver.call('start', { peer: 'b', answer: subAnswer });
    trickles.push(trickle(pageB, 'sub', driver, 'b'));
    const startedAt = Date.now();
    const first = await pollUntil(
      () => stats(pageB),
      (s) => (s.video[subVideo.mid]?.barcodes ?? 0) >= 60 && s.audioPackets > 100,
      { timeoutMs: 30000, what: "B reading 60 of A's barcodes through Janus, and A's audio" },
    );
    const cam = first.video[subVideo.mid];
    console.log(`A → Janus → B camera: ${cam.barcodes} barcodes, ${cam.width}x${cam.height}, glass-to-glass p50 ${cam.p50} ms p95 ${cam.p95} ms, first frame ${cam.firstFrameAt - startedAt} ms after start; audio packets ${first.audioPackets}`);
    assert.equal(cam.width, 640);

    // Not on screen: B pauses A's camera (Janus stops relaying it), then resumes it.
    await driver.call('configure_subscriber', { peer: 'b', streams: [{ mid: subVideo.mid, send: false }] });
    await new Promise((r) => setTimeout(r, 1000));
    const paused = (await stats(pageB)).video[subVideo.mid].frames;
    await new Promise((r) => setTimeout(r, 2000));
    const stillPaused = (await stats(pageB)).video[subVideo.mid].frames;
    assert.ok(stillPaused - paused <= 2, `no frames while paused (${stillPaused - paused} arrived in 2 s)`);
    const resumeAt = Date.now();
    await driver.call('configure_subscriber', { peer: 'b', streams: [{ mid: subVideo.mid, send: true }] });
    const resumed = await pollUntil(
      () => stats(pageB),
      (s) => s.video[subVideo.mid].frames >= stillPaused + 30,
      { timeoutMs: 15000, what: 'frames again after resuming' },
    );
    console.log(`resume → 30 frames in ${resumed.video[subVideo.mid].lastFrameAt - resumeAt} ms`);

    // The screen as a second video stream of A's publication; B adds it to its subscription.
    const screen = await pageA.evaluate(() => window.sfu.addScreen());
    const reconf = await driver.call('configure_publisher', {
      peer: 'a',
      offer: screen.offer,
      descriptions: [
        { mid: mids.video, description: 'camera' },
        { mid: screen.mid, description: 'screen' },
      ],
    });
    await pageA.evaluate((a) => window.sfu.publishAnswer(a), reconf.answer);
    const screenNews = await driver.waitEvent(
      (e) => e.peer === 'b-room' && e.kind === 'publishers' && e.publishers[0].streams.some((s) => s.mid === screen.mid),
      15000,
    );
    assert.equal(screenNews.publishers[0].streams.find((s) => s.mid === screen.mid).description, 'screen');
    const added = await driver.call('update', { peer: 'b', subscribe: [{ feed: 'feed-a', mid: screen.mid }] });
    assert.equal(added.change, 'renegotiate', JSON.stringify(added));
    const subScreen = added.streams.find((s) => s.feed_mid === screen.mid);
    await driver.call('start', { peer: 'b', answer: await pageB.evaluate((o) => window.sfu.subscribeAnswer(o), added.offer) });
    const withScreen = await pollUntil(
      () => stats(pageB),
      (s) => (s.video[subScreen.mid]?.barcodes ?? 0) >= 30 && s.video[subScreen.mid].width === 1280,
      { timeoutMs: 20000, what: "B reading A's screen barcodes at 1280×720" },
    );
    const scr = withScreen.video[subScreen.mid];
    console.log(`A's screen → B: ${scr.barcodes} barcodes, ${scr.width}x${scr.height}, p50 ${scr.p50} ms`);
    const camFramesBefore = withScreen.video[subVideo.mid].frames;
    await pollUntil(() => stats(pageB), (s) => s.video[subVideo.mid].frames >= camFramesBefore + 15, {
      timeoutMs: 10000,
      what: 'the camera still flowing beside the screen',
    });

    // A unpublishes: the room hears it, and Janus renegotiates B's subscription by itself.
    const since = Date.now();
    await driver.call('unpublish', { peer: 'a' });
    await driver.waitEvent((e) => e.peer === 'b-room' && e.kind === 'unpublished' && e.feed === 'feed-a', 10000, { since });
    const updated = await driver.waitEvent((e) => e.peer === 'b' && e.kind === 'updated' && e.offer, 10000, { since });
    assert.ok(updated.streams.every((s) => !s.active || s.feed_id !== 'feed-a'), `A's streams are gone: ${JSON.stringify(updated.streams)}`);
    await driver.call('start', { peer: 'b', answer: await pageB.evaluate((o) => window.sfu.subscribeAnswer(o), updated.offer) });
    const after = await stats(pageB);
    assert.ok(after.subMids.filter((m) => m.direction && m.direction !== 'inactive' && m.direction !== 'stopped').length === 0, `B receives nothing any more: ${JSON.stringify(after.subMids)}`);

    await driver.call('leave', { peer: 'a' });
    await driver.waitEvent((e) => e.peer === 'b-room' && e.kind === 'leaving' && e.participant === 'feed-a', 10000, { since });
    const left = await driver.call('list', { room });
    assert.deepEqual(left.participants.map((p) => p.id), ['feed-b']);
    await driver.call('destroy_room', { room });
    assert.deepEqual((await stats(pageB)).errors, []);
    assert.deepEqual((await stats(pageA)).errors, []);
  } catch (e) {
    e.message += `\n${dump()}`;
    throw e;
  }
});
