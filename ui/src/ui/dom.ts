// A tiny element builder.
type AttrValue = string | number | boolean | null | undefined;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/** An aria-hidden span holding a trusted inline SVG icon. */
export function icon(svg: string, cls = "icon"): HTMLSpanElement {
  const s = h("span", { class: cls, "aria-hidden": "true" });
  s.innerHTML = svg;
  return s;
}

/**
 * Rebuilds `el`'s children only when `key` (a summary of what they show) changed. Lists
 * re-rendered on every model change would otherwise swap the button under a pointer between
 * press and release, and the click would be lost.
 */
export function replaceChildrenKeyed(el: HTMLElement, key: string, build: () => (Node | null)[]): void {
  if (el.dataset.renderKey === key) return;
  el.dataset.renderKey = key;
  el.replaceChildren(...build().filter((n): n is Node => n !== null));
}

export function setHidden(el: HTMLElement, hidden: boolean): void {
  if (hidden) el.setAttribute("hidden", "");
  else el.removeAttribute("hidden");
}

export const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

/** "Ctrl+Shift+S" or "⌘⇧S". */
export function shortcutLabel(key: string, shift = false): string {
  return isMac ? `⌘${shift ? "⇧" : ""}${key}` : `Ctrl+${shift ? "Shift+" : ""}${key}`;
}

export function initials(nameOrEmail: string): string {
  const base = nameOrEmail.includes("@") && !nameOrEmail.includes(" ") ? nameOrEmail.split("@")[0]! : nameOrEmail;
  const words = base
    .split(/[\s._-]+/)
    .map((w) => w.trim())
    .filter(Boolean);
  if (words.length === 0) return "?";
  const first = [...words[0]!][0] ?? "";
  const second = words.length > 1 ? ([...words[words.length - 1]!][0] ?? "") : "";
  return (first + second).toUpperCase() || "?";
}

/** A stable hue for an avatar, from an id. */
export function hueFor(id: string): number {
  let x = 0;
  for (let i = 0; i < id.length; i++) x = (x * 31 + id.charCodeAt(i)) >>> 0;
  return x % 360;
}
