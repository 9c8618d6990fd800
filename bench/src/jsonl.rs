//! Results as JSON lines: each run appends one object to the results file that
//! `scripts/bench_table.py` reads.

use std::io::Write;
use std::path::Path;

/// Appends `value` as one line to `path` in one write(2), so that runs appending to the
/// same file at once never interleave.
pub fn append(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()))
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}
