//! The one error type of sparekeyctl.

/// Why a request could not be sent or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The admin socket could not be reached, read or written.
    #[error("{0}")]
    Socket(String),
    /// The daemon's answer is not one this sparekeyctl understands.
    #[error("{0}")]
    Protocol(String),
}
