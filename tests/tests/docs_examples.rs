//! The configuration examples users copy (examples/ and the man pages) pass `sparekeyd --check`.

use sparekey_tests::bins::bin;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn check(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(bin("sparekeyd"))
        .arg("--check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The indented block after `# EXAMPLE` in a markdown man page, unindented.
fn man_example(page: &str) -> String {
    let text = std::fs::read_to_string(root().join("docs/man").join(page)).unwrap();
    let after = text.split("# EXAMPLE").nth(1).expect("an EXAMPLE section");
    let section = after.split("\n# ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_examples_pass_the_check() {
    let (code, out) = check(&root().join("examples/sparekey.toml"));
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn the_policy_man_page_example_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sparekey.toml"), "").unwrap();
    let example = man_example("sparekey-policy.toml.5.md");
    assert!(
        example.contains("[[policy]]") && example.contains("fixed-min-length"),
        "{example}"
    );
    std::fs::write(dir.path().join("policy.toml"), &example).unwrap();
    let (code, out) = check(&dir.path().join("sparekey.toml"));
    assert_eq!(code, Some(0), "{out}\n{example}");
}
