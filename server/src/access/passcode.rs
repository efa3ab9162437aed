//! A room's passcode is never kept in the clear: only a salted PBKDF2-HMAC-SHA256 hash,
//! in memory and in the database (a meeting's lock survives a restart), compared in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use sha2::Sha256;

/// Enough to make an offline guess cost something, little enough that verifying a
/// join stays in the low milliseconds (it runs off the async runtime anyway).
const ITERATIONS: u32 = 10_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;
const SCHEME: &str = "pbkdf2-sha256";

#[derive(Clone, PartialEq, Eq)]
pub struct PasscodeHash {
    iterations: u32,
    salt: [u8; SALT_BYTES],
    hash: [u8; HASH_BYTES],
}

impl std::fmt::Debug for PasscodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasscodeHash(..)")
    }
}

impl PasscodeHash {
    /// Hashes `passcode` with a fresh random salt.
    pub fn new(passcode: &str) -> Result<Self, getrandom::Error> {
        let mut salt = [0u8; SALT_BYTES];
        getrandom::fill(&mut salt)?;
        Ok(Self::with_salt(passcode, salt, ITERATIONS))
    }

    fn with_salt(passcode: &str, salt: [u8; SALT_BYTES], iterations: u32) -> Self {
        let mut hash = [0u8; HASH_BYTES];
        pbkdf2::pbkdf2_hmac::<Sha256>(passcode.as_bytes(), &salt, iterations, &mut hash);
        PasscodeHash {
            iterations,
            salt,
            hash,
        }
    }

    /// A hash no passcode matches (for a stored hash that cannot be read).
    pub fn unmatchable() -> Self {
        PasscodeHash {
            iterations: 1,
            salt: [0; SALT_BYTES],
            hash: [0; HASH_BYTES],
        }
    }

    pub fn verify(&self, passcode: &str) -> bool {
        let candidate = Self::with_salt(passcode, self.salt, self.iterations);
        constant_time_eq(&candidate.hash, &self.hash)
    }

    /// `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64), for storage.
    pub fn encode(&self) -> String {
        format!(
            "{SCHEME}${}${}${}",
            self.iterations,
            B64.encode(self.salt),
            B64.encode(self.hash)
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('$');
        if parts.next()? != SCHEME {
            return None;
        }
        let iterations: u32 = parts.next()?.parse().ok().filter(|n| *n > 0)?;
        let salt = B64.decode(parts.next()?).ok()?.try_into().ok()?;
        let hash = B64.decode(parts.next()?).ok()?.try_into().ok()?;
        parts.next().is_none().then_some(PasscodeHash {
            iterations,
            salt,
            hash,
        })
    }
}

/// Compares without an early exit, so the time taken does not say how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_passcode_and_nothing_else() {
        let h = PasscodeHash::new("open sesame").unwrap();
        assert!(h.verify("open sesame"));
        for wrong in ["open sesam", "open sesame ", "Open sesame", ""] {
            assert!(!h.verify(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn salts_differ_and_the_encoding_round_trips_without_the_passcode() {
        let a = PasscodeHash::new("1234").unwrap();
        let b = PasscodeHash::new("1234").unwrap();
        assert_ne!(a.encode(), b.encode(), "a fresh salt each time");
        let text = a.encode();
        assert!(!text.contains("1234"));
        assert!(text.starts_with("pbkdf2-sha256$10000$"));
        let back = PasscodeHash::decode(&text).unwrap();
        assert_eq!(back, a);
        assert!(back.verify("1234"));
        for bad in [
            "",
            "md5$1$a$b",
            "pbkdf2-sha256$0$AAAA$AAAA",
            &format!("{text}$x"),
        ] {
            assert!(PasscodeHash::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
