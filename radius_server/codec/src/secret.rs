//! The per-client shared secret, with its HMAC-MD5 and MD5 key states precomputed once.

use core::fmt;

use hmac::{Hmac, KeyInit};
use md5::{Digest, Md5};

use crate::error::Error;

/// HMAC-MD5, the Message-Authenticator MAC (RFC 3579 §3.2).
pub(crate) type HmacMd5 = Hmac<Md5>;

/// A RADIUS shared secret.
///
/// Build one per client when the configuration is loaded and keep it: construction keys
/// HMAC-MD5 and absorbs the secret into an MD5 state, so each request only clones those
/// states instead of re-hashing the key. The secret bytes are zeroed on drop (the derived
/// hash states are not). `Debug` never shows the secret.
#[derive(Clone)]
pub struct SharedSecret {
    bytes: Vec<u8>,
    hmac: HmacMd5,
    md5_prefix: Md5,
}

impl SharedSecret {
    /// Wraps a shared secret; refuses an empty one (RFC 2865 §3: "MUST NOT be empty").
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(Error::EmptySecret);
        }
        let hmac = match HmacMd5::new_from_slice(secret) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length; this arm is unreachable in practice.
            Err(_) => return Err(Error::EmptySecret),
        };
        let mut md5_prefix = Md5::new();
        md5_prefix.update(secret);
        Ok(SharedSecret {
            bytes: secret.to_vec(),
            hmac,
            md5_prefix,
        })
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A fresh HMAC-MD5 keyed with the secret.
    pub(crate) fn hmac(&self) -> HmacMd5 {
        self.hmac.clone()
    }

    /// An MD5 state that has already absorbed the secret (for `MD5(secret + x)`).
    pub(crate) fn md5_prefix(&self) -> Md5 {
        self.md5_prefix.clone()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret(<{} bytes redacted>)", self.bytes.len())
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

/// Overwrites `buf` with zeros in a way the optimiser cannot drop as a dead store.
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *b = 0;
    }
    std::hint::black_box(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secret_is_refused() {
        assert_eq!(SharedSecret::new(b"").unwrap_err(), Error::EmptySecret);
    }

    #[test]
    fn debug_is_redacted() {
        let s = SharedSecret::new(b"xyzzy5461").unwrap();
        assert_eq!(s.as_bytes(), b"xyzzy5461");
        let shown = format!("{s:?}");
        assert!(!shown.contains("xyzzy"), "{shown}");
    }

    #[test]
    fn wipe_zeroes() {
        let mut buf = *b"secret";
        wipe(&mut buf);
        assert_eq!(buf, [0; 6]);
    }
}
