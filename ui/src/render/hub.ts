// Frames in, pictures out: keeps only the latest frame per stream, draws in
// requestAnimationFrame into every view of that stream, and keeps render stats.
import { readBarcode } from "./barcode";
import type { Fit } from "./fit";
import { parseFrame, type Frame } from "./frameHeader";
import { createRenderer, type FrameRenderer } from "./glRenderer";
import { StreamStats, type StreamStatsSnapshot } from "./stats";
import type { ViewSizeReporter } from "./viewSizes";

interface Latest {
  frame: Frame;
  barcodeT: number | null;
  drawn: boolean;
  receivedAt: number;
}

/** How long without frames before a view counts as "no video". */
export const STALE_MS = 2500;

export class VideoView {
  renderer: FrameRenderer | null = null;
  active = false;
  private ro: ResizeObserver | null = null;
  private sizeId: number | null = null;

  constructor(
    private hub: FrameHub,
    readonly canvas: HTMLCanvasElement,
    public stream: string,
    public fit: Fit,
    private onActive: (active: boolean) => void,
  ) {
    if (typeof ResizeObserver === "function") {
      this.ro = new ResizeObserver((entries) => {
        for (const e of entries) this.resized(e.contentRect.width, e.contentRect.height);
      });
      this.ro.observe(canvas);
    }
    const sizes = hub.sizes;
    if (sizes) this.sizeId = sizes.register();
  }

  private resized(cssW: number, cssH: number): void {
    const dpr = globalThis.devicePixelRatio || 1;
    const w = Math.round(cssW * dpr);
    const h = Math.round(cssH * dpr);
    if (this.sizeId !== null) this.hub.sizes?.set(this.sizeId, this.stream, w, h);
    if (w > 0 && h > 0 && (this.canvas.width !== w || this.canvas.height !== h)) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.hub.redraw(this);
    }
  }

  setStream(stream: string): void {
    if (stream === this.stream) return;
    this.hub.moveView(this, stream);
    this.stream = stream;
    const r = this.canvas.getBoundingClientRect();
    this.resized(r.width, r.height);
  }

  redraw(): void {
    this.hub.redraw(this);
  }

  setActive(a: boolean): void {
    if (a === this.active) return;
    this.active = a;
    this.onActive(a);
  }

  draw(frame: Frame): void {
    if (!this.renderer || this.renderer.lost) {
      this.renderer?.dispose();
      this.renderer = createRenderer(this.canvas);
    }
    this.renderer?.draw(frame, this.fit);
  }

  detach(): void {
    this.ro?.disconnect();
    this.ro = null;
    if (this.sizeId !== null) this.hub.sizes?.remove(this.sizeId);
    this.renderer?.dispose();
    this.renderer = null;
    this.hub.removeView(this);
  }
}

export class FrameHub {
  private latest = new Map<string, Latest>();
  private views = new Map<string, Set<VideoView>>();
  private stats = new Map<string, StreamStats>();
  private staleTimer: ReturnType<typeof setInterval> | null = null;
  parseErrors = 0;

  constructor(readonly sizes: ViewSizeReporter | null = null) {}

  attach(canvas: HTMLCanvasElement, stream: string, fit: Fit, onActive: (active: boolean) => void): VideoView {
    const v = new VideoView(this, canvas, stream, fit, onActive);
    this.addView(v, stream);
    return v;
  }

  private addView(v: VideoView, stream: string): void {
    let set = this.views.get(stream);
    if (!set) this.views.set(stream, (set = new Set()));
    set.add(v);
    const l = this.latest.get(stream);
    if (l && Date.now() - l.receivedAt < STALE_MS) {
      v.setActive(true);
      this.redraw(v);
    } else v.setActive(false);
    this.ensureStaleTimer();
  }

  /** @internal */
  moveView(v: VideoView, to: string): void {
    this.views.get(v.stream)?.delete(v);
    this.addView(v, to);
  }

  /** @internal */
  removeView(v: VideoView): void {
    this.views.get(v.stream)?.delete(v);
  }

  /** Redraw a view's latest frame (after a resize); not counted in stats. */
  redraw(v: VideoView): void {
    const l = this.latest.get(v.stream);
    if (l) v.draw(l.frame);
  }

  ingest(buf: ArrayBuffer): void {
    const r = parseFrame(buf);
    if (!r.ok) {
      this.parseErrors++;
      return;
    }
    const f = r.frame;
    const st = this.statsFor(f.stream);
    const now = Date.now();
    st.framesReceived++;
    st.lastFrameAtMs = now;
    st.width = f.width;
    st.height = f.height;
    const t = readBarcode(f.y, f.width, f.height);
    if (t !== null) {
      st.barcodesRead++;
      st.lastBarcodeMs = t;
    }
    const prev = this.latest.get(f.stream);
    if (prev && !prev.drawn && this.views.get(f.stream)?.size) st.framesDropped++;
    st.addArrival(f.sentAtMs - f.decodedAtMs, now - f.sentAtMs);
    const latest = { frame: f, barcodeT: t, drawn: false, receivedAt: now };
    this.latest.set(f.stream, latest);
    // Drawn at once, not at the next animation frame: waiting for rAF would add up to a
    // display refresh (8 ms on average at 60 Hz) before the GL work even starts, while
    // the compositor picks up the canvas at its next frame either way.
    this.drawLatest(f.stream, latest);
  }

  /** Draws each stream's newest frame not drawn yet (e.g. one that arrived before its view). */
  tick(): void {
    for (const [stream, l] of this.latest) this.drawLatest(stream, l);
  }

  /** Draws a stream's newest frame on every view of it, once. */
  private drawLatest(stream: string, l: Latest): void {
    if (l.drawn) return;
    const views = this.views.get(stream);
    if (!views || views.size === 0) return;
    for (const v of views) {
      v.draw(l.frame);
      v.setActive(true);
    }
    const now = Date.now();
    l.drawn = true;
    const st = this.statsFor(stream);
    st.framesDrawn++;
    st.addPath(now - l.frame.decodedAtMs);
    st.addDrawWait(now - l.receivedAt);
    if (l.barcodeT !== null) st.addGlassToGlass(now - l.barcodeT);
  }

  private ensureStaleTimer(): void {
    if (this.staleTimer) return;
    this.staleTimer = setInterval(() => this.checkStale(), 1000);
  }

  checkStale(now = Date.now()): void {
    for (const [stream, set] of this.views) {
      const l = this.latest.get(stream);
      const fresh = !!l && now - l.receivedAt < STALE_MS;
      for (const v of set) v.setActive(fresh);
    }
  }

  /** Drop a stream's retained frame (participant left). */
  forget(stream: string): void {
    this.latest.delete(stream);
  }

  private statsFor(stream: string): StreamStats {
    let s = this.stats.get(stream);
    if (!s) this.stats.set(stream, (s = new StreamStats()));
    return s;
  }

  renderStats(): Record<string, StreamStatsSnapshot> {
    const out: Record<string, StreamStatsSnapshot> = {};
    for (const [k, s] of this.stats) out[k] = s.snapshot();
    return out;
  }

  resetStats(): void {
    this.stats.clear();
  }
}
