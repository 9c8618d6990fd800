//! sparekey-core: credentials, codes, policy decisions, the store and the audit log.
//!
//! It knows nothing of PAM, RADIUS or the admin socket. Every login is decided once, in
//! [`decision`]; a [`Store`] (SQLite today) only reads a user's state and applies what the
//! decision says, in one transaction. [`redeem`] is a login as the PAM module makes it,
//! [`shared_redeem`] the cached hot path of a daemon. Time is always passed in, so every
//! expiry is testable.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cached_redeem;
pub mod code;
pub mod credential;
pub mod decision;
mod error;
pub mod identity;
pub mod issue;
pub mod key;
pub mod redeem;
pub mod shared_redeem;
pub mod site;
pub mod store;

pub use audit::{Action, AuditEvent, AuditSink};
pub use code::Code;
pub use credential::{Credential, Uses};
pub use decision::{Decision, Reason, Verdict};
pub use error::Error;
pub use key::SiteKey;
pub use site::Site;
pub use store::Store;

/// A point in time, always UTC. Core never reads the clock; callers pass `now`.
pub type Time = chrono::DateTime<chrono::Utc>;

/// A whole number of seconds as a chrono duration (saturating far beyond any lifetime).
pub fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// Formats a time as RFC 3339 in UTC with second precision, as every interface shows it.
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
