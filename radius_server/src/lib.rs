//! sparekey-radius: the RADIUS responder. It answers Access-Requests (code-only, challenge and
//! append modes, the usual MFA upstream behind) and Accounting-Requests, one datagram at a
//! time and without sockets of its own:
//! sparekeyd's answering threads (the sparekey-daemon crate) feed it. The wire codec lives in
//! the sparekey-radius-codec crate, pure and without I/O.
//!
//! - [`responder`]: one datagram in, at most one reply out (unit-tested).
//! - [`clients`]: the `[[radius.client]]` table, secrets read once, longest prefix lookup.
//! - [`dedup`]: the bounded 5-second duplicate cache.
//! - [`ratelimit`]: log lines at most once a second per source.
//! - [`source`]: the audit source of a request, printable.
//! - [`verifier`]: the code check, behind a trait; the real one is sparekey-core's hot path.
//! - [`deferred`]: what the answering threads hand to workers (a password checked through
//!   PAM, a request for an upstream), and the workers' answers; with [`state_table`]
//!   (challenge mode's States), [`pending`] (requests in work) and [`upstream`] (packets
//!   passed on and back). The `mode` of each client is in the responder's `modes.rs`.
#![forbid(unsafe_code)]

pub mod clients;
pub mod dedup;
pub mod deferred;
mod error;
pub mod pending;
pub mod ratelimit;
pub mod responder;
pub mod source;
pub mod state_table;
pub mod upstream;
pub mod verifier;

#[cfg(test)]
mod test_support;

pub use error::Error;
