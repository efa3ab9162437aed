// #share-picker: a modal dialog listing screens and windows to share.
import type { ShareSources } from "../bridge/contract";
import { h, setHidden } from "../ui/dom";

/** "screen:ID" / "window:ID" (ids may or may not carry the prefix already). */
export function prefixed(kind: "screen" | "window", id: string): string {
  return id.startsWith(`${kind}:`) ? id : `${kind}:${id}`;
}

export class SharePicker {
  readonly el: HTMLElement;
  private body: HTMLElement;
  private returnFocus: HTMLElement | null = null;
  isOpen = false;

  constructor(
    private load: () => Promise<ShareSources>,
    private onPick: (source: string) => void,
    private fakeDevices: boolean,
  ) {
    this.body = h("div", { class: "picker-body" });
    const cancel = h("button", { type: "button", class: "btn", id: "share-cancel" }, "Cancel");
    cancel.addEventListener("click", () => this.close());
    this.el = h(
      "div",
      { id: "share-picker", class: "dialog-backdrop", hidden: true },
      h(
        "div",
        { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "share-title" },
        h("h2", { id: "share-title" }, "Share your screen"),
        this.body,
        h("div", { class: "dialog-actions" }, cancel),
      ),
    );
    this.el.addEventListener("click", (e) => {
      const b = (e.target as Element).closest<HTMLElement>("[data-source-id]");
      if (b?.dataset.sourceId) {
        const id = b.dataset.sourceId;
        this.close();
        this.onPick(id);
      } else if (e.target === this.el) this.close();
    });
    this.el.addEventListener("keydown", (e) => this.trapFocus(e));
  }

  private trapFocus(e: KeyboardEvent): void {
    if (e.key !== "Tab") return;
    const f = [...this.el.querySelectorAll<HTMLElement>("button:not([disabled])")];
    if (f.length === 0) return;
    const first = f[0]!;
    const last = f[f.length - 1]!;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  private source(id: string, title: string, detail: string): HTMLElement {
    return h(
      "button",
      { type: "button", class: "source", "data-source-id": id },
      h("span", { class: "source-title" }, title),
      h("span", { class: "source-detail" }, detail),
    );
  }

  async open(): Promise<void> {
    this.returnFocus = document.activeElement as HTMLElement | null;
    this.isOpen = true;
    setHidden(this.el, false);
    this.body.replaceChildren(h("p", { class: "hint", role: "status" }, "Looking for screens and windows…"));
    let src: ShareSources;
    try {
      src = await this.load();
    } catch (e) {
      const msg = e instanceof Error ? e.message : "";
      src = { screens: [], windows: [] };
      this.body.replaceChildren(h("p", { class: "form-error" }, `Couldn't list screens${msg ? `: ${msg}` : ""}.`));
    }
    if (!this.isOpen) return;
    const groups: HTMLElement[] = [];
    const screens = src.screens.map((s) => this.source(prefixed("screen", s.id), s.name || "Screen", `${s.width}×${s.height}`));
    if (screens.length === 0) screens.push(this.source("screen", "Entire screen", "Your main display"));
    if (this.fakeDevices) screens.push(this.source("test", "Test pattern", "Synthetic screen with the test barcode"));
    groups.push(h("h3", {}, "Screens"), h("div", { class: "sources" }, ...screens));
    if (src.windows.length) {
      groups.push(
        h("h3", {}, "Windows"),
        h("div", { class: "sources" }, ...src.windows.map((w) => this.source(prefixed("window", w.id), w.title || "Untitled window", `${w.width}×${w.height}`))),
      );
    }
    this.body.replaceChildren(...groups);
    this.body.querySelector<HTMLElement>("[data-source-id]")?.focus();
  }

  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    setHidden(this.el, true);
    this.returnFocus?.focus();
  }
}
