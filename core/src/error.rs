//! The one error type of sparekey-core.

use std::path::PathBuf;

/// Why a core operation failed. Refusals carry a sentence for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site key file is missing, malformed or unsafe.
    #[error("site key {}: {problem}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A member host's host file is missing, malformed or unsafe.
    #[error("host file {}: {problem}", path.display())]
    HostFile {
        /// The host file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The store could not be opened or used.
    #[error("store {location}: cannot {operation}: {problem}")]
    Store {
        /// The store: its file (or, for a database server, where it is).
        location: String,
        /// What was being done: "open", "redeem a code", "write a batch of audit events".
        operation: &'static str,
        /// What failed.
        problem: String,
    },
    /// A configuration file could not be loaded; every problem found, with file:line:col.
    #[error("{0}")]
    Config(#[from] sparekey_conf::Error),
    /// A change that takes a restart to apply.
    #[error("{0}")]
    RestartNeeded(String),
    /// The store's file was deleted or replaced while a long-running process used it.
    #[error("store {0} was deleted or replaced while sparekeyd runs; codes are refused, and no new store is made in its place, until sparekeyd is restarted (it then opens the file at that path)")]
    StoreReplaced(String),
    /// What a hot path gathered cannot be written (a full or read-only disk): codes are
    /// refused until it can be.
    #[error("codes are refused until the store can be written again (fail closed): {0}")]
    Unwritable(String),
    /// The operating system gave no random bytes.
    #[error("no randomness from the OS: {0}")]
    Randomness(String),
    /// Another writer changed what a transaction relied on; it was rolled back and may be
    /// tried again.
    #[error("store {0}: a concurrent change got in the way; nothing was changed")]
    Conflict(String),
    /// A request that policy does not allow; the message says why and what would be allowed.
    #[error("{0}")]
    Refused(String),
    /// Something named does not exist (a credential id, a user with no codes).
    #[error("{0}")]
    NotFound(String),
    /// A user or group could not be resolved through NSS.
    #[error("{0}")]
    Identity(String),
}
