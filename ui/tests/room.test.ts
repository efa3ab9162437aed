import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Joined, PeerStats } from "../src/bridge/contract";
import { FrameHub } from "../src/render/hub";
import { RoomView } from "../src/room/roomView";
import { planStage } from "../src/room/stage";
import { activeSpeaker, qualityDisplay } from "../src/room/statsView";
import { Toaster } from "../src/ui/toasts";
import { appInfo, flush, joined, msg, reject, setupIPC, teardownIPC, type IPC } from "./helpers";

const P = (id: string) => ({ id, email: `${id}@example.com`, name: null, audio: true, video: true });

describe("planStage", () => {
  it("is a grid with self first when nobody shares", () => {
    const s = planStage([P("a"), P("me"), P("b")], "me", null);
    expect(s.mode).toBe("grid");
    expect(s.tiles.map((t) => t.stream)).toEqual(["local", "a/video", "b/video"]);
    expect(s.presenting).toBe(false);
  });

  it("fills the stage with the share of someone else", () => {
    const s = planStage([P("me"), P("a")], "me", "a");
    expect(s.mode).toBe("share");
    expect(s.shareStream).toBe("a/screen");
    expect(s.tiles).toHaveLength(2);
  });

  it("shows the presenting bar, not our own screen, when we share", () => {
    const s = planStage([P("me"), P("a")], "me", "me");
    expect(s).toMatchObject({ mode: "grid", shareStream: null, presenting: true });
  });

  it("ignores a sharer who is not in the room", () => {
    expect(planStage([P("me")], "me", "ghost").mode).toBe("grid");
  });
});

describe("stats display", () => {
  const peer = (q: PeerStats["quality"], over: Partial<PeerStats> = {}): PeerStats => ({
    id: "a",
    rttMs: 42.4,
    jitterMs: null,
    lossPct: 1.25,
    fps: null,
    kbps: null,
    audioLevel: 0,
    quality: q,
    relayed: null,
    viaSfu: false,
    ...over,
  });
  it("puts rtt and loss in the tooltip", () => {
    const d = qualityDisplay(peer("fair"));
    expect(d.quality).toBe("fair");
    expect(d.title).toBe("Fair connection: RTT 42 ms, loss 1.3%");
    expect(qualityDisplay(undefined).quality).toBe("unknown");
    expect(qualityDisplay(peer("good", { rttMs: null, lossPct: null })).title).toBe("Good connection");
  });
  it("only highlights speakers who are in the room", () => {
    expect(activeSpeaker({ peers: [], activeSpeaker: "a" }, new Set(["a"]))).toBe("a");
    expect(activeSpeaker({ peers: [], activeSpeaker: "z" }, new Set(["a"]))).toBeNull();
    expect(activeSpeaker(null, new Set(["a"]))).toBeNull();
  });
});

describe("RoomView", () => {
  let ipc: IPC;
  let exited: (string | null)[];
  let toasts: HTMLElement;

  beforeEach(() => {
    document.body.replaceChildren();
    exited = [];
    ipc = setupIPC({
      list_share_sources: () => ({
        screens: [{ id: "0", name: "Built-in display", width: 1920, height: 1080 }],
        windows: [{ id: "77", title: "Editor", width: 800, height: 600 }],
      }),
    });
  });
  afterEach(() => teardownIPC());

  function room(j: Joined = joined()) {
    toasts = document.createElement("div");
    toasts.id = "toasts";
    document.body.append(toasts);
    const r = new RoomView(j, {
      info: appInfo(),
      hub: new FrameHub(),
      toaster: new Toaster(toasts),
      request: { email: "me@example.com", room: "1234", name: "Me", camera: "cam1", microphone: "mic1", speaker: null },
      onExit: (n) => exited.push(n),
    });
    document.body.append(r.el);
    return r;
  }
  const stage = () => document.querySelector<HTMLElement>("#stage")!;
  const tile = (id: string) => document.querySelector<HTMLElement>(`.tile-camera[data-participant-id="${id}"]`)!;

  it("renders a tile with a canvas per participant, self included", () => {
    const r = room();
    const tiles = [...document.querySelectorAll<HTMLElement>(".tile")];
    expect(tiles.map((t) => [t.dataset.participantId, t.dataset.stream])).toEqual([
      ["me", "local"],
      ["ada", "ada/video"],
      ["bob", "bob/video"],
    ]);
    expect(tiles.every((t) => t.querySelector("canvas"))).toBe(true);
    expect(tile("ada").textContent).toContain("Ada");
    expect(tile("bob").textContent).toContain("bob@example.com");
    expect(tile("bob").querySelector<HTMLElement>(".tile-mic")!.hidden).toBe(false);
    expect(tile("bob").querySelector<HTMLElement>(".avatar")!.hidden).toBe(false);
    expect(tile("bob").querySelector(".avatar")!.textContent).toBe("B");
    r.destroy();
  });

  it("adds and removes tiles as people join and leave, with toasts", () => {
    const r = room();
    r.handleSession({ type: "participant-joined", id: "cy", email: "cy@example.com", name: "Cy" });
    expect(tile("cy").dataset.stream).toBe("cy/video");
    expect(toasts.textContent).toContain("Cy joined");
    r.handleSession({ type: "participant-left", id: "ada", email: "ada@example.com" });
    expect(document.querySelector('[data-participant-id="ada"]')).toBeNull();
    expect(toasts.textContent).toContain("Ada left");
    expect(document.querySelectorAll("#participants-list li")).toHaveLength(3);
    r.destroy();
  });

  it("switches the stage to share mode and back on sharer events", () => {
    const r = room();
    expect(stage().dataset.mode).toBe("grid");
    r.handleSession({ type: "sharer-started", id: "ada" });
    expect(stage().dataset.mode).toBe("share");
    const share = document.querySelector<HTMLElement>('.tile[data-stream="ada/screen"]')!;
    expect(share.querySelector("canvas")).not.toBeNull();
    expect(document.querySelector("#tiles")!.classList.contains("strip")).toBe(true);
    expect(toasts.textContent).toContain("Ada started sharing");
    r.handleSession({ type: "sharer-stopped", id: "ada" });
    expect(stage().dataset.mode).toBe("grid");
    expect(document.querySelector('.tile[data-stream="ada/screen"]')).toBeNull();
    r.destroy();
  });

  it("starts in share mode when the join result has a sharer, and leaves it when the sharer leaves", () => {
    const r = room(joined({ sharerId: "bob" }));
    expect(stage().dataset.mode).toBe("share");
    r.handleSession({ type: "participant-left", id: "bob", email: "bob@example.com" });
    expect(stage().dataset.mode).toBe("grid");
    r.destroy();
  });

  it("shares through the picker and shows the presenting bar", async () => {
    const r = room();
    document.querySelector<HTMLButtonElement>("#toggle-share")!.click();
    await flush();
    const picker = document.querySelector<HTMLElement>("#share-picker")!;
    expect(picker.hidden).toBe(false);
    const ids = [...picker.querySelectorAll<HTMLElement>("[data-source-id]")].map((b) => b.dataset.sourceId);
    expect(ids).toEqual(["screen:0", "test", "window:77"]);
    picker.querySelector<HTMLButtonElement>('[data-source-id="window:77"]')!.click();
    await flush();
    expect(ipc.callsOf("start_share")).toEqual([{ source: "window:77" }]);
    expect(picker.hidden).toBe(true);
    expect(document.querySelector<HTMLElement>("#presenting-bar")!.hidden).toBe(false);
    expect(stage().dataset.mode).toBe("grid");
    expect(document.querySelector('[data-stream="me/screen"]')).toBeNull();
    document.querySelector<HTMLButtonElement>("#stop-share")!.click();
    await flush();
    expect(ipc.callsOf("stop_share")).toHaveLength(1);
    expect(document.querySelector<HTMLElement>("#presenting-bar")!.hidden).toBe(true);
    r.destroy();
  });

  it("says who is already sharing when the share is refused", async () => {
    ipc.handlers.start_share = () => reject("sharing_conflict", "busy", { sharerId: "ada" });
    const r = room();
    await r.startShare("screen");
    expect(toasts.textContent).toContain("Ada is already sharing.");
    expect(stage().dataset.mode).toBe("share");
    r.destroy();
  });

  it("highlights the active speaker and shows each peer's connection quality", () => {
    const r = room();
    r.handleStats({
      activeSpeaker: "ada",
      peers: [
        { id: "ada", rttMs: 30, jitterMs: 2, lossPct: 0, fps: 30, kbps: 900, audioLevel: 0.4, quality: "good", relayed: false, viaSfu: false },
        { id: "bob", rttMs: 400, jitterMs: 50, lossPct: 12, fps: 5, kbps: 80, audioLevel: 0, quality: "poor", relayed: true, viaSfu: false },
      ],
    });
    // Each remote tile says how its call travels.
    const path = (id: string) => tile(id).querySelector<HTMLElement>(".tile-path")!;
    expect(path("ada").textContent).toBe("Direct");
    expect(path("bob").textContent).toBe("Relayed");
    expect(path("bob").dataset.path).toBe("relayed");
    expect(tile("bob").querySelector<HTMLElement>(".tile-quality")!.title).toContain("relayed through the TURN server");
    expect(path("me").hidden).toBe(true);
    // In a room moved to the SFU the media comes through it.
    r.handleStats({
      activeSpeaker: "ada",
      peers: [{ id: "bob", rttMs: 40, jitterMs: 3, lossPct: 0, fps: 30, kbps: 500, audioLevel: 0, quality: "good", relayed: true, viaSfu: true }],
    });
    expect(path("bob").textContent).toBe("Via SFU");
    expect(path("bob").dataset.path).toBe("sfu");
    expect(tile("bob").querySelector<HTMLElement>(".tile-quality")!.title).toContain("through the SFU server, relayed through the TURN server");
    r.handleStats({
      activeSpeaker: "ada",
      peers: [
        { id: "ada", rttMs: 30, jitterMs: 2, lossPct: 0, fps: 30, kbps: 900, audioLevel: 0.4, quality: "good", relayed: false, viaSfu: false },
        { id: "bob", rttMs: 400, jitterMs: 50, lossPct: 12, fps: 5, kbps: 80, audioLevel: 0, quality: "poor", relayed: true, viaSfu: false },
      ],
    });
    expect(tile("ada").classList.contains("speaking")).toBe(true);
    expect(tile("bob").classList.contains("speaking")).toBe(false);
    const q = tile("bob").querySelector<HTMLElement>(".tile-quality")!;
    expect(q.dataset.quality).toBe("poor");
    expect(q.title).toContain("RTT 400 ms");
    expect(q.title).toContain("loss 12.0%");
    expect(tile("me").querySelector<HTMLElement>(".tile-quality")!.hidden).toBe(true);
    r.handleStats({ activeSpeaker: "me", peers: [] });
    expect(tile("me").classList.contains("speaking")).toBe(true);
    expect(tile("ada").classList.contains("speaking")).toBe(false);
    expect(tile("ada").querySelector<HTMLElement>(".tile-quality")!.dataset.quality).toBe("unknown");
    r.destroy();
  });

  it("toggles mic and camera with buttons and shortcuts", async () => {
    const r = room();
    document.querySelector<HTMLButtonElement>("#toggle-mic")!.click();
    await flush();
    expect(ipc.callsOf("set_muted")).toEqual([{ muted: true }]);
    expect(document.querySelector<HTMLElement>("#toggle-mic")!.dataset.state).toBe("off");
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "d", code: "KeyD", ctrlKey: true }));
    await flush();
    expect(ipc.callsOf("set_muted")).toEqual([{ muted: true }, { muted: false }]);
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "e", code: "KeyE", ctrlKey: true }));
    await flush();
    expect(ipc.callsOf("set_camera_on")).toEqual([{ on: false }]);
    expect(tile("me").dataset.video).toBe("off");
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "P", code: "KeyP", ctrlKey: true, shiftKey: true }));
    expect(document.querySelector<HTMLElement>("#participants-panel")!.hidden).toBe(false);
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(document.querySelector<HTMLElement>("#participants-panel")!.hidden).toBe(true);
    r.destroy();
  });

  it("shows the reconnect banner until rejoined, and leaves on ended", () => {
    const r = room();
    const banner = document.querySelector<HTMLElement>("#reconnect-banner")!;
    expect(banner.hidden).toBe(true);
    r.handleSession({ type: "reconnecting" });
    expect(banner.hidden).toBe(false);
    // Back as a new connection: Ada is there under a new id, Bob has not come back yet.
    r.handleSession({
      type: "rejoined",
      selfId: "me2",
      participants: [{ id: "ada2", email: "ada@example.com", name: "Ada", audio: true, video: true }],
      sharerId: null,
      history: [msg("000000000007", "ada2", "said while you were away")],
    });
    expect(banner.hidden).toBe(true);
    expect(document.querySelector("#chat-list")!.textContent).toContain("said while you were away");
    const ids = [...document.querySelectorAll<HTMLElement>(".tile[data-participant-id]")].map((t) => t.dataset.participantId);
    expect(ids.sort()).toEqual(["ada2", "me2"]);
    r.handleSession({ type: "reconnecting" });
    expect(banner.hidden).toBe(false);
    r.handleSession({ type: "reconnected" });
    expect(banner.hidden).toBe(true);
    r.handleSession({ type: "ended", reason: "The server shut down." });
    expect(exited).toEqual(["The server shut down."]);
    r.destroy();
  });

  it("tells of a failed peer connection", () => {
    const r = room();
    r.handleSession({ type: "peer-failed", id: "ada", reason: "ICE failed" });
    expect(toasts.textContent).toContain("Lost the connection to Ada (ICE failed)");
    r.destroy();
  });

  it("updates media state of others", () => {
    const r = room();
    r.handleSession({ type: "media-state", id: "ada", audio: false, video: false });
    expect(tile("ada").querySelector<HTMLElement>(".tile-mic")!.hidden).toBe(false);
    expect(tile("ada").dataset.video).toBe("off");
    r.destroy();
  });
  it("gives the host its controls: knock toast with Admit, passcode, remove; the others see who hosts", async () => {
    ipc.handlers.door = () => null;
    ipc.handlers.lock_room = (args) => {
      const lock = (args as { lock: { passcode: string | null } }).lock;
      return { locked: lock.passcode !== "" && lock.passcode !== null, waitingRoom: false, listed: false };
    };
    const r = room();
    expect(document.querySelector<HTMLElement>("#host-controls")!.hidden).toBe(false);
    expect(document.querySelector('[data-participant-id="me"] [data-host]')).not.toBeNull();
    // A knock: a toast with Admit / Deny, and the waiting list.
    r.handleSession({ type: "knock", id: "kim", email: "kim@example.com", name: "Kim" });
    expect(toasts.textContent).toContain("Kim is waiting to join");
    expect(document.querySelector('[data-waiting-id="kim"]')).not.toBeNull();
    document.querySelector<HTMLButtonElement>('[data-toast-admit="kim"]')!.click();
    await flush();
    expect(ipc.callsOf("door")).toEqual([{ action: "admit", id: "kim" }]);
    expect(document.querySelector('[data-waiting-id="kim"]')).toBeNull();
    expect(document.querySelector('[data-knock="kim"]')).toBeNull();
    // A knock stays until answered (here from the list) or withdrawn.
    vi.useFakeTimers();
    r.handleSession({ type: "knock", id: "lee", email: "lee@example.com", name: null });
    r.handleSession({ type: "knock", id: "max", email: "max@example.com", name: null });
    vi.advanceTimersByTime(10000);
    vi.useRealTimers();
    expect(document.querySelector('[data-knock="lee"]')).not.toBeNull();
    document.querySelector<HTMLButtonElement>('#waiting-list [data-deny="lee"]')!.click();
    await flush();
    expect(ipc.callsOf("door").at(-1)).toEqual({ action: "deny", id: "lee" });
    expect(document.querySelector('[data-knock="lee"]')).toBeNull();
    r.handleSession({ type: "knock-withdrawn", id: "max" });
    expect(document.querySelector('[data-knock="max"]')).toBeNull();
    expect(document.querySelector('[data-waiting-id="max"]')).toBeNull();
    // Set a passcode.
    document.querySelector<HTMLInputElement>("#host-passcode")!.value = "open-sesame";
    document.querySelector<HTMLButtonElement>("#host-lock")!.click();
    await flush();
    expect(ipc.callsOf("lock_room")).toEqual([{ lock: { passcode: "open-sesame", waitingRoom: null, listed: null } }]);
    expect(document.querySelector("#host-state")!.textContent).toBe("Locked with a passcode");
    // Remove a participant.
    document.querySelector<HTMLButtonElement>('[data-remove="ada"]')!.click();
    await flush();
    expect(ipc.callsOf("door").at(-1)).toEqual({ action: "remove", id: "ada" });
    // Hand-over: someone else hosts now; the controls go.
    r.handleSession({ type: "host-changed", hostId: "ada" });
    expect(document.querySelector<HTMLElement>("#host-controls")!.hidden).toBe(true);
    expect(document.querySelector('[data-participant-id="ada"] [data-host]')).not.toBeNull();
    expect(document.querySelector("[data-remove]")).toBeNull();
    r.destroy();
  });

  it("leaves the room when the host removes us", () => {
    const r = room(joined({ hostId: "ada" }));
    expect(document.querySelector<HTMLElement>("#host-controls")!.hidden).toBe(true);
    r.handleSession({ type: "removed", room: "1234" });
    expect(exited).toEqual(["The host removed you from the room."]);
    r.destroy();
  });
});
