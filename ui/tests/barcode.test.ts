import { describe, expect, it } from "vitest";
import { barcodeBits, crc16, drawBarcode, readBarcode, timestampBytes } from "../src/render/barcode";

const VECTORS = [
  {
    t: 0x0123456789ab,
    crc: 0xc475,
    rows: ["0000000100100011", "0100010101100111", "1000100110101011", "1100010001110101"],
  },
  {
    t: 1763950000123,
    crc: 0x98e3,
    rows: ["0000000110011010", "1011001110011100", "1111011111111011", "1001100011100011"],
  },
];

/** Draws the spec's rows (not our encoder) into a mid-grey Y plane. */
function drawRows(rows: string[], w: number, h: number): Uint8Array {
  const y = new Uint8Array(w * h).fill(128);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 16; c++) {
      const x0 = Math.floor((c * w) / 16);
      const x1 = Math.floor(((c + 1) * w) / 16);
      const y0 = Math.floor((r * h) / 8);
      const y1 = Math.floor(((r + 1) * h) / 8);
      const v = rows[r]![c] === "1" ? 235 : 16;
      for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) y[yy * w + xx] = v;
    }
  }
  return y;
}

describe("crc16 (CCITT-FALSE)", () => {
  it("has the standard check value", () => {
    expect(crc16(Array.from(new TextEncoder().encode("123456789")))).toBe(0x29b1);
  });
  it("matches the spec's vectors", () => {
    for (const v of VECTORS) expect(crc16(timestampBytes(v.t))).toBe(v.crc);
  });
});

describe("barcode bits", () => {
  it("lays out T then C, MSB first, 16 bits per row", () => {
    for (const v of VECTORS) {
      const bits = barcodeBits(v.t).join("");
      expect([bits.slice(0, 16), bits.slice(16, 32), bits.slice(32, 48), bits.slice(48, 64)]).toEqual(v.rows);
    }
  });
});

describe("readBarcode", () => {
  for (const [w, h] of [
    [640, 480],
    [1280, 720],
    [333, 250],
    [160, 90],
  ] as const) {
    it(`reads the spec's test vectors at ${w}×${h}`, () => {
      for (const v of VECTORS) expect(readBarcode(drawRows(v.rows, w, h), w, h)).toBe(v.t);
    });
  }

  it("reads what drawBarcode draws, with a little noise", () => {
    const w = 640;
    const h = 360;
    const y = new Uint8Array(w * h).fill(100);
    const t = Date.UTC(2025, 10, 25, 12, 0, 0, 123);
    drawBarcode(y, w, h, t);
    let seed = 1;
    for (let i = 0; i < y.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      y[i] = Math.max(0, Math.min(255, y[i]! + ((seed >> 16) % 21) - 10));
    }
    expect(readBarcode(y, w, h)).toBe(t);
  });

  it("ignores the bottom half", () => {
    const w = 320;
    const h = 240;
    const y = drawRows(VECTORS[0]!.rows, w, h);
    y.fill(0, (w * h) / 2);
    expect(readBarcode(y, w, h)).toBe(VECTORS[0]!.t);
  });

  it("refuses a frame with an unclear cell", () => {
    const w = 640;
    const h = 480;
    const y = drawRows(VECTORS[0]!.rows, w, h);
    // grey out cell (row 1, col 3)
    for (let yy = 60; yy < 120; yy++) y.fill(128, yy * w + 120, yy * w + 160);
    expect(readBarcode(y, w, h)).toBeNull();
  });

  it("refuses a frame whose CRC does not match", () => {
    const rows = [...VECTORS[1]!.rows];
    rows[3] = (rows[3]![0] === "1" ? "0" : "1") + rows[3]!.slice(1); // flip bit 48 (C's MSB)
    expect(readBarcode(drawRows(rows, 640, 480), 640, 480)).toBeNull();
    const rows2 = [...VECTORS[1]!.rows];
    rows2[0] = rows2[0]!.slice(0, 15) + (rows2[0]![15] === "1" ? "0" : "1"); // flip a T bit
    expect(readBarcode(drawRows(rows2, 640, 480), 640, 480)).toBeNull();
  });

  it("returns null for a blank frame", () => {
    expect(readBarcode(new Uint8Array(640 * 480).fill(16), 640, 480)).toBeNull();
  });
});
