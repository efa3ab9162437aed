// The room's state, updated from the join result, session events and stats.
import type { Joined, Participant, SessionEvent, StatsEvent } from "../bridge/contract";
import { ChatModel } from "./chatModel";

export type Tone = "info" | "warn" | "error";

export type RoomEffect =
  | { kind: "toast"; text: string; tone: Tone }
  | { kind: "ended"; reason: string }
  | { kind: "forget-stream"; stream: string };

export interface SelfInfo {
  email: string;
  name: string | null;
  audio: boolean;
  video: boolean;
}

export class RoomModel {
  selfId: string;
  readonly room: string;
  readonly joinMs: number;
  participants: Participant[];
  sharerId: string | null;
  /** The room's host (null from a 1.0 server). */
  hostId: string | null;
  locked: boolean;
  waitingRoom: boolean;
  listed = false;
  /** (Host) who knocks at the waiting room, oldest first. */
  waiting: { id: string; email: string; name: string | null }[] = [];
  reconnecting = false;
  stats: StatsEvent | null = null;
  readonly chat: ChatModel;
  private listeners = new Set<() => void>();

  constructor(joined: Joined, self: SelfInfo) {
    this.selfId = joined.selfId;
    this.room = joined.room;
    this.joinMs = joined.joinMs;
    const me: Participant = { id: joined.selfId, email: self.email, name: self.name, audio: self.audio, video: self.video };
    const listedSelf = joined.participants.find((p) => p.id === joined.selfId);
    this.participants = [
      listedSelf ? { ...listedSelf, audio: self.audio, video: self.video } : me,
      ...joined.participants.filter((p) => p.id !== joined.selfId).map((p) => ({ ...p })),
    ];
    this.sharerId = joined.sharerId;
    this.hostId = joined.hostId;
    this.locked = joined.locked;
    this.waitingRoom = joined.waitingRoom;
    this.chat = new ChatModel({ id: joined.selfId, email: self.email, name: self.name }, joined.history);
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  changed(): void {
    for (const cb of this.listeners) cb();
  }

  get self(): Participant {
    return this.participants.find((p) => p.id === this.selfId)!;
  }

  participant(id: string): Participant | undefined {
    return this.participants.find((p) => p.id === id);
  }

  /** Name, else email, else a placeholder. */
  displayName(id: string): string {
    const p = this.participant(id);
    if (!p) return "Someone";
    return p.name?.trim() || p.email || "Someone";
  }

  setSelfMedia(m: { audio?: boolean; video?: boolean }): void {
    const s = this.self;
    if (m.audio !== undefined) s.audio = m.audio;
    if (m.video !== undefined) s.video = m.video;
    this.changed();
  }

  get isHost(): boolean {
    return this.hostId !== null && this.hostId === this.selfId;
  }

  /** The host's own room:lock answer. */
  setSettings(st: { locked: boolean; waitingRoom: boolean; listed: boolean }): void {
    this.locked = st.locked;
    this.waitingRoom = st.waitingRoom;
    this.listed = st.listed;
    this.changed();
  }

  /** Someone stopped waiting (admitted, denied, or gone). */
  dropWaiting(id: string): void {
    this.waiting = this.waiting.filter((w) => w.id !== id);
    this.changed();
  }

  setSharer(id: string | null): void {
    this.sharerId = id;
    this.changed();
  }

  applyStats(s: StatsEvent): void {
    this.stats = s;
    this.changed();
  }

  handle(ev: SessionEvent): RoomEffect[] {
    const fx: RoomEffect[] = [];
    switch (ev.type) {
      case "participant-joined": {
        const existing = this.participant(ev.id);
        if (existing) {
          existing.email = ev.email;
          existing.name = ev.name;
        } else {
          this.participants.push({ id: ev.id, email: ev.email, name: ev.name, audio: true, video: true });
          fx.push({ kind: "toast", text: `${this.displayName(ev.id)} joined`, tone: "info" });
        }
        break;
      }
      case "participant-left": {
        if (!this.participant(ev.id)) break;
        const who = this.displayName(ev.id);
        this.participants = this.participants.filter((p) => p.id !== ev.id);
        if (this.sharerId === ev.id) {
          this.sharerId = null;
          fx.push({ kind: "forget-stream", stream: `${ev.id}/screen` });
        }
        fx.push({ kind: "forget-stream", stream: `${ev.id}/video` });
        fx.push({ kind: "toast", text: `${who} left`, tone: "info" });
        break;
      }
      case "media-state": {
        const p = this.participant(ev.id);
        if (p) {
          p.audio = ev.audio;
          p.video = ev.video;
        }
        break;
      }
      case "chat":
        this.chat.receive(ev.message);
        break;
      case "sharer-started":
        this.sharerId = ev.id;
        if (ev.id !== this.selfId) {
          fx.push({ kind: "toast", text: `${this.displayName(ev.id)} started sharing their screen`, tone: "info" });
        }
        break;
      case "sharer-stopped":
        if (this.sharerId === ev.id) this.sharerId = null;
        if (ev.id !== this.selfId) {
          fx.push({ kind: "toast", text: `${this.displayName(ev.id)} stopped sharing`, tone: "info" });
        }
        fx.push({ kind: "forget-stream", stream: `${ev.id}/screen` });
        break;
      case "peer-connected":
        break;
      case "peer-failed":
        fx.push({
          kind: "toast",
          text: `Lost the connection to ${this.displayName(ev.id)}${ev.reason ? ` (${ev.reason})` : ""}`,
          tone: "warn",
        });
        break;
      case "reconnecting":
        this.reconnecting = true;
        break;
      case "rejoined": {
        // A new connection: a new id for us, everyone else as the server lists them now.
        this.reconnecting = false;
        const me = { ...this.self, id: ev.selfId };
        for (const p of this.participants) {
          if (p.id === this.selfId) continue;
          fx.push({ kind: "forget-stream", stream: `${p.id}/video` });
          fx.push({ kind: "forget-stream", stream: `${p.id}/screen` });
        }
        this.selfId = ev.selfId;
        this.participants = [me, ...ev.participants.filter((p) => p.id !== ev.selfId).map((p) => ({ ...p }))];
        this.sharerId = ev.sharerId;
        this.chat.setSelfId(ev.selfId);
        // What was said while we were away (what we already have is skipped by id).
        for (const m of ev.history) this.chat.receive(m);
        fx.push({ kind: "toast", text: "Reconnected", tone: "info" });
        break;
      }
      case "reconnected":
        this.reconnecting = false;
        break;
      case "server-error":
        // turned into words by the view (it knows the error table)
        break;
      case "ended":
        fx.push({ kind: "ended", reason: ev.reason });
        break;
      case "host-changed": {
        this.hostId = ev.hostId;
        const text = ev.hostId === this.selfId ? "You are now the host" : `${this.displayName(ev.hostId)} is now the host`;
        fx.push({ kind: "toast", text, tone: "info" });
        break;
      }
      case "room-settings":
        this.locked = ev.locked;
        this.waitingRoom = ev.waitingRoom;
        this.listed = ev.listed;
        break;
      case "knock":
        if (!this.waiting.some((w) => w.id === ev.id)) this.waiting.push({ id: ev.id, email: ev.email, name: ev.name });
        break;
      case "knock-withdrawn":
        this.waiting = this.waiting.filter((w) => w.id !== ev.id);
        break;
      case "removed":
        fx.push({ kind: "ended", reason: "The host removed you from the room." });
        break;
    }
    this.changed();
    return fx;
  }
}
