//! Writing a member host's file for `host enroll --out`: made (0600, never over an existing
//! file) before the daemon is asked, filled with its answer, removed if there is none.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file at `path`, created empty with mode 0600; refused when something is there.
pub fn reserve(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} exists; a host file is never written over another: remove it or choose another --out",
                path.display()
            ),
            _ => format!("cannot create {}: {e}", path.display()),
        })
}

/// Writes `contents` to the reserved `file` and syncs it.
pub fn fill(mut file: File, path: &Path, contents: &str) -> Result<(), String> {
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Removes a reserved file that was not filled.
pub fn release(path: &Path) {
    let _ = fs::remove_file(path);
}
