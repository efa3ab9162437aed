//! WebRTC peer connections (webrtc-rs): how they are built ([`connection`]), our tracks
//! on them ([`tracks`]), congestion control in the interceptor chain ([`congestion`]),
//! received retransmissions (RTX) restored inside it ([`rtx`]), the RTCP feedback let
//! through to us ([`feedback`]), and the
//! protocol's descriptions and candidates in webrtc-rs's shapes ([`convert`]).

pub mod congestion;
pub mod connection;
pub mod convert;
pub mod feedback;
pub mod rtx;
pub mod tracks;

pub use connection::{IceServer, PeerError, PeerEvent, PeerSetup};
pub use convert::{from_rtc_candidate, from_rtc_description, to_rtc_candidate, to_rtc_description};
