// Several nodes over Redis (--redis): one room spread over 3 nodes. Each test starts its
// own real redis-server (Debian's, on a free port, its own data directory, AOF fsynced
// before every reply) and 3 huddle-server nodes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startCluster,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  clearEvents,
  joined,
  uniqRoom,
  uniqEmail,
  assertError,
  assertOkOnly,
  httpRequest,
  sleep,
} from './helpers.mjs';
import { until } from '../lib/wait.mjs';

after(cleanup);

/** The nodes' heartbeat expires after 3 s and every node looks each second. */
const DEAD_NODE_MS = 10_000;

test('clients on 3 nodes share one room: joins, relays both ways, media state, chat and history', async (t) => {
  const c = await startCluster(3);
  t.after(() => c.stop());
  const room = uniqRoom('spread');
  const a = await joined(c.urls[0], room, { t });
  const b = await joined(c.urls[1], room, { t, members: [a] });
  const d = await joined(c.urls[2], room, { t, members: [a, b] });
  assert.deepEqual(d.joinAck.participants.map((p) => p.id), [a.id, b.id]);
  assert.equal(d.joinAck.hostId, a.id);
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  assertOkOnly(await request(d, 'user:call', { to: a.id, offer }));
  assert.deepEqual(await nextEvent(a, 'incoming:call'), { from: d.id, offer });
  assertOkOnly(await request(a, 'call:accepted', { to: d.id, ans: { type: 'answer', sdp: 'v=0\r\n' } }));
  assert.equal((await nextEvent(d, 'call:accepted')).from, a.id);
  assertOkOnly(await request(b, 'media:state', { audio: false, video: true }));
  assert.deepEqual(await nextEvent(d, 'media:state'), { id: b.id, audio: false, video: true });
  const sent = await request(b, 'chat:send', { text: 'across nodes' });
  assert.equal(sent.ok, true);
  assert.deepEqual(await nextEvent(a, 'chat:message'), sent.message);
  assert.deepEqual(await nextEvent(d, 'chat:message'), sent.message);
  const late = await joined(c.urls[0], room, { t, members: [a, b, d] });
  assert.deepEqual(late.joinAck.history, [sent.message]);
  assert.equal(late.joinAck.participants.find((p) => p.id === b.id).audio, false);
  // isolation holds across nodes: a relay to someone in another room is refused
  const other = await joined(c.urls[1], uniqRoom('other'), { t });
  assertError(await request(a, 'user:call', { to: other.id, offer }), 'not_in_room');
  await noEvent(other, 'incoming:call');
});

test('20 startSharing at once spread over 3 nodes: exactly one sharer (5 rounds)', async (t) => {
  const c = await startCluster(3);
  t.after(() => c.stop());
  const room = uniqRoom('race');
  const socks = [];
  for (let i = 0; i < 20; i++) socks.push(await joined(c.urls[i % 3], room, { t, members: socks }));
  for (let round = 0; round < 5; round++) {
    clearEvents(socks);
    const acks = await Promise.all(
      socks.map(
        (s) =>
          new Promise((resolve, reject) => {
            s.timeout(15000).emit('startSharing', {}, (err, ack) => (err ? reject(err) : resolve(ack)));
          }),
      ),
    );
    const winners = socks.filter((_, i) => acks[i].ok === true);
    assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(acks)}`);
    const [winner] = winners;
    for (let i = 0; i < socks.length; i++) {
      if (socks[i] === winner) continue;
      assert.equal(assertError(acks[i], 'sharing_conflict').sharerId, winner.id);
      assert.equal(await nextEvent(socks[i], 'sharerStarted', 10000), winner.id);
    }
    await noEvent(winner, ['sharerStarted']);
    assertOkOnly(await request(winner, 'stopSharing', {}));
    for (const s of socks) if (s !== winner) assert.equal(await nextEvent(s, 'sharerStopped', 10000), winner.id);
  }
});

test('kill -9 of a node: the others see sharerStopped, user:left and the new host within seconds', async (t) => {
  const c = await startCluster(3);
  t.after(() => c.stop());
  const room = uniqRoom('crash');
  const host = await joined(c.urls[0], room, { t });
  const alsoThere = await joined(c.urls[0], room, { t, members: [host] });
  const b = await joined(c.urls[1], room, { t, members: [host, alsoThere] });
  const d = await joined(c.urls[2], room, { t, members: [host, alsoThere, b] });
  assertOkOnly(await request(host, 'startSharing', {}));
  for (const s of [alsoThere, b, d]) assert.equal(await nextEvent(s, 'sharerStarted'), host.id);
  const killedAt = Date.now();
  await c.nodes[0].kill9();
  for (const s of [b, d]) {
    assert.equal(await nextEvent(s, 'sharerStopped', DEAD_NODE_MS), host.sid);
    const gone = new Set();
    for (let i = 0; i < 2; i++) gone.add((await nextEvent(s, 'user:left', DEAD_NODE_MS)).id);
    assert.deepEqual(gone, new Set([host.sid, alsoThere.sid]));
    // (the host may pass through `alsoThere` first, depending on which goes first)
    await nextEvent(s, 'host:changed', DEAD_NODE_MS, (x) => x.hostId === b.id);
  }
  const took = Date.now() - killedAt;
  t.diagnostic(`dead node's sessions ended ${took} ms after kill -9`);
  // the room carries on: b is host, and a newcomer sees only the live ones
  const e = await joined(c.urls[2], room, { t, members: [b, d] });
  assert.deepEqual(e.joinAck.participants.map((p) => p.id), [b.id, d.id]);
  assert.equal(e.joinAck.hostId, b.id);
  assert.equal(e.joinAck.sharerId, null);
});

test('an acked chat message survives kill -9 of the node that acked it, and of Redis', async (t) => {
  const c = await startCluster(3);
  t.after(() => c.stop());
  const room = uniqRoom('durable');
  const sender = await joined(c.urls[0], room, { t });
  const stays = await joined(c.urls[1], room, { t, members: [sender] });
  const acks = [];
  for (let i = 0; i < 10; i++) acks.push(await request(sender, 'chat:send', { text: `m${i}` }));
  assert.ok(acks.every((a) => a.ok));
  await c.nodes[0].kill9();
  const late = await joined(c.urls[2], room, { t, members: [stays] });
  assert.deepEqual(late.joinAck.history, acks.map((a) => a.message));
  // Redis itself killed and started again on its append-only file
  await c.redis.kill9();
  await c.redis.restart();
  const later = await until(
    async () => {
      try {
        return await joined(c.urls[1], room, { t });
      } catch {
        return null;
      }
    },
    { timeoutMs: 15000, what: 'a join after Redis came back' },
  );
  assert.deepEqual(later.joinAck.history, acks.map((a) => a.message));
});

test('Redis restarted mid-meeting: requests fail with internal and a message, nothing acked is lost, all works afterwards', async (t) => {
  const c = await startCluster(3);
  t.after(() => c.stop());
  const room = uniqRoom('outage');
  const a = await joined(c.urls[0], room, { t });
  const b = await joined(c.urls[1], room, { t, members: [a] });
  const before = await request(a, 'chat:send', { text: 'before the outage' });
  assert.equal(before.ok, true);
  await nextEvent(b, 'chat:message');
  await c.redis.stop();
  // while Redis is away: a clear error, not a hang
  const during = await request(a, 'chat:send', { text: 'during' }, 10000);
  assertError(during, 'internal');
  assert.match(during.error.message, /\S/);
  const newcomer = await connect(c.urls[2], { t });
  assertError(await request(newcomer, 'room:join', { email: uniqEmail(), room }, 10000), 'internal');
  await c.redis.restart();
  // the nodes reconnect by themselves, and say so on /healthz once they hear each other
  // again (events published before that are not delivered: see the README)
  for (const node of c.nodes) {
    await until(async () => (await httpRequest(`${node.url}/healthz`)).status === 200, {
      timeoutMs: 20000,
      stepMs: 250,
      what: `${node.url}/healthz after Redis came back`,
    });
  }
  // afterwards: joins, relays, chat
  const d = await until(
    async () => {
      const ack = await request(newcomer, 'room:join', { email: uniqEmail(), room }, 10000);
      return ack.ok ? ack : null;
    },
    { timeoutMs: 20000, stepMs: 500, what: 'a join after Redis came back' },
  );
  assert.deepEqual(d.history, [before.message]);
  assert.deepEqual(d.participants.map((p) => p.id), [a.id, b.id]);
  await nextEvent(a, 'user:joined', 10000, (x) => x.id === newcomer.id);
  await nextEvent(b, 'user:joined', 10000, (x) => x.id === newcomer.id);
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  assertOkOnly(await request(newcomer, 'user:call', { to: a.id, offer }));
  assert.deepEqual(await nextEvent(a, 'incoming:call'), { from: newcomer.id, offer });
  const after = await request(b, 'chat:send', { text: 'after the outage' });
  assert.equal(after.ok, true);
  assert.ok(after.message.id > before.message.id, 'ids keep increasing');
  assert.deepEqual(await nextEvent(newcomer, 'chat:message', 10000), after.message);
  assert.deepEqual(await nextEvent(a, 'chat:message', 10000, (m) => m.id === after.message.id), after.message);
  // no node took another for dead during the outage
  await sleep(500);
  await noEvent(a, ['user:left']);
});
