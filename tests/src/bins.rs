//! Where the workspace's built binaries and the PAM module are, building them when missing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The target directory's profile folder this test binary runs from (target/debug or target/release).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// Builds sparekeyd, sparekeyctl, the test probes and pam_sparekey.so once per test process,
/// with the same profile as the tests, so a plain `cargo test` needs no earlier build step.
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let release = profile_dir().file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "sparekey-daemon",
            "-p",
            "sparekey-ctl",
            "-p",
            "pam_sparekey",
            "-p",
            "sparekey-tests",
            "--bins",
            "--lib",
        ]);
        // The module's deliberate panics, for the test that proves none leaves it; a release
        // build refuses the feature, and that test then checks the argument is unknown.
        if !release {
            cmd.args(["--features", "pam_sparekey/x-test-panic"]);
        }
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
}

/// The path of a workspace binary, built if needed.
pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    let p = profile_dir().join(name);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// The path of pam_sparekey.so, built if needed.
pub fn pam_module() -> PathBuf {
    ensure_built();
    let p = profile_dir().join("libpam_sparekey.so");
    assert!(p.exists(), "{} was not built", p.display());
    p
}
