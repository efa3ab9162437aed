// The participants side panel: #participants-list.
import { h, hueFor, icon, initials, replaceChildrenKeyed } from "../ui/dom";
import { icons } from "../ui/icons";
import { HostControls } from "./hostControls";
import type { RoomModel } from "./roomModel";

export class ParticipantsPanel {
  readonly el: HTMLElement;
  readonly list: HTMLUListElement;
  private title: HTMLElement;
  readonly host: HostControls;

  constructor(
    private model: RoomModel,
    onClose: () => void,
  ) {
    this.list = h("ul", { id: "participants-list", class: "participants-list" });
    this.title = h("h2", { id: "participants-title" }, "People");
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close participants" }, icon(icons.close));
    close.addEventListener("click", onClose);
    this.host = new HostControls(model);
    this.el = h(
      "aside",
      { id: "participants-panel", class: "panel", "aria-labelledby": "participants-title", hidden: true },
      h("header", { class: "panel-header" }, this.title, close),
      this.host.el,
      this.list,
    );
  }

  render(): void {
    const m = this.model;
    this.host.render();
    this.title.textContent = `People (${m.participants.length})`;
    const key = JSON.stringify([m.selfId, m.sharerId, m.hostId, m.isHost, m.participants.map((p) => [p.id, m.displayName(p.id), p.audio, p.video])]);
    replaceChildrenKeyed(this.list, key, () =>
      m.participants.map((p) => {
        const name = m.displayName(p.id);
        const self = p.id === m.selfId;
        const av = h("span", { class: "avatar avatar-small", "aria-hidden": "true" }, initials(name));
        av.style.setProperty("--hue", String(hueFor(p.id)));
        return h(
          "li",
          { "data-participant-id": p.id, class: self ? "self" : undefined },
          av,
          h(
            "span",
            { class: "p-name" },
            name,
            self ? h("span", { class: "muted-text" }, " (you)") : null,
            m.sharerId === p.id ? h("span", { class: "pill" }, "Presenting") : null,
            m.hostId === p.id ? h("span", { class: "pill", "data-host": "true" }, "Host") : null,
          ),
          m.isHost && !self ? this.removeButton(p.id, name) : null,
          h(
            "span",
            { class: "p-state" },
            h("span", { role: "img", "aria-label": p.audio ? "Microphone on" : "Microphone off", "data-audio": p.audio ? "on" : "off" }, icon(p.audio ? icons.mic : icons.micOff)),
            h("span", { role: "img", "aria-label": p.video ? "Camera on" : "Camera off", "data-video": p.video ? "on" : "off" }, icon(p.video ? icons.cam : icons.camOff)),
          ),
        );
      }),
    );
  }

  private removeButton(id: string, name: string): HTMLElement {
    const btn = h("button", { type: "button", class: "link-btn", "data-remove": id, "aria-label": `Remove ${name}` }, "Remove");
    btn.addEventListener("click", () => void this.host.door("remove", id));
    return btn;
  }
}
