import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChatMessage } from "../src/bridge/contract";
import { ChatModel } from "../src/room/chatModel";
import { FrameHub } from "../src/render/hub";
import { RoomView } from "../src/room/roomView";
import { Toaster } from "../src/ui/toasts";
import { appInfo, flush, joined, msg, setupIPC, teardownIPC } from "./helpers";

const ME = { id: "me", email: "me@example.com", name: "Me" };

function deferred<T>() {
  let resolve!: (v: T) => void;
  let rejectFn!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    rejectFn = rej;
  });
  return { promise, resolve, reject: rejectFn };
}

describe("ChatModel", () => {
  it("starts from history, oldest first, without duplicates", () => {
    const m = new ChatModel(ME, [msg("1", "ada", "hi"), msg("2", "bob", "yo"), msg("2", "bob", "yo")]);
    expect(m.entries.map((e) => e.id)).toEqual(["1", "2"]);
    expect(m.entries.every((e) => e.state === "sent")).toBe(true);
  });

  it("shows a sent message at once as sending, then confirms it by the result", async () => {
    const m = new ChatModel(ME);
    const d = deferred<ChatMessage>();
    const p = m.send("hello", () => d.promise);
    expect(m.entries).toHaveLength(1);
    expect(m.entries[0]).toMatchObject({ state: "sending", text: "hello", id: null, mine: true });
    d.resolve(msg("10", "me", "hello"));
    await p;
    expect(m.entries).toHaveLength(1);
    expect(m.entries[0]).toMatchObject({ state: "sent", id: "10" });
  });

  it("does not duplicate our own message echoed after the result", async () => {
    const m = new ChatModel(ME);
    await m.send("hello", () => Promise.resolve(msg("10", "me", "hello")));
    expect(m.receive(msg("10", "me", "hello"))).toBe(false);
    expect(m.entries).toHaveLength(1);
  });

  it("does not duplicate our own message echoed before the result", async () => {
    const m = new ChatModel(ME);
    const d = deferred<ChatMessage>();
    const p = m.send("hello", () => d.promise);
    expect(m.receive(msg("10", "me", "hello"))).toBe(false);
    expect(m.entries).toHaveLength(1);
    d.resolve(msg("10", "me", "hello"));
    await p;
    expect(m.entries.map((e) => [e.id, e.state])).toEqual([["10", "sent"]]);
    // and again later
    m.receive(msg("10", "me", "hello"));
    expect(m.entries).toHaveLength(1);
  });

  it("marks failures and retries them in place", async () => {
    const m = new ChatModel(ME);
    await m.send("hello", () => Promise.reject(new Error("offline")));
    expect(m.entries[0]!.state).toBe("failed");
    const key = m.entries[0]!.key;
    const texts: string[] = [];
    await m.send("", (t) => {
      texts.push(t);
      return Promise.resolve(msg("11", "me", t));
    }, key);
    expect(texts).toEqual(["hello"]);
    expect(m.entries).toHaveLength(1);
    expect(m.entries[0]).toMatchObject({ id: "11", state: "sent" });
  });

  it("counts unread messages from others while the panel is closed", () => {
    const m = new ChatModel(ME);
    m.receive(msg("1", "ada", "a"));
    m.receive(msg("1", "ada", "a"));
    m.receive(msg("2", "bob", "b"));
    expect(m.unread).toBe(2);
    m.setPanelOpen(true);
    expect(m.unread).toBe(0);
    m.receive(msg("3", "bob", "c"));
    expect(m.unread).toBe(0);
  });

  it("keeps messages from others in arrival order between our own", async () => {
    const m = new ChatModel(ME);
    const d = deferred<ChatMessage>();
    const p = m.send("mine", () => d.promise);
    m.receive(msg("5", "ada", "theirs"));
    d.resolve(msg("6", "me", "mine"));
    await p;
    expect(m.entries.map((e) => e.text)).toEqual(["mine", "theirs"]);
  });
});

describe("chat panel in the room", () => {
  let sendResult: () => Promise<ChatMessage>;
  beforeEach(() => {
    document.body.replaceChildren();
    setupIPC({ send_chat: () => sendResult() });
  });
  afterEach(() => teardownIPC());

  function room() {
    const toasts = document.createElement("div");
    document.body.append(toasts);
    const r = new RoomView(joined({ history: [msg("1", "ada", "welcome", { name: "Ada" })] }), {
      info: appInfo(),
      hub: new FrameHub(),
      toaster: new Toaster(toasts),
      request: { email: "me@example.com", room: "1234", name: null, camera: "cam1", microphone: "mic1", speaker: null },
      onExit: () => {},
    });
    document.body.append(r.el);
    return r;
  }
  const items = () =>
    [...document.querySelectorAll<HTMLElement>("#chat-list > li")].map((li) => [li.dataset.id, li.dataset.state]);

  it("sends from the input and reflects sending → sent with the server id", async () => {
    const r = room();
    const d = deferred<ChatMessage>();
    sendResult = () => d.promise;
    r.setPanel("chat");
    const input = document.querySelector<HTMLTextAreaElement>("#chat-input")!;
    input.value = "hello all";
    document.querySelector<HTMLButtonElement>("#chat-send")!.click();
    await flush();
    expect(items()[0]).toEqual(["1", "sent"]);
    expect(items()[1]![1]).toBe("sending");
    expect(input.value).toBe("");
    d.resolve(msg("2", "me", "hello all"));
    await flush();
    expect(items()).toEqual([
      ["1", "sent"],
      ["2", "sent"],
    ]);
    r.handleSession({ type: "chat", message: msg("2", "me", "hello all") });
    expect(items()).toHaveLength(2);
    r.destroy();
  });

  it("marks a failed send and retries it", async () => {
    const r = room();
    sendResult = () => Promise.reject(new Error("x"));
    r.setPanel("chat");
    document.querySelector<HTMLTextAreaElement>("#chat-input")!.value = "try";
    document.querySelector<HTMLButtonElement>("#chat-send")!.click();
    await flush();
    expect(items()[1]![1]).toBe("failed");
    sendResult = () => Promise.resolve(msg("9", "me", "try"));
    document.querySelector<HTMLButtonElement>("#chat-list .chat-retry")!.click();
    await flush();
    expect(items()[1]).toEqual(["9", "sent"]);
    r.destroy();
  });

  it("shows an unread badge while the panel is closed", () => {
    const r = room();
    r.handleSession({ type: "chat", message: msg("7", "ada", "psst") });
    const badge = document.querySelector<HTMLElement>("#chat-unread")!;
    expect(badge.hidden).toBe(false);
    expect(badge.textContent).toBe("1");
    r.setPanel("chat");
    expect(badge.hidden).toBe(true);
    r.destroy();
  });
});
