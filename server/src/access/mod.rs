//! Room access rules that need no sockets: passcode hashes and the limit on wrong
//! passcodes.

mod limiter;
mod passcode;

pub use limiter::{PasscodeLimiter, PasscodeVerdict};
pub use passcode::{PasscodeHash, constant_time_eq};
