//! The one error type of sparekey-admin.

/// Why an admin request or connection failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be reached, bound, read or written.
    #[error("{0}")]
    Socket(String),
    /// The peer sent something that is not a request, or the daemon something that is not an answer.
    #[error("{0}")]
    Protocol(String),
    /// The configuration could not be loaded.
    #[error("{0}")]
    Config(#[from] sparekey_conf::Error),
    /// The core refused or failed.
    #[error("{0}")]
    Core(#[from] sparekey_core::Error),
}
