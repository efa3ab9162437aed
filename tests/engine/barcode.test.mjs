// Self-check of the JavaScript BCv1 barcode code (engine/barcode.mjs), the same module the
// browser participant page draws and reads with. Test vectors: shared/TESTSIGNAL.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc16,
  crcOfT,
  encodeBits,
  decodeBits,
  rowsOf,
  cellRect,
  drawBarcodeRGBA,
  readBarcodeRGBA,
  latencyOf,
  percentile,
} from './barcode.mjs';

test('CRC-16/CCITT-FALSE check value of "123456789" is 0x29B1', () => {
  assert.equal(crc16([...Buffer.from('123456789', 'ascii')]), 0x29b1);
});

test('vector 1: T = 0x0123456789AB → C = 0xC475 and its rows', () => {
  const t = 0x0123456789ab;
  assert.equal(t, 1250999896491);
  assert.equal(crcOfT(t), 0xc475);
  assert.deepEqual(rowsOf(encodeBits(t)), [
    '0000000100100011',
    '0100010101100111',
    '1000100110101011',
    '1100010001110101',
  ]);
  assert.equal(decodeBits(encodeBits(t)), t);
});

test('vector 2: T = 1763950000123 → C = 0x98E3 and its rows', () => {
  const t = 1763950000123;
  assert.equal(t, 0x019ab39cf7fb);
  assert.equal(crcOfT(t), 0x98e3);
  assert.deepEqual(rowsOf(encodeBits(t)), [
    '0000000110011010',
    '1011001110011100',
    '1111011111111011',
    '1001100011100011',
  ]);
  assert.equal(decodeBits(encodeBits(t)), t);
});

test('a flipped bit fails the CRC', () => {
  const bits = encodeBits(1763950000123);
  for (const i of [0, 17, 47, 48, 63]) {
    const b = [...bits];
    b[i] ^= 1;
    assert.equal(decodeBits(b), null, `bit ${i}`);
  }
});

test('geometry: 640×480 cells are 40×60 px, 1280×720 cells 80×90 px', () => {
  assert.deepEqual(cellRect(0, 0, 640, 480), { x0: 0, x1: 40, y0: 0, y1: 60 });
  assert.deepEqual(cellRect(3, 15, 640, 480), { x0: 600, x1: 640, y0: 180, y1: 240 });
  assert.deepEqual(cellRect(1, 1, 1280, 720), { x0: 80, x1: 160, y0: 90, y1: 180 });
  assert.deepEqual(cellRect(3, 15, 1280, 720), { x0: 1200, x1: 1280, y0: 270, y1: 360 });
});

test('draw then read round-trips at several sizes, including odd ones', () => {
  const ts = [0, 1, 0x0123456789ab, 1763950000123, 2 ** 48 - 1, Date.now()];
  for (const [W, H] of [
    [640, 480],
    [1280, 720],
    [320, 240],
    [333, 187],
    [16, 8],
  ]) {
    for (const t of ts) {
      const data = new Uint8ClampedArray(W * H * 4);
      drawBarcodeRGBA(data, W, H, t);
      const r = readBarcodeRGBA(data, W, H);
      assert.equal(r.t, t, `${W}×${H} T=${t}: ${r.reason}`);
    }
  }
});

test('reading: grey cells are unreadable, noise within the thresholds is fine', () => {
  const W = 640;
  const H = 480;
  const t = 1763950000123;
  const data = new Uint8ClampedArray(W * H * 4);
  drawBarcodeRGBA(data, W, H, t);
  // Mild noise and a codec-like offset: 0 → ~30, 255 → ~225: still clear.
  const noisy = data.map((v, i) => ((i & 3) === 3 ? v : v === 0 ? 30 + (i % 7) : 225 - (i % 7)));
  assert.equal(readBarcodeRGBA(noisy, W, H).t, t);
  // A mid-grey cell (L = 128) makes the frame unreadable.
  const grey = new Uint8ClampedArray(data);
  const k = cellRect(2, 5, W, H);
  for (let y = k.y0; y < k.y1; y++)
    for (let x = k.x0; x < k.x1; x++) grey.fill(128, (y * W + x) * 4, (y * W + x) * 4 + 3);
  assert.deepEqual(readBarcodeRGBA(grey, W, H), { t: null, reason: 'unclear' });
});

test('latency window and percentiles', () => {
  assert.equal(latencyOf(1000, 1040), 40);
  assert.equal(latencyOf(1000, 950), -50);
  assert.equal(latencyOf(1000, 949), null);
  assert.equal(latencyOf(1000, 61000), 60000);
  assert.equal(latencyOf(1000, 61001), null);
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
  assert.equal(percentile([5, 1, 3, 2, 4], 100), 5);
});
