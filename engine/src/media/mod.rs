//! Raw media and everything done to its pixels: frames ([`frame`]), stream identities
//! ([`stream`]), colour conversion and scaling ([`pixels`]), the timestamp barcode
//! ([`testsignal`]) and the synthetic pictures and tone ([`synthetic`]). Depends on no
//! other module of the engine.

pub mod frame;
pub mod pixels;
pub mod stream;
pub mod synthetic;
pub mod testsignal;
