// The timestamp barcode BCv1 (shared/TESTSIGNAL.md), shared by the browser participant page
// (served as an ES module) and the Node unit test. No Node or DOM APIs at module level.
//
// Payload: T = sender wall clock in ms since the epoch (48 bits, big-endian), then
// C = CRC-16/CCITT-FALSE over T's 6 bytes. 64 bits, bit 0 = bit 47 of T (first cell, top left).
// Geometry: 16 columns × 4 rows over the top half of a W×H frame; cell (r, c) carries bit
// 16·r + c and covers x ∈ [floor(c·W/16), floor((c+1)·W/16)), y ∈ [floor(r·H/8), floor((r+1)·H/8)).
// White (255,255,255) = 1, black = 0. Reading: mean luma over each cell's middle 50% × 50%,
// L < 80 → 0, L > 175 → 1, anything between → unreadable; the CRC must match.

export const COLS = 16;
export const ROWS = 4;
export const T_MOD = 2 ** 48;
export const READ_BLACK_BELOW = 80;
export const READ_WHITE_ABOVE = 175;
export const MIN_LATENCY_MS = -50;
export const MAX_LATENCY_MS = 60000;

/** CRC-16/CCITT-FALSE (IBM-3740): poly 0x1021, init 0xFFFF, not reflected, xorout 0. */
export function crc16(bytes) {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= (b & 0xff) << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** T's 6 bytes, big-endian (T taken modulo 2^48). */
export function tBytes(t) {
  const v = ((Math.floor(t) % T_MOD) + T_MOD) % T_MOD;
  const hi = Math.floor(v / 2 ** 24); // bits 47..24
  const lo = v % 2 ** 24; // bits 23..0
  return [(hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
}

/** The CRC of T (over its 6 big-endian bytes). */
export function crcOfT(t) {
  return crc16(tBytes(t));
}

/** The 64 payload bits of T in cell order (array of 0/1). */
export function encodeBits(t) {
  const c = crcOfT(t);
  const bytes = [...tBytes(t), (c >>> 8) & 0xff, c & 0xff];
  const bits = new Array(64);
  for (let i = 0; i < 64; i++) bits[i] = (bytes[i >> 3] >>> (7 - (i & 7))) & 1;
  return bits;
}

/** T from 64 bits in cell order if the CRC matches, else null. */
export function decodeBits(bits) {
  if (!bits || bits.length !== 64) return null;
  const bytes = new Array(8).fill(0);
  for (let i = 0; i < 64; i++) bytes[i >> 3] = (bytes[i >> 3] << 1) | (bits[i] ? 1 : 0);
  let t = 0;
  for (let i = 0; i < 6; i++) t = t * 256 + bytes[i];
  const c = (bytes[6] << 8) | bytes[7];
  return crc16(bytes.slice(0, 6)) === c ? t : null;
}

/** The 4 rows of a payload as strings of 16 '0'/'1' (as in TESTSIGNAL.md's test vectors). */
export function rowsOf(bits) {
  const rows = [];
  for (let r = 0; r < ROWS; r++) rows.push(bits.slice(r * COLS, (r + 1) * COLS).join(''));
  return rows;
}

/** Cell (r, c) of a W×H frame: { x0, x1, y0, y1 } (half-open). */
export function cellRect(r, c, W, H) {
  return {
    x0: Math.floor((c * W) / COLS),
    x1: Math.floor(((c + 1) * W) / COLS),
    y0: Math.floor((r * H) / (2 * ROWS)),
    y1: Math.floor(((r + 1) * H) / (2 * ROWS)),
  };
}

/** The sampled middle region of a cell: { x0, x1, y0, y1 } (at least one pixel). */
export function cellMiddle(r, c, W, H) {
  const k = cellRect(r, c, W, H);
  const w = k.x1 - k.x0;
  const h = k.y1 - k.y0;
  const mx0 = k.x0 + Math.floor(w / 4);
  const my0 = k.y0 + Math.floor(h / 4);
  return {
    x0: mx0,
    x1: Math.max(k.x0 + Math.floor((3 * w) / 4), mx0 + 1),
    y0: my0,
    y1: Math.max(k.y0 + Math.floor((3 * h) / 4), my0 + 1),
  };
}

/** Draws the barcode of T into the top half of a CanvasRenderingContext2D of size W×H. */
export function drawBarcode(ctx, W, H, t) {
  const bits = encodeBits(t);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const k = cellRect(r, c, W, H);
      ctx.fillStyle = bits[r * COLS + c] ? 'rgb(255,255,255)' : 'rgb(0,0,0)';
      ctx.fillRect(k.x0, k.y0, k.x1 - k.x0, k.y1 - k.y0);
    }
  }
}

/** Draws the barcode of T into an RGBA byte buffer (W×H, 4 bytes a pixel). For tests. */
export function drawBarcodeRGBA(data, W, H, t) {
  const bits = encodeBits(t);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const k = cellRect(r, c, W, H);
      const v = bits[r * COLS + c] ? 255 : 0;
      for (let y = k.y0; y < k.y1; y++) {
        for (let x = k.x0; x < k.x1; x++) {
          const o = (y * W + x) * 4;
          data[o] = v;
          data[o + 1] = v;
          data[o + 2] = v;
          data[o + 3] = 255;
        }
      }
    }
  }
}

/**
 * Reads the barcode from RGBA pixels of a W×H frame (`data` holds at least the top half,
 * row-major, 4 bytes a pixel). Returns { t, bits } when all 64 cells are clear and the CRC
 * matches; otherwise { t: null, reason: 'unclear' | 'crc', bits? }.
 */
export function readBarcodeRGBA(data, W, H) {
  if (W < COLS || H < 2 * ROWS) return { t: null, reason: 'too small' };
  const bits = new Array(64);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const m = cellMiddle(r, c, W, H);
      let sum = 0;
      let n = 0;
      for (let y = m.y0; y < m.y1; y++) {
        let o = (y * W + m.x0) * 4;
        for (let x = m.x0; x < m.x1; x++, o += 4) {
          sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
          n++;
        }
      }
      const l = sum / n;
      if (l < READ_BLACK_BELOW) bits[r * COLS + c] = 0;
      else if (l > READ_WHITE_ABOVE) bits[r * COLS + c] = 1;
      else return { t: null, reason: 'unclear' };
    }
  }
  const t = decodeBits(bits);
  return t === null ? { t: null, reason: 'crc', bits } : { t, bits };
}

/** now − T if within the accepted window (−50 ms … 60 s), else null. */
export function latencyOf(t, now) {
  const d = now - t;
  return d >= MIN_LATENCY_MS && d <= MAX_LATENCY_MS ? d : null;
}

/** Percentile (nearest rank) of a numeric array; null when empty. */
export function percentile(values, p) {
  if (!values || values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}
