import { describe, expect, it } from "vitest";
import { encodeFrame, parseFrame } from "../src/render/frameHeader";

/** Builds a frame message by hand, independently of encodeFrame. */
function handmade(width: number, height: number, key: string, decodedAt: number, sentAt: number, kind = 1): ArrayBuffer {
  const k = new TextEncoder().encode(key);
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const buf = new ArrayBuffer(24 + k.length + width * height + 2 * cw * ch);
  const dv = new DataView(buf);
  dv.setUint8(0, 1);
  dv.setUint8(1, kind);
  dv.setUint16(2, width, true);
  dv.setUint16(4, height, true);
  dv.setUint16(6, k.length, true);
  dv.setFloat64(8, decodedAt, true);
  dv.setFloat64(16, sentAt, true);
  const b = new Uint8Array(buf);
  b.set(k, 24);
  const y0 = 24 + k.length;
  for (let i = 0; i < width * height; i++) b[y0 + i] = i % 251;
  b.fill(77, y0 + width * height, y0 + width * height + cw * ch);
  b.fill(199, y0 + width * height + cw * ch);
  return buf;
}

describe("parseFrame", () => {
  it("reads every header field little-endian and slices the planes", () => {
    const buf = handmade(640, 360, "abc123/video", 1763950000123.5, 1763950000130.25, 1);
    const r = parseFrame(buf);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const f = r.frame;
    expect(f.version).toBe(1);
    expect(f.kind).toBe(1);
    expect(f.width).toBe(640);
    expect(f.height).toBe(360);
    expect(f.stream).toBe("abc123/video");
    expect(f.decodedAtMs).toBe(1763950000123.5);
    expect(f.sentAtMs).toBe(1763950000130.25);
    expect(f.y.length).toBe(640 * 360);
    expect(f.y[0]).toBe(0);
    expect(f.y[300]).toBe(300 % 251);
    expect(f.u.length).toBe(320 * 180);
    expect(f.v.length).toBe(320 * 180);
    expect(f.u.every((x) => x === 77)).toBe(true);
    expect(f.v.every((x) => x === 199)).toBe(true);
  });

  it("rounds chroma planes up for odd sizes", () => {
    const r = parseFrame(handmade(5, 3, "local", 1, 2, 0));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.frame.chromaWidth).toBe(3);
    expect(r.frame.chromaHeight).toBe(2);
    expect(r.frame.u.length).toBe(6);
    expect(r.frame.v[0]).toBe(199);
    expect(r.frame.u[5]).toBe(77);
  });

  it("decodes UTF-8 stream keys", () => {
    const r = parseFrame(handmade(2, 2, "é✓/screen", 0, 0, 2));
    expect(r.ok && r.frame.stream).toBe("é✓/screen");
  });

  it("rejects short, truncated or unknown-version messages", () => {
    expect(parseFrame(new ArrayBuffer(10)).ok).toBe(false);
    const good = handmade(4, 4, "local", 0, 0);
    expect(parseFrame(good.slice(0, good.byteLength - 1)).ok).toBe(false);
    const bad = good.slice(0);
    new DataView(bad).setUint8(0, 2);
    expect(parseFrame(bad).ok).toBe(false);
    const zero = handmade(4, 4, "local", 0, 0);
    new DataView(zero).setUint16(2, 0, true);
    expect(parseFrame(zero).ok).toBe(false);
  });

  it("encodeFrame writes the same bytes as the layout says", () => {
    const w = 16;
    const h = 9;
    const y = new Uint8Array(w * h).map((_, i) => i % 251);
    const c = 8 * 5;
    const buf = encodeFrame({
      kind: 2,
      width: w,
      height: h,
      stream: "x/screen",
      decodedAtMs: 5.5,
      sentAtMs: 6.25,
      y,
      u: new Uint8Array(c).fill(77),
      v: new Uint8Array(c).fill(199),
    });
    expect(new Uint8Array(buf)).toEqual(new Uint8Array(handmade(w, h, "x/screen", 5.5, 6.25, 2)));
  });
});
