// The host's controls, at the top of the participants panel: the passcode (set or clear),
// the waiting room and the listing, and who waits to be let in (Admit / Deny).
import { call, toHuddleError } from "../bridge/api";
import type { DoorAction, RoomLockRequest } from "../bridge/contract";
import { describeError } from "../bridge/errors";
import { h, replaceChildrenKeyed, setHidden } from "../ui/dom";
import type { RoomModel } from "./roomModel";

export class HostControls {
  readonly el: HTMLElement;
  readonly passcode: HTMLInputElement;
  private lockBtn: HTMLButtonElement;
  private unlockBtn: HTMLButtonElement;
  private waitingBox: HTMLInputElement;
  private listedBox: HTMLInputElement;
  private state: HTMLElement;
  private queue: HTMLUListElement;
  private error: HTMLElement;

  constructor(private model: RoomModel) {
    this.passcode = h("input", { id: "host-passcode", type: "text", maxlength: 64, placeholder: "4–64 characters", autocomplete: "off", spellcheck: "false" });
    this.lockBtn = h("button", { id: "host-lock", type: "button", class: "btn" }, "Set passcode");
    this.unlockBtn = h("button", { id: "host-unlock", type: "button", class: "btn" }, "Clear passcode");
    this.waitingBox = h("input", { id: "host-waiting-room", type: "checkbox" });
    this.listedBox = h("input", { id: "host-listed", type: "checkbox" });
    this.state = h("p", { id: "host-state", class: "hint" });
    this.queue = h("ul", { id: "waiting-list", class: "participants-list", "aria-label": "Waiting to join" });
    this.error = h("p", { id: "host-error", class: "field-error", role: "alert", hidden: true });
    this.el = h(
      "section",
      { id: "host-controls", class: "host-controls", "aria-label": "Host controls", hidden: true },
      h("label", { for: "host-passcode" }, "Room passcode"),
      h("div", { class: "host-row" }, this.passcode, this.lockBtn, this.unlockBtn),
      h("label", { class: "check", for: "host-waiting-room" }, this.waitingBox, h("span", {}, "Waiting room")),
      h("label", { class: "check", for: "host-listed" }, this.listedBox, h("span", {}, "List this room in the lobby")),
      this.state,
      this.error,
      this.queue,
    );
    this.lockBtn.addEventListener("click", () => {
      const p = this.passcode.value.trim();
      if (p.length < 4) {
        this.showError("A passcode has 4–64 characters.");
        return;
      }
      void this.lock({ passcode: p, waitingRoom: null, listed: null });
    });
    this.unlockBtn.addEventListener("click", () => void this.lock({ passcode: "", waitingRoom: null, listed: null }));
    this.waitingBox.addEventListener("change", () => void this.lock({ passcode: null, waitingRoom: this.waitingBox.checked, listed: null }));
    this.listedBox.addEventListener("change", () => void this.lock({ passcode: null, waitingRoom: null, listed: this.listedBox.checked }));
  }

  private showError(text: string | null): void {
    this.error.textContent = text ?? "";
    setHidden(this.error, !text);
  }

  async lock(lock: RoomLockRequest): Promise<boolean> {
    this.showError(null);
    try {
      const st = await call("lock_room", { lock });
      if (lock.passcode === "") this.passcode.value = "";
      this.model.setSettings(st);
      return true;
    } catch (e) {
      this.showError(describeError(toHuddleError(e)).text);
      this.render();
      return false;
    }
  }

  /** Admit, deny (someone waiting) or remove (a participant). */
  async door(action: DoorAction, id: string): Promise<boolean> {
    this.showError(null);
    try {
      await call("door", { action, id });
      if (action !== "remove") this.model.dropWaiting(id);
      return true;
    } catch (e) {
      this.showError(describeError(toHuddleError(e)).text);
      return false;
    }
  }

  render(): void {
    const m = this.model;
    setHidden(this.el, !m.isHost);
    if (!m.isHost) return;
    this.waitingBox.checked = m.waitingRoom;
    this.listedBox.checked = m.listed;
    this.unlockBtn.disabled = !m.locked;
    this.state.textContent = m.locked ? "Locked with a passcode" : "Anyone with the room number can join";
    replaceChildrenKeyed(this.queue, JSON.stringify(m.waiting), () =>
      m.waiting.map((w) => {
        const admit = h("button", { type: "button", class: "btn btn-primary", "data-admit": w.id }, "Admit");
        const deny = h("button", { type: "button", class: "btn", "data-deny": w.id }, "Deny");
        admit.addEventListener("click", () => void this.door("admit", w.id));
        deny.addEventListener("click", () => void this.door("deny", w.id));
        return h("li", { "data-waiting-id": w.id }, h("span", { class: "p-name" }, `${w.name?.trim() || w.email} is waiting`), admit, deny);
      }),
    );
  }
}
