//! The window's side of the contract, generated: `ui/src/bridge/generated.ts` declares
//! in TypeScript every type the commands take and return and the events carry — made by
//! ts-rs from the Rust types themselves — with the map of commands, the map of events
//! and the frame header. The tests fail when the committed file is not what these types
//! give (and say how to regenerate it), or when a command or a type is left out.

use std::fmt::Write as _;
use std::path::PathBuf;

use huddle_engine::protocol::{ChatMessage, Participant};
use ts_rs::{Config, TS};

use crate::call::stats::{PeerStats, Quality, StatsEvent};
use crate::call::{DeviceKind, DoorAction, JoinRequest, RoomLockRequest, RoomSettings};
use crate::commands::ListedRoom;
use crate::error::Rejection;
use crate::events::{self, MicLevel, UiJoined, UiSessionEvent};
use crate::frames::hub::ViewSize;
use crate::frames::{FrameKind, FramePath, packing};
use crate::launch::LaunchOptions;
use crate::lobby::{Device, DeviceList, ScreenSource, ShareSources, WindowSource};
use crate::settings::Settings;
use crate::state::{AppInfo, ServerInfo};

/// How to bring the file up to date.
const REGENERATE: &str = "HUDDLE_WRITE_BINDINGS=1 cargo test -p huddle-app --lib bindings";

fn generated_ts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bridge/generated.ts")
}

/// A Tauri IPC channel: the window passes one, and learns nothing of its type.
struct IpcChannel;

impl TS for IpcChannel {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &Config) -> String {
        "unknown".into()
    }

    fn inline(cfg: &Config) -> String {
        Self::name(cfg)
    }
}

/// Every type declared, in the order the file lists them.
fn declarations(cfg: &Config) -> Vec<(String, String)> {
    fn declare<T: TS>(cfg: &Config) -> (String, String) {
        let docs = T::docs().unwrap_or_default();
        (T::ident(cfg), format!("{docs}export {}\n", T::decl(cfg)))
    }
    vec![
        declare::<AppInfo>(cfg),
        declare::<ServerInfo>(cfg),
        declare::<LaunchOptions>(cfg),
        declare::<FramePath>(cfg),
        declare::<Device>(cfg),
        declare::<DeviceList>(cfg),
        declare::<JoinRequest>(cfg),
        declare::<Participant>(cfg),
        declare::<ChatMessage>(cfg),
        declare::<UiJoined>(cfg),
        declare::<ScreenSource>(cfg),
        declare::<WindowSource>(cfg),
        declare::<ShareSources>(cfg),
        declare::<Rejection>(cfg),
        declare::<DeviceKind>(cfg),
        declare::<Settings>(cfg),
        declare::<ViewSize>(cfg),
        declare::<UiSessionEvent>(cfg),
        declare::<Quality>(cfg),
        declare::<PeerStats>(cfg),
        declare::<StatsEvent>(cfg),
        declare::<MicLevel>(cfg),
        declare::<RoomLockRequest>(cfg),
        declare::<RoomSettings>(cfg),
        declare::<DoorAction>(cfg),
        declare::<ListedRoom>(cfg),
    ]
}

/// One command: its name, what it is for, its arguments (the keys `invoke` takes) and
/// its result.
struct Command {
    name: &'static str,
    doc: &'static str,
    args: Vec<(&'static str, String)>,
    result: String,
}

/// `name: doc, { key: RustType, … } => RustResult`, with the TypeScript names of the
/// Rust types (so a type that changes or goes away is a compile error here).
macro_rules! command {
    ($cfg:expr, $name:literal, $doc:literal, { $($key:literal: $ty:ty),* } => $ret:ty) => {
        Command {
            name: $name,
            doc: $doc,
            args: vec![$(($key, <$ty as TS>::name($cfg))),*],
            result: <$ret as TS>::name($cfg),
        }
    };
}

/// The commands of `commands.rs`, as `lib.rs` registers them.
fn commands(cfg: &Config) -> Vec<Command> {
    vec![
        command!(cfg, "app_info", "", {} => AppInfo),
        command!(cfg, "subscribe_frames",
            "Frames over this IPC channel instead of the WebSocket (framePath \"channel\").",
            { "channel": IpcChannel } => ()),
        command!(cfg, "list_devices", "", {} => DeviceList),
        command!(cfg, "lobby_ready",
            "The lobby is drawn and its devices listed: the app logs its cold-start time.",
            {} => ()),
        command!(cfg, "set_preview",
            "Opens the chosen camera and microphone for the lobby preview (frames on stream \
             \"local\", levels as `mic-level`). null closes that device.",
            { "camera": Option<String>, "microphone": Option<String> } => ()),
        command!(cfg, "join", "", { "request": JoinRequest } => UiJoined),
        command!(cfg, "cancel_join",
            "Withdraws a join waiting in a waiting room: that join fails with cancelled.",
            {} => ()),
        command!(cfg, "leave", "", {} => ()),
        command!(cfg, "send_chat", "", { "text": String } => ChatMessage),
        command!(cfg, "set_muted", "", { "muted": bool } => ()),
        command!(cfg, "set_camera_on", "", { "on": bool } => ()),
        command!(cfg, "set_camera_view",
            "Which participants' cameras are on screen (null: all); in an SFU room the others \
             are paused at the SFU.",
            { "ids": Option<Vec<String>> } => ()),
        command!(cfg, "lock_room",
            "(Host) passcode (\"\" clears it), waiting room, listing; null keeps a setting. \
             Fails with not_host from anyone else.",
            { "lock": RoomLockRequest } => RoomSettings),
        command!(cfg, "door", "(Host) admit or deny someone waiting, or remove a participant.",
            { "action": DoorAction, "id": String } => ()),
        command!(cfg, "list_rooms", "The server's open (listed) rooms, for the lobby.",
            {} => Vec<ListedRoom>),
        command!(cfg, "use_link_server",
            "The person confirmed a join link's server: joins go there from now on.",
            { "server": String } => AppInfo),
        command!(cfg, "switch_device", "Switch mid-call without renegotiating; null turns it off.",
            { "kind": DeviceKind, "id": Option<String> } => ()),
        command!(cfg, "list_share_sources", "", {} => ShareSources),
        command!(cfg, "start_share",
            "source: \"screen\", \"screen:ID\", \"window:ID\" or (fake devices) \"test\".",
            { "source": String } => ()),
        command!(cfg, "stop_share", "", {} => ()),
        command!(cfg, "set_view_sizes",
            "The CSS-pixel × devicePixelRatio size each stream's tile shows; frames are \
             scaled down in Rust to cover it (never up). Streams not listed get at most \
             640×360.",
            { "sizes": Vec<ViewSize> } => ()),
        command!(cfg, "get_settings", "Settings kept between runs.", {} => Settings),
        command!(cfg, "save_settings",
            "Saves them (a server address is checked: http:// or https://; blank = host \
             here) and answers with the app info as it is now (the server may have \
             changed; it applies to the next join). Fails with invalid_input and a message \
             to show.",
            { "settings": Settings } => AppInfo),
    ]
}

/// The events the window listens to: name, what it is for, payload.
fn events(cfg: &Config) -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            events::SESSION,
            "What happens in the room.",
            UiSessionEvent::name(cfg),
        ),
        (
            events::STATS,
            "About twice a second while joined.",
            StatsEvent::name(cfg),
        ),
        (
            events::MIC_LEVEL,
            "The local microphone's level, 0..1, about 20 times a second (lobby and room).",
            MicLevel::name(cfg),
        ),
        (
            events::LAUNCH,
            "A huddle:// link or a second launch while running.",
            LaunchOptions::name(cfg),
        ),
    ]
}

/// A key as TypeScript needs it (quoted unless it is an identifier).
fn key(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

fn doc_comment(doc: &str, indent: &str) -> String {
    if doc.is_empty() {
        String::new()
    } else {
        format!("{indent}/** {doc} */\n")
    }
}

/// The whole of `generated.ts`.
fn generate() -> String {
    let cfg = Config::new();
    let mut out = format!(
        "// The contract between the window and the Rust side of the app, generated from the\n\
         // Rust types (src-tauri, and the protocol crate for what the server sends) by\n\
         // ts-rs: do not edit. After changing those types, regenerate it with\n\
         //   {REGENERATE}\n\
         // (that test fails while this file is stale). `contract.ts` is what the UI imports.\n\n"
    );
    for (_, declaration) in declarations(&cfg) {
        out.push_str(&declaration);
        out.push('\n');
    }
    out.push_str(
        "/** Commands: name → [argument object, result]. */\nexport interface Commands {\n",
    );
    for c in commands(&cfg) {
        let args = if c.args.is_empty() {
            "Record<string, never>".to_string()
        } else {
            let fields: Vec<String> = c.args.iter().map(|(k, t)| format!("{k}: {t}")).collect();
            format!("{{ {} }}", fields.join("; "))
        };
        out.push_str(&doc_comment(c.doc, "  "));
        let _ = writeln!(out, "  {}: [{args}, {}];", key(c.name), c.result);
    }
    out.push_str("}\n\n/** Events: name → payload. */\nexport interface Events {\n");
    for (name, doc, payload) in events(&cfg) {
        out.push_str(&doc_comment(doc, "  "));
        let _ = writeln!(out, "  {}: {payload};", key(name));
    }
    out.push_str("}\n\n");
    let header = [
        "A binary frame message (little-endian):".to_string(),
        format!("  0   u8   version ({})", packing::VERSION),
        format!(
            "  1   u8   kind: {} local camera, {} remote camera, {} remote screen",
            FrameKind::LocalCamera as u8,
            FrameKind::RemoteCamera as u8,
            FrameKind::RemoteScreen as u8
        ),
        "  2   u16  width".into(),
        "  4   u16  height".into(),
        "  6   u16  stream key length L (UTF-8 bytes)".into(),
        "  8   f64  decodedAtMs: wall clock (ms since epoch) when the engine had the frame".into(),
        "  16  f64  sentAtMs: wall clock when it was put on the socket".into(),
        format!(
            "  {}  L    stream key: \"local\", \"ID/video\", \"ID/screen\"",
            packing::FIXED_BYTES
        ),
        format!(
            "  {}+L     I420 planes: Y (width×height), U then V (ceil(w/2)×ceil(h/2) each)",
            packing::FIXED_BYTES
        ),
    ];
    out.push_str("/**\n");
    for line in header {
        let _ = writeln!(out, " * {line}");
    }
    let _ = writeln!(
        out,
        " */\nexport const FRAME_HEADER = {{\n  version: {},\n  fixedBytes: {},\n  kinds: {{ \
         localCamera: {}, remoteCamera: {}, remoteScreen: {} }},\n}} as const;",
        packing::VERSION,
        packing::FIXED_BYTES,
        FrameKind::LocalCamera as u8,
        FrameKind::RemoteCamera as u8,
        FrameKind::RemoteScreen as u8,
    );
    // ts-rs leaves spaces at the ends of some lines.
    let mut tidy: String = out.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    tidy.truncate(tidy.trim_end().len());
    tidy.push('\n');
    tidy
}

#[test]
fn the_generated_contract_is_up_to_date() {
    let path = generated_ts();
    let fresh = generate();
    if std::env::var_os("HUDDLE_WRITE_BINDINGS").is_some() {
        std::fs::write(&path, &fresh).expect("write generated.ts");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/bridge/generated.ts is stale (the Rust types changed): regenerate it \
         with `{REGENERATE}`"
    );
}

#[test]
fn every_type_the_contract_names_is_declared() {
    let cfg = Config::new();
    let declared: Vec<String> = declarations(&cfg).into_iter().map(|(n, _)| n).collect();
    let mut named: Vec<String> = Vec::new();
    fn deps<T: TS + 'static>(cfg: &Config, out: &mut Vec<String>) {
        out.extend(T::dependencies(cfg).into_iter().map(|d| d.ts_name));
    }
    for f in [
        deps::<AppInfo>,
        deps::<DeviceList>,
        deps::<UiJoined>,
        deps::<ShareSources>,
        deps::<UiSessionEvent>,
        deps::<StatsEvent>,
    ] {
        f(&cfg, &mut named);
    }
    for c in commands(&cfg) {
        named.extend(c.args.into_iter().map(|(_, t)| t));
        named.push(c.result);
    }
    named.extend(events(&cfg).into_iter().map(|(_, _, t)| t));
    let builtin = |t: &str| {
        ["null", "unknown", "string", "boolean", "number"].contains(&t)
            || t.ends_with(" | null")
            || t.starts_with("Array<")
    };
    for name in named.iter().filter(|t| !builtin(t)) {
        assert!(
            declared.contains(name),
            "{name} is used by the contract but not declared in bindings.rs"
        );
    }
}

#[test]
fn every_registered_command_is_in_the_contract() {
    let lib = include_str!("lib.rs");
    let registered: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("commands::"))
        .map(|l| l.trim_end_matches(','))
        .collect();
    let listed: Vec<&str> = commands(&Config::new()).iter().map(|c| c.name).collect();
    assert!(!registered.is_empty());
    assert_eq!(registered, listed, "lib.rs registers, bindings.rs lists");
}
