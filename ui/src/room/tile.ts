// One video tile: canvas, initials avatar when there is no picture, name, mic state,
// connection indicator (remote tiles).
import type { Participant } from "../bridge/contract";
import type { Fit } from "../render/fit";
import type { FrameHub, VideoView } from "../render/hub";
import { h, hueFor, icon, initials, setHidden } from "../ui/dom";
import { icons } from "../ui/icons";
import type { QualityDisplay } from "./statsView";

export interface TileState {
  participant: Participant;
  label: string;
  self: boolean;
  speaking: boolean;
  quality: QualityDisplay | null;
  /** Show video only when the participant's camera is on. */
  videoOn: boolean;
}

const PATH_LABELS: Record<NonNullable<QualityDisplay["path"]>, { label: string; title: string }> = {
  direct: { label: "Direct", title: "Straight between you" },
  relayed: { label: "Relayed", title: "Through the TURN relay server" },
  sfu: { label: "Via SFU", title: "Through the room's SFU server (a large room)" },
};

export class TileView {
  readonly el: HTMLElement;
  private canvas: HTMLCanvasElement;
  private avatar: HTMLElement;
  private nameEl: HTMLElement;
  private micEl: HTMLElement;
  private qualityEl: HTMLElement;
  /** "Direct", "Relayed" or "Via SFU": how this participant's media travels. */
  private pathEl: HTMLElement;
  private view: VideoView;
  private active = false;
  private videoOn = true;

  constructor(
    hub: FrameHub,
    participantId: string,
    readonly stream: string,
    fit: Fit,
    kind: "camera" | "screen" = "camera",
  ) {
    this.canvas = h("canvas", { "aria-hidden": "true" });
    this.avatar = h("div", { class: "avatar", "aria-hidden": "true" });
    this.nameEl = h("span", { class: "tile-name" });
    this.micEl = h("span", { class: "tile-mic", hidden: true }, icon(icons.micOff));
    this.qualityEl = h("span", { class: "tile-quality", hidden: true, "data-quality": "unknown" }, icon(icons.signal));
    this.pathEl = h("span", { class: "tile-path", hidden: true });
    this.el = h(
      "div",
      {
        class: `tile tile-${kind}`,
        role: "group",
        "data-participant-id": participantId,
        "data-stream": stream,
        "data-kind": kind,
        "data-video": "off",
      },
      this.canvas,
      this.avatar,
      h("div", { class: "tile-label" }, this.micEl, this.nameEl, this.qualityEl, this.pathEl),
    );
    this.view = hub.attach(this.canvas, stream, fit, (active) => {
      this.active = active;
      this.sync();
    });
  }

  setFit(fit: Fit): void {
    if (this.view.fit !== fit) {
      this.view.fit = fit;
      this.view.redraw();
    }
  }

  update(s: TileState): void {
    const p = s.participant;
    const shown = s.self ? `${s.label} (you)` : s.label;
    if (this.nameEl.textContent !== shown) this.nameEl.textContent = shown;
    const ini = initials(s.label);
    if (this.avatar.textContent !== ini) {
      this.avatar.textContent = ini;
      this.avatar.style.setProperty("--hue", String(hueFor(p.id)));
    }
    setHidden(this.micEl, p.audio);
    this.micEl.setAttribute("title", p.audio ? "" : "Microphone off");
    this.el.classList.toggle("speaking", s.speaking);
    this.el.dataset.speaking = String(s.speaking);
    this.el.dataset.audio = p.audio ? "on" : "off";
    const label = `${shown}${p.audio ? "" : ", muted"}${s.videoOn ? "" : ", camera off"}${s.speaking ? ", speaking" : ""}`;
    this.el.setAttribute("aria-label", label);
    if (s.quality) {
      setHidden(this.qualityEl, false);
      this.qualityEl.dataset.quality = s.quality.quality;
      this.qualityEl.title = s.quality.title;
      this.qualityEl.setAttribute("aria-label", s.quality.label);
      this.qualityEl.setAttribute("role", "img");
    } else setHidden(this.qualityEl, true);
    const path = s.quality?.path ?? null;
    setHidden(this.pathEl, path === null);
    if (path) {
      const text = PATH_LABELS[path];
      if (this.pathEl.textContent !== text.label) this.pathEl.textContent = text.label;
      this.pathEl.dataset.path = path;
      this.pathEl.title = text.title;
    }
    this.videoOn = s.videoOn;
    this.sync();
  }

  private sync(): void {
    const showVideo = this.videoOn && this.active;
    this.el.dataset.video = showVideo ? "on" : "off";
    setHidden(this.avatar, showVideo);
    this.canvas.style.visibility = showVideo ? "visible" : "hidden";
  }

  destroy(): void {
    this.view.detach();
    this.el.remove();
  }
}
