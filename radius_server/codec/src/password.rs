//! User-Password hiding and unhiding (RFC 2865 §5.2) and the self-zeroing [`Password`] buffer.

use core::fmt;

use md5::Digest;

use crate::error::Error;
use crate::secret::{wipe, SharedSecret};

/// Longest clear-text password that can be hidden (RFC 2865 §5.2).
pub const MAX_PASSWORD_LEN: usize = 128;

/// A clear-text password recovered from a User-Password attribute.
///
/// The buffer is allocated once at its final capacity (so it is never reallocated and
/// copied) and zeroed when dropped. It is deliberately not `Clone`; `Debug` shows only
/// the length.
pub struct Password {
    buf: Vec<u8>,
}

impl Password {
    /// The password bytes, trailing NUL padding removed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the password is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // Trailing NULs popped during unhiding are already zero; wipe what is left.
        wipe(&mut self.buf);
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes redacted>)", self.buf.len())
    }
}

/// Length of the hidden form of a `password_len`-byte password: padded to a multiple of
/// 16, at least 16.
pub fn hidden_len(password_len: usize) -> usize {
    password_len.div_ceil(16).max(1) * 16
}

/// Hides `password` for a User-Password attribute sent in a request with
/// `authenticator`, per RFC 2865 §5.2.
///
/// The result is 16..=128 bytes (NUL-padded to a multiple of 16). Fails with
/// [`Error::PasswordTooLong`] above 128 bytes.
pub fn hide_password(
    password: &[u8],
    authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(hidden_len(password.len()));
    hide_into(password, authenticator, secret, &mut out)?;
    Ok(out)
}

/// Appends the hidden form of `password` to `out`.
pub(crate) fn hide_into(
    password: &[u8],
    authenticator: &[u8; 16],
    secret: &SharedSecret,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::PasswordTooLong {
            length: password.len(),
        });
    }
    let mut prev = *authenticator;
    let mut block = [0u8; 16];
    for chunk in 0..hidden_len(password.len()) / 16 {
        let mut md5 = secret.md5_prefix();
        md5.update(prev);
        md5.finalize_into((&mut block).into());
        for (i, b) in block.iter_mut().enumerate() {
            *b ^= password.get(chunk * 16 + i).copied().unwrap_or(0);
        }
        out.extend_from_slice(&block);
        prev = block;
    }
    Ok(())
}

/// Recovers the clear-text password from a hidden User-Password value received in a
/// request with `authenticator`, per RFC 2865 §5.2, stripping trailing NUL padding.
///
/// Fails with [`Error::HiddenPasswordLength`] unless the value is a multiple of 16 bytes
/// in 16..=128. A wrong secret is not detectable here: it yields a garbage password.
pub fn unhide_password(
    hidden: &[u8],
    authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> Result<Password, Error> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD_LEN || hidden.len() & 15 != 0 {
        return Err(Error::HiddenPasswordLength {
            length: hidden.len(),
        });
    }
    let mut password = Password {
        buf: Vec::with_capacity(hidden.len()),
    };
    let mut prev: &[u8] = authenticator;
    let mut keystream = [0u8; 16];
    for chunk in hidden.chunks_exact(16) {
        let mut md5 = secret.md5_prefix();
        md5.update(prev);
        md5.finalize_into((&mut keystream).into());
        password
            .buf
            .extend(chunk.iter().zip(keystream.iter()).map(|(c, k)| c ^ k));
        prev = chunk;
    }
    wipe(&mut keystream);
    while password.buf.last() == Some(&0) {
        password.buf.pop();
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SharedSecret {
        SharedSecret::new(b"xyzzy5461").unwrap()
    }

    const AUTH: [u8; 16] = [
        0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4, 0x22,
        0x7a,
    ];

    #[test]
    fn rfc2865_7_1_hidden_password() {
        let hidden = hide_password(b"arctangent", &AUTH, &secret()).unwrap();
        assert_eq!(
            hidden,
            [
                0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
                0x0a, 0xee
            ]
        );
        let clear = unhide_password(&hidden, &AUTH, &secret()).unwrap();
        assert_eq!(clear.as_bytes(), b"arctangent");
    }

    #[test]
    fn round_trip_every_length() {
        let s = secret();
        for len in 0..=MAX_PASSWORD_LEN {
            // Bytes 1..=255 so no accidental trailing NUL.
            let password: Vec<u8> = (0..len).map(|i| (i % 255) as u8 + 1).collect();
            let hidden = hide_password(&password, &AUTH, &s).unwrap();
            assert_eq!(hidden.len(), hidden_len(len), "len {len}");
            assert_eq!(hidden.len() % 16, 0);
            assert!(hidden.len() >= 16);
            let clear = unhide_password(&hidden, &AUTH, &s).unwrap();
            assert_eq!(clear.as_bytes(), &password[..], "len {len}");
            assert_eq!(clear.len(), len);
        }
        for (len, want) in [(0, 16), (16, 16), (17, 32), (32, 32), (33, 48), (128, 128)] {
            assert_eq!(hidden_len(len), want);
        }
    }

    #[test]
    fn chained_blocks_depend_on_previous_ciphertext() {
        // The second block of a 17+ byte password is keyed by the first ciphertext block,
        // not by the authenticator: identical plaintext blocks hide differently.
        let s = secret();
        let hidden = hide_password(&[b'a'; 32], &AUTH, &s).unwrap();
        assert_ne!(hidden[..16], hidden[16..]);
        let mut md5 = s.md5_prefix();
        md5.update(&hidden[..16]);
        let b2: [u8; 16] = md5.finalize().into();
        for i in 0..16 {
            assert_eq!(hidden[16 + i] ^ b2[i], b'a');
        }
    }

    #[test]
    fn too_long_password_is_refused() {
        assert_eq!(
            hide_password(&[1; 129], &AUTH, &secret()).unwrap_err(),
            Error::PasswordTooLong { length: 129 }
        );
    }

    #[test]
    fn bad_hidden_lengths_are_refused() {
        for len in [0usize, 1, 15, 17, 31, 144, 253] {
            assert_eq!(
                unhide_password(&vec![0; len], &AUTH, &secret()).unwrap_err(),
                Error::HiddenPasswordLength { length: len },
                "len {len}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let clear = unhide_password(
            &hide_password(b"hunter2", &AUTH, &secret()).unwrap(),
            &AUTH,
            &secret(),
        )
        .unwrap();
        assert_eq!(format!("{clear:?}"), "Password(<7 bytes redacted>)");
    }
}
