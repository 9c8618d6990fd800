//! sparekey-radius: the RADIUS responder. It answers Access-Requests whose User-Password is a
//! sparekey code (code-only mode), one datagram at a time and without sockets of its own:
//! sparekeyd's answering threads (the sparekey-daemon crate) feed it. The wire codec lives in
//! the sparekey-radius-codec crate, pure and without I/O.
//!
//! - [`responder`]: one datagram in, at most one reply out (unit-tested).
//! - [`clients`]: the `[[radius.client]]` table, secrets read once, longest prefix lookup.
//! - [`dedup`]: the bounded 5-second duplicate cache.
//! - [`ratelimit`]: log lines at most once a second per source.
//! - [`source`]: the audit source of a request, printable.
//! - [`verifier`]: the code check, behind a trait; the real one is sparekey-core's hot path.
#![forbid(unsafe_code)]

pub mod clients;
pub mod dedup;
mod error;
pub mod ratelimit;
pub mod responder;
pub mod source;
pub mod verifier;

pub use error::Error;
