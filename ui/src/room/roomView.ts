// The room screen: stage, control bar, side panels, share picker, banners.
import { call, toHuddleError } from "../bridge/api";
import type { AppInfo, DeviceId, Joined, JoinRequest, SessionEvent, StatsEvent } from "../bridge/contract";
import { describeError } from "../bridge/errors";
import type { FrameHub } from "../render/hub";
import { h, icon, setHidden, shortcutLabel } from "../ui/dom";
import { icons } from "../ui/icons";
import type { Toaster } from "../ui/toasts";
import { ChatPanel } from "./chatPanel";
import { ParticipantsPanel } from "./participantsPanel";
import { RoomModel } from "./roomModel";
import { SettingsMenu } from "./settingsMenu";
import { SharePicker } from "./sharePicker";
import { StageView } from "./stageView";

export interface RoomDeps {
  info: AppInfo;
  hub: FrameHub;
  toaster: Toaster;
  request: JoinRequest;
  /** Back to the lobby, with a notice to show there (or null). */
  onExit: (notice: string | null) => void;
}

type Panel = "chat" | "participants" | null;

function ctrlButton(id: string, label: string, svg: string, extraClass = ""): HTMLButtonElement {
  return h("button", { id, type: "button", class: `ctrl ${extraClass}`.trim(), "aria-label": label, title: label }, icon(svg));
}

export class RoomView {
  readonly el: HTMLElement;
  readonly model: RoomModel;
  readonly stage: StageView;
  private chat: ChatPanel;
  private people: ParticipantsPanel;
  private picker: SharePicker;
  private settings: SettingsMenu;
  private banner: HTMLElement;
  private presentingBar: HTMLElement;
  private headerCount: HTMLElement;
  private btn: Record<"mic" | "camera" | "share" | "chat" | "participants" | "settings" | "leave", HTMLButtonElement>;
  private unreadBadge: HTMLElement;
  private panel: Panel = null;
  private devices: Record<"camera" | "microphone" | "speaker", DeviceId>;
  private leaving = false;
  /** The knock toasts, by who knocked: they stay until answered or withdrawn. */
  private knocks = new Map<string, HTMLElement>();
  private keyHandler = (e: KeyboardEvent) => this.onKeydown(e);

  constructor(joined: Joined, private deps: RoomDeps) {
    const r = deps.request;
    this.devices = { camera: r.camera, microphone: r.microphone, speaker: r.speaker };
    this.model = new RoomModel(joined, { email: r.email, name: r.name, audio: r.microphone !== null, video: r.camera !== null });
    this.stage = new StageView(deps.hub, this.model);
    this.chat = new ChatPanel(this.model.chat, (text) => call("send_chat", { text }), () => this.setPanel(null));
    this.people = new ParticipantsPanel(this.model, () => this.setPanel(null));
    this.picker = new SharePicker(
      () => call("list_share_sources", {}),
      (source) => void this.startShare(source),
      deps.info.fakeDevices,
    );
    this.settings = new SettingsMenu(
      () => call("list_devices", {}),
      () => this.devices,
      (kind, id) => this.switchDevice(kind, id),
    );

    this.btn = {
      mic: ctrlButton("toggle-mic", "Mute", icons.mic),
      camera: ctrlButton("toggle-camera", "Turn camera off", icons.cam),
      share: ctrlButton("toggle-share", "Share screen", icons.screen),
      chat: ctrlButton("toggle-chat", "Chat", icons.chat),
      participants: ctrlButton("toggle-participants", "Participants", icons.people),
      settings: ctrlButton("toggle-settings", "Device settings", icons.settings),
      leave: ctrlButton("leave", "Leave", icons.leave, "ctrl-leave"),
    };
    this.unreadBadge = h("span", { id: "chat-unread", class: "badge", hidden: true });
    this.btn.chat.append(this.unreadBadge);
    this.btn.chat.setAttribute("aria-controls", "chat-panel");
    this.btn.chat.setAttribute("aria-expanded", "false");
    this.btn.participants.setAttribute("aria-controls", "participants-panel");
    this.btn.participants.setAttribute("aria-expanded", "false");
    this.btn.settings.setAttribute("aria-controls", "settings-menu");
    this.btn.settings.setAttribute("aria-expanded", "false");
    this.btn.settings.setAttribute("aria-haspopup", "dialog");
    this.btn.share.setAttribute("aria-haspopup", "dialog");
    this.btn.mic.addEventListener("click", () => void this.toggleMic());
    this.btn.camera.addEventListener("click", () => void this.toggleCamera());
    this.btn.share.addEventListener("click", () => void this.toggleShare());
    this.btn.chat.addEventListener("click", () => this.setPanel(this.panel === "chat" ? null : "chat"));
    this.btn.participants.addEventListener("click", () =>
      this.setPanel(this.panel === "participants" ? null : "participants"),
    );
    this.btn.settings.addEventListener("click", () => void this.toggleSettings());
    this.btn.leave.addEventListener("click", () => void this.leave());

    this.banner = h(
      "div",
      { id: "reconnect-banner", class: "banner", role: "status", hidden: true },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      "Connection lost — reconnecting…",
    );
    const stopBtn = h("button", { id: "stop-share", type: "button", class: "btn btn-danger" }, "Stop presenting");
    stopBtn.addEventListener("click", () => void this.stopShare());
    this.presentingBar = h(
      "div",
      { id: "presenting-bar", class: "presenting-bar", role: "status", hidden: true },
      icon(icons.screen),
      h("span", {}, "You are presenting"),
      stopBtn,
    );
    this.headerCount = h("span", { class: "room-count" });

    this.el = h(
      "main",
      { id: "room", class: "room", "aria-label": `Room ${joined.room}` },
      this.banner,
      h("header", { class: "room-header" }, h("h1", {}, `Room ${joined.room}`), this.headerCount),
      h(
        "div",
        { class: "room-body" },
        h("div", { class: "stage-wrap" }, this.presentingBar, this.stage.el),
        this.chat.el,
        this.people.el,
      ),
      h(
        "footer",
        { class: "controls", role: "toolbar", "aria-label": "Call controls" },
        h("div", { class: "controls-group" }, this.btn.mic, this.btn.camera, this.btn.share, this.btn.settings, this.settings.el),
        h("div", { class: "controls-group" }, this.btn.chat, this.btn.participants),
        h("div", { class: "controls-group" }, this.btn.leave),
      ),
      this.picker.el,
    );

    this.model.subscribe(() => {
      this.render();
      this.pruneKnocks();
    });
    this.model.chat.subscribe(() => this.renderUnread());
    document.addEventListener("keydown", this.keyHandler);
    this.render();
  }

  private lookupName = (id: string): string | null => (this.model.participant(id) ? this.model.displayName(id) : null);

  private toastError(e: unknown): void {
    const err = toHuddleError(e);
    const d = describeError(err, { serverUrl: this.deps.info.server.url, lookupName: this.lookupName });
    this.deps.toaster.show(d.text, "error");
  }

  render(): void {
    const m = this.model;
    const self = m.self;
    this.stage.render();
    this.people.render();
    this.headerCount.textContent = `${m.participants.length} ${m.participants.length === 1 ? "person" : "people"}`;
    setHidden(this.banner, !m.reconnecting);
    const presenting = m.sharerId !== null && m.sharerId === m.selfId;
    setHidden(this.presentingBar, !presenting);

    const set = (b: HTMLButtonElement, on: boolean, label: string, svg: string, key: string, shift = false) => {
      const full = `${label} (${shortcutLabel(key, shift)})`;
      b.setAttribute("aria-label", label);
      b.setAttribute("aria-keyshortcuts", shift ? "Control+Shift+" + key : "Control+" + key);
      b.title = full;
      b.dataset.state = on ? "on" : "off";
      b.classList.toggle("off", !on);
      const ic = b.querySelector(".icon");
      if (ic && ic.getAttribute("data-svg") !== label) {
        ic.innerHTML = svg;
        ic.setAttribute("data-svg", label);
      }
    };
    set(this.btn.mic, self.audio, self.audio ? "Mute" : "Unmute", self.audio ? icons.mic : icons.micOff, "D");
    set(this.btn.camera, self.video, self.video ? "Turn camera off" : "Turn camera on", self.video ? icons.cam : icons.camOff, "E");
    set(this.btn.share, !presenting, presenting ? "Stop sharing" : "Share screen", icons.screen, "S", true);
    this.btn.share.classList.toggle("active", presenting);
    this.btn.share.classList.remove("off");
    this.btn.share.dataset.state = presenting ? "on" : "off";
    const panelTitle = (b: HTMLButtonElement, label: string, key: string) => {
      b.title = `${label} (${shortcutLabel(key, true)})`;
      b.setAttribute("aria-keyshortcuts", "Control+Shift+" + key);
    };
    panelTitle(this.btn.chat, "Chat", "C");
    panelTitle(this.btn.participants, "Participants", "P");
    this.btn.leave.title = "Leave the call";
  }

  private renderUnread(): void {
    const n = this.model.chat.unread;
    this.unreadBadge.textContent = n > 99 ? "99+" : String(n);
    setHidden(this.unreadBadge, n === 0);
    this.btn.chat.setAttribute("aria-label", n ? `Chat, ${n} unread` : "Chat");
  }

  setPanel(p: Panel): void {
    this.panel = p;
    setHidden(this.chat.el, p !== "chat");
    setHidden(this.people.el, p !== "participants");
    this.btn.chat.setAttribute("aria-expanded", String(p === "chat"));
    this.btn.participants.setAttribute("aria-expanded", String(p === "participants"));
    this.btn.chat.classList.toggle("active", p === "chat");
    this.btn.participants.classList.toggle("active", p === "participants");
    this.model.chat.setPanelOpen(p === "chat");
    this.renderUnread();
    if (p === "chat") this.chat.input.focus();
    else if (p === "participants") this.people.list.focus();
    this.stage.layout();
  }

  get openPanel(): Panel {
    return this.panel;
  }

  async toggleMic(): Promise<void> {
    const self = this.model.self;
    if (this.devices.microphone === null && !self.audio) {
      this.deps.toaster.show("No microphone selected. Choose one in device settings.", "warn");
      return;
    }
    try {
      await call("set_muted", { muted: self.audio });
      this.model.setSelfMedia({ audio: !self.audio });
    } catch (e) {
      this.toastError(e);
    }
  }

  async toggleCamera(): Promise<void> {
    const self = this.model.self;
    if (this.devices.camera === null && !self.video) {
      this.deps.toaster.show("No camera selected. Choose one in device settings.", "warn");
      return;
    }
    try {
      await call("set_camera_on", { on: !self.video });
      this.model.setSelfMedia({ video: !self.video });
    } catch (e) {
      this.toastError(e);
    }
  }

  async toggleShare(): Promise<void> {
    if (this.model.sharerId === this.model.selfId) await this.stopShare();
    else await this.picker.open();
  }

  async startShare(source: string): Promise<void> {
    try {
      await call("start_share", { source });
      this.model.setSharer(this.model.selfId);
    } catch (e) {
      const err = toHuddleError(e);
      if (err.code === "sharing_conflict" && err.sharerId && this.model.participant(err.sharerId)) {
        this.model.setSharer(err.sharerId);
      }
      this.toastError(err);
    }
  }

  async stopShare(): Promise<void> {
    try {
      await call("stop_share", {});
    } catch (e) {
      const err = toHuddleError(e);
      if (err.code !== "not_sharer") this.toastError(err);
    }
    if (this.model.sharerId === this.model.selfId) this.model.setSharer(null);
  }

  private async toggleSettings(): Promise<void> {
    if (this.settings.isOpen) this.closeSettings();
    else {
      this.btn.settings.setAttribute("aria-expanded", "true");
      await this.settings.open();
    }
  }

  private closeSettings(): void {
    this.settings.close();
    this.btn.settings.setAttribute("aria-expanded", "false");
  }

  private async switchDevice(kind: "camera" | "microphone" | "speaker", id: DeviceId): Promise<void> {
    try {
      await call("switch_device", { kind, id });
    } catch (e) {
      throw new Error(describeError(toHuddleError(e), { serverUrl: this.deps.info.server.url }).text, { cause: e });
    }
    this.devices[kind] = id;
    if (kind === "camera" && id === null) this.model.setSelfMedia({ video: false });
    if (kind === "microphone" && id === null) this.model.setSelfMedia({ audio: false });
  }

  async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    try {
      await call("leave", {});
    } catch {
      // gone either way
    }
    this.deps.onExit(null);
  }

  handleSession(ev: SessionEvent): void {
    if (ev.type === "server-error") {
      this.toastError({ code: ev.code, message: ev.message });
      return;
    }
    // The host hears a knock as a toast with the answer in it.
    if (ev.type === "knock" && this.model.isHost && !this.knocks.has(ev.id)) {
      const who = ev.name?.trim() || ev.email;
      const t = this.deps.toaster.show(`${who} is waiting to join`, "info", { sticky: true });
      t.dataset.knock = ev.id;
      const answer = (action: "admit" | "deny") => void this.people.host.door(action, ev.id).then(() => this.dropKnock(ev.id));
      const admit = h("button", { type: "button", class: "btn btn-primary", "data-toast-admit": ev.id }, "Admit");
      const deny = h("button", { type: "button", class: "btn", "data-toast-deny": ev.id }, "Deny");
      admit.addEventListener("click", () => answer("admit"));
      deny.addEventListener("click", () => answer("deny"));
      t.append(" ", admit, " ", deny);
      this.knocks.set(ev.id, t);
    }
    for (const fx of this.model.handle(ev)) {
      if (fx.kind === "toast") this.deps.toaster.show(fx.text, fx.tone);
      else if (fx.kind === "forget-stream") this.deps.hub.forget(fx.stream);
      else if (fx.kind === "ended") this.deps.onExit(fx.reason || "The call ended.");
    }
  }

  /** The knock toast of `id` goes (answered here or from the list, or withdrawn). */
  private dropKnock(id: string): void {
    this.knocks.get(id)?.remove();
    this.knocks.delete(id);
  }

  /** Knock toasts only for those still waiting, and only while we are the host. */
  private pruneKnocks(): void {
    for (const id of [...this.knocks.keys()]) {
      if (!this.model.isHost || !this.model.waiting.some((w) => w.id === id)) this.dropKnock(id);
    }
  }

  handleStats(s: StatsEvent): void {
    this.model.applyStats(s);
  }

  setLevel(level: number): void {
    this.btn.mic.style.setProperty("--level", String(Math.max(0, Math.min(1, level))));
  }

  onKeydown(e: KeyboardEvent): void {
    if (e.key === "Escape") {
      if (this.picker.isOpen) this.picker.close();
      else if (this.settings.isOpen) {
        this.closeSettings();
        this.btn.settings.focus();
      } else if (this.panel) {
        const b = this.panel === "chat" ? this.btn.chat : this.btn.participants;
        this.setPanel(null);
        b.focus();
      } else return;
      e.preventDefault();
      return;
    }
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    const k = (e.code?.startsWith("Key") ? e.code.slice(3) : e.key).toLowerCase();
    let handled = true;
    if (!e.shiftKey && k === "d") void this.toggleMic();
    else if (!e.shiftKey && k === "e") void this.toggleCamera();
    else if (e.shiftKey && k === "s") void this.toggleShare();
    else if (e.shiftKey && k === "c") this.setPanel(this.panel === "chat" ? null : "chat");
    else if (e.shiftKey && k === "p") this.setPanel(this.panel === "participants" ? null : "participants");
    else handled = false;
    if (handled) e.preventDefault();
  }

  destroy(): void {
    for (const id of [...this.knocks.keys()]) this.dropKnock(id);
    document.removeEventListener("keydown", this.keyHandler);
    this.picker.close();
    this.stage.destroy();
    this.el.remove();
  }
}
