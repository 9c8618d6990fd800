//! sparekey-bench: the measuring side of sparekey's benchmarks (issue 7).
//!
//! - [`load`]: a RADIUS load generator. Access-Requests with Message-Authenticator are
//!   built ahead of time ([`requests`]), sent over several UDP sockets with many in flight,
//!   and every reply is checked ([`check`]): Identifier, Response Authenticator and
//!   Message-Authenticator, and the verdict expected for the request.
//! - [`stats`]: latency percentiles (nearest rank).
//! - [`procstat`]: the server's CPU time from `/proc/PID/stat`, and the generator's own.
//! - [`jsonl`]: each run's result appended as a JSON line.
//!
//! The binaries: `sparekey-bench` (the generator), `sparekey-bench-fill` (fills a store
//! with credentials through sparekey-core) and `sparekey-pam-bench` (pam_start +
//! pam_authenticate + pam_end under pam_wrapper). `scripts/bench.sh` drives them all; see
//! BENCHMARKS.md.

pub mod check;
pub mod jsonl;
pub mod load;
pub mod procstat;
pub mod requests;
pub mod rng;
pub mod stats;
