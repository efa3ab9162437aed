import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boot } from "../src/app/app";
import type { Settings } from "../src/bridge/contract";
import { LobbyView } from "../src/lobby/lobbyView";
import { FrameHub } from "../src/render/hub";
import { appInfo, DEVICES, flush, joined, reject, setupIPC, teardownIPC, type IPC } from "./helpers";

const FAKE_DEVICES = {
  cameras: [{ id: "fake-cam", label: "Synthetic camera" }],
  microphones: [{ id: "fake-mic", label: "Tone" }],
  speakers: [{ id: "fake-spk", label: "Null speaker" }],
  problems: [],
};

describe("server settings", () => {
  let ipc: IPC;
  let stored: Settings;

  beforeEach(() => {
    localStorage.clear();
    document.body.replaceChildren();
    stored = { server: "http://10.0.0.5:3000", fakeDevices: false, lanHosting: false };
    ipc = setupIPC({
      list_devices: () => DEVICES,
      join: () => joined(),
      get_settings: () => stored,
      save_settings: (args) => {
        const s = (args as { settings: Settings }).settings;
        return s.server
          ? appInfo({ server: { url: s.server, hosted: false, shareUrls: [], passcode: null, unencryptedRemote: false }, fakeDevices: s.fakeDevices })
          : appInfo({
              server: { url: "http://127.0.0.1:3000", hosted: true, shareUrls: [], passcode: null, unencryptedRemote: false },
              fakeDevices: s.fakeDevices,
            });
      },
    });
  });
  afterEach(() => teardownIPC());

  function make(info = appInfo({ fakeDevices: false })) {
    const v = new LobbyView({ info, hub: new FrameHub(), onJoined: () => undefined });
    document.body.append(v.el);
    return v;
  }
  const q = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
  const type = (sel: string, value: string) => {
    const input = q<HTMLInputElement>(sel);
    input.value = value;
    input.dispatchEvent(new Event("input"));
  };

  async function open(v: LobbyView) {
    await v.devicesReady;
    q<HTMLButtonElement>("#server-settings-toggle").click();
    await flush();
  }

  it("opens a labelled panel filled from get_settings", async () => {
    stored = { server: "https://meet.example.com", fakeDevices: true, lanHosting: false };
    const v = make();
    const toggle = q<HTMLButtonElement>("#server-settings-toggle");
    expect(q("#server-settings").hidden).toBe(true);
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    await open(v);
    expect(q("#server-settings").hidden).toBe(false);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    expect(ipc.callsOf("get_settings")).toHaveLength(1);
    expect(q<HTMLInputElement>("#settings-server").value).toBe("https://meet.example.com");
    expect(q<HTMLInputElement>("#settings-fake-devices").checked).toBe(true);
    expect(q('label[for="settings-server"]').textContent).toBe("Signaling server");
    expect(q<HTMLInputElement>("#settings-server").placeholder).toBe("Leave empty to host on this computer");
    expect(q('label[for="settings-fake-devices"]').textContent).toBe("Use test devices (synthetic camera, tone and screen)");
    expect(document.activeElement).toBe(q("#settings-server"));
  });

  it("saves the trimmed values and shows the new server", async () => {
    const v = make();
    await open(v);
    type("#settings-server", "  http://192.168.1.9:3000  ");
    q<HTMLButtonElement>("#settings-save").click();
    await flush();
    expect(ipc.callsOf("save_settings")).toEqual([{ settings: { server: "http://192.168.1.9:3000", fakeDevices: false, lanHosting: false } }]);
    expect(q("#server-info").textContent).toBe("Server: http://192.168.1.9:3000");
    expect(q("#server-settings").hidden).toBe(true);
    expect(document.activeElement).toBe(q("#server-settings-toggle"));

    // An empty address means hosting here.
    await open(v);
    type("#settings-server", "   ");
    expect(await v.saveSettings()).toBe(true);
    expect(ipc.callsOf("save_settings").at(-1)).toEqual({ settings: { server: null, fakeDevices: false, lanHosting: false } });
    expect(q("#server-info").textContent).toBe("Hosting on this computer (only you can reach it)");
  });

  it("uses the new server in later error messages", async () => {
    const v = make();
    await open(v);
    type("#settings-server", "https://meet.example.com");
    await v.saveSettings();
    q<HTMLInputElement>("#email").value = "ada@example.com";
    q<HTMLInputElement>("#room").value = "1234";
    ipc.handlers.join = () => reject("unreachable", "refused");
    await v.join();
    expect(q("#lobby-error").textContent).toBe("Can't reach the server at https://meet.example.com.");
  });

  it("shows an invalid_input rejection inline and keeps what was typed", async () => {
    ipc.handlers.save_settings = () => reject("invalid_input", "The server address must start with http:// or https://.");
    const v = make();
    await open(v);
    type("#settings-server", "ftp://example.com");
    expect(await v.saveSettings()).toBe(false);
    const err = q("#settings-error");
    expect(err.hidden).toBe(false);
    expect(err.getAttribute("role")).toBe("alert");
    expect(err.textContent).toBe("The server address must start with http:// or https://.");
    expect(q<HTMLInputElement>("#settings-server").value).toBe("ftp://example.com");
    expect(q("#settings-server").getAttribute("aria-invalid")).toBe("true");
    expect(q("#server-settings").hidden).toBe(false);
    expect(q("#server-info").textContent).toBe("Server: http://10.0.0.5:3000");
    // Typing clears the error.
    type("#settings-server", "http://example.com");
    expect(err.hidden).toBe(true);
  });

  it("reloads the device lists after switching test devices on", async () => {
    const v = make();
    await open(v);
    const before = ipc.callsOf("list_devices").length;
    ipc.handlers.list_devices = () => FAKE_DEVICES;
    const box = q<HTMLInputElement>("#settings-fake-devices");
    box.click();
    expect(box.checked).toBe(true);
    q<HTMLButtonElement>("#settings-save").click();
    await flush();
    await v.devicesReady;
    expect(ipc.callsOf("save_settings")[0]).toEqual({ settings: { server: "http://10.0.0.5:3000", fakeDevices: true, lanHosting: false } });
    expect(ipc.callsOf("list_devices").length).toBe(before + 1);
    expect([...q<HTMLSelectElement>("#camera-select").options].map((o) => o.textContent)).toEqual(["None", "Synthetic camera"]);
    expect(q<HTMLSelectElement>("#camera-select").value).toBe("fake-cam");
    expect(q(".app-version").textContent).toContain("test devices");
  });

  it("closes on Escape and Cancel without saving", async () => {
    const v = make();
    await open(v);
    type("#settings-server", "http://elsewhere:3000");
    q("#settings-server").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(q("#server-settings").hidden).toBe(true);
    expect(q("#server-settings-toggle").getAttribute("aria-expanded")).toBe("false");
    expect(document.activeElement).toBe(q("#server-settings-toggle"));

    await open(v);
    expect(q<HTMLInputElement>("#settings-server").value).toBe("http://10.0.0.5:3000");
    q<HTMLButtonElement>("#settings-cancel").click();
    expect(q("#server-settings").hidden).toBe(true);
    expect(ipc.callsOf("save_settings")).toHaveLength(0);
  });

  it("updates the app's info", async () => {
    const root = document.createElement("div");
    root.id = "app";
    document.body.append(root);
    ipc.handlers.app_info = () => appInfo();
    const app = await boot(root);
    await open(app.lobby);
    type("#settings-server", "https://meet.example.com");
    await app.lobby.saveSettings();
    expect(app.info.server.url).toBe("https://meet.example.com");
    app.stop();
  });
});
