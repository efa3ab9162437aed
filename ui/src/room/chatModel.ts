// Chat: history, optimistic sends confirmed by the send_chat result, dedupe by id, unread.
import type { ChatMessage } from "../bridge/contract";

export type ChatState = "sending" | "sent" | "failed";

export interface ChatEntry {
  /** Stable key for the DOM: the server id once known, else a local key. */
  key: string;
  id: string | null;
  from: string;
  email: string;
  name: string | null;
  text: string;
  ts: number;
  state: ChatState;
  mine: boolean;
}

export interface Author {
  id: string;
  email: string;
  name: string | null;
}

let localSeq = 0;

export class ChatModel {
  entries: ChatEntry[] = [];
  unread = 0;
  panelOpen = false;
  /** Our own messages echoed back before their send_chat result: id → message. */
  private earlyEchoes = new Map<string, ChatMessage>();
  private listeners = new Set<() => void>();

  constructor(
    private self: Author,
    history: readonly ChatMessage[] = [],
  ) {
    for (const m of history) this.add(m);
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  private changed(): void {
    for (const cb of this.listeners) cb();
  }

  setSelfId(id: string): void {
    this.self = { ...this.self, id };
  }

  private has(id: string): boolean {
    return this.entries.some((e) => e.id === id);
  }

  private add(m: ChatMessage): ChatEntry | null {
    if (this.has(m.id)) return null;
    const e: ChatEntry = {
      key: m.id,
      id: m.id,
      from: m.from,
      email: m.email,
      name: m.name,
      text: m.text,
      ts: m.ts,
      state: "sent",
      mine: m.from === this.self.id,
    };
    this.entries.push(e);
    return e;
  }

  /** A `chat` event. Returns true when it added a visible message. */
  receive(m: ChatMessage): boolean {
    if (this.has(m.id) || this.earlyEchoes.has(m.id)) return false;
    if (m.from === this.self.id) {
      // Our own message coming back before send_chat resolved: hold it, the pending
      // entry becomes it when the result arrives.
      if (this.entries.some((e) => e.mine && e.state === "sending" && e.text === m.text)) {
        this.earlyEchoes.set(m.id, m);
        return false;
      }
    }
    const e = this.add(m);
    if (!e) return false;
    if (!e.mine && !this.panelOpen) this.unread++;
    this.changed();
    return true;
  }

  beginSend(text: string): ChatEntry {
    const e: ChatEntry = {
      key: `local-${++localSeq}`,
      id: null,
      from: this.self.id,
      email: this.self.email,
      name: this.self.name,
      text,
      ts: Date.now(),
      state: "sending",
      mine: true,
    };
    this.entries.push(e);
    this.changed();
    return e;
  }

  confirm(key: string, m: ChatMessage): void {
    const idx = this.entries.findIndex((e) => e.key === key);
    if (idx < 0) return;
    this.earlyEchoes.delete(m.id);
    if (this.entries.some((e, i) => i !== idx && e.id === m.id)) {
      // already shown (echo took its place): drop the optimistic copy
      this.entries.splice(idx, 1);
    } else {
      const e = this.entries[idx]!;
      e.id = m.id;
      e.ts = m.ts;
      e.text = m.text;
      e.state = "sent";
    }
    this.changed();
  }

  fail(key: string): void {
    const e = this.entries.find((x) => x.key === key);
    if (!e) return;
    e.state = "failed";
    // an echo we held for it proves it was delivered after all
    for (const [id, m] of this.earlyEchoes) {
      if (m.text === e.text) {
        this.earlyEchoes.delete(id);
        this.confirm(key, m);
        return;
      }
    }
    this.changed();
  }

  /** Sends text through `send` (send_chat), optimistic until it resolves. */
  async send(text: string, send: (text: string) => Promise<ChatMessage>, existingKey?: string): Promise<ChatEntry | null> {
    let e: ChatEntry | undefined;
    if (existingKey) {
      e = this.entries.find((x) => x.key === existingKey && x.state === "failed");
      if (!e) return null;
      e.state = "sending";
      this.changed();
    } else e = this.beginSend(text);
    try {
      const m = await send(e.text);
      this.confirm(e.key, m);
    } catch {
      this.fail(e.key);
    }
    return e;
  }

  setPanelOpen(open: boolean): void {
    this.panelOpen = open;
    if (open && this.unread) {
      this.unread = 0;
      this.changed();
    }
  }
}
