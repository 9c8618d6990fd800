//! The configuration examples users copy (examples/, the man pages, and the README and the
//! administrator's guide in docs/guide) pass `sparekeyd --check`, and the links of the
//! README and the guide lead somewhere.

use sparekey_tests::bins::bin;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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
    // Copied with a mode of their own: a checkout's modes follow its maker's umask, and
    // sparekeyd refuses a configuration file that group or others could change.
    let dir = tempfile::tempdir().unwrap();
    for name in ["sparekey.toml", "policy.toml"] {
        let to = dir.path().join(name);
        std::fs::copy(root().join("examples").join(name), &to).unwrap();
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    }
    let (code, out) = check(&dir.path().join("sparekey.toml"));
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

/// README.md, then the chapters of the guide (docs/guide/*.md) in file-name order.
fn readme_and_guide() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs/guide"))
        .expect("docs/guide")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root().join("README.md"));
    pages
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `page` as the repository names it: `docs/guide/03-radius.md`.
fn name(page: &Path) -> String {
    page.strip_prefix(root())
        .unwrap_or(page)
        .display()
        .to_string()
}

/// A TOML block of the README or the guide that is a whole file.
struct Example {
    /// Where: `docs/guide/03-radius.md:40`.
    at: String,
    /// `policy.toml` or `sparekey.toml`.
    file: String,
    text: String,
}

/// The line that marks the ```toml block right below it as a whole file.
const MARK: &str = "<!-- checked as ";

/// The blocks of `page` marked `<!-- checked as FILE by tests/tests/docs_examples.rs -->`,
/// with FILE `policy.toml` or `sparekey.toml`. A mark anywhere but right above a ```toml
/// fence, or naming another file, fails the test rather than checking nothing.
fn marked_examples(page: &Path) -> Vec<Example> {
    let text = read(page);
    let lines: Vec<&str> = text.lines().collect();
    let mut examples = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(MARK) else {
            continue;
        };
        let at = format!("{}:{}", name(page), i + 1);
        let file = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            file == "policy.toml" || file == "sparekey.toml",
            "{at}: the mark names {file:?}; expected policy.toml or sparekey.toml"
        );
        assert_eq!(
            lines.get(i + 1).map(|l| l.trim_end()),
            Some("```toml"),
            "{at}: the mark must be the line right above a ```toml fence"
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .copied()
            .collect();
        assert!(
            lines.get(i + 2 + body.len()).is_some(),
            "{at}: the block is not closed"
        );
        examples.push(Example {
            at,
            file,
            text: body.join("\n") + "\n",
        });
    }
    examples
}

/// The `secret-file` and `password-file` paths a sparekey.toml names.
fn secret_files(daemon: &str) -> Vec<String> {
    daemon
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("secret-file") || l.starts_with("password-file")
        })
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect()
}

/// The TOML examples of the README and the guide that are marked as whole files pass the
/// check, as they stand but for one thing: the temporary directory stands for
/// /etc/sparekey/, where the secret files they name are made (mode 0600). A policy.toml
/// example is checked with an empty sparekey.toml. A sparekey.toml example is checked with
/// the last policy.toml example before it (README.md first, then the chapters in order),
/// whose policies its roles may name, or with an empty policy.toml when there is none.
#[test]
fn the_whole_file_examples_of_the_readme_and_the_guide_pass_the_check() {
    let mut last_policy = String::new();
    let mut checked = BTreeSet::new();
    let mut count = 0;
    for page in readme_and_guide() {
        for example in marked_examples(&page) {
            let dir = tempfile::tempdir().unwrap();
            let etc = format!("\"{}/", dir.path().display());
            let (daemon, policy) = if example.file == "policy.toml" {
                last_policy = example.text.clone();
                (String::new(), example.text.clone())
            } else {
                (
                    example.text.replace("\"/etc/sparekey/", &etc),
                    last_policy.clone(),
                )
            };
            for secret in secret_files(&daemon) {
                let path = dir.path().join(&secret);
                assert!(
                    path.starts_with(dir.path()),
                    "{}: secret file {secret} is outside /etc/sparekey",
                    example.at
                );
                std::fs::write(&path, "c2VjcmV0IHNoYXJlZCB3aXRoIHRoZSBOQVMK\n").unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            std::fs::write(dir.path().join("sparekey.toml"), &daemon).unwrap();
            std::fs::write(dir.path().join("policy.toml"), &policy).unwrap();
            let (code, out) = check(&dir.path().join("sparekey.toml"));
            assert_eq!(
                code,
                Some(0),
                "{} ({}):\n{out}\n{}",
                example.at,
                example.file,
                example.text
            );
            checked.insert(example.file);
            count += 1;
        }
    }
    assert!(
        checked.contains("policy.toml") && checked.contains("sparekey.toml"),
        "the README and the guide must have at least one marked policy.toml and one marked \
         sparekey.toml example ({MARK}FILE by tests/tests/docs_examples.rs -->); found {checked:?}"
    );
    assert!(count >= 5, "only {count} marked examples");
}

/// The lines of `text` outside fenced code blocks, with their line numbers.
fn outside_fences(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The targets of the markdown links of `text` (`[text](target)`, `![alt](target)` and
/// `[label]: target`), with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in outside_fences(text) {
        let line: String = line.split('`').step_by(2).collect();
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            let target = rest.split(')').next().unwrap_or_default();
            let target = target.split_whitespace().next().unwrap_or_default();
            found.push((n, target.trim_matches(['<', '>']).to_string()));
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some((_, target)) = rest.split_once("]: ") {
                found.push((
                    n,
                    target
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
        }
    }
    found
}

/// The anchors GitHub gives the headings of a markdown file: the heading's text in lower
/// case, without punctuation (backticks included, not the code between them), spaces
/// turned into dashes, and `-1`, `-2`, ... on repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (_, line) in outside_fences(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .trim_end_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while seen.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        seen.insert(unique);
    }
    seen
}

/// Every relative link of README.md and docs/guide/*.md leads to a file or directory of
/// the repository, and one with an anchor (`file.md#section`, `#section`) to a heading of
/// that markdown file. Links to web sites are not followed.
#[test]
fn every_relative_link_of_the_readme_and_the_guide_resolves() {
    let mut problems = Vec::new();
    let mut count = 0;
    for page in readme_and_guide() {
        let text = read(&page);
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            count += 1;
            let at = format!("{}:{line}: {target}", name(&page));
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            if path.starts_with('/') {
                problems.push(format!("{at}: absolute; GitHub needs a relative link"));
                continue;
            }
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            if !file.exists() {
                problems.push(format!("{at}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else {
                continue;
            };
            if file.extension().is_none_or(|e| e != "md") {
                problems.push(format!("{at}: an anchor into a file that is not markdown"));
            } else if !anchors(&read(&file)).contains(anchor) {
                problems.push(format!(
                    "{at}: no heading with that anchor; the headings give {:?}",
                    anchors(&read(&file))
                ));
            }
        }
    }
    assert!(count >= 20, "only {count} relative links found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_link_helpers_read_markdown_as_github_does() {
    let text = "# 3. Enable the PAM profile\n## VPNs: sparekeyd's `RADIUS`\n## Files\n## Files\n\
                ```\n# not a heading](nor-a-link.md)\n```\n\
                See [a](01-a.md#x), `[b](not-a-link.md)` and ![c](c.png \"title\").\n[d]: d.md\n";
    let anchors: Vec<_> = anchors(text).into_iter().collect();
    assert_eq!(
        anchors,
        [
            "3-enable-the-pam-profile",
            "files",
            "files-1",
            "vpns-sparekeyds-radius"
        ]
    );
    let targets: Vec<_> = links(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, ["01-a.md#x", "c.png", "d.md"]);
}
