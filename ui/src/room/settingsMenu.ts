// A small popover to switch camera / microphone / speaker mid-call.
import type { DeviceId, DeviceList } from "../bridge/contract";
import { h, setHidden } from "../ui/dom";

type Kind = "camera" | "microphone" | "speaker";

export class SettingsMenu {
  readonly el: HTMLElement;
  private selects: Record<Kind, HTMLSelectElement>;
  private errorEl: HTMLElement;
  isOpen = false;

  constructor(
    private load: () => Promise<DeviceList>,
    private current: () => Record<Kind, DeviceId>,
    private onSwitch: (kind: Kind, id: DeviceId) => Promise<void>,
  ) {
    const sel = (id: string) => h("select", { id });
    this.selects = { camera: sel("switch-camera"), microphone: sel("switch-mic"), speaker: sel("switch-speaker") };
    this.errorEl = h("p", { class: "field-error", role: "alert", hidden: true });
    const row = (k: Kind, label: string) =>
      h("div", { class: "field" }, h("label", { for: this.selects[k].id }, label), this.selects[k]);
    this.el = h(
      "div",
      { id: "settings-menu", class: "popover", role: "dialog", "aria-label": "Devices", hidden: true },
      row("camera", "Camera"),
      row("microphone", "Microphone"),
      row("speaker", "Speaker"),
      this.errorEl,
    );
    (Object.keys(this.selects) as Kind[]).forEach((k) => {
      this.selects[k].addEventListener("change", () => {
        const id = this.selects[k].value || null;
        setHidden(this.errorEl, true);
        this.onSwitch(k, id).catch((e: unknown) => {
          this.errorEl.textContent = e instanceof Error && e.message ? e.message : "Couldn't switch the device.";
          setHidden(this.errorEl, false);
        });
      });
    });
  }

  async open(): Promise<void> {
    this.isOpen = true;
    setHidden(this.el, false);
    try {
      const d = await this.load();
      const cur = this.current();
      const fill = (k: Kind, list: { id: string; label: string }[]) => {
        this.selects[k].replaceChildren(h("option", { value: "" }, "None"), ...list.map((x) => h("option", { value: x.id }, x.label || x.id)));
        this.selects[k].value = cur[k] ?? "";
      };
      fill("camera", d.cameras);
      fill("microphone", d.microphones);
      fill("speaker", d.speakers);
    } catch {
      this.errorEl.textContent = "Couldn't list devices.";
      setHidden(this.errorEl, false);
    }
    this.selects.camera.focus();
  }

  close(): void {
    this.isOpen = false;
    setHidden(this.el, true);
  }
}
