// #stage: the camera grid, or a share filling the stage with cameras in a strip.
import type { FrameHub } from "../render/hub";
import { h, setHidden } from "../ui/dom";
import { CameraViewReporter } from "./cameraView";
import { bestGrid } from "./layout";
import type { RoomModel } from "./roomModel";
import { planStage, type StagePlan } from "./stage";
import { activeSpeaker, peerStatsById, qualityDisplay } from "./statsView";
import { TileView } from "./tile";

const GAP = 8;

export class StageView {
  readonly el: HTMLElement;
  private grid: HTMLElement;
  private shareArea: HTMLElement;
  private tiles = new Map<string, TileView>();
  private shareTile: TileView | null = null;
  private ro: ResizeObserver | null = null;
  private view: CameraViewReporter;
  plan: StagePlan | null = null;

  constructor(
    private hub: FrameHub,
    private model: RoomModel,
  ) {
    this.grid = h("div", { class: "tiles", id: "tiles" });
    this.shareArea = h("div", { class: "share-area", id: "share-area", hidden: true });
    this.el = h("section", { id: "stage", class: "stage", "data-mode": "grid", "aria-label": "Video" }, this.shareArea, this.grid);
    if (typeof ResizeObserver === "function") {
      this.ro = new ResizeObserver(() => this.layout());
      this.ro.observe(this.el);
    }
    this.view = new CameraViewReporter(this.el, () => this.model.participants.map((p) => p.id).filter((id) => id !== this.model.selfId));
  }

  render(): void {
    const m = this.model;
    const plan = planStage(m.participants, m.selfId, m.sharerId);
    this.plan = plan;
    this.el.dataset.mode = plan.mode;

    // camera tiles, keyed by participant
    const keep = new Set(plan.tiles.map((t) => t.participantId));
    for (const [id, t] of this.tiles) {
      if (!keep.has(id)) {
        t.destroy();
        this.tiles.delete(id);
      }
    }
    const ids = new Set(m.participants.map((p) => p.id));
    const speaker = activeSpeaker(m.stats, ids);
    const peers = peerStatsById(m.stats);
    const fit = "cover";
    plan.tiles.forEach((tp, i) => {
      let t = this.tiles.get(tp.participantId);
      if (!t) {
        t = new TileView(this.hub, tp.participantId, tp.stream, fit);
        this.tiles.set(tp.participantId, t);
      }
      if (this.grid.children[i] !== t.el) this.grid.insertBefore(t.el, this.grid.children[i] ?? null);
      const p = m.participant(tp.participantId)!;
      t.update({
        participant: p,
        label: m.displayName(p.id),
        self: tp.self,
        speaking: speaker === p.id,
        quality: tp.self ? null : qualityDisplay(peers.get(p.id)),
        videoOn: p.video,
      });
    });

    // the share
    if (plan.shareStream && (!this.shareTile || this.shareTile.stream !== plan.shareStream)) {
      this.shareTile?.destroy();
      const sharer = m.sharerId!;
      this.shareTile = new TileView(this.hub, sharer, plan.shareStream, "contain", "screen");
      this.shareArea.replaceChildren(this.shareTile.el);
    } else if (!plan.shareStream && this.shareTile) {
      this.shareTile.destroy();
      this.shareTile = null;
    }
    if (this.shareTile && m.sharerId) {
      const p = m.participant(m.sharerId)!;
      this.shareTile.update({
        participant: { ...p, audio: true },
        label: `${m.displayName(p.id)}'s screen`,
        self: false,
        speaking: false,
        quality: null,
        videoOn: true,
      });
    }
    setHidden(this.shareArea, !this.shareTile);
    this.grid.classList.toggle("strip", plan.mode === "share");
    this.layout();
    this.view.track(this.tiles);
  }

  /** Sizes the grid tiles for the stage (grid mode); the strip is laid out by CSS. */
  layout(): void {
    const r = this.el.getBoundingClientRect();
    const n = this.tiles.size;
    if (this.plan?.mode === "share" || n === 0 || r.width === 0) {
      this.grid.style.removeProperty("--cols");
      this.grid.style.removeProperty("--tile-w");
      this.grid.style.removeProperty("--tile-h");
      return;
    }
    const g = bestGrid(n, r.width - 2 * GAP, r.height - 2 * GAP, 16 / 9, GAP);
    this.grid.style.setProperty("--cols", String(g.cols));
    this.grid.style.setProperty("--tile-w", `${g.tileWidth}px`);
    this.grid.style.setProperty("--tile-h", `${g.tileHeight}px`);
    this.grid.dataset.cols = String(g.cols);
    this.grid.dataset.rows = String(g.rows);
  }

  destroy(): void {
    this.ro?.disconnect();
    this.view.destroy();
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    this.shareTile?.destroy();
    this.shareTile = null;
  }
}
