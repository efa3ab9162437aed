// The chat side panel: #chat-list, #chat-input, #chat-send.
import type { ChatMessage } from "../bridge/contract";
import { h, icon } from "../ui/dom";
import { icons } from "../ui/icons";
import type { ChatEntry, ChatModel } from "./chatModel";

const MAX_LEN = 4000;

function time(ts: number): string {
  const d = new Date(ts);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export class ChatPanel {
  readonly el: HTMLElement;
  readonly list: HTMLOListElement;
  readonly input: HTMLTextAreaElement;
  readonly sendBtn: HTMLButtonElement;

  constructor(
    private model: ChatModel,
    private send: (text: string) => Promise<ChatMessage>,
    private onClose: () => void,
  ) {
    this.list = h("ol", { id: "chat-list", class: "chat-list", "aria-live": "polite", "aria-label": "Messages", tabindex: 0 });
    this.input = h("textarea", {
      id: "chat-input",
      rows: 2,
      maxlength: MAX_LEN,
      placeholder: "Message everyone",
      "aria-label": "Message",
    });
    this.sendBtn = h("button", { id: "chat-send", type: "submit", class: "btn btn-primary icon-btn", "aria-label": "Send" }, icon(icons.send));
    const form = h("form", { class: "chat-form" }, this.input, this.sendBtn);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.list.addEventListener("click", (e) => {
      const btn = (e.target as Element).closest<HTMLElement>("[data-retry]");
      if (btn?.dataset.retry) void this.model.send("", this.send, btn.dataset.retry);
    });
    const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Close chat" }, icon(icons.close));
    close.addEventListener("click", () => this.onClose());
    this.el = h(
      "aside",
      { id: "chat-panel", class: "panel", "aria-labelledby": "chat-title", hidden: true },
      h("header", { class: "panel-header" }, h("h2", { id: "chat-title" }, "Chat"), close),
      this.list,
      form,
    );
    model.subscribe(() => this.render());
    this.render();
  }

  submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    void this.model.send(text, this.send);
  }

  private item(e: ChatEntry): HTMLLIElement {
    const who = e.mine ? "You" : e.name?.trim() || e.email;
    const li = h(
      "li",
      { class: `chat-item${e.mine ? " mine" : ""}`, "data-id": e.id ?? e.key, "data-state": e.state },
      h("div", { class: "chat-meta" }, h("span", { class: "chat-author" }, who), h("time", { datetime: new Date(e.ts).toISOString() }, time(e.ts))),
      h("p", { class: "chat-text" }, e.text),
    );
    if (e.state === "sending") li.append(h("span", { class: "chat-status" }, "Sending…"));
    if (e.state === "failed") {
      li.append(
        h(
          "span",
          { class: "chat-status failed" },
          "Not sent. ",
          h("button", { type: "button", class: "link-btn chat-retry", "data-retry": e.key }, icon(icons.retry), "Retry"),
        ),
      );
    }
    return li;
  }

  render(): void {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.replaceChildren(...this.model.entries.map((e) => this.item(e)));
    if (atBottom || this.model.entries.at(-1)?.mine) this.list.scrollTop = this.list.scrollHeight;
  }
}
