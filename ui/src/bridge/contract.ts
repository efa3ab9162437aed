// The contract between the UI and the Rust side of the app. Every type that crosses it
// is generated from the Rust types into ./generated.ts (see the command at its top); this
// file is what the UI imports, with the few names that exist only on this side.
//
// Commands are Tauri `invoke` calls (snake_case names, camelCase argument keys).
// Events are Tauri events. Video frames travel separately, as binary WebSocket messages
// (see FRAME_HEADER), never through JSON.

export type {
  AppInfo,
  ChatMessage,
  CommandError,
  Commands,
  Device,
  DeviceKind,
  DeviceList,
  DoorAction,
  Events,
  FramePath,
  JoinRequest,
  Joined,
  LaunchOptions,
  ListedRoom,
  MicLevel,
  Participant,
  PeerStats,
  Quality,
  RoomLockRequest,
  RoomSettings,
  ScreenSource,
  ServerInfo,
  SessionEvent,
  Settings,
  ShareSources,
  StatsEvent,
  ViewSize,
  WindowSource,
} from "./generated";
export { FRAME_HEADER } from "./generated";

/** A device choice: a Device id, or null for "none". */
export type DeviceId = string | null;
