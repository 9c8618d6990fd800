//! The man pages (docs/man/*.md, turned into roff by pandoc when the Debian packages are
//! built) against the binaries' `--help`: every option and subcommand that `--help`
//! lists is documented, and every `--option` a page documents exists.

use sparekey_tests::bins::bin;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/man")
}

fn page(name: &str) -> String {
    let path = man_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn help(binary: &str, subcommand: Option<&str>) -> String {
    let path: Vec<&str> = subcommand.into_iter().collect();
    help_of(binary, &path)
}

/// `binary SUB... --help`.
fn help_of(binary: &str, subcommand: &[&str]) -> String {
    let mut cmd = Command::new(bin(binary));
    cmd.args(subcommand).arg("--help");
    let out = cmd.output().expect("run --help");
    assert!(
        out.status.success(),
        "{binary} {subcommand:?} --help failed"
    );
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The lines of a clap help section ("Options:", "Commands:"), up to the next blank line.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// The option names of a help text: `-h`, `--help`, `--config`, ...
fn options(help: &str) -> BTreeSet<String> {
    section(help, "Options:")
        .iter()
        .flat_map(|line| {
            line.split_whitespace()
                .take_while(|w| w.starts_with('-') || w.starts_with('<') || w.starts_with('['))
                .filter(|w| w.starts_with('-'))
                .map(|w| w.trim_end_matches(',').to_string())
        })
        .collect()
}

/// The subcommands of a help text, without clap's own `help`.
fn subcommands(help: &str) -> Vec<String> {
    section(help, "Commands:")
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Whether `text` mentions `option` as a whole word (`--for` is not in `--format`).
fn mentions(text: &str, option: &str) -> bool {
    text.match_indices(option).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + option.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
        !word(before) && !word(after)
    })
}

/// Every `--option` a page names.
fn long_options_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        if text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            found.insert(format!("--{name}"));
        }
    }
    found
}

/// The definition paragraphs of a page's COMMANDS section, by command: each starts with a
/// line `**name** ...` and runs to the next such line or heading. `**replace** ... [same
/// options as **issue**]` takes in issue's paragraphs.
fn command_paragraphs(text: &str) -> BTreeMap<String, String> {
    let mut paragraphs: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_commands = false;
    for line in text.lines() {
        if line.starts_with("# ") {
            in_commands = line == "# COMMANDS";
            current = None;
            continue;
        }
        if !in_commands {
            continue;
        }
        if let Some(rest) = line.strip_prefix("**") {
            let name = rest.split("**").next().unwrap_or_default().to_string();
            current = Some(name);
        }
        if let Some(name) = &current {
            let p = paragraphs.entry(name.clone()).or_default();
            p.push_str(line);
            p.push('\n');
        }
    }
    let borrowed: Vec<(String, String)> = paragraphs
        .iter()
        .filter_map(|(name, p)| {
            let other = p.split("same options as **").nth(1)?.split("**").next()?;
            Some((name.clone(), paragraphs.get(other)?.clone()))
        })
        .collect();
    for (name, extra) in borrowed {
        paragraphs.get_mut(&name).unwrap().push_str(&extra);
    }
    paragraphs
}

#[test]
fn sparekeyd_8_documents_every_option_of_its_help_and_no_other() {
    let text = page("sparekeyd.8.md");
    let help = help("sparekeyd", None);
    let opts = options(&help);
    assert!(opts.contains("--check"), "options parsed from:\n{help}");
    let missing: Vec<_> = opts.iter().filter(|o| !mentions(&text, o)).collect();
    assert!(missing.is_empty(), "sparekeyd.8.md lacks {missing:?}");
    let unknown: Vec<_> = long_options_in(&text)
        .into_iter()
        .filter(|o| !opts.contains(o))
        .collect();
    assert!(
        unknown.is_empty(),
        "sparekeyd.8.md documents {unknown:?}, which sparekeyd --help does not list"
    );
}

#[test]
fn sparekeyctl_8_documents_every_subcommand_and_option_of_its_help_and_no_other() {
    let text = page("sparekeyctl.8.md");
    let top = help("sparekeyctl", None);
    let global = options(&top);
    let commands = subcommands(&top);
    assert!(commands.iter().any(|c| c == "issue"), "parsed from:\n{top}");
    let paragraphs = command_paragraphs(&text);
    let mut problems = Vec::new();
    for o in global.iter().filter(|o| !mentions(&text, o)) {
        problems.push(format!("option {o} (sparekeyctl --help) is not documented"));
    }
    // A command with subcommands of its own (`host`) is documented by theirs: `host enroll`.
    let commands: Vec<String> = commands
        .iter()
        .flat_map(|c| {
            let nested = subcommands(&help("sparekeyctl", Some(c)));
            if nested.is_empty() {
                vec![c.clone()]
            } else {
                nested.iter().map(|n| format!("{c} {n}")).collect()
            }
        })
        .collect();
    let mut every_option = global.clone();
    for command in &commands {
        let Some(paragraph) = paragraphs.get(command) else {
            problems.push(format!(
                "subcommand {command} has no **{command}** entry under COMMANDS"
            ));
            continue;
        };
        let path: Vec<&str> = command.split(' ').collect();
        let opts = options(&help_of("sparekeyctl", &path));
        for o in opts.difference(&global) {
            if !mentions(paragraph, o) {
                problems.push(format!(
                    "option {o} of `sparekeyctl {command}` is not in {command}'s entry"
                ));
            }
        }
        every_option.extend(opts);
    }
    for o in long_options_in(&text) {
        if !every_option.contains(&o) {
            problems.push(format!("{o} is documented but no --help lists it"));
        }
    }
    for name in paragraphs.keys() {
        if !commands.contains(name) {
            problems.push(format!(
                "**{name}** is documented but sparekeyctl --help lists no such subcommand"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "sparekeyctl.8.md is out of date:\n{}",
        problems.join("\n")
    );
}

/// pandoc reads `% NAME(SECTION) footer | header` as the title block; the name and
/// section must agree with the file name, which the packaging installs the page under.
#[test]
fn every_man_page_has_a_title_block_that_matches_its_file_name() {
    let mut pages = 0;
    for entry in std::fs::read_dir(man_dir()).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = file.strip_suffix(".md") else {
            continue;
        };
        let (name, section) = stem.rsplit_once('.').expect("NAME.SECTION.md");
        let first = page(&file).lines().next().unwrap_or_default().to_string();
        let expected = format!("% {}({section}) sparekey | ", name.to_uppercase());
        assert!(
            first.starts_with(&expected),
            "{file}: first line {first:?} should start with {expected:?}"
        );
        pages += 1;
    }
    assert!(
        pages >= 5,
        "only {pages} man pages in {}",
        man_dir().display()
    );
}

#[test]
fn the_helpers_parse_clap_help() {
    let help = "Usage: x [OPTIONS] <COMMAND>\n\nCommands:\n  issue   Issue\n  help    Print\n\nOptions:\n      --for <DURATION>  Lifetime\n  -h, --help  Print help\n";
    assert_eq!(subcommands(help), vec!["issue"]);
    let opts: Vec<_> = options(help).into_iter().collect();
    assert_eq!(opts, vec!["--for", "--help", "-h"]);
    assert!(mentions("**--for** *D*", "--for"));
    assert!(!mentions("**--format**", "--for"));
    assert!(!mentions("a-h", "-h"));
    let found: Vec<_> = long_options_in("**--for**, x--y, 1d--2d, --json.")
        .into_iter()
        .collect();
    assert_eq!(found, vec!["--for", "--json"]);
}
