// The app: screens (lobby ↔ room), the frame path, event routing, test hooks.
import { call, on } from "../bridge/api";
import type { AppInfo, Joined, JoinRequest, LaunchOptions, Participant, SessionEvent, StatsEvent } from "../bridge/contract";
import { LobbyView } from "../lobby/lobbyView";
import { WaitingView } from "../lobby/waitingView";
import { FrameHub } from "../render/hub";
import { Channel } from "@tauri-apps/api/core";
import { FrameSocket } from "../render/socket";
import type { StreamStatsSnapshot } from "../render/stats";
import { ViewSizeReporter } from "../render/viewSizes";
import { RoomView } from "../room/roomView";
import { Toaster } from "../ui/toasts";

export type Screen = "lobby" | "waiting" | "room";

export interface HuddleState {
  screen: Screen;
  selfId: string | null;
  room: string | null;
  participants: Participant[];
  sharerId: string | null;
  reconnecting: boolean;
  chat: { id: string; key: string; from: string; email: string; text: string; state: string; ts: number }[];
  unread: number;
}

export interface HuddleHooks {
  renderStats(): Record<string, StreamStatsSnapshot>;
  resetRenderStats(): void;
  state(): HuddleState;
}

declare global {
  interface Window {
    __huddle?: HuddleHooks;
  }
}

export class App {
  readonly hub: FrameHub;
  readonly sizes: ViewSizeReporter;
  readonly toaster: Toaster;
  lobby: LobbyView;
  room: RoomView | null = null;
  /** While a join waits in the room's waiting room. */
  waiting: WaitingView | null = null;
  screen: Screen = "lobby";
  private socket: FrameSocket | null = null;

  constructor(
    private root: HTMLElement,
    public info: AppInfo,
  ) {
    this.sizes = new ViewSizeReporter((sizes) => call("set_view_sizes", { sizes }));
    this.hub = new FrameHub(this.sizes);
    const toasts = document.getElementById("toasts") ?? root.appendChild(document.createElement("div"));
    toasts.id = "toasts";
    toasts.classList.add("toasts");
    this.toaster = new Toaster(toasts);
    this.lobby = new LobbyView({
      info,
      hub: this.hub,
      onJoined: (j, r) => this.enterRoom(j, r),
      onJoinFailed: () => this.leaveWaiting(),
      onInfo: (i) => {
        this.info = i;
      },
    });
  }

  /** Shows the lobby (or joins at once when launched with join). */
  async start(): Promise<void> {
    if (this.info.framePath === "channel") {
      // Raw payloads arrive as an ArrayBuffer; small ones inline as bytes.
      const channel = new Channel<ArrayBuffer | number[]>();
      channel.onmessage = (b) => this.hub.ingest(b instanceof ArrayBuffer ? b : new Uint8Array(b).buffer);
      await call("subscribe_frames", { channel });
    } else if (this.info.frameSocketUrl) {
      this.socket = new FrameSocket(this.info.frameSocketUrl, { onFrame: (b) => this.hub.ingest(b) });
      this.socket.start();
    }
    this.showLobby(null);
    await this.listen();
    // Tells the app the lobby is interactive (it logs the cold-start time).
    await this.lobby.devicesReady;
    call("lobby_ready", {}).catch(() => undefined);
    if (this.info.launch.join && this.lobby.canAutoJoin()) await this.lobby.join();
  }

  private async listen(): Promise<void> {
    await Promise.all([
      on("session", (ev) => this.onSession(ev)),
      on("stats", (s) => this.onStats(s)),
      on("mic-level", (m) => {
        if (this.room) this.room.setLevel(m.level);
        else this.lobby.setLevel(m.level);
      }),
      on("launch", (l) => void this.onLaunch(l)),
    ]);
  }

  onSession(ev: SessionEvent): void {
    if (this.screen === "waiting") {
      // Knocked again after a reconnect, or the connection lost meanwhile.
      if (ev.type === "waiting" || ev.type === "reconnected") this.waiting?.setConnected(true);
      else if (ev.type === "reconnecting") this.waiting?.setConnected(false);
      return;
    }
    if (ev.type === "waiting") {
      // Only for the join under way (a late event after it settled changes nothing).
      if (this.screen === "lobby" && this.lobby.joining) this.showWaiting(ev.room);
      return;
    }
    this.room?.handleSession(ev);
  }

  /** The waiting screen, until the join settles (admitted, turned away, withdrawn). */
  showWaiting(room: string): void {
    this.lobby.hide();
    this.waiting = new WaitingView({
      hub: this.hub,
      room,
      onCancel: () => void call("cancel_join", {}).catch(() => undefined),
    });
    this.screen = "waiting";
    this.root.replaceChildren(this.waiting.el);
    document.title = `Waiting for room ${room} — Huddle`;
    this.waiting.cancelBtn.focus();
  }

  private closeWaiting(): void {
    this.waiting?.destroy();
    this.waiting = null;
  }

  /** The join failed: back to the lobby if it was waiting (the lobby then says why);
   * whether it was. */
  leaveWaiting(): boolean {
    if (this.screen !== "waiting") return false;
    this.closeWaiting();
    this.showLobby(null);
    return true;
  }

  onStats(s: StatsEvent): void {
    this.room?.handleStats(s);
  }

  async onLaunch(l: LaunchOptions): Promise<void> {
    if (this.screen === "waiting") {
      this.toaster.show("Leave the waiting room to join another room.", "info");
    } else if (this.screen === "lobby") {
      this.lobby.fill(l);
      if (l.join && this.lobby.canAutoJoin() && !this.lobby.joining) await this.lobby.join();
    } else if (l.room && l.room !== this.room?.model.room) {
      this.toaster.show(`Leave this call to join room ${l.room}.`, "info");
    }
  }

  showLobby(notice: string | null): void {
    if (this.room) {
      this.room.destroy();
      this.room = null;
    }
    this.screen = "lobby";
    if (!this.lobby.el.isConnected) this.root.replaceChildren(this.lobby.el);
    document.title = "Huddle";
    this.lobby.show(notice);
  }

  enterRoom(joined: Joined, request: JoinRequest): void {
    this.closeWaiting();
    this.lobby.hide();
    this.room = new RoomView(joined, {
      info: this.info,
      hub: this.hub,
      toaster: this.toaster,
      request,
      onExit: (notice) => this.showLobby(notice),
    });
    this.screen = "room";
    this.root.replaceChildren(this.room.el);
    document.title = `Room ${joined.room} — Huddle`;
    this.sizes.reset();
    document.getElementById("toggle-mic")?.focus();
  }

  state(): HuddleState {
    const m = this.room?.model;
    return {
      screen: this.screen,
      selfId: m?.selfId ?? null,
      room: m?.room ?? null,
      participants: m ? m.participants.map((p) => ({ ...p })) : [],
      sharerId: m?.sharerId ?? null,
      reconnecting: m?.reconnecting ?? false,
      chat: m
        ? m.chat.entries.map((e) => ({ id: e.id ?? e.key, key: e.key, from: e.from, email: e.email, text: e.text, state: e.state, ts: e.ts }))
        : [],
      unread: m?.chat.unread ?? 0,
    };
  }

  hooks(): HuddleHooks {
    return {
      renderStats: () => this.hub.renderStats(),
      resetRenderStats: () => this.hub.resetStats(),
      state: () => this.state(),
    };
  }

  stop(): void {
    this.socket?.stop();
  }
}

/** Boot: app_info, then the lobby. */
export async function boot(root: HTMLElement): Promise<App> {
  const info = await call("app_info", {});
  const app = new App(root, info);
  window.__huddle = app.hooks();
  await app.start();
  return app;
}
