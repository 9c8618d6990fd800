//! The site key: 32 random bytes in a 0600 file that key every code hash and the audit chain.

use crate::Error;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

/// Length of the site key in bytes.
pub const KEY_LEN: usize = 32;

/// A keyed hash of a code, bound to its user. Stored instead of the code.
pub type Digest = [u8; 32];

/// The site key, held only in memory that is zeroed on drop, with subkeys for each use.
pub struct SiteKey {
    // Keyed HMAC states, cloned per use: the key schedule is done once, not per code.
    // With hmac's "zeroize" feature they are wiped when dropped.
    code_mac: HmacSha256,
    audit_mac: HmacSha256,
    seal_mac: HmacSha256,
    journal_mac: HmacSha256,
    /// HKDF-SHA256's pseudorandom key for the member hosts' keys (RFC 5869 extract, with the
    /// salt "sparekey host keys v1", of the site key).
    host_prk: Zeroizing<[u8; 32]>,
}

/// A member host's two keys, from [`SiteKey::host_keys`]. Zeroed on drop.
#[derive(Clone)]
pub struct HostKeys {
    /// Authenticates the host's requests to the site: its RADIUS secret.
    pub auth: Zeroizing<[u8; 32]>,
    /// Checks the offline responses the host accepts.
    pub offline: Zeroizing<[u8; 32]>,
}

impl HostKeys {
    /// The RADIUS shared secret of the host's requests to the site: the auth key in
    /// lowercase hexadecimal (64 characters, as the host file shows it).
    pub fn radius_secret(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(64));
        for b in self.auth.iter() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl std::fmt::Debug for HostKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostKeys(..)")
    }
}

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first, RFC 2104), so this
    // cannot fail; new_from_slice returns a Result only for MACs with fixed key sizes.
    #[allow(clippy::expect_used)]
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn finish(keyed: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed.clone();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    finish(&keyed(key), parts)
}

impl SiteKey {
    /// A key from raw bytes (tests and benchmarks).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let code_key = Zeroizing::new(hmac(bytes, &[b"sparekey code digest v1"]));
        let audit_key = Zeroizing::new(hmac(bytes, &[b"sparekey audit chain v1"]));
        let seal_key = Zeroizing::new(hmac(bytes, &[b"sparekey credential seal v1"]));
        let journal_key = Zeroizing::new(hmac(bytes, &[b"sparekey journal v1"]));
        let (prk, _) = Hkdf::<Sha256>::extract(Some(b"sparekey host keys v1"), bytes);
        let mut host_prk = Zeroizing::new([0u8; 32]);
        host_prk.copy_from_slice(&prk);
        SiteKey {
            code_mac: keyed(&code_key[..]),
            audit_mac: keyed(&audit_key[..]),
            seal_mac: keyed(&seal_key[..]),
            journal_mac: keyed(&journal_key[..]),
            host_prk,
        }
    }

    /// Reads the key file, refusing it unless it is a regular file of exactly 32 bytes,
    /// owned by the reading user or root, and not readable or writable by group or others.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let problem = |p: String| Error::Key {
            path: path.to_path_buf(),
            problem: p,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| problem(format!("cannot open: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| problem(format!("cannot stat: {e}")))?;
        if !meta.is_file() {
            return Err(problem("is not a regular file".into()));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(problem(format!(
                "mode {mode:04o} lets group or others read or write it; expected 0600 (fix: chmod 600 {})",
                path.display()
            )));
        }
        let euid = nix::unistd::geteuid().as_raw();
        if meta.uid() != euid && meta.uid() != 0 {
            return Err(problem(format!(
                "is owned by uid {}; expected root or uid {euid} (fix: chown root {})",
                meta.uid(),
                path.display()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN + 1]);
        let mut read = 0;
        loop {
            let n = file
                .read(&mut bytes[read..])
                .map_err(|e| problem(format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            read += n;
            if read > KEY_LEN {
                break;
            }
        }
        if read != KEY_LEN {
            return Err(problem(format!(
                "expected exactly {KEY_LEN} bytes, found {}",
                if read > KEY_LEN {
                    "more".to_string()
                } else {
                    read.to_string()
                }
            )));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes[..KEY_LEN]);
        Ok(Self::from_bytes(&key))
    }

    /// Loads the key, first creating it (32 bytes from the OS CSPRNG, mode 0600) when missing.
    /// Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), Error> {
        let problem = |p: String| Error::Key {
            path: path.to_path_buf(),
            problem: p,
        };
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut key[..])
            .map_err(|e| problem(format!("no randomness from the OS: {e}")))?;
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                fs::create_dir_all(dir)
                    .map_err(|e| problem(format!("cannot create its directory: {e}")))?;
            }
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                f.set_permissions(fs::Permissions::from_mode(0o600))
                    .and_then(|_| f.write_all(&key[..]))
                    .and_then(|_| f.sync_all())
                    .map_err(|e| problem(format!("cannot write: {e}")))?;
                Ok((Self::load(path)?, true))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok((Self::load(path)?, false)),
            Err(e) => Err(problem(format!("cannot create: {e}"))),
        }
    }

    /// HMAC-SHA256 of `code` bound to `user`: what the store keeps instead of the code.
    pub fn digest(&self, user: &str, code: &[u8]) -> Digest {
        let len = (user.len() as u64).to_be_bytes();
        finish(&self.code_mac, &[&len, user.as_bytes(), code])
    }

    /// HMAC-SHA256 that links an audit event to the one before it.
    pub fn chain(&self, previous: &[u8], event: &[u8]) -> [u8; 32] {
        finish(&self.audit_mac, &[previous, event])
    }

    /// HMAC-SHA256 of a credential row's canonical bytes (see
    /// [`crate::Credential::seal`]), under its own subkey: a row written without the key
    /// does not carry a matching one.
    pub fn seal(&self, row: &[u8]) -> [u8; 32] {
        finish(&self.seal_mac, &[row])
    }

    /// The keys of member host `host` at its enrollment number `serial`: HKDF-SHA256 expand
    /// of the site key's host PRK with the info "sparekey host auth" or "sparekey host
    /// offline", a zero byte, the host name, a zero byte and the serial (4 bytes, big
    /// endian). One host's keys tell nothing about another's, nor about the site key; a host
    /// enrolled again after a revoke gets new ones.
    pub fn host_keys(&self, host: &str, serial: u32) -> HostKeys {
        let expand = |label: &[u8]| {
            let mut info = Vec::with_capacity(label.len() + host.len() + 6);
            info.extend_from_slice(label);
            info.push(0);
            info.extend_from_slice(host.as_bytes());
            info.push(0);
            info.extend_from_slice(&serial.to_be_bytes());
            let mut out = Zeroizing::new([0u8; 32]);
            // A PRK of the hash's length is always valid, and 32 bytes are far below the
            // 255 blocks HKDF can expand to: neither call can fail.
            #[allow(clippy::expect_used)]
            Hkdf::<Sha256>::from_prk(&self.host_prk[..])
                .expect("a 32-byte PRK")
                .expand(&info, &mut out[..])
                .expect("32 bytes of output");
            out
        };
        HostKeys {
            auth: expand(b"sparekey host auth"),
            offline: expand(b"sparekey host offline"),
        }
    }

    /// HMAC-SHA256 of one record of sparekeyd's journal, so that records written without the
    /// key are not replayed into the audit chain.
    pub fn journal(&self, record: &[u8]) -> [u8; 32] {
        finish(&self.journal_mac, &[record])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/site.key");
        let (k1, created) = SiteKey::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&path).unwrap().len(), 32);
        let (k2, created) = SiteKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.digest("alice", b"123"), k2.digest("alice", b"123"));
    }

    #[test]
    fn group_readable_key_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        fs::write(&path, [7u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = SiteKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("mode 0640 lets group or others read"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.key");
        for len in [0usize, 31, 33] {
            fs::write(&path, vec![1u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = SiteKey::load(&path).unwrap_err().to_string();
            assert!(err.contains("expected exactly 32 bytes"), "{len}: {err}");
        }
    }

    #[test]
    fn missing_key_is_refused_by_load() {
        let err = SiteKey::load(Path::new("/nonexistent/site.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open"), "{err}");
    }

    /// The test vector docs/hosts.md quotes (site key 32 bytes of 0x01, host "hostA").
    #[test]
    fn host_keys_follow_the_documented_vector_and_differ_per_host_and_serial() {
        let k = SiteKey::from_bytes(&[1; KEY_LEN]);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let a1 = k.host_keys("hostA", 1);
        // RFC 5869 by hand with HMAC, to hold the hkdf crate to the construction written above.
        let prk = hmac(b"sparekey host keys v1", &[&[1; KEY_LEN]]);
        let mut info = b"sparekey host auth\0hostA\0".to_vec();
        info.extend_from_slice(&1u32.to_be_bytes());
        assert_eq!(hex(&a1.auth[..]), hex(&hmac(&prk, &[&info, &[1]])));
        assert_ne!(a1.auth, a1.offline);
        assert_ne!(a1.auth, k.host_keys("hostB", 1).auth);
        assert_ne!(a1.auth, k.host_keys("hostA", 2).auth);
        assert_ne!(
            a1.auth,
            SiteKey::from_bytes(&[2; KEY_LEN])
                .host_keys("hostA", 1)
                .auth
        );
    }

    #[test]
    fn subkeys_differ_from_each_other() {
        let k = SiteKey::from_bytes(&[7; KEY_LEN]);
        let seal = k.seal(b"x");
        assert_ne!(seal, k.chain(b"", b"x"));
        assert_ne!(seal, k.digest("", b"x"));
        assert_ne!(seal, SiteKey::from_bytes(&[8; KEY_LEN]).seal(b"x"));
    }

    #[test]
    fn digest_binds_user_and_key() {
        let a = SiteKey::from_bytes(&[1; 32]);
        let b = SiteKey::from_bytes(&[2; 32]);
        assert_ne!(a.digest("alice", b"1"), a.digest("bob", b"1"));
        assert_ne!(a.digest("alice", b"1"), b.digest("alice", b"1"));
        assert_ne!(
            a.digest("ab", b"c"),
            a.digest("a", b"bc"),
            "length prefix keeps user and code apart"
        );
    }
}
