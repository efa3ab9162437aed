//! Every event name of the protocol, verbatim (their styles differ: they come from the
//! system the protocol was specified from).

// Requests (client → server, with an ack).
pub const ROOM_JOIN: &str = "room:join";
pub const ROOM_LEAVE: &str = "room:leave";
pub const START_SHARING: &str = "startSharing";
pub const STOP_SHARING: &str = "stopSharing";
pub const MEDIA_STATE: &str = "media:state";
pub const CHAT_SEND: &str = "chat:send";
pub const ROOM_LOCK: &str = "room:lock";
pub const LOBBY_ADMIT: &str = "lobby:admit";
pub const LOBBY_DENY: &str = "lobby:deny";
pub const ROOMS_LIST: &str = "rooms:list";
pub const ROOM_REMOVE: &str = "room:remove";
pub const ICE_SERVERS: &str = "ice:servers";

// Relays: what the sender emits (see [`crate::RelayKind`] for what the target gets).
pub const USER_CALL: &str = "user:call";
pub const INCOMING_CALL: &str = "incoming:call";
pub const CALL_ACCEPTED: &str = "call:accepted";
pub const PEER_NEGO_NEEDED: &str = "peer:nego:needed";
pub const PEER_NEGO_DONE: &str = "peer:nego:done";
pub const PEER_NEGO_FINAL: &str = "peer:nego:final";
pub const ICE_CANDIDATE: &str = "ice:candidate";
pub const CALL_END: &str = "call:end";
pub const CALL_ENDED: &str = "call:ended";
pub const SHARE_OFFER: &str = "share:offer";
pub const SHARE_ANSWER: &str = "share:answer";
pub const SHARE_ICE: &str = "share:ice";

// Server → client.
pub const USER_JOINED: &str = "user:joined";
pub const USER_LEFT: &str = "user:left";
pub const CHAT_MESSAGE: &str = "chat:message";
pub const SHARER_STARTED: &str = "sharerStarted";
pub const SHARER_STOPPED: &str = "sharerStopped";
pub const SHARER_AVAILABLE: &str = "sharerAvailable";
pub const VIEWER_JOINED: &str = "viewerJoined";
pub const SHARING_CONFLICT: &str = "sharingConflict";
pub const HOST_CHANGED: &str = "host:changed";
pub const ROOM_SETTINGS: &str = "room:settings";
pub const LOBBY_KNOCK: &str = "lobby:knock";
pub const LOBBY_ADMITTED: &str = "lobby:admitted";
pub const LOBBY_DENIED: &str = "lobby:denied";
pub const LOBBY_LEFT: &str = "lobby:left";
pub const ROOM_REMOVED: &str = "room:removed";
pub const ERROR: &str = "error";

// The SFU path (see [`crate::sfu`]): requests, then server → client.
pub const SFU_PUBLISH: &str = "sfu:publish";
pub const SFU_ANSWER: &str = "sfu:answer";
pub const SFU_ICE: &str = "sfu:ice";
pub const SFU_VIEW: &str = "sfu:view";
pub const SFU_RESTART: &str = "sfu:restart";
pub const SFU_MODE: &str = "sfu:mode";
pub const SFU_OFFER: &str = "sfu:offer";
pub const SFU_LINK: &str = "sfu:link";
