//! The one error type of sparekey-conf.

use crate::Diagnostic;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more errors in the files, each located; all of them are reported, not just the first.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl Error {
    /// The individual errors.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid(d) => d,
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
