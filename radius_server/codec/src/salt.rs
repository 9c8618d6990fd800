//! Salt-encrypted attribute values (RFC 2868 §3.5 Tunnel-Password, RFC 2548 §2.4.2
//! MS-MPPE-Send-Key and MS-MPPE-Recv-Key): hidden with the shared secret and the Request
//! Authenticator of the request their reply answers. A proxy passes them on by decrypting
//! with one leg's secret and authenticator and encrypting again for the other leg's.

use md5::{Digest, Md5};

use crate::secret::SharedSecret;

/// The MD5 chain's block.
const BLOCK: usize = 16;

fn keystream_block(secret: &SharedSecret, first: &[&[u8]]) -> [u8; BLOCK] {
    let mut md5 = Md5::new();
    md5.update(secret.as_bytes());
    for part in first {
        md5.update(part);
    }
    md5.finalize().into()
}

/// The plaintext blocks of `cipher` (whole 16-byte blocks after the 2-byte salt), or `None`
/// when it is not that shape.
fn decrypt(value: &[u8], secret: &SharedSecret, authenticator: &[u8; 16]) -> Option<Vec<u8>> {
    let (salt, cipher) = value.split_at_checked(2)?;
    if cipher.is_empty() || cipher.len() % BLOCK != 0 {
        return None;
    }
    let mut plain = Vec::with_capacity(cipher.len());
    let mut b = keystream_block(secret, &[authenticator, salt]);
    for c in cipher.chunks(BLOCK) {
        plain.extend(c.iter().zip(b).map(|(c, k)| c ^ k));
        b = keystream_block(secret, &[c]);
    }
    Some(plain)
}

fn encrypt(salt: &[u8], plain: &[u8], secret: &SharedSecret, authenticator: &[u8; 16]) -> Vec<u8> {
    let mut out = salt.to_vec();
    let mut b = keystream_block(secret, &[authenticator, salt]);
    for p in plain.chunks(BLOCK) {
        let c: Vec<u8> = p.iter().zip(b).map(|(p, k)| p ^ k).collect();
        b = keystream_block(secret, &[&c]);
        out.extend_from_slice(&c);
    }
    out
}

/// A salt-encrypted `value` (salt, then whole blocks), hidden for (`from`,
/// `from_authenticator`), hidden again for (`to`, `to_authenticator`) with the same salt;
/// `None` when it is not that shape. The plaintext is zeroed after use.
pub fn reencrypt(
    value: &[u8],
    from: &SharedSecret,
    from_authenticator: &[u8; 16],
    to: &SharedSecret,
    to_authenticator: &[u8; 16],
) -> Option<Vec<u8>> {
    let plain = zeroize::Zeroizing::new(decrypt(value, from, from_authenticator)?);
    Some(encrypt(&value[..2], &plain, to, to_authenticator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_goes_from_one_leg_to_the_other() {
        let (up, nas) = (
            SharedSecret::new(b"upstream-secret").unwrap(),
            SharedSecret::new(b"nas-secret").unwrap(),
        );
        let (a_up, a_nas) = ([1u8; 16], [2u8; 16]);
        // An MPPE key as RFC 2548 hides it: length, key, zero padding to whole blocks.
        let mut plain = vec![32u8];
        plain.extend((0..32).map(|i| i as u8));
        plain.resize(48, 0);
        let hidden = encrypt(&[0x80, 0x01], &plain, &up, &a_up);
        assert_eq!(hidden.len(), 50);
        assert_ne!(&hidden[2..], &plain[..]);
        let again = reencrypt(&hidden, &up, &a_up, &nas, &a_nas).unwrap();
        assert_eq!(&again[..2], &[0x80, 0x01], "the same salt");
        assert_eq!(decrypt(&again, &nas, &a_nas).unwrap(), plain);
        assert_ne!(decrypt(&again, &up, &a_up).unwrap(), plain);
        assert!(
            reencrypt(&hidden[..20], &up, &a_up, &nas, &a_nas).is_none(),
            "not whole blocks"
        );
        assert!(reencrypt(&[0x80], &up, &a_up, &nas, &a_nas).is_none());
    }

    /// RFC 2868 §3.5 by hand: b(1) = MD5(S + R + A), c(1) = p(1) xor b(1).
    #[test]
    fn the_first_block_is_md5_of_secret_authenticator_and_salt() {
        let s = SharedSecret::new(b"xyzzy5461").unwrap();
        let r = [0x0fu8; 16];
        let salt = [0x81, 0x23];
        let plain = [0u8; 16];
        let c = encrypt(&salt, &plain, &s, &r);
        let mut md5 = Md5::new();
        md5.update(b"xyzzy5461");
        md5.update(r);
        md5.update(salt);
        let b1: [u8; 16] = md5.finalize().into();
        assert_eq!(&c[2..], &b1[..], "zeros xor b(1) is b(1)");
    }
}
