//! The one error type of sparekeyd.

use std::io;

/// Why sparekeyd could not start, or one of its listeners failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A RADIUS listen address could not be bound.
    #[error("cannot answer RADIUS on {address}: {source}{hint}")]
    Bind {
        /// The address as configured.
        address: String,
        /// What the system said.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A thread could not be started.
    #[error("cannot start the RADIUS thread for {address}: {source}")]
    Thread {
        /// The address it was to answer on.
        address: String,
        /// What the system said.
        source: io::Error,
    },
    /// The admin socket could not be bound, read or written.
    #[error("{0}")]
    Socket(String),
    /// A peer of the admin socket sent something that is not a request.
    #[error("{0}")]
    Protocol(String),
    /// The RADIUS responder's clients could not be loaded.
    #[error("{0}")]
    Radius(#[from] sparekey_radius::Error),
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
