//! Remote audio on its way out: every participant's audio mixed ([`mixer`]) and played
//! on the speaker ([`speaker`]), which also tells the echo canceller what it played.

pub mod mixer;
pub mod speaker;
