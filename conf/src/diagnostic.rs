//! One configuration error located in a file: path, line, column, message and the offending line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// An error in a configuration file, pointing at the place that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the error is in.
    pub path: PathBuf,
    /// 1-based line, or 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column (in characters), or 0 when the error concerns the whole file.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// The source line the error points at, for a caret display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at a byte span of `source`.
    pub fn at(
        path: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let Some(span) = span else {
            return Self::whole_file(path, message);
        };
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        Diagnostic {
            path: path.to_path_buf(),
            line,
            column,
            message,
            source_line: Some(
                source[line_start..line_end]
                    .trim_end_matches('\r')
                    .to_string(),
            ),
        }
    }

    /// A diagnostic about a file as a whole (missing, unreadable).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.path.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(src) = &self.source_line {
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n    {src}\n    {pad}^")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column() {
        let src = "a = 1\nbad = 2\n";
        let d = Diagnostic::at(Path::new("x.toml"), src, Some(6..9), "unknown key `bad`");
        assert_eq!((d.line, d.column), (2, 1));
        assert_eq!(
            d.to_string(),
            "x.toml:2:1: unknown key `bad`\n    bad = 2\n    ^"
        );
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let src = "name = \"é\" x";
        let d = Diagnostic::at(Path::new("x.toml"), src, Some(12..13), "m");
        assert_eq!((d.line, d.column), (1, 12));
    }
}
