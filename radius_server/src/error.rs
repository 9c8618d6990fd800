//! The one error type of sparekey-radius.

use std::io;

/// Why the RADIUS responder could not start, load its clients or answer a request.
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
    /// A listen address could not be bound.
    #[error("cannot answer RADIUS on {address}: {source}{hint}")]
    Bind {
        /// The address as configured.
        address: String,
        /// What the system said.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// An answering thread could not be started.
    #[error("cannot start the RADIUS thread for {address}: {source}")]
    Thread {
        /// The address it was to answer on.
        address: String,
        /// What the system said.
        source: io::Error,
    },
    /// The store or NSS failed while verifying a code.
    #[error("{0}")]
    Core(#[from] sparekey_core::Error),
}

impl Error {
    /// A bind failure with advice for the usual causes.
    pub fn bind(address: &str, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                " (another process, e.g. freeradius, already uses this port; stop it or pick another port)"
            }
            io::ErrorKind::AddrNotAvailable => " (no interface of this host has that address)",
            io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            }
            _ => "",
        };
        Error::Bind {
            address: address.to_string(),
            source,
            hint,
        }
    }
}
