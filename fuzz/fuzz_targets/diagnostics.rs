//! Shared by the configuration targets: what every error sparekey-conf reports must hold.

use std::path::Path;

use sparekey_conf::Diagnostic;

/// `d` names `path`, a reason, and, unless it concerns the whole file, a line and column of
/// `src` and that line itself (what the caret display shows).
pub fn check(d: &Diagnostic, path: &Path, src: Option<&str>) {
    assert_eq!(d.path, path);
    assert!(!d.message.trim().is_empty(), "{d:?}");
    let shown = d.to_string();
    if d.line == 0 {
        assert_eq!((d.column, &d.source_line), (0, &None), "{d:?}");
        assert_eq!(shown, format!("{}: {}", path.display(), d.message));
        return;
    }
    assert!(d.column >= 1, "{d:?}");
    assert!(
        shown.starts_with(&format!("{}:{}:{}: ", path.display(), d.line, d.column)),
        "{shown}"
    );
    let Some(src) = src else {
        assert!(d.source_line.is_some(), "{d:?}");
        return;
    };
    let line = src
        .split('\n')
        .nth(d.line - 1)
        .unwrap_or_else(|| panic!("line {} is past the end: {d:?}", d.line));
    assert_eq!(
        d.source_line.as_deref(),
        Some(line.trim_end_matches('\r')),
        "{d:?}"
    );
    assert!(d.column <= line.chars().count() + 1, "{d:?}");
}
