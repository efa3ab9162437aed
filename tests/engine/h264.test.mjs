// Chromium sends H.264 to Huddle; Huddle sends VP8 back. One call, both join orders:
//  - page first, then huddle: huddle (the newcomer) calls; Huddle's offer lists VP8 (96) and
//    H.264 (102), VP8 first: the page answers with both and, as JSEP lets the offerer's
//    preference win, sends VP8 — the offer carrying H.264 is what is checked;
//  - huddle first, then page: the page calls with H.264 first in its offer; Huddle's answer
//    keeps H.264 and the page sends it.
// Huddle always sends VP8 (it receives and decodes either), so the page must still read
// Huddle's VP8 barcodes.
//
// The page's own outbound-rtp stats tell which codec it really sends. When this Chromium
// cannot send H.264 at all (no H.264 in RTCRtpSender.getCapabilities('video'), as in builds
// without proprietary codecs), the test says so and checks instead that Huddle offers H.264
// and that the call still works in VP8.
import { test } from 'node:test';
import {
  startHarness,
  pollUntil,
  remoteByEmail,
  summarizeRemote,
  latencySummary,
  receivedFrom,
  describeReceived,
  pageReceivedProblems,
  huddleReceivedProblems,
  huddleExitProblems,
  assertNoProblems,
  huddleId,
  HUDDLE_TONE_HZ,
  TEST_TIMEOUT_MS,
} from './helpers.mjs';

const PAGE_TONE = 660;
const PAGE = 'chromium-h264@example.com';
const HUDDLE = 'huddle@example.com';
const MIN = 100; // frames decoded, barcodes read (each way)

/** "video/H264 ...packetization-mode=1...profile-level-id=42e01f|42001f" (constrained baseline). */
const isWantedH264 = (line) =>
  /^video\/H264\b/i.test(line) && /packetization-mode=1/.test(line) && /profile-level-id=42(e0|00)1f/i.test(line);

for (const order of ['page first, huddle calls the page', 'huddle first, the page calls huddle']) {
  test(`Chromium sends H.264 to Huddle, Huddle sends VP8 (${order})`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const h = await startHarness(t);
    const browser = await h.browser();
    const pageFirst = order.startsWith('page first');
    const problems = [];

    let page;
    let hud;
    if (pageFirst) {
      page = await h.page(browser, { email: PAGE, tone: PAGE_TONE, codec: 'h264' });
      hud = h.huddle({ email: HUDDLE, duration: 8 });
    } else {
      hud = h.huddle({ email: HUDDLE, duration: 10 });
      await huddleId(hud);
      page = await h.page(browser, { email: PAGE, tone: PAGE_TONE, codec: 'h264' });
    }
    const caps = (await page.info()).videoSendCapabilities;
    const canSendH264 = caps.some(isWantedH264);
    if (!canSendH264)
      console.log(`[h264 ${order}] this Chromium has no H.264 encoder (send capabilities: ${caps.join(', ')}): checking Huddle's SDP and a VP8 call instead`);

    let exit = null;
    hud.exited.then((e) => {
      exit = e;
    });
    try {
      await pollUntil(
        () => page.stats(),
        (s) => exit !== null || (remoteByEmail(s, HUDDLE)?.barcodes ?? 0) >= MIN,
        { timeoutMs: 40000, what: `the page reading ${MIN} barcodes from huddle` },
      );
    } catch (e) {
      problems.push(e.message);
    }
    // The page's outbound stats are sampled once a second: take them while the call is up.
    const during = remoteByEmail(await page.stats(), HUDDLE);
    exit = await hud.waitExit(30000);
    const report = hud.report();
    const stats = await page.stats();
    const r = remoteByEmail(stats, HUDDLE);
    const out = r?.outbound || during?.outbound || null;
    const info = await page.info();

    problems.push(...huddleExitProblems(exit, report, { who: 'huddle', peersConnected: 1 }));
    // (A play() interrupted by the next load is harmless; anything else is not.)
    const pageErrors = info.errors.filter((e) => !/play\(\) request was interrupted/.test(e));
    if (pageErrors.length) problems.push(`page errors: ${JSON.stringify(pageErrors)}`);

    // Huddle's SDP (its offer when it calls, its answer when the page calls) carries H.264.
    const huddleSdp = r?.remoteVideoCodecs || [];
    if (!huddleSdp.some((c) => /^H264\/90000 .*packetization-mode=1.*profile-level-id=42e01f/i.test(c)))
      problems.push(`Huddle's ${pageFirst ? 'offer' : 'answer'} has no H.264 42e01f packetization-mode=1: ${JSON.stringify(huddleSdp)}`);

    // What the page really sent, and what Huddle decoded.
    // The offerer's codec order wins: H.264 flows when the page offers it first.
    const sentCodec = canSendH264 && !pageFirst ? 'H264' : 'VP8';
    if (!out) problems.push('page: no outbound video stats');
    else {
      if (out.codec !== `video/${sentCodec}`) problems.push(`page: sends ${out.codec} (pt ${out.payloadType}), expected video/${sentCodec}`);
      if (!(out.framesEncoded >= MIN)) problems.push(`page: ${out.framesEncoded} frames encoded (< ${MIN})`);
    }
    const history = r?.outboundCodecs || [];
    if (history.length !== 1 || history[0] !== `video/${sentCodec}`) problems.push(`page: sent codecs over the call ${JSON.stringify(history)}, expected only video/${sentCodec}`);
    if (canSendH264 && !pageFirst && !(r?.codecPreference?.applied > 0 && isWantedH264(r.codecPreference.first || '')))
      problems.push(`page: H.264 preference not applied: ${JSON.stringify(r?.codecPreference)}`);
    problems.push(
      ...huddleReceivedProblems(report, PAGE, { who: 'huddle ← page', minFrames: MIN, minBarcodes: MIN, minAudioPackets: 200, videoCodec: sentCodec }),
    );
    const hv = receivedFrom(report, PAGE, 'video')[0];
    if (hv && !hv.codec) problems.push('huddle ← page: the report names no codec for the video stream');

    // Huddle's VP8 still reaches the page.
    problems.push(...pageReceivedProblems(stats, HUDDLE, { who: 'page ← huddle', minBarcodes: MIN, tone: HUDDLE_TONE_HZ }));
    const inbound = r?.inbound || during?.inbound || null;
    if (inbound?.codec !== 'video/VP8')
      problems.push(`page ← huddle: receives ${inbound?.codec ?? 'no known codec'} (${inbound?.packetsReceived ?? 0} video packets, ${inbound?.framesDecoded ?? 0} frames decoded), expected video/VP8`);

    // Figures.
    const pageLat = latencySummary(r?.latencies);
    const ha = receivedFrom(report, PAGE, 'audio')[0];
    console.log(`[h264 ${order}] page sends ${out?.codec} pt ${out?.payloadType} (${out?.fmtp}) encoder ${out?.encoder}: ${out?.framesEncoded} frames (${out?.keyFramesEncoded} key) ${out?.width}x${out?.height} @ ${out?.fps} fps, ${out?.bytesSent} bytes; limited by ${out?.qualityLimitation}`);
    console.log(`[h264 ${order}] SDP video codecs: page ${JSON.stringify(r?.localVideoCodecs)}; huddle ${JSON.stringify(huddleSdp)}`);
    console.log(`[h264 ${order}] Chromium → huddle: ${describeReceived(hv)}; decode errors ${hv?.decode_errors}; ${describeReceived(ha)}`);
    console.log(`[h264 ${order}] huddle → Chromium: ${JSON.stringify(r ? summarizeRemote(r) : null)}`);
    console.log(
      `[h264 ${order}] latency p50/p95 ms: page→huddle (${hv?.codec}) ${hv?.latency_ms?.p50}/${hv?.latency_ms?.p95} (n ${hv?.latency_ms?.n}); huddle→page (${inbound?.codec ?? '?'}) ${pageLat.p50}/${pageLat.p95} (n ${pageLat.n}); ` +
        `first frame at huddle ${hv?.time_to_first_frame_ms} ms`,
    );

    await assertNoProblems(h, problems, `Chromium H.264 → Huddle (${order})`);
  });
}
