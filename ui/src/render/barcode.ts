// Reads the BCv1 timestamp barcode (shared/TESTSIGNAL.md) from a limited-range Y plane.
const COLS = 16;
const ROWS = 4;
const Y_BLACK_MAX = 85; // Y < 85 → 0
const Y_WHITE_MIN = 166; // Y > 166 → 1
/** Rows sampled per cell (spread over the middle half): enough to be robust, cheap. */
const SAMPLE_ROWS = 4;

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0). */
export function crc16(bytes: ArrayLike<number>): number {
  let crc = 0xffff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= (bytes[i]! & 0xff) << 8;
    for (let b = 0; b < 8; b++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** The 6 big-endian bytes of a 48-bit timestamp. */
export function timestampBytes(t: number): number[] {
  const out: number[] = [];
  let v = t;
  for (let i = 5; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/** The 64 bits (bit 0 first) for timestamp t. */
export function barcodeBits(t: number): number[] {
  const bytes = timestampBytes(t);
  const c = crc16(bytes);
  bytes.push((c >> 8) & 0xff, c & 0xff);
  const bits: number[] = [];
  for (const byte of bytes) for (let b = 7; b >= 0; b--) bits.push((byte >> b) & 1);
  return bits;
}

function cellBounds(c: number, r: number, w: number, h: number): [number, number, number, number] {
  const x0 = Math.floor((c * w) / COLS);
  const x1 = Math.floor(((c + 1) * w) / COLS);
  const y0 = Math.floor((r * h) / 8);
  const y1 = Math.floor(((r + 1) * h) / 8);
  return [x0, x1, y0, y1];
}

/** Draws the barcode for t into a Y plane (Y=235 white, Y=16 black). For tests/synthetic. */
export function drawBarcode(y: Uint8Array, width: number, height: number, t: number, stride = width): void {
  const bits = barcodeBits(t);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const [x0, x1, y0, y1] = cellBounds(c, r, width, height);
      const val = bits[r * COLS + c] ? 235 : 16;
      for (let yy = y0; yy < y1; yy++) y.fill(val, yy * stride + x0, yy * stride + x1);
    }
  }
}

/**
 * Returns the timestamp T (ms since the epoch) or null when the frame has no readable
 * barcode (a cell is unclear, or the CRC does not match).
 */
export function readBarcode(y: Uint8Array, width: number, height: number, stride = width): number | null {
  if (width < COLS * 2 || height < 16) return null;
  const bytes = new Array<number>(8).fill(0);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const [x0, x1, y0, y1] = cellBounds(c, r, width, height);
      const cw = x1 - x0;
      const ch = y1 - y0;
      const mx0 = x0 + Math.floor(cw / 4);
      const mx1 = Math.max(mx0 + 1, x0 + Math.floor((3 * cw) / 4));
      const my0 = y0 + Math.floor(ch / 4);
      const my1 = Math.max(my0 + 1, y0 + Math.floor((3 * ch) / 4));
      const span = my1 - my0;
      const nRows = Math.min(SAMPLE_ROWS, span);
      let sum = 0;
      let n = 0;
      for (let k = 0; k < nRows; k++) {
        const yy = my0 + Math.floor(((k + 0.5) * span) / nRows);
        const base = yy * stride;
        for (let xx = mx0; xx < mx1; xx++) sum += y[base + xx]!;
        n += mx1 - mx0;
      }
      const mean = sum / n;
      let bit: number;
      if (mean < Y_BLACK_MAX) bit = 0;
      else if (mean > Y_WHITE_MIN) bit = 1;
      else return null;
      const i = r * COLS + c;
      if (bit) bytes[i >> 3]! |= 0x80 >> (i & 7);
    }
  }
  const crc = crc16(bytes.slice(0, 6));
  if (crc !== ((bytes[6]! << 8) | bytes[7]!)) return null;
  let t = 0;
  for (let i = 0; i < 6; i++) t = t * 256 + bytes[i]!;
  return t;
}
