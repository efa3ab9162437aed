// The lobby's last values, kept in localStorage; launch options override them.
import type { DeviceId, LaunchOptions } from "../bridge/contract";

export interface Remembered {
  email: string;
  room: string;
  name: string;
  camera: DeviceId | undefined;
  microphone: DeviceId | undefined;
  speaker: DeviceId | undefined;
}

export const STORAGE_KEY = "huddle.lobby.v1";

const EMPTY: Remembered = { email: "", room: "", name: "", camera: undefined, microphone: undefined, speaker: undefined };

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function dev(v: unknown): DeviceId | undefined {
  return typeof v === "string" || v === null ? v : undefined;
}

export function loadRemembered(storage: Storage | undefined = globalThis.localStorage): Remembered {
  try {
    const raw = storage?.getItem(STORAGE_KEY);
    if (!raw) return { ...EMPTY };
    const o = JSON.parse(raw) as Record<string, unknown>;
    return {
      email: str(o.email),
      room: str(o.room),
      name: str(o.name),
      camera: dev(o.camera),
      microphone: dev(o.microphone),
      speaker: dev(o.speaker),
    };
  } catch {
    return { ...EMPTY };
  }
}

export function saveRemembered(r: Partial<Remembered>, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    const merged = { ...loadRemembered(storage), ...r };
    storage?.setItem(STORAGE_KEY, JSON.stringify(merged));
  } catch {
    // storage full or unavailable: nothing to remember then
  }
}

/** Launch options (when set) take precedence over remembered values. */
export function applyLaunch(r: Remembered, launch: LaunchOptions | null | undefined): Remembered {
  if (!launch) return r;
  return {
    ...r,
    email: launch.email ?? r.email,
    room: launch.room ?? r.room,
    name: launch.name ?? r.name,
  };
}
