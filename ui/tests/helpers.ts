import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import type { AppInfo, ChatMessage, Commands, Events, Joined } from "../src/bridge/contract";

export type Handler = (args: Record<string, unknown>) => unknown;

export interface IPC {
  calls: { cmd: string; args: Record<string, unknown> }[];
  callsOf(cmd: string): Record<string, unknown>[];
  handlers: Partial<Record<keyof Commands, Handler>>;
}

/** Mocks Tauri IPC (commands + events). Unhandled commands resolve to null. */
export function setupIPC(handlers: Partial<Record<keyof Commands, Handler>> = {}): IPC {
  const ipc: IPC = {
    calls: [],
    callsOf: (cmd) => ipc.calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    handlers: { ...handlers },
  };
  mockWindows("main");
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      ipc.calls.push({ cmd, args });
      const h = ipc.handlers[cmd as keyof Commands];
      return h ? h(args) : null;
    },
    { shouldMockEvents: true },
  );
  return ipc;
}

export function teardownIPC(): void {
  clearMocks();
}

export async function emitEvent<K extends keyof Events>(name: K, payload: Events[K]): Promise<void> {
  await emit(name, payload);
  await flush();
}

/** Let pending promises settle. */
export async function flush(times = 5): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0));
}

/** A rejection as the Rust side sends it (a plain object). */
export function reject(code: string, message = "", extra: Record<string, unknown> = {}): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  throw { code, message, ...extra };
}

export function appInfo(over: Partial<AppInfo> = {}): AppInfo {
  return {
    version: "0.1.0",
    server: { url: "http://10.0.0.5:3000", hosted: false, shareUrls: [], passcode: null, unencryptedRemote: false },
    fakeDevices: true,
    launch: { email: null, room: null, name: null, join: false },
    frameSocketUrl: "",
    framePath: "websocket",
    ...over,
  };
}

export const DEVICES = {
  cameras: [
    { id: "cam1", label: "Test camera" },
    { id: "cam2", label: "USB camera" },
  ],
  microphones: [{ id: "mic1", label: "Test microphone" }],
  speakers: [{ id: "spk1", label: "Test speaker" }],
  problems: [],
};

export function msg(id: string, from: string, text: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { id, room: "1234", from, email: `${from}@example.com`, name: null, text, ts: 1_700_000_000_000, ...extra };
}

export function joined(over: Partial<Joined> = {}): Joined {
  return {
    selfId: "me",
    room: "1234",
    participants: [
      { id: "ada", email: "ada@example.com", name: "Ada", audio: true, video: true },
      { id: "bob", email: "bob@example.com", name: null, audio: false, video: false },
    ],
    sharerId: null,
    history: [],
    joinMs: 42,
    hostId: "me",
    locked: false,
    waitingRoom: false,
    ...over,
  };
}
