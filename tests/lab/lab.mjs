// A call lab: the network of netlab.mjs with huddle-server and coturn on the server host,
// and participants (the `huddle` CLI, Chromium pages) on the client hosts behind their NATs.
//
//   const lab = await startLab(t, { nat: 'symmetric' });
//   const a = lab.huddle('a', { email: 'a@example.com', ice: 'turn' });
//   const page = await lab.page('b', { email: 'b@example.com', ice: 'turn' });
//   await lab.site('a').router.cap({ kbit: 500 });
//
// Everything started here stops in t.after (or close()), and the namespaces go with it.
//
// ICE servers: the server hands them out (PROTOCOL.md 1.1 "ICE servers") when startLab is
// given serverIce ('stun' or 'turn': its --stun/--turn-url/--turn-secret point at the lab's
// coturn); participants may also be given their own (iceServers(mode): `--ice-server` for
// the CLI, the page's `ice` parameter; ice 'none' leaves them the server's alone).
import { chromium } from 'playwright-core';
import { startServer } from '../server/helpers.mjs';
import { startHuddle, startPageServer, openParticipant, CHROMIUM, CHROMIUM_ARGS, uniqName } from '../engine/helpers.mjs';
import { buildInternet, labSkipReason, SERVER_IP } from './netlab.mjs';
import { startCoturn } from './coturn.mjs';
import { startJanus } from './janus.mjs';

export { labSkipReason };

/** Where pages load from inside a namespace: intercepted by Playwright, never on the network. */
const PAGE_ORIGIN = 'http://localhost';

/**
 * The page server (127.0.0.1 in this process's namespace) served to browsers that cannot
 * reach it: every request to PAGE_ORIGIN is answered from it through a Playwright route.
 */
function routedPages(pageServer) {
  return {
    url: PAGE_ORIGIN,
    async route(context) {
      await context.route(`${PAGE_ORIGIN}/**`, async (route) => {
        const url = new URL(route.request().url());
        try {
          const res = await fetch(`${pageServer.url}${url.pathname}${url.search}`);
          const body = Buffer.from(await res.arrayBuffer());
          await route.fulfill({ status: res.status, contentType: res.headers.get('content-type') || 'application/octet-stream', body });
        } catch (e) {
          await route.fulfill({ status: 502, contentType: 'text/plain', body: String(e) }).catch(() => {});
        }
      });
    },
    close: () => pageServer.close(),
  };
}

/**
 * Builds the network (sites 'a' and 'b' by default, both behind `nat`: 'eim' or 'symmetric',
 * or { a: 'eim', b: 'symmetric' }), starts coturn and huddle-server on the server host and a
 * page server. serverArgs(turn): more huddle-server flags, given the running coturn (its ip,
 * port, secret), e.g. for ICE servers handed out by the server. `t`: a node:test context
 * (teardown in t.after); without it call close().
 */
export async function startLab(t, { nat = 'eim', sites = ['a', 'b'], serverArgs = () => [], serverIce = 'none', turnSecret, turnTtl, janus: janusOpts = null } = {}) {
  const natOf = (name) => (typeof nat === 'string' ? nat : nat[name]);
  const net = await buildInternet({ sites: sites.map((name) => ({ name, nat: natOf(name) })) });
  const { lab } = net;
  // Reports and logs: inside the lab's own temporary directory, removed with it.
  const dir = lab.folder(`run-${lab.id}`);
  const huddles = [];
  const browsers = [];
  const participants = [];
  let server = null;
  let turn = null;
  let janus = null;
  let pages = null;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const hp of huddles) await hp.stop(2000).catch(() => {});
    for (const p of participants) await p.close().catch(() => {});
    for (const b of browsers) await b.close().catch(() => {});
    if (pages) await pages.close().catch(() => {});
    if (server) await server.stop(3000).catch(() => {});
    if (turn) await turn.stop().catch(() => {});
    if (janus) await janus.stop().catch(() => {});
    await net.teardown();
  };
  if (t) t.after(close);

  try {
    turn = await startCoturn(lab, 'srv', SERVER_IP);
    // janus: { threshold }: Janus on the server host (never beside the clients: it ignores
    // remote candidates equal to its own addresses), and huddle-server its API client.
    const sfuArgs = [];
    if (janusOpts) {
      janus = await startJanus(lab, 'srv', SERVER_IP);
      // prettier-ignore
      sfuArgs.push('--janus-url', janus.url, '--janus-api-secret', janus.apiSecret,
        '--janus-admin-key', janus.adminKey, '--sfu-threshold', String(janusOpts.threshold ?? 5));
    }
    // The server refuses page origins it was not told about; the lab's pages come from PAGE_ORIGIN.
    server = await startServer({
      listen: `${SERVER_IP}:0`,
      wrap: lab.wrap('srv'),
      args: ['--allow-origin', PAGE_ORIGIN, ...serverIceArgs(turn, serverIce, { turnSecret, turnTtl }), ...sfuArgs, ...serverArgs(turn)],
    });
    pages = routedPages(await startPageServer());
  } catch (e) {
    await close();
    throw e;
  }

  const site = (name) => {
    const s = net.sites[name];
    if (!s) throw new Error(`no site ${name} (sites: ${Object.keys(net.sites).join(', ')})`);
    return s;
  };

  /**
   * The ICE servers of a participant, as CLI arguments and as RTCIceServer objects.
   * mode: 'none' | 'stun' | 'turn' (STUN and TURN) | 'turn-only'; both with the REST
   * username `<expiry>:<id>` (the CLI splits the password off at the last colon).
   */
  const iceServers = (mode, { id = 'lab' } = {}) => {
    const stunUrl = `stun:${turn.ip}:${turn.port}`;
    const turnUrl = `turn:${turn.ip}:${turn.port}?transport=udp`;
    const cli = [];
    const page = [];
    if (mode === 'stun' || mode === 'turn') {
      cli.push('--ice-server', stunUrl);
      page.push({ urls: stunUrl });
    }
    if (mode === 'turn' || mode === 'turn-only') {
      const rest = turn.credentials({ id });
      cli.push('--ice-server', `turn:${rest.username}:${rest.credential}@${turn.ip}:${turn.port}`);
      page.push({ urls: turnUrl, username: rest.username, credential: rest.credential });
    }
    if (!['none', 'stun', 'turn', 'turn-only'].includes(mode)) throw new Error(`ice mode ${mode}: none, stun, turn or turn-only`);
    return { cli, page };
  };

  const l = {
    net,
    lab,
    dir,
    room: uniqName('lab'),
    huddles,
    participants,
    get server() {
      return server;
    },
    get turn() {
      return turn;
    },
    get janus() {
      return janus;
    },
    /** Stops Janus (SIGTERM), waits `downMs`, starts it again with the same settings. */
    async restartJanus({ downMs = 1000 } = {}) {
      const { apiSecret, adminKey } = janus;
      await janus.stop();
      await new Promise((r) => setTimeout(r, downMs));
      janus = await startJanus(lab, 'srv', SERVER_IP, { apiSecret, adminKey });
      return janus;
    },
    site,
    iceServers,

    /** `huddle join` on site `name`'s client host (see startHuddle); ice: an iceServers mode. */
    huddle(name, { ice = 'stun', extraArgs = [], ...opts }) {
      const s = site(name);
      const hp = startHuddle({
        server: server.url,
        room: l.room,
        dir,
        wrap: lab.wrap(s.client.role),
        udpAddr: `${s.client.ip}:0`,
        extraArgs: [...iceServers(ice).cli, ...extraArgs],
        ...opts,
      });
      hp.site = name;
      huddles.push(hp);
      return hp;
    },

    /** A headless Chromium running on site `name`'s client host. */
    async browser(name) {
      const b = await chromium.launch({
        executablePath: lab.chromiumIn(site(name).client.role, CHROMIUM),
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30000,
      });
      browsers.push(b);
      return b;
    },

    /**
     * A participant page (tests/engine/page) in `browser`, using every candidate and `ice`
     * (an iceServers mode, or 'server': the join ack's).
     */
    async page(browser, { ice = 'stun', policy, query = {}, ...opts }) {
      const q = { net: 'any', ice: ice === 'server' ? 'server' : JSON.stringify(iceServers(ice).page), ...query };
      if (policy) q.policy = policy;
      const p = await openParticipant(browser, pages, { server: server.url, room: l.room, query: q, ...opts });
      participants.push(p);
      return p;
    },

    /** Everything worth reading when a lab test fails. */
    async dump() {
      const parts = [];
      for (const p of participants) parts.push(p.closed ? `page ${p.email}: closed` : await p.describe().catch((e) => `page ${p.email}: ${e.message}`));
      for (const hp of huddles) {
        parts.push(hp.describe());
        const r = hp.report();
        if (r) parts.push(`report ${hp.email}: ${JSON.stringify(r)}`);
      }
      for (const [name, s] of Object.entries(net.sites)) {
        const c = await s.router.counters().catch((e) => ({ error: e.message }));
        parts.push(`router ${name} (${s.router.nat}): ${JSON.stringify(c)}`);
      }
      if (turn) {
        parts.push(`relay counters: ${JSON.stringify(await turn.relayCounters().catch((e) => e.message))}`);
        parts.push(`--- coturn log (last 2000) ---\n${turn.logs().slice(-2000)}`);
      }
      if (janus) parts.push(`--- janus log (last 2000) ---\n${janus.logs().slice(-2000)}`);
      if (server) parts.push(`--- server log (last 4000) ---\n${server.logs().slice(-4000)}`);
      return parts.join('\n\n');
    },
    close,
  };
  return l;
}

/**
 * huddle-server's ICE flags for `mode` ('none' | 'stun' | 'turn'), pointing at the lab's
 * coturn; `turnSecret` overrides the secret the server signs credentials with (a wrong one
 * for the refusal test), `turnTtl` their lifetime in seconds.
 */
function serverIceArgs(turn, mode, { turnSecret, turnTtl } = {}) {
  if (!['none', 'stun', 'turn'].includes(mode)) throw new Error(`serverIce ${mode}: none, stun or turn`);
  if (mode === 'none') return [];
  const args = ['--stun', `stun:${turn.ip}:${turn.port}`];
  if (mode === 'turn') {
    args.push('--turn-url', `turn:${turn.ip}:${turn.port}?transport=udp`, '--turn-secret', turnSecret ?? turn.secret);
    if (turnTtl !== undefined) args.push('--turn-ttl', String(turnTtl));
  }
  return args;
}

/**
 * Samples the counters of `sites`' routers every `everyMs` until stop(), which resolves to
 * { site: [samples] } (see Router.counters).
 */
export function sampleRouters(lab, sites = ['a', 'b'], everyMs = 500) {
  const samples = Object.fromEntries(sites.map((s) => [s, []]));
  let on = true;
  const done = (async () => {
    while (on) {
      for (const s of sites) {
        const c = await lab.site(s).router.counters().catch(() => null);
        if (c) samples[s].push(c);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      on = false;
      await done;
      return samples;
    },
  };
}

/**
 * Mean kbit/s offered to one site's link in `dir` ('up': what the site sent, 'down': what was
 * sent to it), before the shaper or any drop, between t0+from and t0+to seconds.
 */
export function offeredKbps(samples, t0, from, to, dir = 'up') {
  const w = samples.filter((s) => s.at >= t0 + from * 1000 && s.at <= t0 + to * 1000);
  if (w.length < 2) return null;
  const [a, b] = [w[0], w[w.length - 1]];
  return ((b[dir].offered.bytes - a[dir].offered.bytes) * 8) / 1000 / ((b.at - a.at) / 1000);
}

/** The connections a huddle's report lists with `email` (see the CLI's report). */
export function connectionsWith(report, email) {
  return (report?.connections ?? []).filter((c) => c.remote_email === email);
}

/** Throws one assertion error listing every problem, with the lab's dump. */
export async function assertLabOk(l, problems, title) {
  if (problems.length === 0) return;
  const err = new Error(`${title}:\n  - ${problems.join('\n  - ')}\n\n${await l.dump()}`);
  err.name = 'AssertionError';
  throw err;
}
