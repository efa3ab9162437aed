// chat:send, chat:message, ids, limits, history.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  cleanup,
  connect,
  request,
  requestArgs,
  nextEvent,
  noEvent,
  joined,
  joinAll,
  uniqRoom,
  assertError,
  expectAllErrors,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

function assertChatMessage(m, { room, from, email, name, text, clientId }, t0, t1) {
  const keys = ['id', 'room', 'from', 'email', 'name', 'text', 'ts'];
  if (clientId !== undefined) keys.push('clientId');
  assert.deepEqual(Object.keys(m).sort(), keys.sort(), `ChatMessage keys: ${JSON.stringify(m)}`);
  assert.equal(typeof m.id, 'string');
  assert.match(m.id, /^[0-9]+$/, 'id is a decimal string');
  assert.equal(m.room, room);
  assert.equal(m.from, from);
  assert.equal(m.email, email);
  assert.equal(m.name, name);
  assert.equal(m.text, text);
  assert.equal(typeof m.ts, 'number');
  assert.ok(Number.isInteger(m.ts), 'ts is an integer (ms)');
  assert.ok(m.ts >= t0 - 2000 && m.ts <= t1 + 2000, `ts ${m.ts} not within [${t0}, ${t1}] (ms since epoch)`);
  if (clientId !== undefined) assert.equal(m.clientId, clientId);
}

describe('chat:send', () => {
  test('ack {ok, message}; others get chat:message with the same message; sender does not', async (t) => {
    const room = uniqRoom('chat');
    const a = await joined(srv.url, room, { t, email: 'alice@example.com', name: 'Alice' });
    const b = await joined(srv.url, room, { t });
    const c = await joined(srv.url, room, { t });
    const t0 = Date.now();
    const ack = await request(a, 'chat:send', { text: 'hello, world', clientId: 'opt-1' });
    const t1 = Date.now();
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.deepEqual(Object.keys(ack).sort(), ['message', 'ok']);
    assertChatMessage(
      ack.message,
      { room, from: a.id, email: 'alice@example.com', name: 'Alice', text: 'hello, world', clientId: 'opt-1' },
      t0,
      t1,
    );
    assert.deepEqual(await nextEvent(b, 'chat:message'), ack.message);
    assert.deepEqual(await nextEvent(c, 'chat:message'), ack.message);
    await noEvent(a, 'chat:message');
  });

  test('no clientId -> no clientId field; missing name -> name: null', async (t) => {
    const room = uniqRoom('chatnoname');
    const a = await joined(srv.url, room, { t, email: 'anon@example.com' });
    const b = await joined(srv.url, room, { t });
    const t0 = Date.now();
    const ack = await request(a, 'chat:send', { text: 'no client id' });
    assert.equal(ack.ok, true);
    assertChatMessage(
      ack.message,
      { room, from: a.id, email: 'anon@example.com', name: null, text: 'no client id' },
      t0,
      Date.now(),
    );
    assert.deepEqual(await nextEvent(b, 'chat:message'), ack.message);
  });

  test('text is kept verbatim (unicode, newlines, html)', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('verbatim'), 2, { t });
    for (const text of ['line1\nline2', '<script>alert(1)</script>', 'ünïcödé 日本語 😀', '  padded  ', '"quotes" \\ back']) {
      const ack = await request(a, 'chat:send', { text });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.equal(ack.message.text, text);
      assert.equal((await nextEvent(b, 'chat:message')).text, text);
    }
  });

  test('ids are strings that increase per room (as strings and as numbers)', async (t) => {
    const room = uniqRoom('ids');
    const [a, b] = await joinAll(srv.url, room, 2, { t });
    const [x] = await joinAll(srv.url, uniqRoom('ids-other'), 1, { t });
    const ids = [];
    for (let i = 0; i < 12; i++) {
      const sender = i % 2 ? a : b;
      const ack = await request(sender, 'chat:send', { text: `m${i}` });
      assert.equal(ack.ok, true);
      ids.push(ack.message.id);
      // interleave traffic in another room
      assert.equal((await request(x, 'chat:send', { text: `other ${i}` })).ok, true);
    }
    for (let i = 1; i < ids.length; i++) {
      assert.equal(typeof ids[i], 'string');
      assert.ok(ids[i] > ids[i - 1], `string order: ${ids[i - 1]} < ${ids[i]}`);
      assert.ok(Number(ids[i]) > Number(ids[i - 1]), `numeric order: ${ids[i - 1]} < ${ids[i]}`);
      assert.equal(ids[i].length, ids[i - 1].length, 'zero-padded to a fixed width');
    }
  });

  test('concurrent senders: every message gets a distinct id and ids follow delivery order', async (t) => {
    const room = uniqRoom('concurrent');
    const socks = await joinAll(srv.url, room, 5, { t });
    const observer = await joined(srv.url, room, { t });
    const pending = [];
    for (let i = 0; i < 10; i++) for (const s of socks) pending.push(request(s, 'chat:send', { text: `c${i}` }));
    const acks = await Promise.all(pending);
    const ids = acks.map((a) => a.message.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
    const seen = [];
    for (let i = 0; i < ids.length; i++) seen.push((await nextEvent(observer, 'chat:message')).id);
    const sorted = [...seen].sort();
    assert.deepEqual(seen, sorted, 'observer sees increasing ids');
  });

  test('empty or whitespace-only text -> bad_request, nothing delivered', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('empty'), 2, { t });
    for (const text of ['', ' ', '   ', '\n\t ', '\u00a0']) {
      const ack = await request(a, 'chat:send', { text });
      if (text === '\u00a0') {
        // a no-break space is whitespace in Unicode; accept either outcome but never a crash
        assert.equal(typeof ack.ok, 'boolean');
        if (ack.ok) await nextEvent(b, 'chat:message');
        continue;
      }
      assertError(ack, 'bad_request', `text ${JSON.stringify(text)}`);
    }
    await noEvent(b, 'chat:message');
  });

  test('wrong types -> bad_request', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('chattypes'), 2, { t });
    await expectAllErrors(
      'bad_request',
      [
        ['text is a number', [{ text: 42 }]],
        ['text missing', [{ clientId: 'x' }]],
        ['text is an object', [{ text: { a: 1 } }]],
        ['clientId is an object', [{ text: 'hi', clientId: { a: 1 } }]],
        ['payload is a string', ['hello']],
        ['payload is an array', [['hello']]],
        ['no payload', []],
      ].map(([label, args]) => [label, () => requestArgs(a, 'chat:send', args)]),
    );
    await noEvent(b, 'chat:message');
  });

  test('chat:send when not joined -> not_joined', async (t) => {
    const s = await connect(srv.url, { t });
    assertError(await request(s, 'chat:send', { text: 'hello?' }), 'not_joined');
  });

  test('default limit 4000 characters: 4000 "é" (8000 bytes) ok, 4001 -> bad_request', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('limit4000'), 2, { t });
    const ok = await request(a, 'chat:send', { text: 'é'.repeat(4000) });
    assert.equal(ok.ok, true, `4000 chars: ${JSON.stringify(ok).slice(0, 200)}`);
    assert.equal((await nextEvent(b, 'chat:message')).text.length, 4000);
    assertError(await request(a, 'chat:send', { text: 'é'.repeat(4001) }), 'bad_request');
    assertError(await request(a, 'chat:send', { text: 'x'.repeat(4001) }), 'bad_request');
    await noEvent(b, 'chat:message');
  });
});

describe('--max-chat-chars 10', () => {
  let small;
  before(async () => {
    small = await startServer({ maxChatChars: 10 });
  });

  test('exactly 10 characters ok (ASCII and multi-byte), 11 -> bad_request', async (t) => {
    const [a, b] = await joinAll(small.url, uniqRoom('limit10'), 2, { t });
    for (const text of ['0123456789', 'é'.repeat(10), 'ééééé12345', '日本語日本語日本語日']) {
      assert.equal(text.length, 10);
      const ack = await request(a, 'chat:send', { text });
      assert.equal(ack.ok, true, `${JSON.stringify(text)} (${Buffer.byteLength(text)} bytes): ${JSON.stringify(ack)}`);
      assert.equal((await nextEvent(b, 'chat:message')).text, text);
    }
    for (const text of ['01234567890', 'é'.repeat(11), '日本語日本語日本語日本']) {
      assertError(await request(a, 'chat:send', { text }), 'bad_request', JSON.stringify(text));
    }
    await noEvent(b, 'chat:message');
  });
});

describe('history', () => {
  let h5;
  before(async () => {
    h5 = await startServer({ history: 5 });
  });

  test('a later joiner gets the latest messages, oldest first (--history 5)', async (t) => {
    const room = uniqRoom('hist');
    const a = await joined(h5.url, room, { t, email: 'hist@example.com', name: 'H' });
    const sent = [];
    for (let i = 0; i < 8; i++) {
      const ack = await request(a, 'chat:send', { text: `message ${i}`, clientId: `c${i}` });
      assert.equal(ack.ok, true);
      sent.push(ack.message);
    }
    const b = await joined(h5.url, room, { t });
    assert.deepEqual(b.joinAck.history, sent.slice(-5));
  });

  test('history with fewer messages than the limit holds them all; other rooms do not leak', async (t) => {
    const room = uniqRoom('hist2');
    const other = uniqRoom('hist2o');
    const a = await joined(h5.url, room, { t });
    const o = await joined(h5.url, other, { t });
    const m1 = (await request(a, 'chat:send', { text: 'one' })).message;
    await request(o, 'chat:send', { text: 'elsewhere' });
    const m2 = (await request(a, 'chat:send', { text: 'two' })).message;
    const b = await joined(h5.url, room, { t });
    assert.deepEqual(b.joinAck.history, [m1, m2]);
  });

  test('default history keeps up to 100 messages, oldest first', async (t) => {
    // its own server without rate limiting, so that 105 quick messages all pass
    const big = await startServer({ rateLimit: 0 });
    const room = uniqRoom('hist100');
    const a = await joined(big.url, room, { t });
    const sent = [];
    const pending = [];
    for (let i = 0; i < 105; i++) pending.push(request(a, 'chat:send', { text: `n${i}` }, 20000));
    for (const ack of await Promise.all(pending)) {
      assert.equal(ack.ok, true, JSON.stringify(ack));
      sent.push(ack.message);
    }
    sent.sort((x, y) => (x.id < y.id ? -1 : 1));
    const b = await joined(big.url, room, { t });
    assert.equal(b.joinAck.history.length, 100);
    assert.deepEqual(b.joinAck.history, sent.slice(-100));
  });
});
