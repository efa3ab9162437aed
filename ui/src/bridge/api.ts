// Typed wrappers around Tauri's invoke/listen for the contract in contract.ts.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { CommandError, Commands, Events } from "./contract";

/** A rejected command, normalised to the contract's CommandError shape. */
export class HuddleError extends Error implements CommandError {
  readonly code: string;
  readonly sharerId?: string;
  constructor(err: CommandError) {
    super(err.message);
    this.name = "HuddleError";
    this.code = err.code;
    if (err.sharerId !== undefined) this.sharerId = err.sharerId;
  }
}

/** Turns whatever a rejected invoke gave us into a HuddleError. */
export function toHuddleError(e: unknown): HuddleError {
  if (e instanceof HuddleError) return e;
  if (e && typeof e === "object" && "code" in e && typeof e.code === "string") {
    const o = e as { code: string; message?: unknown; sharerId?: unknown };
    return new HuddleError({
      code: o.code,
      message: typeof o.message === "string" ? o.message : "",
      ...(typeof o.sharerId === "string" ? { sharerId: o.sharerId } : {}),
    });
  }
  if (e instanceof Error) return new HuddleError({ code: "internal", message: e.message });
  return new HuddleError({ code: "internal", message: typeof e === "string" ? e : "unknown error" });
}

export async function call<K extends keyof Commands>(cmd: K, args: Commands[K][0]): Promise<Commands[K][1]> {
  try {
    return await invoke<Commands[K][1]>(cmd, args);
  } catch (e) {
    throw toHuddleError(e);
  }
}

export function on<K extends keyof Events>(name: K, cb: (payload: Events[K]) => void): Promise<UnlistenFn> {
  return listen<Events[K]>(name, (ev) => cb(ev.payload));
}
