//! sparekey-daemon: sparekeyd's wiring. It loads the configuration, makes the site key and
//! store when missing, and holds the [`sparekey_core::Site`] that both of its services share:
//!
//! - [`admin_socket`]: the Unix socket, one thread per connection ([`admin_slots`]: how
//!   many per uid), each request read within a deadline ([`admin_request_reader`]) and
//!   handed to sparekey-admin's handlers;
//! - [`radius_listener`]: binds the RADIUS listen addresses, several answering threads each
//!   (one socket per thread, SO_REUSEPORT), whose loop is [`radius_batch`] (recvmmsg,
//!   sendmmsg) over sparekey-radius's responder, with the configuration they share in
//!   [`radius_snapshot`], and the workers for password checks and upstreams in
//!   [`radius_workers`];
//! - [`run`]: start, reload on SIGHUP, stop on SIGTERM; [`notify`]: systemd's readiness;
//!   [`audit_retention`]: `[audit] keep`.
//!
//! The admin handlers and the RADIUS responder know nothing of each other: what they share is
//! the site, which core owns.
#![forbid(unsafe_code)]
// The daemon is the shell whose threads tell the time (for each request, for rate limits of
// log lines) and sleep (after a failed accept or receive): what the library crates below
// take as parameters is read here.
#![allow(clippy::disallowed_methods)]

pub mod admin_request_reader;
pub mod admin_slots;
pub mod admin_socket;
pub mod audit_retention;
mod error;
pub mod import;
pub mod notify;
pub mod radius_batch;
pub mod radius_listener;
pub mod radius_snapshot;
pub mod radius_workers;
pub mod run;

pub use error::Error;
