// The waiting screen: the join reached the room's waiting room. The person sees that the
// host decides, which room it is, their own camera, and can withdraw (the knock with it).
import type { FrameHub, VideoView } from "../render/hub";
import { h, icon, setHidden } from "../ui/dom";
import { icons } from "../ui/icons";

export interface WaitingDeps {
  hub: FrameHub;
  room: string;
  /** Withdraw the knock; the join then fails with `cancelled`. */
  onCancel: () => void;
}

export class WaitingView {
  readonly el: HTMLElement;
  readonly cancelBtn: HTMLButtonElement;
  readonly room: string;
  private status: HTMLElement;
  private preview: VideoView | null;

  constructor(deps: WaitingDeps) {
    this.room = deps.room;
    const canvas = h("canvas", { id: "waiting-preview", "aria-label": "Your camera" });
    const off = h("div", { class: "preview-off" }, icon(icons.camOff, "icon icon-large"), h("span", {}, "Camera is off"));
    this.cancelBtn = h("button", { id: "waiting-cancel", type: "button", class: "btn btn-large" }, "Leave the waiting room");
    this.cancelBtn.addEventListener("click", () => {
      this.cancelBtn.disabled = true;
      this.cancelBtn.textContent = "Leaving…";
      deps.onCancel();
    });
    this.el = h(
      "main",
      { id: "waiting", class: "waiting", "aria-labelledby": "waiting-title" },
      h(
        "section",
        { class: "form-card waiting-card" },
        h("div", { class: "preview" }, canvas, off),
        h("h1", { id: "waiting-title" }, "Waiting for the host to let you in"),
        h("p", { id: "waiting-room-number", class: "waiting-room-number" }, "Room ", h("strong", {}, deps.room)),
        (this.status = h("p", { id: "waiting-status", class: "hint", role: "status" })),
        this.cancelBtn,
      ),
    );
    this.setConnected(true);
    this.preview = deps.hub.attach(canvas, "local", "cover", (active) => setHidden(off, active));
  }

  /** Whether the server connection holds (the knock is renewed once it is back). */
  setConnected(connected: boolean): void {
    this.status.textContent = connected
      ? "The host knows you're here. You'll join the call as soon as they let you in."
      : "The connection to the server was lost. Reconnecting…";
    this.status.classList.toggle("warn", !connected);
  }

  destroy(): void {
    this.preview?.detach();
    this.preview = null;
  }
}
