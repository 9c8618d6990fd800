//! Reading a member host's host file (/etc/sparekey/host.key, written by `sparekeyctl host
//! enroll`): its name, enrollment number and two keys, from a private file only.

use crate::key::HostKeys;
use crate::Error;
use serde::Deserialize;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The largest host file read; a longer one is refused as not being one.
const MAX_LEN: u64 = 4096;

/// A member host's own identity and keys.
#[derive(Debug, Clone)]
pub struct HostFile {
    /// The host's name, as enrolled; its requests give it as NAS-Identifier.
    pub host: String,
    /// Its enrollment number.
    pub serial: u32,
    /// Its keys.
    pub keys: HostKeys,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    host: String,
    serial: u32,
    auth_key: String,
    offline_key: String,
}

impl Drop for Raw {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.auth_key.zeroize();
        self.offline_key.zeroize();
    }
}

impl HostFile {
    /// Reads the host file at `path`: a regular file owned by root (or this process's
    /// user, `euid`), mode 0600, as `sparekeyctl host enroll` wrote it.
    pub fn load(path: &Path, euid: u32) -> Result<Self, Error> {
        let fail = |problem: String| Error::HostFile {
            path: path.to_path_buf(),
            problem,
        };
        let mut file = std::fs::File::open(path).map_err(|e| {
            fail(format!(
                "cannot be read: {e}; on the site, `sparekeyctl host enroll HOST --out FILE` makes it, to be installed here as root, mode 0600"
            ))
        })?;
        // Checked on the open file, so a swap between check and read is caught too.
        let meta = file
            .metadata()
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        if let Some(problem) = sparekey_conf::secret_file_problem(path, &meta) {
            return Err(fail(problem));
        }
        if meta.uid() != 0 && meta.uid() != euid {
            return Err(fail(format!(
                "is owned by uid {}; expected root (fix: chown root {})",
                meta.uid(),
                path.display()
            )));
        }
        if meta.len() > MAX_LEN {
            return Err(fail(format!(
                "is {} bytes; a host file is a few lines",
                meta.len()
            )));
        }
        let mut text = Zeroizing::new(String::new());
        file.by_ref()
            .take(MAX_LEN)
            .read_to_string(&mut text)
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        Self::parse(&text).map_err(fail)
    }

    /// Parses a host file's text; `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut raw: Raw = toml::from_str(text).map_err(|e| {
            format!(
                "is not a host file: {}; expected the lines host, serial, auth-key and offline-key that `sparekeyctl host enroll` writes",
                e.message()
            )
        })?;
        crate::host::check_name(&raw.host).map_err(|e| e.to_string())?;
        let key = |name: &str, hex: &str| -> Result<Zeroizing<[u8; 32]>, String> {
            let mut out = Zeroizing::new([0u8; 32]);
            let bytes = hex.as_bytes();
            let ok = bytes.len() == 64
                && bytes.chunks(2).zip(out.iter_mut()).all(|(pair, o)| {
                    match (nibble(pair[0]), nibble(pair[1])) {
                        (Some(h), Some(l)) => {
                            *o = h << 4 | l;
                            true
                        }
                        _ => false,
                    }
                });
            if ok {
                Ok(out)
            } else {
                Err(format!("{name} is not 64 hexadecimal digits"))
            }
        };
        Ok(HostFile {
            keys: HostKeys {
                auth: key("auth-key", &raw.auth_key)?,
                offline: key("offline-key", &raw.offline_key)?,
            },
            host: std::mem::take(&mut raw.host),
            serial: raw.serial,
        })
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{host_file, Host};
    use std::os::unix::fs::PermissionsExt;

    fn written(serial: u32) -> (Zeroizing<String>, HostKeys) {
        let key = crate::SiteKey::from_bytes(&[1; 32]);
        let host = Host {
            name: "host-a".into(),
            serial,
            enrolled_at: chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap(),
            enrolled_by: "root".into(),
            revoked_at: None,
            last_seen: None,
        };
        let keys = key.host_keys("host-a", serial);
        (host_file(&host, &keys), keys)
    }

    #[test]
    fn what_enroll_writes_reads_back() {
        let (text, keys) = written(3);
        let f = HostFile::parse(&text).unwrap();
        assert_eq!((f.host.as_str(), f.serial), ("host-a", 3));
        assert_eq!(f.keys.auth[..], keys.auth[..]);
        assert_eq!(f.keys.offline[..], keys.offline[..]);
        // The RADIUS secret is the auth key as the file shows it.
        assert!(text.contains(&format!("auth-key = \"{}\"", *f.keys.radius_secret())));
    }

    #[test]
    fn damaged_files_are_refused_with_what_was_expected() {
        let (text, _) = written(1);
        let short = text.replace("auth-key = \"", "auth-key = \"0");
        for (bad, expect) in [
            (String::from("host = \"host-a\"\n"), "expected the lines"),
            (text.replace("host-a", "Host A"), "expected a DNS name"),
            (short, "auth-key is not 64 hexadecimal digits"),
            (format!("{}extra = 1\n", *text), "expected the lines"),
        ] {
            let e = HostFile::parse(&bad).unwrap_err();
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.key");
        let (text, _) = written(1);
        std::fs::write(&path, text.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let euid = nix::unistd::geteuid().as_raw();
        let e = HostFile::load(&path, euid).unwrap_err().to_string();
        assert!(e.contains("expected 0600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(HostFile::load(&path, euid).unwrap().host, "host-a");
        let e = HostFile::load(&dir.path().join("none"), euid)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sparekeyctl host enroll"), "{e}");
    }
}
