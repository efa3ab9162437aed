#!/usr/bin/env node
// Issue 12: calls across NATs, Huddle and Chromium side by side in the network lab of tests/lab.
//
// Paths (ICE servers handed out by huddle-server, no ICE setting on either participant):
//   stun   both sites behind endpoint-independent NATs (masquerade), STUN → a direct pair
//   turn   both sites behind symmetric NATs (fully-random ports), STUN + TURN → a relay pair
// Pairs: HH (two `huddle` CLIs), CC (two Chromium participant pages), alternating per rep, a
// fresh lab (namespaces, coturn, huddle-server) for every call. Both ends send the 640×480 @ 30
// barcode camera and a tone; site a joins first, site b joins second (it calls).
//
// Per call:
//   join→first frame   site b's wait from sending room:join to the first decoded remote frame
//                      (Huddle: the report's time_to_first_frame_from_join_ms; Chromium: the
//                      page's first frame callback − its joinSentAt: same start, same end)
//   g2g p50 / p95      glass-to-glass latency from the barcodes, both directions pooled
//                      (median over the directions' percentiles)
//   pair               the selected candidate pair types, checked against the path
// The relay's glass-to-glass cost is then g2g(turn) − g2g(stun) per kind.
//
// Usage: node bench/lab/ice.mjs [--reps 2] [--seconds 10] [--paths stun,turn] [--pairs HH,CC]
// Env: HUDDLE_BIN, HUDDLE_SERVER_BIN, HUDDLE_CHROMIUM. Needs root (network namespaces).
const { startLab, labSkipReason, connectionsWith } = await import('../../tests/lab/lab.mjs');
const { sleep, latencySummary, remoteByEmail, receivedFrom, huddleId } = await import('../../tests/engine/helpers.mjs');

const EMAIL = { a: 'site-a@example.com', b: 'site-b@example.com' };
const TONE = { a: 550, b: 660 };
const PATHS = { stun: { nat: 'eim', serverIce: 'stun' }, turn: { nat: 'symmetric', serverIce: 'turn' } };

function parseArgs(argv) {
  const o = { reps: 2, seconds: 10, paths: ['stun', 'turn'], pairs: ['HH', 'CC'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--reps') o.reps = Number(v());
    else if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--paths') o.paths = v().split(',');
    else if (a === '--pairs') o.pairs = v().split(',').map((s) => s.toUpperCase());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.seconds >= 6)) throw new Error('--seconds must be ≥ 6');
  for (const p of o.paths) if (!PATHS[p]) throw new Error(`unknown path ${p} (stun, turn)`);
  for (const p of o.pairs) if (!['HH', 'CC'].includes(p)) throw new Error(`unknown pair ${p} (HH, CC)`);
  return o;
}

const round = (x, d = 0) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const isRelay = (pair) => pair && (pair.local === 'relay' || pair.remote === 'relay');

/** One Huddle ↔ Huddle call: { firstFrameMs, g2g: [{p50,p95,n}], pairs: [{local,remote}] }. */
async function callHH(lab, seconds) {
  const a = lab.huddle('a', { email: EMAIL.a, ice: 'none', duration: seconds + 2 });
  await huddleId(a);
  const b = lab.huddle('b', { email: EMAIL.b, ice: 'none', duration: seconds });
  await Promise.all([a.waitExit(seconds * 1000 + 40000), b.waitExit(seconds * 1000 + 40000)]);
  const ra = a.report();
  const rb = b.report();
  const va = receivedFrom(ra, EMAIL.b, 'video')[0];
  const vb = receivedFrom(rb, EMAIL.a, 'video')[0];
  const pairs = [connectionsWith(ra, EMAIL.b)[0], connectionsWith(rb, EMAIL.a)[0]].map((c) => (c ? { local: c.local_candidate_type, remote: c.remote_candidate_type } : null));
  return {
    firstFrameMs: vb?.time_to_first_frame_from_join_ms ?? null,
    connectMs: connectionsWith(rb, EMAIL.a)[0]?.connect_ms ?? null,
    g2g: [va, vb].map((v) => (v ? { n: v.latency_ms?.n ?? 0, p50: v.latency_ms?.p50 ?? null, p95: v.latency_ms?.p95 ?? null } : null)),
    pairs,
  };
}

/** One Chromium ↔ Chromium call (participant pages, each in its site's client namespace). */
async function callCC(lab, seconds) {
  const ba = await lab.browser('a');
  const bb = await lab.browser('b');
  const pa = await lab.page(ba, { email: EMAIL.a, ice: 'server', tone: TONE.a });
  const pb = await lab.page(bb, { email: EMAIL.b, ice: 'server', tone: TONE.b });
  await sleep(seconds * 1000);
  const sa = remoteByEmail(await pa.stats(), EMAIL.b);
  const sb = remoteByEmail(await pb.stats(), EMAIL.a);
  const { joinSentAt } = await pb.info();
  const g = (s) => {
    if (!s) return null;
    const l = latencySummary(s.latencies);
    return { n: l.n, p50: l.p50 ?? null, p95: l.p95 ?? null };
  };
  await pa.leave().catch(() => {});
  await pb.leave().catch(() => {});
  return {
    firstFrameMs: sb?.firstFrameAt && joinSentAt ? sb.firstFrameAt - joinSentAt : null,
    connectMs: null,
    g2g: [g(sa), g(sb)],
    pairs: [sa?.selectedPair ?? null, sb?.selectedPair ?? null].map((p) => (p ? { local: p.local, remote: p.remote } : null)),
  };
}

async function runOne(path, pair, seconds) {
  const lab = await startLab(null, { nat: PATHS[path].nat, serverIce: PATHS[path].serverIce });
  try {
    const r = pair === 'HH' ? await callHH(lab, seconds) : await callCC(lab, seconds);
    const problems = [];
    if (r.firstFrameMs === null) problems.push('no first frame');
    for (const p of r.pairs) {
      if (!p) problems.push('no selected pair');
      else if ((path === 'turn') !== Boolean(isRelay(p))) problems.push(`pair ${p.local}→${p.remote} on the ${path} path`);
    }
    if (r.g2g.some((x) => !x || !x.n)) problems.push('no glass-to-glass samples in a direction');
    return { ...r, problems };
  } catch (e) {
    return { error: e.message };
  } finally {
    await lab.close();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const skip = labSkipReason();
  if (skip) throw new Error(`cannot build the lab: ${skip}`);
  const results = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const path of o.paths) {
      // Alternate which kind goes first, so neither always runs on the busier moment.
      const pairs = rep % 2 ? o.pairs : [...o.pairs].reverse();
      for (const pair of pairs) {
        const t0 = Date.now();
        const r = await runOne(path, pair, o.seconds);
        results.push({ rep, path, pair, ...r });
        const g = (r.g2g || []).map((x) => (x ? `${round(x.p50)}/${round(x.p95)}` : '–')).join(', ');
        const pr = (r.pairs || []).map((p) => (p ? `${p.local}→${p.remote}` : '–')).join(', ');
        console.log(
          `rep ${rep} ${path} ${pair}: ${r.error ? `ERROR ${r.error}` : `first frame ${round(r.firstFrameMs)} ms (connect ${round(r.connectMs) ?? '–'}), g2g a←b, b←a p50/p95 ${g} ms, pairs ${pr}${r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : ''}`} (${round((Date.now() - t0) / 1000, 1)} s)`,
        );
      }
    }
  }

  // The table: medians over reps (first frame) and over every direction of every rep (g2g).
  const ok = results.filter((r) => !r.error && r.problems.length === 0);
  const cell = (path, pair) => {
    const rs = ok.filter((r) => r.path === path && r.pair === pair);
    const dirs = rs.flatMap((r) => r.g2g);
    return {
      n: rs.length,
      first: rs.map((r) => round(r.firstFrameMs)),
      firstMed: median(rs.map((r) => r.firstFrameMs)),
      p50: median(dirs.map((d) => d.p50)),
      p95: median(dirs.map((d) => d.p95)),
    };
  };
  const kind = { HH: 'Huddle ↔ Huddle', CC: 'Chromium ↔ Chromium' };
  const lines = [];
  lines.push('| pair | path | calls ok | join → first remote frame, ms (median; each call) | g2g p50 / p95 ms |');
  lines.push('|---|---|---|---|---|');
  for (const pair of o.pairs)
    for (const path of o.paths) {
      const c = cell(path, pair);
      lines.push(`| ${kind[pair]} | ${path === 'stun' ? 'STUN, EIM NATs (direct)' : 'TURN, symmetric NATs (relayed)'} | ${c.n}/${o.reps} | ${round(c.firstMed) ?? '–'} (${c.first.join(', ')}) | ${round(c.p50, 1) ?? '–'} / ${round(c.p95, 1) ?? '–'} |`);
    }
  if (o.paths.includes('stun') && o.paths.includes('turn')) {
    lines.push('');
    lines.push('| pair | relay cost: g2g p50 relayed − direct, ms | p95 relayed − direct, ms |');
    lines.push('|---|---|---|');
    for (const pair of o.pairs) {
      const d = cell('stun', pair);
      const t = cell('turn', pair);
      const diff = (x, y) => (x !== null && y !== null ? round(x - y, 1) : '–');
      lines.push(`| ${kind[pair]} | ${diff(t.p50, d.p50)} | ${diff(t.p95, d.p95)} |`);
    }
  }
  console.log(`\n${lines.join('\n')}`);
  const failed = results.length - ok.length;
  if (failed) console.log(`\n${failed} call(s) left out of the table (errors or problems above)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
