//! Files that hold what only root may read (the store, a member host's ledger): made
//! private, and refused when they are not.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Creates the file at `path` (mode 0600) and its directory (mode 0700) when missing; a file
/// already there is left as it is. `Err` says what failed.
pub fn create(path: &Path) -> Result<(), String> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create its directory: {e}"))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks that the file at `path` is private: no permission bits for group or others, and
/// owned by root or `euid`. `Err` says what is wrong and the fix.
pub fn check(path: &Path, euid: u32) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "mode {:04o} lets group or others read or write it; expected 0600 (fix: chmod 600 {})",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(format!(
            "owned by uid {}, who could change what it holds; expected root (fix: chown root: {})",
            meta.uid(),
            path.display()
        ));
    }
    Ok(())
}
