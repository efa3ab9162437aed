// Tells Rust how large each stream is shown (CSS px × devicePixelRatio), debounced and
// only when the set of sizes changed.
import type { ViewSize } from "../bridge/contract";

export type SendSizes = (sizes: ViewSize[]) => Promise<unknown>;

export class ViewSizeReporter {
  private views = new Map<number, ViewSize>();
  private lastSent = "";
  private timer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;

  constructor(
    private send: SendSizes,
    private debounceMs = 200,
  ) {}

  register(): number {
    return this.nextId++;
  }

  set(viewId: number, stream: string, width: number, height: number): void {
    const w = Math.max(0, Math.round(width));
    const h = Math.max(0, Math.round(height));
    const prev = this.views.get(viewId);
    if (prev && prev.stream === stream && prev.width === w && prev.height === h) return;
    if (w === 0 || h === 0) this.views.delete(viewId);
    else this.views.set(viewId, { stream, width: w, height: h });
    this.schedule();
  }

  remove(viewId: number): void {
    if (this.views.delete(viewId)) this.schedule();
  }

  /** The largest size per stream, sorted by stream key. */
  current(): ViewSize[] {
    const per = new Map<string, ViewSize>();
    for (const v of this.views.values()) {
      const p = per.get(v.stream);
      if (!p) per.set(v.stream, { ...v });
      else {
        p.width = Math.max(p.width, v.width);
        p.height = Math.max(p.height, v.height);
      }
    }
    return [...per.values()].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.debounceMs);
  }

  flush(): void {
    const sizes = this.current();
    const key = JSON.stringify(sizes);
    if (key === this.lastSent) return;
    this.lastSent = key;
    this.send(sizes).catch(() => {
      // let the next change retry
      this.lastSent = "";
    });
  }

  /** Forget what was sent (e.g. after a new join) so the next flush sends again. */
  reset(): void {
    this.lastSent = "";
    this.schedule();
  }
}
