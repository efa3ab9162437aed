// Per-stream render statistics (frames received/drawn, barcodes, latency samples).

const MAX_SAMPLES = 4096;

export interface LatencySummary {
  n: number;
  p50: number | null;
  p95: number | null;
}

export interface StreamStatsSnapshot {
  framesReceived: number;
  framesDrawn: number;
  framesDropped: number;
  barcodesRead: number;
  lastBarcodeMs: number | null;
  lastFrameAtMs: number | null;
  width: number;
  height: number;
  /** (a) barcode T → drawn: glass-to-glass at the renderer. */
  glassToGlass: LatencySummary;
  /** (b) decodedAtMs → drawn: what the frame path adds. */
  decodeToDraw: LatencySummary;
  /** Kept flat for convenience: n and p50/p95 of both. */
  n: number;
  g2gP50: number | null;
  g2gP95: number | null;
  pathP50: number | null;
  pathP95: number | null;
  /** Where decode → drawn goes (p50 of each, ms): scaling and packing in Rust, the
   * transport to the webview, and the wait from arrival to the draw call. */
  stages: { prepareP50: number | null; transportP50: number | null; drawWaitP50: number | null };
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95) };
}

class Ring {
  private buf: number[] = [];
  private next = 0;
  push(v: number): void {
    if (this.buf.length < MAX_SAMPLES) this.buf.push(v);
    else {
      this.buf[this.next] = v;
      this.next = (this.next + 1) % MAX_SAMPLES;
    }
  }
  values(): readonly number[] {
    return this.buf;
  }
}

export class StreamStats {
  framesReceived = 0;
  framesDrawn = 0;
  framesDropped = 0;
  barcodesRead = 0;
  lastBarcodeMs: number | null = null;
  lastFrameAtMs: number | null = null;
  width = 0;
  height = 0;
  private g2g = new Ring();
  private path = new Ring();
  private prepare = new Ring();
  private transport = new Ring();
  private drawWait = new Ring();

  addGlassToGlass(ms: number): void {
    // TESTSIGNAL.md: drop reads whose latency is outside −50 ms … 60 s.
    if (ms < -50 || ms > 60_000) return;
    this.g2g.push(ms);
  }
  addPath(ms: number): void {
    this.path.push(ms);
  }
  /** At arrival: decoded → put on the transport, and transport → here. */
  addArrival(prepareMs: number, transportMs: number): void {
    this.prepare.push(prepareMs);
    this.transport.push(transportMs);
  }
  addDrawWait(ms: number): void {
    this.drawWait.push(ms);
  }
  snapshot(): StreamStatsSnapshot {
    const g = summarize(this.g2g.values());
    const p = summarize(this.path.values());
    return {
      framesReceived: this.framesReceived,
      framesDrawn: this.framesDrawn,
      framesDropped: this.framesDropped,
      barcodesRead: this.barcodesRead,
      lastBarcodeMs: this.lastBarcodeMs,
      lastFrameAtMs: this.lastFrameAtMs,
      width: this.width,
      height: this.height,
      glassToGlass: g,
      decodeToDraw: p,
      n: g.n,
      g2gP50: g.p50,
      g2gP95: g.p95,
      pathP50: p.p50,
      pathP95: p.p95,
      stages: {
        prepareP50: summarize(this.prepare.values()).p50,
        transportP50: summarize(this.transport.values()).p50,
        drawWaitP50: summarize(this.drawWait.values()).p50,
      },
    };
  }
}
