//! RADIUS shared-secret files: present, regular, not empty, and private to their owner.
//!
//! Checked when the configuration is loaded, so `sparekeyd --check` names a bad file, the
//! daemon refuses to start with it, and a reload that brings one keeps the running
//! configuration. Only the metadata is read here; the secret itself is read by sparekeyd.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why the secret file at `path` cannot be used, or `Ok` when it can (as far as its
/// metadata tells). Symbolic links are followed; the file they point to is checked.
pub fn check_secret_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) => secret_file_problem(path, &meta).map_or(Ok(()), Err),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "secret file {} does not exist; create it with: umask 077; head -c 32 /dev/urandom | base64 > {}",
            path.display(),
            path.display()
        )),
        Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
    }
}

/// What is wrong with a secret file whose metadata is `meta`: not a regular file, readable or
/// writable by group or others, or empty. `None` when nothing is.
pub fn secret_file_problem(path: &Path, meta: &Metadata) -> Option<String> {
    let shown = path.display();
    if !meta.is_file() {
        return Some(format!(
            "secret file {shown} is not a regular file; expected a file holding the shared secret"
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Some(format!(
            "secret file {shown} has mode {mode:04o}, which lets group or others read or write it; expected 0600 (fix: chmod 600 {shown})"
        ));
    }
    if meta.len() == 0 {
        return Some(format!(
            "secret file {shown} is empty; expected the shared secret (make one with: umask 077; head -c 32 /dev/urandom | base64 > {shown})"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn private_file_passes() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400] {
            let p = file(dir.path(), "s", "abc\n", mode);
            assert_eq!(check_secret_file(&p), Ok(()), "{mode:o}");
        }
    }

    #[test]
    fn group_or_other_bits_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o644] {
            let p = file(dir.path(), "s", "abc", mode);
            let e = check_secret_file(&p).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "secret file {0} has mode {mode:04o}, which lets group or others read or write it; expected 0600 (fix: chmod 600 {0})",
                    p.display()
                )
            );
        }
    }

    #[test]
    fn missing_empty_and_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.secret");
        assert!(check_secret_file(&missing).unwrap_err().contains(
            "does not exist; create it with: umask 077; head -c 32 /dev/urandom | base64 >"
        ));
        let empty = file(dir.path(), "e", "", 0o600);
        assert!(check_secret_file(&empty).unwrap_err().contains("is empty"));
        assert!(check_secret_file(dir.path())
            .unwrap_err()
            .contains("is not a regular file"));
    }
}
