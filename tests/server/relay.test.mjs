// Offer/answer/ICE relays (calls and screen share), routing rules, isolation and size limits.
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
  joined,
  joinAll,
  uniqRoom,
  uniqEmail,
  assertError,
  assertOkOnly,
  utf8Len,
  expectAllErrors,
} from './helpers.mjs';

const offer = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const ans = { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const candidate = {
  candidate: 'candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0',
  sdpMid: '0',
  sdpMLineIndex: 0,
};

// client event, payload field, received event
const RELAYS = [
  ['user:call', 'offer', 'incoming:call', offer],
  ['call:accepted', 'ans', 'call:accepted', ans],
  ['peer:nego:needed', 'offer', 'peer:nego:needed', offer],
  ['peer:nego:done', 'ans', 'peer:nego:final', ans],
  ['ice:candidate', 'candidate', 'ice:candidate', candidate],
  ['call:end', null, 'call:ended', null],
  ['share:offer', 'offer', 'share:offer', offer],
  ['share:answer', 'ans', 'share:answer', ans],
  ['share:ice', 'candidate', 'share:ice', candidate],
];

/**
 * Since 1.1 screen-share relays go only between the room's sharer and a viewer: makes the
 * right one of `from` / `to` the sharer so that `event` from `from` to `to` is allowed.
 */
async function allowShare(event, from, to) {
  if (!event.startsWith('share:')) return;
  const sharer = event === 'share:answer' ? to : from;
  const other = sharer === from ? to : from;
  await request(other, 'stopSharing', {}); // not_sharer when it was not sharing
  assertOkOnly(await request(sharer, 'startSharing', {}));
  await new Promise((r) => setTimeout(r, 50));
  clearEvents(from, to);
}

function payloadFor(field, value, to) {
  const p = { to };
  if (field) p[field] = value;
  return p;
}
function expectedFor(field, value, from) {
  const p = { from };
  if (field) p[field] = value;
  return p;
}

let srv;
before(async () => {
  srv = await startServer();
});
after(cleanup);

describe('relay table', () => {
  for (const [event, field, received, value] of RELAYS) {
    test(`${event} {to${field ? ', ' + field : ''}} -> ${received} {from${field ? ', ' + field : ''}}`, async (t) => {
      const room = uniqRoom('relay');
      const [a, b, c] = await joinAll(srv.url, room, 3, { t });
      await allowShare(event, a, b);
      clearEvents(c);
      const ack = await request(a, event, payloadFor(field, value, b.id));
      assertOkOnly(ack, `${event} ack`);
      assert.deepEqual(await nextEvent(b, received), expectedFor(field, value, a.id));
      // only the target receives it
      await noEvent(c, received);
      await noEvent(a, received);
      // and the reverse direction works too
      await allowShare(event, b, a);
      assertOkOnly(await request(b, event, payloadFor(field, value, a.id)));
      assert.deepEqual(await nextEvent(a, received), expectedFor(field, value, b.id));
    });

    test(`${event}: extra fields are not forwarded, and "to" is not forwarded`, async (t) => {
      const room = uniqRoom('extra');
      const [a, b] = await joinAll(srv.url, room, 2, { t });
      await allowShare(event, a, b);
      const p = payloadFor(field, field ? { ...value, extra: 'x', nested: { deep: 1 } } : null, b.id);
      p.evil = 1;
      p.from = 'spoofed-sender-id';
      const ack = await request(a, event, p);
      assertOkOnly(ack);
      const got = await nextEvent(b, received);
      assert.deepEqual(got, expectedFor(field, value, a.id), `${received} must carry exactly the protocol fields`);
      assert.equal(got.from, a.id, 'from must be the real sender, not a spoofed one');
    });
  }

  test('a relay without an ack callback is still delivered', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('noack'), 2, { t });
    a.emit('user:call', { to: b.id, offer });
    assert.deepEqual(await nextEvent(b, 'incoming:call'), { from: a.id, offer });
    await noEvent(a, 'error');
  });

  test('relays between two sockets keep their order', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('order'), 2, { t });
    const acks = [];
    for (let i = 0; i < 30; i++) {
      acks.push(request(a, 'ice:candidate', { to: b.id, candidate: { ...candidate, sdpMLineIndex: i } }));
    }
    for (const ack of await Promise.all(acks)) assertOkOnly(ack);
    for (let i = 0; i < 30; i++) {
      const got = await nextEvent(b, 'ice:candidate');
      assert.equal(got.candidate.sdpMLineIndex, i);
    }
  });

  test('ICE candidate with null sdpMid / sdpMLineIndex is relayed', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('icenull'), 2, { t });
    const cand = { candidate: candidate.candidate, sdpMid: null, sdpMLineIndex: null };
    assertOkOnly(await request(a, 'ice:candidate', { to: b.id, candidate: cand }));
    const got = await nextEvent(b, 'ice:candidate');
    assert.equal(got.from, a.id);
    assert.equal(got.candidate.candidate, cand.candidate);
    // null and absent mean the same to RTCIceCandidateInit (nullable members default to null)
    assert.equal(got.candidate.sdpMid ?? null, null);
    assert.equal(got.candidate.sdpMLineIndex ?? null, null);
    assert.deepEqual(Object.keys(got.candidate).filter((k) => !['candidate', 'sdpMid', 'sdpMLineIndex'].includes(k)), []);
  });

  test('end-of-candidates (empty candidate string) is relayed', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('iceend'), 2, { t });
    const cand = { candidate: '', sdpMid: '0', sdpMLineIndex: 0 };
    assertOkOnly(await request(a, 'ice:candidate', { to: b.id, candidate: cand }));
    assert.deepEqual(await nextEvent(b, 'ice:candidate'), { from: a.id, candidate: cand });
  });
});

describe('relay routing rules', () => {
  for (const [event, field, received, value] of RELAYS) {
    test(`${event}: to a socket in another room / unknown id / from no room -> not_in_room, nothing delivered`, async (t) => {
      const [a, b] = await joinAll(srv.url, uniqRoom('here'), 2, { t });
      const [x] = await joinAll(srv.url, uniqRoom('there'), 1, { t });
      const lonely = await connect(srv.url, { t });
      assertError(await request(a, event, payloadFor(field, value, x.id)), 'not_in_room', 'other room');
      assertError(
        await request(a, event, payloadFor(field, value, 'NoSuchSocketId123456')),
        'not_in_room',
        'unknown id',
      );
      assertError(await request(lonely, event, payloadFor(field, value, a.id)), 'not_in_room', 'sender in no room');
      assertError(await request(x, event, payloadFor(field, value, b.id)), 'not_in_room', 'from the other room');
      await noEvent(x, received);
      await noEvent(a, received);
      await noEvent(b, received);
      await noEvent(lonely, received);
    });
  }

  test('relay to a socket that is connected but in no room -> not_in_room', async (t) => {
    const [a] = await joinAll(srv.url, uniqRoom('solo'), 1, { t });
    const lonely = await connect(srv.url, { t });
    assertError(await request(a, 'user:call', { to: lonely.id, offer }), 'not_in_room');
    await noEvent(lonely, 'incoming:call');
  });

  test('relay to a socket that left the room -> not_in_room', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('gone'), 2, { t });
    assertOkOnly(await request(b, 'room:leave', {}));
    assertError(await request(a, 'user:call', { to: b.id, offer }), 'not_in_room');
    await noEvent(b, 'incoming:call');
  });

  test('relay to a disconnected socket -> not_in_room', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('dc'), 2, { t });
    const bid = b.id;
    b.disconnect();
    await nextEvent(a, 'user:left');
    assertError(await request(a, 'call:end', { to: bid }), 'not_in_room');
  });

  test('a room named like a socket id never receives that socket\'s traffic, and vice versa', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('iso'), 2, { t });
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(b.id)) {
      t.skip(`socket id ${b.id} is not a valid room name`);
      return;
    }
    // c and d sit in a room named exactly like b's id
    const c = await joined(srv.url, b.id, { t });
    const d = await joined(srv.url, b.id, { t, members: [c] });
    assert.equal(d.joinAck.room, b.id);
    assert.deepEqual(d.joinAck.participants.map((p) => p.id), [c.id]);
    clearEvents(a, b, c, d);
    // traffic for socket b goes to b only
    assertOkOnly(await request(a, 'user:call', { to: b.id, offer }));
    assert.deepEqual(await nextEvent(b, 'incoming:call'), { from: a.id, offer });
    await noEvent(c, 'incoming:call');
    await noEvent(d, 'incoming:call');
    // members of room "<b.id>" cannot reach b by addressing the room / b's id
    assertError(await request(c, 'user:call', { to: b.id, offer }), 'not_in_room');
    await noEvent(b, 'incoming:call');
    // room traffic of room "<b.id>" never reaches b
    const msg = await request(c, 'chat:send', { text: 'room named like a socket' });
    assert.equal(msg.ok, true);
    assert.equal((await nextEvent(d, 'chat:message')).text, 'room named like a socket');
    assertOkOnly(await request(c, 'media:state', { audio: false, video: false }));
    await nextEvent(d, 'media:state');
    const e = await joined(srv.url, b.id, { t, members: [c, d] });
    assertOkOnly(await request(c, 'startSharing', {}));
    await nextEvent(d, 'sharerStarted');
    await nextEvent(e, 'sharerStarted');
    await noEvent(b, null);
    await noEvent(a, null);
    // and room traffic of b's real room doesn't reach the room named like b's id
    assert.equal((await request(b, 'chat:send', { text: 'real room' })).ok, true);
    assert.equal((await nextEvent(a, 'chat:message')).text, 'real room');
    await noEvent(c, 'chat:message');
    await noEvent(d, 'chat:message');
    // a relay from b's room to a member of the room named like b.id is refused
    assertError(await request(a, 'user:call', { to: c.id, offer }), 'not_in_room');
    await noEvent(c, 'incoming:call');
  });

  test('a room named like the sender\'s own id does not make relays leak', async (t) => {
    const a = await connect(srv.url, { t });
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(a.id)) {
      t.skip(`socket id ${a.id} is not a valid room name`);
      return;
    }
    // a joins the room named like its own id, b joins the same room
    const ack = await request(a, 'room:join', { email: uniqEmail(), room: a.id });
    assert.equal(ack.ok, true);
    const b = await joined(srv.url, a.id, { t, members: [a] });
    const outsider = await joined(srv.url, uniqRoom('out'), { t });
    clearEvents(a, b, outsider);
    assertOkOnly(await request(b, 'call:end', { to: a.id }));
    assert.deepEqual(await nextEvent(a, 'call:ended'), { from: b.id });
    await noEvent(b, 'call:ended');
    assertError(await request(outsider, 'call:end', { to: a.id }), 'not_in_room');
    await noEvent(a, 'call:ended');
  });
});

describe('relay payload validation', () => {
  for (const [event, field, , value] of RELAYS) {
    const bad = [
      ['missing to', () => (field ? { [field]: value } : {})],
      ['to is a number', (to) => ({ ...payloadFor(field, value, to), to: 42 })],
      ['payload is a string', (to) => to],
      ['payload is null', () => null],
    ];
    if (field === 'offer' || field === 'ans') {
      bad.push(['missing sdp', (to) => ({ to, [field]: { type: value.type } })]);
      bad.push(['sdp is a number', (to) => ({ to, [field]: { type: value.type, sdp: 5 } })]);
      bad.push([`${field} is a string`, (to) => ({ to, [field]: value.sdp })]);
      bad.push([`missing ${field}`, (to) => ({ to })]);
    }
    if (field === 'candidate') {
      bad.push(['candidate is a string', (to) => ({ to, candidate: value.candidate })]);
      bad.push(['candidate.candidate is a number', (to) => ({ to, candidate: { ...value, candidate: 1 } })]);
      bad.push(['missing candidate', (to) => ({ to })]);
    }
    test(`${event}: malformed payloads -> bad_request, nothing delivered`, async (t) => {
      const [a, b] = await joinAll(srv.url, uniqRoom('bad'), 2, { t });
      await expectAllErrors(
        'bad_request',
        bad.map(([label, make]) => [`${event} ${label}`, () => request(a, event, make(b.id))]),
      );
      // a payload that is an array of the right values in the right order is still not an object
      assertError(
        await request(a, event, field ? [b.id, value] : [b.id]),
        'bad_request',
        `${event} payload as an array`,
      );
      await noEvent(b, null);
    });
  }
});

async function sdpLimitChecks(server, limit, t) {
  const [a, b] = await joinAll(server.url, uniqRoom('sdp'), 2, { t });
  const exact = 'a'.repeat(limit);
  for (const [event, field, received] of [
    ['user:call', 'offer', 'incoming:call'],
    ['call:accepted', 'ans', 'call:accepted'],
    ['peer:nego:needed', 'offer', 'peer:nego:needed'],
    ['peer:nego:done', 'ans', 'peer:nego:final'],
    ['share:offer', 'offer', 'share:offer'],
    ['share:answer', 'ans', 'share:answer'],
  ]) {
    const type = field === 'offer' ? 'offer' : 'answer';
    await allowShare(event, a, b);
    const okAck = await request(a, event, { to: b.id, [field]: { type, sdp: exact } }, 15000);
    assertOkOnly(okAck, `${event} with an SDP of exactly ${limit} bytes`);
    const got = await nextEvent(b, received, 15000);
    assert.equal(got[field].sdp.length, limit);
    assert.equal(got[field].sdp, exact);
    assertError(
      await request(a, event, { to: b.id, [field]: { type, sdp: exact + 'a' } }, 15000),
      'bad_request',
      `${event} with an SDP of ${limit + 1} bytes`,
    );
    await noEvent(b, received);
  }
  // the limit is in bytes: multi-byte characters count by their UTF-8 size
  const even = limit - (limit % 2);
  const multi = 'é'.repeat(even / 2);
  assert.equal(utf8Len(multi), even);
  assertOkOnly(await request(a, 'user:call', { to: b.id, offer: { type: 'offer', sdp: multi } }, 15000));
  await nextEvent(b, 'incoming:call', 15000);
  const over = 'é'.repeat(even / 2 + 1);
  assert.ok(utf8Len(over) > limit);
  assertError(
    await request(a, 'user:call', { to: b.id, offer: { type: 'offer', sdp: over } }, 15000),
    'bad_request',
    `SDP of ${over.length} chars but ${utf8Len(over)} bytes`,
  );
}

describe('size limits', () => {
  test('default --max-sdp-bytes (64 KiB): exactly 65536 bytes passes, 65537 -> bad_request', async (t) => {
    await sdpLimitChecks(srv, 65536, t);
  });

  test('--max-sdp-bytes 1000: exactly 1000 bytes passes, 1001 -> bad_request', async (t) => {
    const small = await startServer({ maxSdpBytes: 1000 });
    await sdpLimitChecks(small, 1000, t);
  });

  test('ICE candidate string: 2048 bytes passes, 2049 -> bad_request (call and share)', async (t) => {
    const [a, b] = await joinAll(srv.url, uniqRoom('ice'), 2, { t });
    for (const [event] of [['ice:candidate'], ['share:ice']]) {
      await allowShare(event, a, b);
      const exact = { candidate: 'c'.repeat(2048), sdpMid: '0', sdpMLineIndex: 0 };
      assertOkOnly(await request(a, event, { to: b.id, candidate: exact }), `${event} 2048`);
      assert.deepEqual(await nextEvent(b, event), { from: a.id, candidate: exact });
      assertError(
        await request(a, event, { to: b.id, candidate: { ...exact, candidate: 'c'.repeat(2049) } }),
        'bad_request',
        `${event} 2049`,
      );
      assertError(
        await request(a, event, { to: b.id, candidate: { ...exact, candidate: 'c'.repeat(10000) } }),
        'bad_request',
        `${event} 10000`,
      );
      await noEvent(b, event);
    }
  });

  test('a whole payload larger than max-sdp-bytes + 16 KiB -> payload_too_large', async (t) => {
    const small = await startServer({ maxSdpBytes: 1000 });
    const [a, b] = await joinAll(small.url, uniqRoom('big'), 2, { t });
    const junk = 'j'.repeat(1000 + 16 * 1024 + 100);
    assertError(
      await request(a, 'user:call', { to: b.id, offer: { type: 'offer', sdp: 'v=0' }, junk }),
      'payload_too_large',
    );
    assertError(await request(a, 'chat:send', { text: 'hi', junk }), 'payload_too_large');
    await noEvent(b, ['incoming:call', 'chat:message']);
    // the connection is still usable
    assertOkOnly(await request(a, 'call:end', { to: b.id }));
    await nextEvent(b, 'call:ended');
  });
});
