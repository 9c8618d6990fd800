//! The one error type of sparekey-radius.

/// Why the RADIUS responder could not load its clients or answer a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client's secret file cannot be used; the message names the file and the fix.
    #[error("RADIUS client {client:?}: {problem}")]
    Secret {
        /// The client's name.
        client: String,
        /// What is wrong with its secret file.
        problem: String,
    },
    /// A `[[radius.upstream]]` that cannot be used: its secret file or its address.
    #[error("RADIUS upstream {upstream:?}: {problem}")]
    Upstream {
        /// The upstream's name.
        upstream: String,
        /// What is wrong.
        problem: String,
    },
    /// A secret or a packet the codec refused.
    #[error("{0}")]
    Wire(#[from] sparekey_radius_codec::Error),
    /// The store or NSS failed while verifying a code.
    #[error("{0}")]
    Core(#[from] sparekey_core::Error),
}
