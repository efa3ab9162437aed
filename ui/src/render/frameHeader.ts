// Parses one binary frame message (layout in contract.ts FRAME_HEADER). Pure.
import { FRAME_HEADER } from "../bridge/contract";

export interface Frame {
  version: number;
  kind: number;
  width: number;
  height: number;
  stream: string;
  decodedAtMs: number;
  sentAtMs: number;
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  /** Chroma plane size: ceil(width/2) × ceil(height/2). */
  chromaWidth: number;
  chromaHeight: number;
}

export type ParseResult = { ok: true; frame: Frame } | { ok: false; error: string };

const decoder = new TextDecoder("utf-8");

export function parseFrame(buf: ArrayBuffer): ParseResult {
  const fixed = FRAME_HEADER.fixedBytes;
  if (buf.byteLength < fixed) return { ok: false, error: "short header" };
  const dv = new DataView(buf);
  const version = dv.getUint8(0);
  if (version !== FRAME_HEADER.version) return { ok: false, error: `unknown version ${version}` };
  const kind = dv.getUint8(1);
  const width = dv.getUint16(2, true);
  const height = dv.getUint16(4, true);
  const keyLen = dv.getUint16(6, true);
  const decodedAtMs = dv.getFloat64(8, true);
  const sentAtMs = dv.getFloat64(16, true);
  if (width === 0 || height === 0) return { ok: false, error: "empty frame" };
  if (buf.byteLength < fixed + keyLen) return { ok: false, error: "short stream key" };
  const stream = decoder.decode(new Uint8Array(buf, fixed, keyLen));
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const ySize = width * height;
  const cSize = cw * ch;
  const start = fixed + keyLen;
  if (buf.byteLength < start + ySize + 2 * cSize) return { ok: false, error: "short planes" };
  return {
    ok: true,
    frame: {
      version,
      kind,
      width,
      height,
      stream,
      decodedAtMs,
      sentAtMs,
      y: new Uint8Array(buf, start, ySize),
      u: new Uint8Array(buf, start + ySize, cSize),
      v: new Uint8Array(buf, start + ySize + cSize, cSize),
      chromaWidth: cw,
      chromaHeight: ch,
    },
  };
}

/** Builds a frame message (for tests and synthetic sources). */
export function encodeFrame(f: {
  kind: number;
  width: number;
  height: number;
  stream: string;
  decodedAtMs: number;
  sentAtMs: number;
  y?: Uint8Array;
  u?: Uint8Array;
  v?: Uint8Array;
}): ArrayBuffer {
  const key = new TextEncoder().encode(f.stream);
  const cw = Math.ceil(f.width / 2);
  const ch = Math.ceil(f.height / 2);
  const ySize = f.width * f.height;
  const cSize = cw * ch;
  const buf = new ArrayBuffer(FRAME_HEADER.fixedBytes + key.length + ySize + 2 * cSize);
  const dv = new DataView(buf);
  dv.setUint8(0, FRAME_HEADER.version);
  dv.setUint8(1, f.kind);
  dv.setUint16(2, f.width, true);
  dv.setUint16(4, f.height, true);
  dv.setUint16(6, key.length, true);
  dv.setFloat64(8, f.decodedAtMs, true);
  dv.setFloat64(16, f.sentAtMs, true);
  const bytes = new Uint8Array(buf);
  let o = FRAME_HEADER.fixedBytes;
  bytes.set(key, o);
  o += key.length;
  if (f.y) bytes.set(f.y.subarray(0, ySize), o);
  o += ySize;
  if (f.u) bytes.set(f.u.subarray(0, cSize), o);
  else bytes.fill(128, o, o + cSize);
  o += cSize;
  if (f.v) bytes.set(f.v.subarray(0, cSize), o);
  else bytes.fill(128, o, o + cSize);
  return buf;
}
