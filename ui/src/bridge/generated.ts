// The contract between the window and the Rust side of the app, generated from the
// Rust types (src-tauri, and the protocol crate for what the server sends) by
// ts-rs: do not edit. After changing those types, regenerate it with
//   HUDDLE_WRITE_BINDINGS=1 cargo test -p huddle-app --lib bindings
// (that test fails while this file is stale). `contract.ts` is what the UI imports.

/**
 * What the window needs to start: the server, launch options, the frame socket.
 */
export type AppInfo = { version: string, server: ServerInfo,
/**
 * Synthetic camera/microphone/screen (HUDDLE_FAKE_DEVICES=1 or the setting).
 */
fakeDevices: boolean,
/**
 * From the command line or a huddle:// link; fills the lobby.
 */
launch: LaunchOptions,
/**
 * ws://127.0.0.1:PORT/frames?token=TOKEN — only this window knows the token.
 */
frameSocketUrl: string,
/**
 * How frames travel: the WebSocket (default, measured fastest on WebKitGTK), or a
 * Tauri IPC channel (HUDDLE_FRAME_PATH=channel, for comparing the two).
 */
framePath: FramePath, };

export type ServerInfo = {
/**
 * The signaling server the app joins through.
 */
url: string,
/**
 * True when the app runs the server itself (no server configured).
 */
hosted: boolean,
/**
 * Addresses others on the network can use to reach a hosted server (only when
 * others on the network may join).
 */
shareUrls: Array<string>,
/**
 * The passcode our hosted rooms are locked with, to give to the others (LAN
 * hosting only).
 */
passcode: string | null,
/**
 * A plain `http://` server beyond loopback and private networks: emails, chat and
 * the calls' keys' fingerprints travel readable and alterable.
 */
unencryptedRemote: boolean, };

/**
 * What fills the lobby (sent to the window as `LaunchOptions`).
 */
export type LaunchOptions = { email: string | null, room: string | null, name: string | null,
/**
 * Join at once (only honoured with both email and room).
 */
join: boolean,
/**
 * The room's passcode, from a link.
 */
passcode?: string,
/**
 * A link's server: used only once the person confirms it (`use_link_server`).
 */
linkServer?: string, };

/**
 * Which path carries frames to the window.
 */
export type FramePath = "websocket" | "channel";

/**
 * A device as the window offers it.
 */
export type Device = { id: string, label: string, };

export type DeviceList = { cameras: Array<Device>, microphones: Array<Device>, speakers: Array<Device>,
/**
 * Why a kind could not be listed, in plain words (e.g. "no camera found").
 */
problems: Array<string>, };

/**
 * What the window joins with: who, where, and the devices chosen in the lobby (ids as
 * `list_devices` gives them; null for none).
 */
export type JoinRequest = { email: string, room: string, name: string | null,
/**
 * The room's passcode, when its host locked it (the server says
 * `passcode_required` / `bad_passcode`).
 */
passcode?: string, camera: string | null, microphone: string | null, speaker: string | null, };

/**
 * Someone in a room, as a join ack lists them.
 */
export type Participant = { id: string, email: string, name: string | null, audio: boolean, video: boolean, };

/**
 * A stored chat message (PROTOCOL.md's ChatMessage).
 */
export type ChatMessage = {
/**
 * The room's sequence number, zero-padded (see [`chat_id`]).
 */
id: string, room: string,
/**
 * The sender's socket id.
 */
from: string, email: string, name: string | null, text: string,
/**
 * Milliseconds since the Unix epoch.
 */
ts: number, clientId?: string, };

/**
 * The join command's answer.
 */
export type Joined = { selfId: string, room: string, participants: Array<Participant>, sharerId: string | null, history: Array<ChatMessage>, joinMs: number,
/**
 * The room's host (since protocol 1.1; none from a 1.0 server).
 */
hostId: string | null, locked: boolean, waitingRoom: boolean, };

/**
 * A screen that can be shared; its `id` is what `start_share` takes.
 */
export type ScreenSource = { id: string, name: string, width: number, height: number, };

/**
 * A window that can be shared; its `id` is what `start_share` takes.
 */
export type WindowSource = { id: string, title: string, width: number, height: number, };

export type ShareSources = { screens: Array<ScreenSource>, windows: Array<WindowSource>, };

/**
 * What `invoke` rejects with: a code the UI turns into words, the message, and who
 * shares when that is why.
 */
export type CommandError = {
/**
 * The server's codes (invalid_email, invalid_room, room_full, rate_limited, …),
 * or unreachable, device, invalid_input, not_joined, already_joined, cancelled, internal.
 */
code: string, message: string,
/**
 * With sharing_conflict: who is sharing.
 */
sharerId?: string, };

/**
 * A kind of device the window switches mid-call.
 */
export type DeviceKind = "camera" | "microphone" | "speaker";

export type Settings = {
/**
 * The signaling server; none means the app hosts one.
 */
server: string | null,
/**
 * The synthetic camera, microphone and screen instead of real devices.
 */
fakeDevices: boolean,
/**
 * "Let others on my network join": the hosted server listens on every interface
 * (with a generated passcode on our rooms) instead of 127.0.0.1 only.
 */
lanHosting: boolean, };

/**
 * The size a stream's tile shows (the window's `set_view_sizes`).
 */
export type ViewSize = {
/**
 * A stream key as in the frame header: "local", "ID/video", "ID/screen".
 */
stream: string, width: number, height: number, };

/**
 * The `session` event: what happens in the room.
 */
export type SessionEvent = { "type": "participant-joined", id: string, email: string, name: string | null, } | { "type": "participant-left", id: string, email: string, } | { "type": "media-state", id: string, audio: boolean, video: boolean, } | { "type": "chat", message: ChatMessage, } | { "type": "sharer-started", id: string, } | { "type": "sharer-stopped", id: string, } | { "type": "peer-connected", id: string, } | { "type": "peer-failed", id: string, reason: string, } | { "type": "reconnecting" } | { "type": "rejoined", selfId: string, participants: Array<Participant>, sharerId: string | null, history: Array<ChatMessage>, } | { "type": "reconnected" } | { "type": "server-error", code: string, message: string, } | { "type": "ended", reason: string, } | { "type": "host-changed", hostId: string, } | { "type": "room-settings", locked: boolean, waitingRoom: boolean, listed: boolean, } | { "type": "knock", id: string, email: string, name: string | null, } | { "type": "knock-withdrawn", id: string, } | { "type": "removed", room: string, } | { "type": "waiting", room: string, };

/**
 * How good a connection is for talking.
 */
export type Quality = "good" | "fair" | "poor" | "unknown";

/**
 * One participant's connection as the window shows it.
 */
export type PeerStats = { id: string, rttMs: number | null, jitterMs: number | null, lossPct: number | null, fps: number | null, kbps: number | null, audioLevel: number, quality: Quality,
/**
 * The call goes through a TURN relay (true) or directly (false); null until connected.
 * Through the SFU: whether our subscriber connection to it is relayed.
 */
relayed: boolean | null,
/**
 * Their media reaches us through the room's SFU, not a call of our own.
 */
viaSfu: boolean, };

/**
 * The `stats` event, about twice a second while joined.
 */
export type StatsEvent = { peers: Array<PeerStats>,
/**
 * The participant speaking loudest now (may be ourselves), or null.
 */
activeSpeaker: string | null, };

/**
 * The `mic-level` event: the local microphone's level, 0..1.
 */
export type MicLevel = { level: number, };

/**
 * What the host asks of `room:lock`: `passcode` "" clears it; a field left out keeps
 * its value.
 */
export type RoomLockRequest = { passcode: string | null, waitingRoom: boolean | null, listed: boolean | null, };

/**
 * The room's settings as the host's `room:lock` leaves them.
 */
export type RoomSettings = { locked: boolean, waitingRoom: boolean, listed: boolean, };

/**
 * What the host does about one person.
 */
export type DoorAction = "admit" | "deny" | "remove";

/**
 * A room the lobby offers.
 */
export type ListedRoom = { room: string, count: number, locked: boolean, };

/** Commands: name → [argument object, result]. */
export interface Commands {
  app_info: [Record<string, never>, AppInfo];
  /** Frames over this IPC channel instead of the WebSocket (framePath "channel"). */
  subscribe_frames: [{ channel: unknown }, null];
  list_devices: [Record<string, never>, DeviceList];
  /** The lobby is drawn and its devices listed: the app logs its cold-start time. */
  lobby_ready: [Record<string, never>, null];
  /** Opens the chosen camera and microphone for the lobby preview (frames on stream "local", levels as `mic-level`). null closes that device. */
  set_preview: [{ camera: string | null; microphone: string | null }, null];
  join: [{ request: JoinRequest }, Joined];
  /** Withdraws a join waiting in a waiting room: that join fails with cancelled. */
  cancel_join: [Record<string, never>, null];
  leave: [Record<string, never>, null];
  send_chat: [{ text: string }, ChatMessage];
  set_muted: [{ muted: boolean }, null];
  set_camera_on: [{ on: boolean }, null];
  /** Which participants' cameras are on screen (null: all); in an SFU room the others are paused at the SFU. */
  set_camera_view: [{ ids: Array<string> | null }, null];
  /** (Host) passcode ("" clears it), waiting room, listing; null keeps a setting. Fails with not_host from anyone else. */
  lock_room: [{ lock: RoomLockRequest }, RoomSettings];
  /** (Host) admit or deny someone waiting, or remove a participant. */
  door: [{ action: DoorAction; id: string }, null];
  /** The server's open (listed) rooms, for the lobby. */
  list_rooms: [Record<string, never>, Array<ListedRoom>];
  /** The person confirmed a join link's server: joins go there from now on. */
  use_link_server: [{ server: string }, AppInfo];
  /** Switch mid-call without renegotiating; null turns it off. */
  switch_device: [{ kind: DeviceKind; id: string | null }, null];
  list_share_sources: [Record<string, never>, ShareSources];
  /** source: "screen", "screen:ID", "window:ID" or (fake devices) "test". */
  start_share: [{ source: string }, null];
  stop_share: [Record<string, never>, null];
  /** The CSS-pixel × devicePixelRatio size each stream's tile shows; frames are scaled down in Rust to cover it (never up). Streams not listed get at most 640×360. */
  set_view_sizes: [{ sizes: Array<ViewSize> }, null];
  /** Settings kept between runs. */
  get_settings: [Record<string, never>, Settings];
  /** Saves them (a server address is checked: http:// or https://; blank = host here) and answers with the app info as it is now (the server may have changed; it applies to the next join). Fails with invalid_input and a message to show. */
  save_settings: [{ settings: Settings }, AppInfo];
}

/** Events: name → payload. */
export interface Events {
  /** What happens in the room. */
  session: SessionEvent;
  /** About twice a second while joined. */
  stats: StatsEvent;
  /** The local microphone's level, 0..1, about 20 times a second (lobby and room). */
  "mic-level": MicLevel;
  /** A huddle:// link or a second launch while running. */
  launch: LaunchOptions;
}

/**
 * A binary frame message (little-endian):
 *   0   u8   version (1)
 *   1   u8   kind: 0 local camera, 1 remote camera, 2 remote screen
 *   2   u16  width
 *   4   u16  height
 *   6   u16  stream key length L (UTF-8 bytes)
 *   8   f64  decodedAtMs: wall clock (ms since epoch) when the engine had the frame
 *   16  f64  sentAtMs: wall clock when it was put on the socket
 *   24  L    stream key: "local", "ID/video", "ID/screen"
 *   24+L     I420 planes: Y (width×height), U then V (ceil(w/2)×ceil(h/2) each)
 */
export const FRAME_HEADER = {
  version: 1,
  fixedBytes: 24,
  kinds: { localCamera: 0, remoteCamera: 1, remoteScreen: 2 },
} as const;
