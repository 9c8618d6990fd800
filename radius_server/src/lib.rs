//! sparekey-radius: sparekeyd, the daemon that serves the admin socket and answers RADIUS
//! Access-Requests whose User-Password is a sparekey code (code-only mode). The wire codec
//! lives in the sparekey-radius-codec crate, pure and without I/O.
//!
//! - [`listener`]: binds the listen addresses, several answering threads each (one socket
//!   per thread, SO_REUSEPORT).
//! - [`batch`]: an answering thread's loop, datagrams in and replies out in batches
//!   (recvmmsg, sendmmsg).
//! - [`responder`]: one datagram in, at most one reply out (no sockets; unit-tested).
//! - [`clients`]: the `[[radius.client]]` table, secrets read once, longest prefix lookup.
//! - [`dedup`]: the bounded 5-second duplicate cache.
//! - [`ratelimit`]: log lines at most once a second per source.
//! - [`verifier`]: the code check against the store, behind a trait.
#![forbid(unsafe_code)]

pub mod batch;
pub mod clients;
pub mod daemon;
pub mod dedup;
mod error;
pub mod listener;
pub mod notify;
pub mod ratelimit;
pub mod responder;
pub mod source;
pub mod verifier;

pub use error::Error;
