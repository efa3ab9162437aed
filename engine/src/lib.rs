//! Huddle's participant engine: everything a participant does, without a GUI.
//!
//! # Using it
//!
//! What the `huddle` CLI and the desktop app use is re-exported here, and nothing
//! else is public: a [`Session`] (joined with a [`SessionConfig`] and [`LocalMedia`];
//! its [`SessionEvent`]s, its [`SessionReport`]), the [`devices`] that feed it, what can
//! be [`share`]d, the [`frames`] it hands over, and the [`FrameSink`] that receives
//! them — which says the size it wants each stream at, so the engine scales once,
//! straight from the decoder.
//!
//! # Inside
//!
//! Folders follow the data path, from the devices out to the network and back:
//! capture → codec → peer → pipeline → playout, driven by the session.
//! - `media`: frames, stream identities, all pixel conversion and scaling, the test
//!   barcode and synthetic pictures;
//! - `stats`: what is measured and reported;
//! - `capture`: cameras, microphones, screens, echo processing, device info;
//! - `playout`: the mixer of remote audio and the speaker;
//! - `codec`: one descriptor per codec — VP8 (libvpx), H.264 (OpenH264) — and Opus;
//! - `congestion`: congestion control, loss recovery and graceful degradation as sans-IO
//!   algorithms (bandwidth estimate, pacer, retransmission budget, frame recovery,
//!   degradation ladders, Opus settings, per-peer encodings), with a simulated link;
//! - `peer`: webrtc-rs peer connections, our tracks on them, RTCP feedback;
//! - `pipeline`: capture → encode once → every peer, and RTP → decode → sinks;
//! - `signaling`: the Socket.IO client speaking PROTOCOL.md;
//! - `session`: a participant in a room — its rules (`session::core`, without I/O)
//!   and the task that carries them out;
//! - [`devices`]: choosing and opening local media.
//!
//! The rule that keeps this readable: a module uses only modules listed before it
//! (`media` uses none; `session` may use all but `devices`), never one after it. Each
//! folder's `use crate::…` lines show it; `tests/layers.rs` checks it.

pub(crate) mod capture;
pub(crate) mod codec;
pub(crate) mod congestion;
pub mod devices;
pub(crate) mod media;
pub(crate) mod peer;
pub(crate) mod pipeline;
pub(crate) mod playout;
pub(crate) mod session;
pub(crate) mod signaling;
pub(crate) mod stats;

pub use codec::{VIDEO_CODECS, VideoCodec, video_codec_named};
pub use media::stream::{StreamId, StreamKind};
pub use peer::{IceServer, PeerSetup};
pub use pipeline::incoming::{DiscardFrames, FrameSink};
pub use pipeline::outgoing::VideoSendConfig;
pub use session::{
    Admission, CameraView, ConnectionReport, Identity, LocalMedia, Session, SessionConfig,
    SessionError, SessionEvent, SessionReport, list_rooms,
};
pub use signaling::SignalingError;
pub use signaling::security::{Transport as ServerTransport, transport_of as server_transport};
pub use stats::{
    LatencySummary, PeerSentReport, ReceivedStream, ReceivedStreamReport, SentStreamReport,
};

/// The signaling protocol's types, as the engine speaks them.
pub use huddle_protocol as protocol;

/// What can be shared: screens and windows (X11 here, scap on macOS and Windows), the
/// synthetic screen, and the barcode window that measures a real capture end to end.
pub mod share {
    pub use crate::capture::screen::barcode_window::show as show_barcode;
    pub use crate::capture::screen::{
        DEFAULT_FPS, MAX_FPS, ScreenInfo, ShareChoice, SyntheticScreen, TEST_SIZE, WindowInfo,
        effective_fps, list_screens, list_windows, open_share,
    };
    #[cfg(all(unix, not(target_os = "macos")))]
    pub use crate::capture::screen::{X11Capture, x11};
}

/// Pictures and sound as the engine hands them over, and what can be done to pictures.
pub mod frames {
    pub use crate::media::frame::{
        AudioFrame, CHUNK_SAMPLES, CapturedFrame, PictureView, SAMPLE_RATE, VideoFrame,
    };
    pub use crate::media::pixels::{
        PixelError, Resizer, Scaler, bgra_to_i420, fit_size, scale_i420,
    };
    /// The timestamp barcode (TESTSIGNAL.md) the synthetic sources draw and receivers read.
    pub use crate::media::testsignal;
}
