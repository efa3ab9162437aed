// Transient notices in #toasts (an aria-live region).
import { h } from "./dom";

export type ToastTone = "info" | "warn" | "error";

export class Toaster {
  constructor(
    readonly el: HTMLElement,
    private ttlMs = 5000,
  ) {
    el.setAttribute("aria-live", "polite");
    el.setAttribute("role", "status");
  }

  /** A toast for a few seconds, or until removed when `sticky` (one that asks something). */
  show(text: string, tone: ToastTone = "info", { sticky = false } = {}): HTMLElement {
    const t = h("div", { class: `toast toast-${tone}`, "data-tone": tone }, text);
    this.el.append(t);
    while (this.el.children.length > 4) this.el.firstElementChild?.remove();
    if (sticky) return t;
    setTimeout(() => {
      t.classList.add("leaving");
      setTimeout(() => t.remove(), 300);
    }, this.ttlMs);
    return t;
  }

  clear(): void {
    this.el.replaceChildren();
  }
}
