// Which cameras are on screen, told to the engine: in a room on the SFU the others are
// paused there (a tile scrolled out of the share strip, every tile while the window is
// hidden), so they cost no download and no decoding.
import { call } from "../bridge/api";

/** null: every camera is shown; else the ids shown. Pure. */
export function cameraView(remoteIds: readonly string[], visible: ReadonlySet<string>, windowHidden: boolean): string[] | null {
  if (windowHidden) return [];
  const shown = remoteIds.filter((id) => visible.has(id));
  return shown.length === remoteIds.length ? null : shown;
}

const SETTLE_MS = 300;

export class CameraViewReporter {
  private io: IntersectionObserver | null = null;
  private visible = new Set<string>();
  private observed = new Map<Element, string>();
  private sent: string | undefined;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private onVisibility = () => this.schedule();

  constructor(
    root: HTMLElement,
    private remoteIds: () => string[],
    private send: (ids: string[] | null) => void = (ids) => void call("set_camera_view", { ids }).catch(() => undefined),
  ) {
    // Without an observer (tests, old engines) every tile counts as shown.
    if (typeof IntersectionObserver !== "function") return;
    this.io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const id = this.observed.get(e.target);
          if (!id) continue;
          if (e.isIntersecting) this.visible.add(id);
          else this.visible.delete(id);
        }
        this.schedule();
      },
      { root, threshold: 0.05 },
    );
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  /** The tiles now on the stage, keyed by participant. */
  track(tiles: ReadonlyMap<string, { el: HTMLElement }>): void {
    if (!this.io) return;
    for (const [el, id] of this.observed) {
      if (tiles.get(id)?.el !== el) {
        this.io.unobserve(el);
        this.observed.delete(el);
        this.visible.delete(id);
      }
    }
    for (const [id, t] of tiles) {
      if (!this.observed.has(t.el)) {
        this.observed.set(t.el, id);
        this.io.observe(t.el);
      }
    }
    this.schedule();
  }

  // Scrolling a strip fires many changes: tell the engine once it settles.
  private schedule(): void {
    if (!this.io || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const view = cameraView(this.remoteIds(), this.visible, document.visibilityState === "hidden");
      const key = JSON.stringify(view);
      if (key === this.sent) return;
      this.sent = key;
      this.send(view);
    }, SETTLE_MS);
  }

  destroy(): void {
    this.io?.disconnect();
    if (this.timer) clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }
}
