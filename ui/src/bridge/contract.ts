// The contract between the UI and the Rust side of the app (src-tauri/src/commands.rs,
// src-tauri/src/events.rs, src-tauri/src/frames/). Keep both sides in step.
//
// Commands are Tauri `invoke` calls (snake_case names, camelCase argument keys).
// Events are Tauri events. Video frames travel separately, as binary WebSocket messages
// (see FRAME_HEADER below), never through JSON.

/** What the window needs to start: the server, launch options, the frame socket. */
export interface AppInfo {
  version: string;
  server: ServerInfo;
  /** Synthetic camera/microphone/screen (HUDDLE_FAKE_DEVICES=1 or the setting). */
  fakeDevices: boolean;
  /** From the command line or a huddle:// link; fills the lobby. */
  launch: LaunchOptions;
  /** ws://127.0.0.1:PORT/frames?token=TOKEN — only this window knows the token. */
  frameSocketUrl: string;
  /** How frames travel: the WebSocket (default, measured fastest on WebKitGTK), or a
   * Tauri IPC channel (HUDDLE_FRAME_PATH=channel, for comparing the two). */
  framePath?: "websocket" | "channel";
}

export interface ServerInfo {
  /** The signaling server the app joins through. */
  url: string;
  /** True when the app runs the server itself (no server configured). */
  hosted: boolean;
  /** Addresses others on the network can use to reach a hosted server. */
  shareUrls: string[];
}

export interface LaunchOptions {
  email: string | null;
  room: string | null;
  name: string | null;
  /** Join at once (only honoured with both email and room). */
  join: boolean;
}

export interface Device {
  id: string;
  label: string;
}

export interface DeviceList {
  cameras: Device[];
  microphones: Device[];
  speakers: Device[];
  /** Why a kind could not be listed, in plain words (e.g. "no camera found"). */
  problems: string[];
}

/** A device choice: a Device id, or null for "none". */
export type DeviceId = string | null;

export interface DeviceSelection {
  camera: DeviceId;
  microphone: DeviceId;
  speaker: DeviceId;
}

export interface JoinRequest extends DeviceSelection {
  email: string;
  room: string;
  name: string | null;
}

export interface Participant {
  id: string;
  email: string;
  name: string | null;
  audio: boolean;
  video: boolean;
}

export interface ChatMessage {
  id: string;
  room: string;
  from: string;
  email: string;
  name: string | null;
  text: string;
  ts: number;
  /** Present when the sender gave one. */
  clientId?: string;
}

export interface Joined {
  selfId: string;
  room: string;
  participants: Participant[];
  sharerId: string | null;
  history: ChatMessage[];
  joinMs: number;
}

export interface ShareSources {
  screens: { id: string; name: string; width: number; height: number }[];
  windows: { id: string; title: string; width: number; height: number }[];
}

/**
 * Every command error has a code the UI turns into words:
 * - the server's codes: invalid_email, invalid_room, room_full, rate_limited, ...
 * - unreachable: the signaling server could not be reached;
 * - device: a camera/microphone/speaker/screen could not be opened;
 * - sharing_conflict: someone else shares (sharerId says who);
 * - not_joined, already_joined, internal.
 */
export interface CommandError {
  code: string;
  message: string;
  sharerId?: string;
}

/** Commands: name → [argument object, result]. */
export interface Commands {
  app_info: [Record<string, never>, AppInfo];
  /** Frames over this IPC channel instead of the WebSocket (framePath "channel"). */
  subscribe_frames: [{ channel: unknown }, null];
  list_devices: [Record<string, never>, DeviceList];
  /** The lobby is drawn and its devices listed: the app logs its cold-start time. */
  lobby_ready: [Record<string, never>, null];
  /** Opens the chosen camera and microphone for the lobby preview (frames on stream
   * "local", levels as `mic-level`). null closes that device. */
  set_preview: [{ camera: DeviceId; microphone: DeviceId }, null];
  join: [{ request: JoinRequest }, Joined];
  leave: [Record<string, never>, null];
  send_chat: [{ text: string }, ChatMessage];
  set_muted: [{ muted: boolean }, null];
  set_camera_on: [{ on: boolean }, null];
  /** Switch mid-call without renegotiating. */
  switch_device: [{ kind: "camera" | "microphone" | "speaker"; id: DeviceId }, null];
  list_share_sources: [Record<string, never>, ShareSources];
  /** id: "screen", "screen:ID", "window:ID" or (fake devices) "test". */
  start_share: [{ source: string }, null];
  stop_share: [Record<string, never>, null];
  /** The CSS-pixel × devicePixelRatio size each stream's tile shows; frames are scaled
   * down in Rust to fit (never up). Streams not listed get at most 640×360. */
  set_view_sizes: [{ sizes: ViewSize[] }, null];
  /** Settings kept between runs. */
  get_settings: [Record<string, never>, Settings];
  /** Saves them (a server address is checked: http:// or https://; blank = host here)
   * and answers with the app info as it is now (the server may have changed; it applies
   * to the next join). Fails with invalid_input and a message to show. */
  save_settings: [{ settings: Settings }, AppInfo];
}

export interface Settings {
  /** The signaling server; null means this app hosts one. */
  server: string | null;
  /** Synthetic camera, microphone and screen instead of real devices. */
  fakeDevices: boolean;
}

export interface ViewSize {
  /** A stream key as in the frame header: "local", "ID/video", "ID/screen". */
  stream: string;
  width: number;
  height: number;
}

/** Events: name → payload. */
export interface Events {
  session: SessionEvent;
  /** About twice a second while joined. */
  stats: StatsEvent;
  /** The local microphone's level, 0..1, about 20 times a second (lobby and room). */
  "mic-level": { level: number };
  /** A huddle:// link or a second launch while running. */
  launch: LaunchOptions;
}

export type SessionEvent =
  | { type: "participant-joined"; id: string; email: string; name: string | null }
  | { type: "participant-left"; id: string; email: string }
  | { type: "media-state"; id: string; audio: boolean; video: boolean }
  | { type: "chat"; message: ChatMessage }
  | { type: "sharer-started"; id: string }
  | { type: "sharer-stopped"; id: string }
  | { type: "peer-connected"; id: string }
  | { type: "peer-failed"; id: string; reason: string }
  | { type: "reconnecting" }
  /** Back in the room as a new connection: our new id, who is there now, and the chat
   * history (with what was said while we were away). */
  | { type: "rejoined"; selfId: string; participants: Participant[]; sharerId: string | null; history: ChatMessage[] }
  /** The connection held after all (no rejoin). */
  | { type: "reconnected" }
  | { type: "server-error"; code: string; message: string }
  /** The session is over without the user leaving (e.g. the server is gone for good). */
  | { type: "ended"; reason: string };

export type Quality = "good" | "fair" | "poor" | "unknown";

export interface PeerStats {
  id: string;
  rttMs: number | null;
  jitterMs: number | null;
  lossPct: number | null;
  fps: number | null;
  kbps: number | null;
  audioLevel: number;
  quality: Quality;
}

export interface StatsEvent {
  peers: PeerStats[];
  /** The participant speaking loudest now (may be ourselves), or null. */
  activeSpeaker: string | null;
}

/**
 * A binary frame message (little-endian):
 *   0   u8   version (1)
 *   1   u8   kind: 0 local camera, 1 remote camera, 2 remote screen
 *   2   u16  width
 *   4   u16  height
 *   6   u16  stream key length L (UTF-8 bytes)
 *   8   f64  decodedAtMs: wall clock (ms since epoch) when the engine had the frame
 *   16  f64  sentAtMs: wall clock when it was put on the socket (after scaling)
 *   24  L    stream key: "local", "ID/video", "ID/screen"
 *   24+L     I420 planes: Y (width×height), U then V (ceil(w/2)×ceil(h/2) each)
 */
export const FRAME_HEADER = {
  version: 1,
  fixedBytes: 24,
  kinds: { localCamera: 0, remoteCamera: 1, remoteScreen: 2 },
} as const;
