//! The connection layer under Socket.IO: the listener (plain TCP or TLS), what it knows
//! about each connection ([`Peer`]: address, bytes written, a way to cut it), and the
//! admission of new sessions (origin, connection caps, client addresses).

pub mod admission;
pub mod listener;
pub mod tls;

pub use admission::{Admission, AdmissionConfig, ClientIp};
pub use listener::{HuddleListener, Peer, Wire};
