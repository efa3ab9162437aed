import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { boot } from "../src/app/app";
import { appInfo, DEVICES, emitEvent, flush, joined, msg, setupIPC, teardownIPC, type IPC } from "./helpers";

describe("app", () => {
  let ipc: IPC;
  let root: HTMLElement;

  beforeEach(() => {
    localStorage.clear();
    document.body.replaceChildren();
    root = document.createElement("div");
    root.id = "app";
    const toasts = document.createElement("div");
    toasts.id = "toasts";
    document.body.append(root, toasts);
    ipc = setupIPC({ app_info: () => appInfo(), list_devices: () => DEVICES, join: () => joined() });
  });
  afterEach(() => teardownIPC());

  it("starts in the lobby", async () => {
    const app = await boot(root);
    expect(document.querySelector("#lobby")).not.toBeNull();
    expect(window.__huddle!.state().screen).toBe("lobby");
    expect(ipc.callsOf("app_info")).toHaveLength(1);
    app.stop();
  });

  it("joins at once when launched with join, email and room; leave returns to the lobby", async () => {
    ipc.handlers.app_info = () => appInfo({ launch: { email: "ada@example.com", room: "77", name: "Ada", join: true } });
    const app = await boot(root);
    await flush();
    expect(ipc.callsOf("join")[0]).toMatchObject({ request: { email: "ada@example.com", room: "77", name: "Ada" } });
    expect(document.querySelector("#room")).not.toBeNull();
    const st = window.__huddle!.state();
    expect(st.screen).toBe("room");
    expect(st.selfId).toBe("me");
    expect(st.participants.map((p) => p.id)).toEqual(["me", "ada", "bob"]);

    await emitEvent("session", { type: "chat", message: msg("5", "ada", "hi") });
    expect(window.__huddle!.state().chat.map((c) => c.id)).toEqual(["5"]);
    await emitEvent("session", { type: "sharer-started", id: "ada" });
    expect(window.__huddle!.state().sharerId).toBe("ada");
    expect(document.querySelector<HTMLElement>("#stage")!.dataset.mode).toBe("share");

    document.querySelector<HTMLButtonElement>("#leave")!.click();
    await flush();
    expect(ipc.callsOf("leave")).toHaveLength(1);
    expect(document.querySelector("#lobby")).not.toBeNull();
    expect(window.__huddle!.state().screen).toBe("lobby");
    app.stop();
  });

  it("fills the lobby from launch events and joins when asked", async () => {
    const app = await boot(root);
    await emitEvent("launch", { email: "bob@example.com", room: "88", name: null, join: false });
    expect(document.querySelector<HTMLInputElement>("#email")!.value).toBe("bob@example.com");
    expect(document.querySelector<HTMLInputElement>("#room")!.value).toBe("88");
    expect(ipc.callsOf("join")).toHaveLength(0);
    await emitEvent("launch", { email: null, room: "99", name: null, join: true });
    await flush();
    expect(ipc.callsOf("join")[0]).toMatchObject({ request: { email: "bob@example.com", room: "99" } });
    expect(window.__huddle!.state().screen).toBe("room");
    await emitEvent("launch", { email: "x@example.com", room: "100", name: null, join: true });
    expect(ipc.callsOf("join")).toHaveLength(1);
    app.stop();
  });

  it("stays in the lobby when a launch asks to join without an email", async () => {
    ipc.handlers.app_info = () => appInfo({ launch: { email: null, room: "77", name: null, join: true } });
    const app = await boot(root);
    await flush();
    expect(ipc.callsOf("join")).toHaveLength(0);
    expect(window.__huddle!.state().screen).toBe("lobby");
    expect(document.querySelector<HTMLInputElement>("#room")!.value).toBe("77");
    app.stop();
  });

  it("goes back to the lobby with the reason when the session ends", async () => {
    ipc.handlers.app_info = () => appInfo({ launch: { email: "ada@example.com", room: "77", name: null, join: true } });
    const app = await boot(root);
    await flush();
    await emitEvent("stats", { activeSpeaker: "ada", peers: [] });
    expect(document.querySelector('.tile[data-participant-id="ada"]')!.classList.contains("speaking")).toBe(true);
    await emitEvent("session", { type: "ended", reason: "The server is gone." });
    expect(window.__huddle!.state().screen).toBe("lobby");
    expect(document.querySelector("#lobby-notice")!.textContent).toBe("The server is gone.");
    app.stop();
  });

  describe("the waiting room", () => {
    /** A join that waits until the test settles it, as one in a waiting room does. */
    function pendingJoin() {
      let settle: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | null = null;
      ipc.handlers.join = () =>
        new Promise((resolve, rejectJoin) => {
          settle = { resolve, reject: rejectJoin };
        });
      return () => settle!;
    }

    /** Boots, then joins room 77 from the lobby (boot itself would wait for the join). */
    async function knock() {
      ipc.handlers.app_info = () => appInfo({ launch: { email: "ada@example.com", room: "77", name: null, join: false } });
      const app = await boot(root);
      document.querySelector<HTMLButtonElement>("#join")!.click();
      await flush();
      return app;
    }

    it("shows the waiting screen, then the room once the host lets us in", async () => {
      const settle = pendingJoin();
      const app = await knock();
      expect(window.__huddle!.state().screen).toBe("lobby");
      await emitEvent("session", { type: "waiting", room: "77" });
      expect(window.__huddle!.state().screen).toBe("waiting");
      expect(document.querySelector("#waiting-title")!.textContent).toBe("Waiting for the host to let you in");
      expect(document.querySelector("#waiting-room-number")!.textContent).toBe("Room 77");
      expect(document.querySelector("#waiting-preview")).not.toBeNull();
      expect(document.querySelector("#lobby")).toBeNull();
      // The connection drops and comes back while waiting: the screen says so.
      await emitEvent("session", { type: "reconnecting" });
      expect(document.querySelector("#waiting-status")!.textContent).toContain("Reconnecting");
      await emitEvent("session", { type: "waiting", room: "77" });
      expect(document.querySelector("#waiting-status")!.textContent).toContain("as soon as they let you in");
      expect(window.__huddle!.state().screen).toBe("waiting");
      settle().resolve(joined({ room: "77" }));
      await flush();
      expect(window.__huddle!.state().screen).toBe("room");
      expect(document.querySelector("#waiting")).toBeNull();
      app.stop();
    });

    it("withdraws the knock with the Leave button and says so in the lobby", async () => {
      const settle = pendingJoin();
      ipc.handlers.cancel_join = () => {
        settle().reject({ code: "cancelled", message: "you left the waiting room" });
        return null;
      };
      const app = await knock();
      await emitEvent("session", { type: "waiting", room: "77" });
      document.querySelector<HTMLButtonElement>("#waiting-cancel")!.click();
      await flush();
      expect(ipc.callsOf("cancel_join")).toHaveLength(1);
      expect(window.__huddle!.state().screen).toBe("lobby");
      expect(document.querySelector("#lobby-notice")!.textContent).toBe("You left the waiting room of room 77.");
      expect(document.querySelector<HTMLElement>("#room-error")!.hidden).toBe(true);
      expect(document.querySelector<HTMLButtonElement>("#join")!.disabled).toBe(false);
      app.stop();
    });

    it("returns to the lobby with the reason when the host turns us away", async () => {
      const settle = pendingJoin();
      const app = await knock();
      await emitEvent("session", { type: "waiting", room: "77" });
      settle().reject({ code: "denied", message: "the host of room 77 did not let you in" });
      await flush();
      expect(window.__huddle!.state().screen).toBe("lobby");
      expect(document.querySelector("#lobby-notice")!.textContent).toBe("The host didn't let you in.");
      expect(document.querySelector<HTMLInputElement>("#room")!.value).toBe("77");
      app.stop();
    });

    it("ignores a late waiting event once the join has settled", async () => {
      const app = await knock();
      await flush();
      expect(window.__huddle!.state().screen).toBe("room");
      await emitEvent("session", { type: "waiting", room: "77" });
      expect(window.__huddle!.state().screen).toBe("room");
      app.stop();
    });
  });
});
