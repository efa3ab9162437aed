// The lab itself: its NATs map and filter as real ones do, and its caps, drops, blocks and
// counters do what the media tests and the matrix rely on. UDP from small Node scripts
// (udp-tool.mjs) run inside the namespaces; a reflector on the server host plays STUN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildInternet, labSkipReason, SERVER_IP } from './netlab.mjs';

const TOOL = fileURLToPath(new URL('./udp-tool.mjs', import.meta.url));

test('the network lab', { skip: labSkipReason() ?? false, timeout: 120000 }, async (t) => {
  const net = await buildInternet({ sites: [{ name: 'a', nat: 'eim' }, { name: 'b', nat: 'symmetric' }] });
  t.after(() => net.teardown());
  const { lab } = net;
  const tool = (role, ...args) => lab.exec(role, process.execPath, [TOOL, ...args.map(String)]);
  const json = async (role, ...args) => JSON.parse(await tool(role, ...args));

  /** A reflector on the server host: resolves once bound; stop() resolves with its counts. */
  async function reflector(...ports) {
    const p = lab.spawn('srv', process.execPath, [TOOL, 'reflect', SERVER_IP, ...ports.map(String)]);
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    await new Promise((resolve, reject) => {
      p.stdout.on('data', () => out.includes('ready') && resolve());
      p.on('exit', (code) => reject(new Error(`reflector exited (${code}) before ready: ${out}`)));
    });
    return {
      async stop() {
        if (p.exitCode === null && p.signalCode === null) {
          const exited = new Promise((r) => p.once('exit', r));
          p.kill('SIGTERM');
          await exited;
        }
        return JSON.parse(out.slice(out.indexOf('ready') + 5).trim());
      },
    };
  }
  const stun = await reflector(5001, 5002);
  t.after(() => stun.stop().catch(() => {}));

  await t.test('endpoint-independent NAT: one public address and port for every destination', async () => {
    const r = await json('cli-a', 'probe', 47002, SERVER_IP, 5001, 5002);
    assert.ok(r.mapped[0] && r.mapped[1], `no answer: ${JSON.stringify(r)}`);
    assert.equal(r.mapped[0], r.mapped[1], 'the same mapping towards both destinations');
    assert.equal(r.mapped[0], `${net.sites.a.router.wanIp}:47002`, 'masquerade keeps a free port');
  });

  await t.test('symmetric NAT: a new public port for every destination', async () => {
    const r = await json('cli-b', 'probe', 47002, SERVER_IP, 5001, 5002);
    assert.ok(r.mapped[0] && r.mapped[1], `no answer: ${JSON.stringify(r)}`);
    const [ip0, port0] = r.mapped[0].split(':');
    const [ip1, port1] = r.mapped[1].split(':');
    assert.equal(ip0, net.sites.b.router.wanIp);
    assert.equal(ip1, net.sites.b.router.wanIp);
    assert.notEqual(port0, port1, 'fully-random gives each destination its own port');
  });

  await t.test('unsolicited inbound UDP is dropped without a trace: the port stays free for the client', async () => {
    const router = net.sites.a.router;
    const before = await router.counters();
    // The server host sends to a public port nobody opened (from 5001), asked by a knock from
    // another client port; then the client opens exactly that port towards 5001.
    await tool('cli-a', 'say', SERVER_IP, 5002, `knock:${router.wanIp}:47010`);
    await new Promise((r) => setTimeout(r, 200));
    const after = await router.counters();
    assert.ok(after.unsolicited.packets - before.unsolicited.packets >= 3, `unsolicited counter ${before.unsolicited.packets} → ${after.unsolicited.packets}`);
    const r = await json('cli-a', 'probe', 47010, SERVER_IP, 5001);
    assert.equal(r.mapped[0], `${router.wanIp}:47010`, 'a kept conntrack entry would have moved the port');
  });

  await t.test('a 1 Mbit/s cap with a 200 ms queue delivers no more than the link carries, and counts', async () => {
    const router = net.sites.a.router;
    const sink = await reflector(6001);
    await router.cap({ kbit: 1000, queueMs: 200, dir: 'up' });
    const before = await router.counters();
    const sent = await json('cli-a', 'blast', SERVER_IP, 6001, 4000, 2, 1000);
    await new Promise((r) => setTimeout(r, 400)); // the queue drains
    const after = await router.counters();
    const got = (await sink.stop())['6001'];
    await router.uncap('up');
    const q = after.up.qdisc;
    const offered = after.up.offered.packets - before.up.offered.packets;
    // At most 1 Mbit/s for the 2 s plus the 200 ms queue plus the bucket, at least 70 % of 2 s.
    assert.ok(got.bytes <= 125000 * 2.2 + 4000, `delivered ${got.bytes} B in 2 s through 1 Mbit/s`);
    assert.ok(got.bytes >= 125000 * 2 * 0.7, `delivered only ${got.bytes} B`);
    assert.ok(offered >= sent.packets, `offered ${offered} packets, the sender sent ${sent.packets}`);
    assert.ok(q.droppedPackets > 0, 'the queue overflowed');
    // Everything offered was either sent by the qdisc or dropped by it. The qdisc also sees the
    // router's own few packets (ARP, IPv6 neighbour discovery), which the forward counter does not.
    const handled = q.sentPackets + q.droppedPackets;
    assert.ok(handled >= offered - 3 && handled <= offered + 8, `offered ${offered}, qdisc sent ${q.sentPackets} + dropped ${q.droppedPackets}`);
    assert.ok(got.packets <= q.sentPackets && got.packets >= q.sentPackets - 3, `sink got ${got.packets}, qdisc sent ${q.sentPackets}`);
  });

  await t.test('10 % random loss drops about one packet in ten, and counts each', async () => {
    const router = net.sites.a.router;
    const sink = await reflector(6002);
    await router.loss(10, { dir: 'up' });
    const before = await router.counters();
    const sent = await json('cli-a', 'blast', SERVER_IP, 6002, 800, 2, 100);
    await new Promise((r) => setTimeout(r, 200));
    const after = await router.counters();
    const got = (await sink.stop())['6002'];
    await router.loss(0, { dir: 'up' });
    const dropped = after.up.lossDropped.packets - before.up.lossDropped.packets;
    const rate = dropped / sent.packets;
    assert.ok(sent.packets >= 1000, `sent ${sent.packets}`);
    // Binomial: with n ≈ 2000 the standard deviation is ~0.7 %; ±3.5 % is five of them.
    assert.ok(rate > 0.065 && rate < 0.135, `dropped ${dropped} of ${sent.packets} (${(rate * 100).toFixed(1)} %)`);
    assert.equal(got.packets, sent.packets - dropped, 'what was not dropped arrived');
    const after2 = await router.counters();
    assert.equal(after2.up.lossDropped.packets, 0, 'removing the loss removes its counter');
  });

  await t.test('a block drops everything until it is lifted', async () => {
    const router = net.sites.a.router;
    const sink = await reflector(6003, 6004);
    await router.block();
    await tool('cli-a', 'send', SERVER_IP, 6003, 40);
    const blocked = await router.counters();
    await router.unblock();
    await tool('cli-a', 'send', SERVER_IP, 6004, 40);
    const got = await sink.stop();
    assert.equal(got['6003'].packets, 0, 'nothing passes a block');
    assert.ok(blocked.up.blockDropped.packets >= 40, `block counter ${blocked.up.blockDropped.packets}`);
    assert.equal(got['6004'].packets, 40, 'everything passes once unblocked');
  });
});
