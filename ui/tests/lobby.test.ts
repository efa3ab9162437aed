import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Joined, JoinRequest } from "../src/bridge/contract";
import { LobbyView } from "../src/lobby/lobbyView";
import { applyLaunch, loadRemembered, saveRemembered, STORAGE_KEY } from "../src/lobby/remember";
import { validateEmail, validateLobby, validateName, validateRoom } from "../src/lobby/validate";
import { FrameHub } from "../src/render/hub";
import { appInfo, DEVICES, flush, joined, reject, setupIPC, teardownIPC, type IPC } from "./helpers";

describe("validation", () => {
  it("accepts addresses and rejects malformed ones", () => {
    expect(validateEmail("ada@example.com")).toBeNull();
    expect(validateEmail("a@b")).toBeNull();
    for (const bad of ["", "ada", "@example.com", "ada@", "a da@example.com", "a@b@c", `${"x".repeat(250)}@ex.com`]) {
      expect(validateEmail(bad), bad).not.toBeNull();
    }
  });

  it("accepts room numbers of 1–64 of [A-Za-z0-9_-]", () => {
    for (const ok of ["1234", "a", "Team_room-7", "x".repeat(64)]) expect(validateRoom(ok), ok).toBeNull();
    for (const bad of ["", "x".repeat(65), "room 1", "räum", "a/b", "a.b"]) expect(validateRoom(bad), bad).not.toBeNull();
  });

  it("limits display names to 64 characters", () => {
    expect(validateName("x".repeat(64))).toBeNull();
    expect(validateName("x".repeat(65))).not.toBeNull();
  });

  it("reports each bad field", () => {
    expect(Object.keys(validateLobby({ email: "nope", room: "a b", name: "" })).sort()).toEqual(["email", "room"]);
    expect(validateLobby({ email: "a@b.c", room: "1", name: "" })).toEqual({});
  });
});

describe("remembered values", () => {
  beforeEach(() => localStorage.clear());

  it("saves and loads, launch options override", () => {
    saveRemembered({ email: "ada@example.com", room: "42", name: "Ada", camera: null, microphone: "mic1" });
    const r = loadRemembered();
    expect(r).toMatchObject({ email: "ada@example.com", room: "42", name: "Ada", camera: null, microphone: "mic1" });
    const l = applyLaunch(r, { email: "bob@example.com", room: null, name: null, join: false });
    expect(l).toMatchObject({ email: "bob@example.com", room: "42", name: "Ada" });
  });

  it("survives garbage in storage", () => {
    localStorage.setItem(STORAGE_KEY, "{not json");
    expect(loadRemembered().email).toBe("");
  });
});

describe("LobbyView", () => {
  let ipc: IPC;
  let joinedWith: { j: Joined; r: JoinRequest } | null;

  beforeEach(() => {
    localStorage.clear();
    document.body.replaceChildren();
    joinedWith = null;
    ipc = setupIPC({ list_devices: () => DEVICES, join: () => joined() });
  });
  afterEach(() => teardownIPC());

  function make(info = appInfo()) {
    const v = new LobbyView({ info, hub: new FrameHub(), onJoined: (j, r) => (joinedWith = { j, r }) });
    document.body.append(v.el);
    return v;
  }
  const q = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;

  it("lists devices with a None option and picks remembered ones", async () => {
    saveRemembered({ camera: "cam2", microphone: null });
    const v = make();
    await v.devicesReady;
    const cam = q<HTMLSelectElement>("#camera-select");
    expect([...cam.options].map((o) => o.textContent)).toEqual(["None", "Test camera", "USB camera"]);
    expect(cam.value).toBe("cam2");
    expect(q<HTMLSelectElement>("#mic-select").value).toBe("");
    expect(q<HTMLSelectElement>("#speaker-select").value).toBe("spk1");
  });

  it("calls set_preview when the camera changes and remembers it", async () => {
    const v = make();
    v.show();
    await v.devicesReady;
    await flush();
    expect(ipc.callsOf("set_preview").at(-1)).toEqual({ camera: "cam1", microphone: "mic1" });
    const cam = q<HTMLSelectElement>("#camera-select");
    cam.value = "";
    cam.dispatchEvent(new Event("change"));
    await flush();
    expect(ipc.callsOf("set_preview").at(-1)).toEqual({ camera: null, microphone: "mic1" });
    expect(loadRemembered().camera).toBeNull();
  });

  it("validates inline and does not call join", async () => {
    const v = make();
    q<HTMLInputElement>("#email").value = "not-an-email";
    q<HTMLInputElement>("#room").value = "bad room";
    expect(await v.join()).toBe(false);
    expect(ipc.callsOf("join")).toHaveLength(0);
    expect(q("#email-error").hidden).toBe(false);
    expect(q("#room-error").textContent).toMatch(/letters, digits/);
    expect(q("#email").getAttribute("aria-invalid")).toBe("true");
  });

  it("joins with the fields and devices, and remembers them", async () => {
    const v = make();
    await v.devicesReady;
    q<HTMLInputElement>("#email").value = " ada@example.com ";
    q<HTMLInputElement>("#room").value = "1234";
    q<HTMLInputElement>("#name").value = "";
    expect(await v.join()).toBe(true);
    expect(ipc.callsOf("join")[0]).toEqual({
      request: { email: "ada@example.com", room: "1234", name: null, camera: "cam1", microphone: "mic1", speaker: "spk1" },
    });
    expect(joinedWith?.j.selfId).toBe("me");
    expect(loadRemembered()).toMatchObject({ email: "ada@example.com", room: "1234" });
  });

  it("shows server errors next to the field they concern", async () => {
    const v = make();
    q<HTMLInputElement>("#email").value = "ada@example.com";
    q<HTMLInputElement>("#room").value = "1234";
    ipc.handlers.join = () => reject("invalid_email", "bad email");
    await v.join();
    expect(q("#email-error").textContent).toMatch(/doesn't look right/);
    ipc.handlers.join = () => reject("room_full", "full");
    await v.join();
    expect(q("#room-error").textContent).toBe("This room is full (50 people).");
    expect(q("#email-error").hidden).toBe(true);
    ipc.handlers.join = () => reject("unreachable", "refused");
    await v.join();
    expect(q("#lobby-error").textContent).toBe("Can't reach the server at http://10.0.0.5:3000.");
    expect(joinedWith).toBeNull();
  });

  it("asks for the passcode of a locked room, keeping what was typed, and joins with it", async () => {
    const v = make();
    await v.devicesReady;
    q<HTMLInputElement>("#email").value = "ada@example.com";
    q<HTMLInputElement>("#room").value = "1234";
    q<HTMLInputElement>("#name").value = "Ada";
    expect(q("#passcode").closest<HTMLElement>(".field")!.hidden).toBe(true);
    ipc.handlers.join = () => reject("passcode_required", "needs a passcode");
    expect(await v.join()).toBe(false);
    expect(q("#passcode").closest<HTMLElement>(".field")!.hidden).toBe(false);
    expect(q("#passcode-error").textContent).toBe("This room is locked. Enter its passcode.");
    expect(document.activeElement).toBe(q("#passcode"));
    expect([q<HTMLInputElement>("#email").value, q<HTMLInputElement>("#room").value, q<HTMLInputElement>("#name").value]).toEqual([
      "ada@example.com",
      "1234",
      "Ada",
    ]);
    q<HTMLInputElement>("#passcode").value = "wrong";
    ipc.handlers.join = () => reject("bad_passcode", "wrong");
    expect(await v.join()).toBe(false);
    expect(q("#passcode-error").textContent).toBe("That passcode isn't right.");
    expect(q<HTMLInputElement>("#passcode").value).toBe("wrong");
    q<HTMLInputElement>("#passcode").value = " open-sesame ";
    ipc.handlers.join = () => joined();
    expect(await v.join()).toBe(true);
    expect((ipc.callsOf("join").at(-1) as { request: JoinRequest }).request.passcode).toBe("open-sesame");
  });

  it("lists the open rooms while shown; a click fills the room number and a locked one asks for the passcode", async () => {
    ipc.handlers.list_rooms = () => [
      { room: "standup", count: 3, locked: false },
      { room: "board", count: 1, locked: true },
    ];
    const v = make();
    v.show();
    await flush();
    const buttons = [...document.querySelectorAll<HTMLButtonElement>("#open-rooms button")];
    expect(buttons.map((b) => b.textContent)).toEqual(["standup · 3 inside", "board · 1 inside · locked"]);
    buttons[0]!.click();
    expect(q<HTMLInputElement>("#room").value).toBe("standup");
    expect(q("#passcode").closest<HTMLElement>(".field")!.hidden).toBe(true);
    buttons[1]!.click();
    expect(q<HTMLInputElement>("#room").value).toBe("board");
    expect(q("#passcode").closest<HTMLElement>(".field")!.hidden).toBe(false);
    v.hide();
  });

  it("fills the passcode from a link and joins another server only once confirmed", async () => {
    ipc.handlers.use_link_server = (args) =>
      appInfo({ server: { url: (args as { server: string }).server, hosted: false, shareUrls: [], passcode: null, unencryptedRemote: false } });
    const v = make();
    v.fill({ email: null, room: "9", name: null, join: true, passcode: "k3y", linkServer: "http://evil.example:4100" });
    expect(q<HTMLInputElement>("#passcode").value).toBe("k3y");
    expect(q("#link-server").textContent).toContain("evil.example:4100");
    expect(v.canAutoJoin()).toBe(false);
    expect(q<HTMLButtonElement>("#join").disabled).toBe(true);
    q<HTMLButtonElement>("#link-server-use").click();
    await flush();
    expect(ipc.callsOf("use_link_server")).toEqual([{ server: "http://evil.example:4100" }]);
    expect(document.querySelector("#link-server")).toBeNull();
    expect(q("#server-info").textContent).toContain("http://evil.example:4100");
  });

  it("prefers launch options over remembered values", () => {
    saveRemembered({ email: "old@example.com", room: "1", name: "Old" });
    make(appInfo({ launch: { email: "new@example.com", room: null, name: "New", join: false } }));
    expect(q<HTMLInputElement>("#email").value).toBe("new@example.com");
    expect(q<HTMLInputElement>("#room").value).toBe("1");
    expect(q<HTMLInputElement>("#name").value).toBe("New");
  });

  it("shows the address, passcode and link when hosting for the network", () => {
    make(appInfo({ server: { url: "http://127.0.0.1:3000", hosted: true, shareUrls: ["http://192.168.1.2:3000"], passcode: "k3y-abc", unencryptedRemote: false } }));
    expect(q("#server-info").textContent).toContain("Hosting for your network at http://192.168.1.2:3000");
    expect(q("#hosted-passcode").textContent).toBe("k3y-abc");
    expect(q("#hosted-link").textContent).toContain("passcode=k3y-abc&server=http%3A%2F%2F192.168.1.2%3A3000");
    // The link follows the room typed.
    const room = q<HTMLInputElement>("#room");
    room.value = "team-7";
    room.dispatchEvent(new Event("input"));
    expect(q("#hosted-link").textContent).toBe(
      "huddle://join?room=team-7&passcode=k3y-abc&server=http%3A%2F%2F192.168.1.2%3A3000",
    );
  });

  it("says a loopback-only hosted server is reachable from here only", () => {
    make(appInfo({ server: { url: "http://127.0.0.1:3000", hosted: true, shareUrls: [], passcode: null, unencryptedRemote: false } }));
    expect(q("#server-info").textContent).toBe("Hosting on this computer (only you can reach it)");
  });

  it("says when a remote server is not encrypted", () => {
    make(appInfo({ server: { url: "http://huddle.example.com", hosted: false, shareUrls: [], passcode: null, unencryptedRemote: true } }));
    expect(q("#server-info").textContent).toBe("Server: http://huddle.example.com — not encrypted");
    document.body.replaceChildren();
    make(appInfo({ server: { url: "https://huddle.example.com", hosted: false, shareUrls: [], passcode: null, unencryptedRemote: false } }));
    expect(q("#server-info").textContent).toBe("Server: https://huddle.example.com");
  });

  it("moves the mic meter", () => {
    const v = make();
    v.setLevel(0.5);
    expect(q("#mic-meter").getAttribute("aria-valuenow")).toBe("50");
  });
});
