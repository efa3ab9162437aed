// The lobby: who you are, which room, which devices, a live preview, Join.
import { call, toHuddleError } from "../bridge/api";
import type { AppInfo, Device, DeviceId, DeviceList, Joined, JoinRequest, LaunchOptions, Settings } from "../bridge/contract";
import { describeError, type ErrorField } from "../bridge/errors";
import type { FrameHub, VideoView } from "../render/hub";
import { h, icon, setHidden } from "../ui/dom";
import { icons } from "../ui/icons";
import { applyLaunch, loadRemembered, saveRemembered, type Remembered } from "./remember";
import { validateLobby, type LobbyFields } from "./validate";

export interface LobbyDeps {
  info: AppInfo;
  hub: FrameHub;
  onJoined: (joined: Joined, request: JoinRequest) => void;
  /** The join failed; true when it had been waiting in the room's waiting room (the
   * lobby is shown again, and says why at its top). */
  onJoinFailed?: () => boolean;
  /** The app info changed (server settings were saved). */
  onInfo?: (info: AppInfo) => void;
}

type Kind = "camera" | "microphone" | "speaker";

function field(id: string, label: string, input: HTMLElement, hint?: string): HTMLElement {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true }),
  );
}

export class LobbyView {
  readonly el: HTMLElement;
  readonly email: HTMLInputElement;
  readonly room: HTMLInputElement;
  readonly name: HTMLInputElement;
  /** Shown once the server says the room is locked; what was typed stays. */
  readonly passcode: HTMLInputElement;
  private passcodeField: HTMLElement;
  /** The server's open (listed) rooms, refreshed while the lobby shows. */
  readonly roomsList: HTMLElement;
  private roomsTimer: ReturnType<typeof setInterval> | null = null;
  readonly settingsLan: HTMLInputElement;
  readonly selects: Record<Kind, HTMLSelectElement>;
  readonly joinBtn: HTMLButtonElement;
  readonly errorEl: HTMLElement;
  private noticeEl: HTMLElement;
  private problemsEl: HTMLElement;
  private meterFill: HTMLElement;
  private previewCanvas: HTMLCanvasElement;
  private previewOff: HTMLElement;
  private preview: VideoView | null = null;
  private previewActive = false;
  private remembered: Remembered;
  devices: DeviceList | null = null;
  devicesReady: Promise<void>;
  joining = false;
  private lastPreview = "";
  private serverInfoEl: HTMLElement;
  private versionEl: HTMLElement;
  readonly settingsToggle: HTMLButtonElement;
  readonly settingsPanel: HTMLFormElement;
  readonly settingsServer: HTMLInputElement;
  readonly settingsFake: HTMLInputElement;
  readonly settingsSave: HTMLButtonElement;
  private settingsError: HTMLElement;
  /** The user has edited the panel since it opened (get_settings must not overwrite). */
  private settingsEdited = false;
  private settingsLoading = false;
  private settingsSaving = false;

  constructor(private deps: LobbyDeps) {
    this.remembered = applyLaunch(loadRemembered(), deps.info.launch);
    this.email = h("input", {
      id: "email",
      type: "email",
      autocomplete: "email",
      required: true,
      placeholder: "ada@example.com",
      "aria-describedby": "email-error",
    });
    this.room = h("input", {
      id: "room",
      type: "text",
      inputmode: "text",
      required: true,
      maxlength: 64,
      placeholder: "1234",
      "aria-describedby": "room-hint room-error",
      spellcheck: "false",
    });
    this.name = h("input", {
      id: "name",
      type: "text",
      maxlength: 64,
      autocomplete: "name",
      placeholder: "Optional",
      "aria-describedby": "name-error",
    });
    this.passcode = h("input", {
      id: "passcode",
      type: "password",
      maxlength: 64,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": "passcode-error",
    });
    this.passcodeField = field("passcode", "Room passcode", this.passcode);
    setHidden(this.passcodeField, true);
    this.roomsList = h("ul", { id: "open-rooms", class: "open-rooms", "aria-label": "Open rooms" });
    this.email.value = this.remembered.email;
    this.room.value = this.remembered.room;
    this.name.value = this.remembered.name;
    this.selects = {
      camera: h("select", { id: "camera-select", "aria-describedby": "devices-error" }),
      microphone: h("select", { id: "mic-select", "aria-describedby": "devices-error" }),
      speaker: h("select", { id: "speaker-select", "aria-describedby": "devices-error" }),
    };
    this.joinBtn = h("button", { id: "join", type: "submit", class: "btn btn-primary btn-large" }, "Join");
    this.errorEl = h("p", { id: "lobby-error", class: "form-error", role: "alert", hidden: true });
    this.noticeEl = h("p", { id: "lobby-notice", class: "notice", role: "status", hidden: true });
    this.problemsEl = h("p", { id: "device-problems", class: "hint", hidden: true });
    this.meterFill = h("span", { class: "meter-fill" });
    const meter = h(
      "div",
      {
        id: "mic-meter",
        class: "meter",
        role: "meter",
        "aria-label": "Microphone level",
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": 0,
      },
      this.meterFill,
    );
    this.previewCanvas = h("canvas", { id: "preview-canvas", "aria-label": "Camera preview" });
    this.previewOff = h("div", { class: "preview-off" }, icon(icons.camOff, "icon icon-large"), h("span", {}, "Camera is off"));
    this.serverInfoEl = h("p", { id: "server-info", class: "server-info" });
    this.versionEl = h("p", { class: "app-version" });
    this.renderInfo();

    this.settingsToggle = h(
      "button",
      {
        id: "server-settings-toggle",
        type: "button",
        class: "link-btn",
        "aria-expanded": "false",
        "aria-controls": "server-settings",
        "aria-label": "Change server settings",
      },
      "Change",
    );
    this.settingsServer = h("input", {
      id: "settings-server",
      type: "text",
      inputmode: "url",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "Leave empty to host on this computer",
      "aria-describedby": "settings-server-hint settings-error",
    });
    this.settingsFake = h("input", { id: "settings-fake-devices", type: "checkbox" });
    this.settingsLan = h("input", { id: "settings-lan-hosting", type: "checkbox" });
    this.settingsSave = h("button", { id: "settings-save", type: "submit", class: "btn btn-primary" }, "Save");
    this.settingsError = h("p", { id: "settings-error", class: "field-error", role: "alert", hidden: true });
    const settingsCancel = h("button", { id: "settings-cancel", type: "button", class: "btn" }, "Cancel");
    this.settingsPanel = h(
      "form",
      { id: "server-settings", class: "server-settings", novalidate: true, "aria-labelledby": "server-settings-title", hidden: true },
      h("h2", { id: "server-settings-title" }, "Server settings"),
      h(
        "div",
        { class: "field" },
        h("label", { for: "settings-server" }, "Signaling server"),
        this.settingsServer,
        h("p", { class: "hint", id: "settings-server-hint" }, "An http:// or https:// address. Applies the next time you join."),
        this.settingsError,
      ),
      h("label", { class: "check", for: "settings-fake-devices" }, this.settingsFake, h("span", {}, "Use test devices (synthetic camera, tone and screen)")),
      h(
        "label",
        { class: "check", for: "settings-lan-hosting" },
        this.settingsLan,
        h("span", {}, "Let others on my network join (when hosting here; rooms get a passcode)"),
      ),
      h("div", { class: "settings-actions" }, settingsCancel, this.settingsSave),
    );
    this.settingsToggle.addEventListener("click", () => {
      if (this.settingsOpen) this.closeSettings();
      else void this.openSettings();
    });
    settingsCancel.addEventListener("click", () => this.closeSettings());
    this.settingsPanel.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.saveSettings();
    });
    this.settingsPanel.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      e.preventDefault();
      e.stopPropagation();
      this.closeSettings();
    });
    this.settingsServer.addEventListener("input", () => {
      this.settingsEdited = true;
      this.setSettingsError(null);
    });
    for (const box of [this.settingsFake, this.settingsLan]) {
      box.addEventListener("change", () => {
        this.settingsEdited = true;
      });
    }
    const serverArea = h(
      "div",
      { class: "server-area" },
      h("div", { class: "server-row" }, this.serverInfoEl, this.settingsToggle),
      this.settingsPanel,
    );

    const form = h(
      "form",
      { class: "lobby-form", novalidate: true, "aria-labelledby": "lobby-title" },
      h("h1", { id: "lobby-title" }, "Join a huddle"),
      this.noticeEl,
      field("email", "Email", this.email),
      field("room", "Room number", this.room, "Letters, digits, '_' or '-' (up to 64)"),
      field("name", "Display name", this.name),
      this.passcodeField,
      h("div", { class: "field" }, h("p", { class: "hint", id: "open-rooms-title" }, "Open rooms"), this.roomsList),
      h(
        "fieldset",
        { class: "devices" },
        h("legend", {}, "Devices"),
        field("camera-select", "Camera", this.selects.camera),
        field("mic-select", "Microphone", this.selects.microphone),
        meter,
        field("speaker-select", "Speaker", this.selects.speaker),
        h("p", { class: "field-error", id: "devices-error", role: "alert", hidden: true }),
        this.problemsEl,
      ),
      this.errorEl,
      this.joinBtn,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.join();
    });
    for (const input of [this.email, this.room, this.name, this.passcode]) {
      input.addEventListener("input", () => this.setFieldError(input.id as ErrorField, null));
    }
    // The hosted server's link carries the room being typed.
    this.room.addEventListener("input", () => {
      if (this.deps.info.server.passcode) this.renderInfo();
    });
    (Object.keys(this.selects) as Kind[]).forEach((k) => {
      this.selects[k].addEventListener("change", () => this.onDeviceChange(k));
    });

    this.el = h(
      "main",
      { id: "lobby", class: "lobby", "aria-label": "Lobby" },
      h(
        "section",
        { class: "preview-card", "aria-label": "Preview" },
        h("div", { class: "preview" }, this.previewCanvas, this.previewOff),
        this.versionEl,
      ),
      h("section", { class: "form-card" }, form, serverArea),
    );
    this.devicesReady = this.loadDevices();
  }

  fields(): LobbyFields {
    return { email: this.email.value.trim(), room: this.room.value.trim(), name: this.name.value.trim() };
  }

  /** A launch's join is honoured only with both an email and a room (after filling),
   * and never while a link's server waits for confirmation. */
  canAutoJoin(): boolean {
    const f = this.fields();
    return f.email !== "" && f.room !== "" && this.pendingServer === null;
  }

  /** A link's server, shown by host name until the person confirms it. */
  pendingServer: string | null = null;

  /** Launch options override what is in the fields. */
  fill(launch: LaunchOptions): void {
    if (launch.email !== null) this.email.value = launch.email;
    if (launch.room !== null) this.room.value = launch.room;
    if (launch.name !== null) this.name.value = launch.name;
    if (launch.passcode) {
      this.passcode.value = launch.passcode;
      setHidden(this.passcodeField, false);
    }
    const server = launch.linkServer?.replace(/\/+$/, "");
    if (server && server !== this.deps.info.server.url) this.askServer(server);
  }

  /** A link names another server: say which (by host name) and join there only if confirmed. */
  private askServer(server: string): void {
    this.pendingServer = server;
    let host = server;
    try {
      host = new URL(server).host;
    } catch {
      // shown as given
    }
    const use = h("button", { id: "link-server-use", type: "button", class: "btn btn-primary" }, "Use this server");
    const keep = h("button", { id: "link-server-keep", type: "button", class: "btn" }, "Keep my server");
    const box = h("div", { id: "link-server", class: "notice", role: "alert" }, `This link is for the server at ${host}. Join there? `, use, " ", keep);
    this.joinBtn.disabled = true;
    const done = () => {
      this.pendingServer = null;
      this.joinBtn.disabled = false;
      box.remove();
    };
    use.addEventListener("click", () => {
      void call("use_link_server", { server })
        .then((info) => {
          this.setInfo(info);
          this.deps.onInfo?.(info);
          done();
        })
        .catch((e: unknown) => this.showError(toHuddleError(e)));
    });
    keep.addEventListener("click", done);
    this.el.querySelector("#link-server")?.remove();
    this.joinBtn.before(box);
  }

  private fillSelect(kind: Kind, list: Device[], remembered: DeviceId | undefined): void {
    const sel = this.selects[kind];
    sel.replaceChildren(
      h("option", { value: "" }, "None"),
      ...list.map((d) => h("option", { value: d.id }, d.label || d.id)),
    );
    let value: string;
    if (remembered === null) value = "";
    else if (remembered !== undefined && list.some((d) => d.id === remembered)) value = remembered;
    else value = list[0]?.id ?? "";
    sel.value = value;
  }

  async loadDevices(): Promise<void> {
    // Device choices made since the lobby opened are in storage, not in this.remembered.
    const r = loadRemembered();
    this.remembered = { ...this.remembered, camera: r.camera, microphone: r.microphone, speaker: r.speaker };
    try {
      const d = await call("list_devices", {});
      this.devices = d;
      this.fillSelect("camera", d.cameras, this.remembered.camera);
      this.fillSelect("microphone", d.microphones, this.remembered.microphone);
      this.fillSelect("speaker", d.speakers, this.remembered.speaker);
      this.problemsEl.textContent = d.problems.join(" · ");
      setHidden(this.problemsEl, d.problems.length === 0);
    } catch (e) {
      for (const k of Object.keys(this.selects) as Kind[]) this.fillSelect(k, [], null);
      this.problemsEl.textContent = `Devices couldn't be listed: ${toHuddleError(e).message}`;
      setHidden(this.problemsEl, false);
    }
  }

  selection(): { camera: DeviceId; microphone: DeviceId; speaker: DeviceId } {
    const v = (k: Kind): DeviceId => this.selects[k].value || null;
    return { camera: v("camera"), microphone: v("microphone"), speaker: v("speaker") };
  }

  private onDeviceChange(kind: Kind): void {
    const sel = this.selection();
    saveRemembered({ [kind]: sel[kind] });
    this.setFieldError("devices", null);
    if (kind !== "speaker") void this.updatePreview();
  }

  async updatePreview(force = false): Promise<void> {
    const { camera, microphone } = this.selection();
    const key = JSON.stringify([camera, microphone]);
    if (!force && key === this.lastPreview) return;
    this.lastPreview = key;
    this.syncPreviewOff();
    try {
      await call("set_preview", { camera, microphone });
    } catch (e) {
      this.lastPreview = "";
      this.showError(toHuddleError(e));
    }
  }

  private syncPreviewOff(): void {
    setHidden(this.previewOff, this.previewActive && this.selection().camera !== null);
  }

  setLevel(level: number): void {
    const pct = Math.round(Math.max(0, Math.min(1, level)) * 100);
    this.meterFill.style.width = `${pct}%`;
    this.meterFill.parentElement?.setAttribute("aria-valuenow", String(pct));
  }

  setFieldError(f: ErrorField, text: string | null): void {
    const id = f === "email" || f === "room" || f === "name" || f === "passcode" || f === "devices" ? f : null;
    const el = id ? this.el.querySelector<HTMLElement>(`#${id}-error`) : this.errorEl;
    if (!el) return;
    el.textContent = text ?? "";
    setHidden(el, !text);
    const input =
      f === "email" ? this.email : f === "room" ? this.room : f === "name" ? this.name : f === "passcode" ? this.passcode : null;
    if (input) {
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }

  clearErrors(): void {
    for (const f of ["email", "room", "name", "passcode", "devices", null] as ErrorField[]) this.setFieldError(f, null);
  }

  showError(err: { code: string; message: string; sharerId?: string }): void {
    const d = describeError(err, { serverUrl: this.deps.info.server.url });
    if (d.field === "passcode") setHidden(this.passcodeField, false);
    this.setFieldError(d.field, d.text);
    if (d.field === "passcode") this.passcode.focus();
    else if (d.field === "email") this.email.focus();
    else if (d.field === "room") this.room.focus();
  }

  showNotice(text: string | null): void {
    this.noticeEl.textContent = text ?? "";
    setHidden(this.noticeEl, !text);
  }

  /** The server line and version under the preview, from the current app info. */
  private renderInfo(): void {
    const { server, version, fakeDevices } = this.deps.info;
    this.serverInfoEl.classList.toggle("hosted", server.hosted);
    if (server.hosted) {
      const share = server.shareUrls[0];
      if (share && server.passcode) {
        const room = this.room.value.trim() || "ROOM";
        const link = `huddle://join?room=${encodeURIComponent(room)}&passcode=${encodeURIComponent(server.passcode)}&server=${encodeURIComponent(share)}`;
        this.serverInfoEl.replaceChildren(
          `Hosting for your network at ${server.shareUrls.join(", ")} — passcode `,
          h("code", { id: "hosted-passcode" }, server.passcode),
          h("br", {}),
          "Link: ",
          h("code", { id: "hosted-link" }, link),
        );
      } else {
        this.serverInfoEl.replaceChildren("Hosting on this computer (only you can reach it)");
      }
    } else {
      this.serverInfoEl.replaceChildren("Server: ", h("code", {}, server.url));
      // Plain http:// beyond this network: say so where the server is named.
      if (server.unencryptedRemote) {
        this.serverInfoEl.append(
          " ",
          h(
            "span",
            { class: "server-unencrypted", id: "server-unencrypted", title: "Emails, chat and call set-up can be read on the way: ask for an https:// address" },
            "— not encrypted",
          ),
        );
      }
    }
    this.versionEl.textContent = `Huddle ${version}${fakeDevices ? " · test devices" : ""}`;
  }

  /** The app info changed (e.g. another server): later joins and messages use it. */
  setInfo(info: AppInfo): void {
    this.deps = { ...this.deps, info };
    this.renderInfo();
  }

  get settingsOpen(): boolean {
    return !this.settingsPanel.hidden;
  }

  private setSettingsError(text: string | null): void {
    this.settingsError.textContent = text ?? "";
    setHidden(this.settingsError, !text);
    if (text) this.settingsServer.setAttribute("aria-invalid", "true");
    else this.settingsServer.removeAttribute("aria-invalid");
  }

  private fillSettings(s: Settings): void {
    this.settingsServer.value = s.server ?? "";
    this.settingsFake.checked = s.fakeDevices;
    this.settingsLan.checked = s.lanHosting;
  }

  /** Opens the server settings panel, filled from get_settings. */
  async openSettings(): Promise<void> {
    if (this.settingsOpen) return;
    const { server, fakeDevices } = this.deps.info;
    this.fillSettings({ server: server.hosted ? null : server.url, fakeDevices, lanHosting: server.passcode !== null });
    this.setSettingsError(null);
    this.settingsEdited = false;
    setHidden(this.settingsPanel, false);
    this.settingsToggle.setAttribute("aria-expanded", "true");
    this.settingsServer.focus();
    this.settingsLoading = true;
    this.syncSettingsBusy();
    try {
      const s = await call("get_settings", {});
      if (this.settingsOpen && !this.settingsEdited) this.fillSettings(s);
    } catch (e) {
      if (this.settingsOpen) this.setSettingsError(`The settings couldn't be read: ${toHuddleError(e).message}`);
    } finally {
      this.settingsLoading = false;
      this.syncSettingsBusy();
    }
  }

  /** Closes the panel without saving; focus goes back to the Change button. */
  closeSettings(): void {
    if (!this.settingsOpen) return;
    setHidden(this.settingsPanel, true);
    this.settingsToggle.setAttribute("aria-expanded", "false");
    this.setSettingsError(null);
    this.settingsToggle.focus();
  }

  private syncSettingsBusy(): void {
    const busy = this.settingsLoading || this.settingsSaving;
    this.settingsSave.disabled = busy;
    this.settingsSave.textContent = this.settingsSaving ? "Saving…" : "Save";
    if (busy) this.settingsPanel.setAttribute("aria-busy", "true");
    else this.settingsPanel.removeAttribute("aria-busy");
  }

  /** Saves the panel's values; on success the server line and device lists follow. */
  async saveSettings(): Promise<boolean> {
    if (this.settingsSaving || this.settingsLoading) return false;
    const settings: Settings = {
      server: this.settingsServer.value.trim() || null,
      fakeDevices: this.settingsFake.checked,
      lanHosting: this.settingsLan.checked,
    };
    this.setSettingsError(null);
    this.settingsSaving = true;
    this.syncSettingsBusy();
    let info: AppInfo;
    try {
      info = await call("save_settings", { settings });
    } catch (e) {
      const err = toHuddleError(e);
      const msg = err.message.trim();
      this.setSettingsError(
        err.code === "invalid_input"
          ? msg || "That server address doesn't look right (like http://192.168.1.2:3000)."
          : describeError(err).text,
      );
      this.settingsServer.focus();
      return false;
    } finally {
      this.settingsSaving = false;
      this.syncSettingsBusy();
    }
    this.setInfo(info);
    this.deps.onInfo?.(info);
    this.closeSettings();
    // Test devices may have been switched on or off: the lists (and the preview) change.
    this.devicesReady = this.loadDevices();
    await this.devicesReady;
    if (this.preview) await this.updatePreview(true);
    return true;
  }

  /** Validates, then joins. Errors are shown next to the field they concern. */
  async join(): Promise<boolean> {
    if (this.joining) return false;
    await this.devicesReady;
    this.clearErrors();
    const f = this.fields();
    const errs = validateLobby(f);
    if (errs.email) this.setFieldError("email", errs.email);
    if (errs.room) this.setFieldError("room", errs.room);
    if (errs.name) this.setFieldError("name", errs.name);
    const first = errs.email ? this.email : errs.room ? this.room : errs.name ? this.name : null;
    if (first) {
      first.focus();
      return false;
    }
    const sel = this.selection();
    saveRemembered({ email: f.email, room: f.room, name: f.name, ...sel });
    const passcode = this.passcode.value.trim();
    const request: JoinRequest = { email: f.email, room: f.room, name: f.name || null, ...sel, ...(passcode ? { passcode } : {}) };
    this.joining = true;
    this.joinBtn.disabled = true;
    this.joinBtn.textContent = "Joining…";
    this.el.setAttribute("aria-busy", "true");
    try {
      const joined = await call("join", { request });
      this.deps.onJoined(joined, request);
      return true;
    } catch (e) {
      const err = toHuddleError(e);
      const wasWaiting = this.deps.onJoinFailed?.() ?? false;
      if (err.code === "cancelled") {
        this.showNotice(`You left the waiting room of room ${f.room}.`);
      } else {
        this.showError(err);
        if (wasWaiting) this.showNotice(describeError(err, { serverUrl: this.deps.info.server.url }).text);
      }
      return false;
    } finally {
      this.joining = false;
      this.joinBtn.disabled = false;
      this.joinBtn.textContent = "Join";
      this.el.removeAttribute("aria-busy");
    }
  }

  /** Fetches the open rooms once; a click on one fills the room number. */
  async refreshRooms(): Promise<void> {
    let rooms;
    try {
      rooms = await call("list_rooms", {});
    } catch {
      return; // No server (yet): the list stays as it was.
    }
    if (!Array.isArray(rooms)) return; // nothing usable came back: keep the list as it was
    if (rooms.length === 0) {
      this.roomsList.replaceChildren(h("li", { class: "hint" }, "None listed"));
      return;
    }
    this.roomsList.replaceChildren(
      ...rooms.map((r) => {
        const btn = h(
          "button",
          { type: "button", class: "link-btn open-room", "data-room": r.room },
          `${r.room} · ${r.count} inside${r.locked ? " · locked" : ""}`,
        );
        btn.addEventListener("click", () => {
          this.room.value = r.room;
          this.setFieldError("room", null);
          // A locked room needs its passcode: ask for it now.
          if (r.locked) setHidden(this.passcodeField, false);
        });
        return h("li", {}, btn);
      }),
    );
  }

  /** Called when the lobby becomes visible. */
  show(notice: string | null = null): void {
    this.showNotice(notice);
    void this.refreshRooms();
    if (this.roomsTimer === null) this.roomsTimer = setInterval(() => void this.refreshRooms(), 5000);
    if (!this.preview) {
      this.preview = this.deps.hub.attach(this.previewCanvas, "local", "cover", (active) => {
        this.previewActive = active;
        this.syncPreviewOff();
      });
    }
    void this.devicesReady.then(() => this.updatePreview(true));
  }

  hide(): void {
    if (this.roomsTimer !== null) clearInterval(this.roomsTimer);
    this.roomsTimer = null;
    this.preview?.detach();
    this.preview = null;
  }
}
