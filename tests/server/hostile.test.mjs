// Hostile input: garbage Engine.IO / Socket.IO packets over a raw WebSocket and over HTTP
// long-polling. The server must stay up, keep answering /healthz, and keep serving a pair
// of clients that joined a room before the barrage.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  nextEvent,
  noEvent,
  clearEvents,
  joinAll,
  uniqRoom,
  assertError,
  assertOkOnly,
  assertHealthy,
  rawSocket,
  httpRequest,
  sleep,
} from './helpers.mjs';

let srv;
let a;
let b;
before(async () => {
  srv = await startServer();
  [a, b] = await joinAll(srv.url, uniqRoom('victims'), 2);
});
after(cleanup);

async function victimsStillWork(label) {
  assert.equal(a.connected, true, `victim a still connected after ${label}`);
  assert.equal(b.connected, true, `victim b still connected after ${label}`);
  const cand = { candidate: `candidate:${label.length} 1 udp 1 127.0.0.1 9 typ host`, sdpMid: '0', sdpMLineIndex: 0 };
  assertOkOnly(await request(a, 'ice:candidate', { to: b.id, candidate: cand }), `relay after ${label}`);
  assert.deepEqual(await nextEvent(b, 'ice:candidate'), { from: a.id, candidate: cand }, `relay after ${label}`);
  clearEvents(a, b);
}

const nested = (open, close, depth, inner = '') => open.repeat(depth) + inner + close.repeat(depth);

describe('raw websocket sanity', () => {
  test('the raw client speaks the protocol (ack of a raw request)', async () => {
    const raw = await rawSocket(srv);
    try {
      assert.equal(typeof raw.sid, 'string');
      await raw.send('421["room:leave",{}]');
      const ack = await raw.waitFor((m) => typeof m === 'string' && m.startsWith('431'));
      const [body] = JSON.parse(ack.slice(3));
      assertError(body, 'not_joined');
    } finally {
      raw.close();
    }
  });
});

describe('garbage over a raw websocket', () => {
  const textCases = () => [
    ['truncated JSON', '42["room:join"'],
    ['numeric array', '42[1,2,3]'],
    ['bare 4', '4'],
    ['object instead of array', '42{"a":1}'],
    ['empty array', '42[]'],
    ['bare 42', '42'],
    ['null payload', '42["room:join",null]'],
    ['too many args', '42["room:join","x","y","z"]'],
    ['event name is an object', '42[{"a":1},{"b":2}]'],
    ['event name is null', '42[null]'],
    ['ack for an unknown id', '43999[{}]'],
    ['ack id overflow', '4299999999999999999999999999["room:leave",{}]'],
    ['binary event without attachments', '45-["room:join",{"_placeholder":true,"num":0}]'],
    ['binary event placeholder out of range', '451-["chat:send",{"_placeholder":true,"num":7}]'],
    ['binary ack', '461-[{"_placeholder":true,"num":0}]'],
    ['connect again', '40'],
    ['connect to unknown namespace', '40/nope,'],
    ['connect error from client', '44{"message":"x"}'],
    ['engine open from client', '0{"sid":"x"}'],
    ['engine close', '1'],
    ['unsolicited pong', '3'],
    ['ping from client', '2'],
    ['probe', '2probe'],
    ['upgrade', '5'],
    ['noop', '6'],
    ['unknown engine type', '9'],
    ['unknown socket type', '49["x"]'],
    ['letters', 'hello'],
    ['empty frame', ''],
    ['lone surrogate', '42["room:join",{"email":"\\ud800@x.com","room":"r"}]'],
    ['huge number', '42["media:state",{"audio":1e999,"video":true}]'],
    ['duplicate keys', '42["room:join",{"email":"a@example.com","email":5,"room":"dup"}]'],
    ['__proto__ key', '42["room:join",{"email":"a@example.com","room":"proto","__proto__":{"admin":true}}]'],
    ['namespace garbage', '42/,["room:join"]'],
    ['1 MB event name', '42["' + 'e'.repeat(1024 * 1024) + '"]'],
    ['arrays nested 100000 deep', '42' + nested('[', ']', 100000)],
    ['arrays nested 100000 deep as an argument', '42["chat:send",' + nested('[', ']', 100000) + ']'],
    ['objects nested 100000 deep', '42["chat:send",' + nested('{"a":', '}', 100000, '1') + ']'],
    ['2 MB frame', '42["chat:send",{"text":"' + 'x'.repeat(2 * 1024 * 1024) + '"}]'],
  ];

  for (const [label, frame] of textCases()) {
    test(`text frame: ${label}`, async () => {
      const raw = await rawSocket(srv);
      try {
        await raw.send(frame);
        await sleep(150);
      } finally {
        raw.close();
      }
      await assertHealthy(srv, `after ${label}`);
    });
  }

  for (const [label, make] of [
    ['small binary frame', () => Buffer.from([0, 1, 2, 3])],
    ['binary frame starting with 4', () => Buffer.from('42["room:join",{}]')],
    ['1 MB random binary frame', () => Buffer.from(Array.from({ length: 1024 * 1024 }, () => (Math.random() * 256) | 0))],
  ]) {
    test(`binary frame: ${label}`, async () => {
      const raw = await rawSocket(srv);
      try {
        await raw.send(make(), { binary: true });
        await sleep(150);
      } finally {
        raw.close();
      }
      await assertHealthy(srv, `after ${label}`);
    });
  }

  test('binary attachment after a binary event header', async () => {
    const raw = await rawSocket(srv);
    try {
      await raw.send('451-["chat:send",{"_placeholder":true,"num":0}]');
      await raw.send(Buffer.from([1, 2, 3]), { binary: true });
      await raw.send('452-["user:call",{"to":"x","offer":{"_placeholder":true,"num":1}}]');
      await raw.send(Buffer.from([4]), { binary: true });
      await sleep(200);
    } finally {
      raw.close();
    }
    await assertHealthy(srv);
  });

  test('invalid UTF-8 in a text frame', async () => {
    const raw = await rawSocket(srv);
    try {
      await raw.send(Buffer.from([0x34, 0x32, 0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]), { binary: false });
      await sleep(150);
    } finally {
      raw.close();
    }
    await assertHealthy(srv);
  });

  test('events before the namespace CONNECT', async () => {
    const raw = await rawSocket(srv, { handshake: false });
    try {
      await raw.send(`42["room:join",{"email":"pre@example.com","room":"${a.joinAck.room}"}]`);
      await raw.send(`42["user:call",{"to":"${b.id}","offer":{"type":"offer","sdp":"x"}}]`);
      await sleep(200);
    } finally {
      raw.close();
    }
    await assertHealthy(srv);
    await noEvent(a, 'user:joined');
    await noEvent(b, 'incoming:call');
  });

  test('a raw client in no room cannot reach a victim', async () => {
    const raw = await rawSocket(srv);
    try {
      await raw.send(`421["user:call",{"to":"${b.id}","offer":{"type":"offer","sdp":"x"}}]`);
      const ack = await raw.waitFor((m) => typeof m === 'string' && m.startsWith('431'));
      assertError(JSON.parse(ack.slice(3))[0], 'not_in_room');
    } finally {
      raw.close();
    }
    await noEvent(b, 'incoming:call');
  });

  test('a rapid burst of mixed garbage on many connections at once', async () => {
    const frames = textCases()
      .filter(([, f]) => f.length < 10000)
      .map(([, f]) => f);
    const raws = await Promise.all(Array.from({ length: 10 }, () => rawSocket(srv)));
    try {
      await Promise.all(
        raws.map(async (raw) => {
          for (const f of frames) await raw.send(f);
        }),
      );
      await sleep(300);
    } finally {
      for (const r of raws) r.close();
    }
    await assertHealthy(srv);
  });

  test('victims in their room still get relays after all of the above', async () => {
    await victimsStillWork('raw garbage');
    const m = await request(a, 'chat:send', { text: 'survived' });
    assert.equal(m.ok, true);
    assert.deepEqual(await nextEvent(b, 'chat:message'), m.message);
  });
});

describe('deep nesting in an event field', () => {
  for (const [label, inner] of [
    ['objects 10000 deep in chat text', nested('{"a":', '}', 10000, '1')],
    ['arrays 10000 deep in chat text', nested('[', ']', 10000)],
  ]) {
    test(`${label} -> bad_request or connection closed, never a crash`, async () => {
      const raw = await rawSocket(srv);
      try {
        await raw.send(`421["chat:send",{"text":${inner}}]`);
        const res = await Promise.race([
          raw.waitFor((m) => typeof m === 'string' && m.startsWith('431')).then((m) => ({ ack: m })),
          raw.closed.then(() => ({ closed: true })),
          sleep(5000).then(() => ({ timeout: true })),
        ]);
        if (res.ack) {
          assertError(JSON.parse(res.ack.slice(3))[0], 'bad_request');
        } else if (res.timeout) {
          // tolerated only if the packet was silently dropped and the server is healthy
        }
      } finally {
        raw.close();
      }
      await assertHealthy(srv, label);
    });
  }

  test('a 10000-deep offer from a real socket.io client in a room -> bad_request or disconnect; others unaffected', async (t) => {
    const [x, y] = await joinAll(srv.url, uniqRoom('deep'), 2, { t });
    let deep = { type: 'offer', sdp: 'v=0' };
    for (let i = 0; i < 10000; i++) deep = { a: deep };
    let outcome;
    try {
      outcome = await request(x, 'user:call', { to: y.id, offer: deep }, 5000);
    } catch (e) {
      outcome = { threw: e.message };
    }
    if (!outcome.threw) assertError(outcome, 'bad_request');
    await noEvent(y, 'incoming:call');
    await assertHealthy(srv);
    await victimsStillWork('deep offer');
  });
});

describe('garbage over HTTP long-polling', () => {
  test('bogus sid, bad EIO version, bad transport, garbage bodies', async () => {
    const base = `${srv.url}/socket.io/`;
    const r1 = await httpRequest(`${base}?EIO=4&transport=polling&sid=bogus`, { method: 'POST', body: '42["x"]' });
    assert.ok(r1.status >= 400 && r1.status < 500, `bogus sid -> 4xx, got ${r1.status}`);
    const r2 = await httpRequest(`${base}?EIO=3&transport=polling`);
    assert.ok(r2.status >= 400 && r2.status < 500, `EIO=3 -> 4xx, got ${r2.status}`);
    const r3 = await httpRequest(`${base}?EIO=4&transport=carrier-pigeon`);
    assert.ok(r3.status >= 400 && r3.status < 500, `bad transport -> 4xx, got ${r3.status}`);
    await assertHealthy(srv);

    // a real polling session fed garbage
    const open = await httpRequest(`${base}?EIO=4&transport=polling`);
    assert.equal(open.status, 200);
    const sid = JSON.parse(open.body.slice(1)).sid;
    const url = `${base}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
    await httpRequest(url, { method: 'POST', body: '40' });
    for (const body of [
      '42["room:join"',
      '42[1,2,3]\x1e42{"a":1}\x1e4',
      '\x1e\x1e\x1e',
      'b' + Buffer.from([1, 2, 3]).toString('base64'),
      'bnot-base64!!',
      '42' + nested('[', ']', 100000),
      '42["chat:send",{"text":"' + 'x'.repeat(2 * 1024 * 1024) + '"}]',
    ]) {
      try {
        await httpRequest(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
      } catch {
        // the server may reset the connection: fine
      }
      await assertHealthy(srv, `polling body ${body.slice(0, 20)}`);
    }
    await victimsStillWork('polling garbage');
  });

  test('an HTTP body of 20 MB to the polling endpoint does not take the server down', async () => {
    const open = await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse(open.body.slice(1)).sid;
    try {
      await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, {
        method: 'POST',
        body: '4' + 'x'.repeat(20 * 1024 * 1024),
        timeoutMs: 20000,
      });
    } catch {
      // reset is fine
    }
    await assertHealthy(srv);
    await victimsStillWork('20 MB polling body');
  });
});

describe('after everything', () => {
  test('a new client can still connect, join and talk', async (t) => {
    const c = await connect(srv.url, { t });
    const ack = await request(c, 'room:join', { email: 'late@example.com', room: a.joinAck.room });
    assert.equal(ack.ok, true);
    assert.equal((await nextEvent(a, 'user:joined')).id, c.id);
    await nextEvent(b, 'user:joined');
    await victimsStillWork('everything');
    await assertHealthy(srv);
  });
});
