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
pub mod host;
pub mod host_file;
pub mod identity;
pub mod issue;
pub mod journal;
pub mod key;
pub mod ledger;
pub mod member_hosts;
pub mod offline;
pub mod private_file;
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

/// The longest span [`seconds`] gives: 1,000 years, far beyond any lifetime or window, and
/// small enough that adding it to any time sparekey meets cannot overflow.
pub const MAX_SECONDS: u64 = 1000 * 366 * 86_400;

/// A whole number of seconds as a chrono duration, saturating at [`MAX_SECONDS`]: chrono
/// panics on spans beyond about 292 million years, and on times past the year 262,143, so
/// a duration typed or configured absurdly large must never reach it unbounded.
pub fn seconds(secs: u64) -> chrono::Duration {
    let secs = i64::try_from(secs.min(MAX_SECONDS)).unwrap_or(0);
    chrono::Duration::seconds(secs)
}

/// `t` plus `secs` seconds, saturating at the latest time chrono represents (a stored time is
/// whatever the row says, so the sum must never panic).
pub fn after(t: Time, secs: u64) -> Time {
    t.checked_add_signed(seconds(secs))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `t` minus `secs` seconds, saturating at the earliest time chrono represents.
pub fn before(t: Time, secs: u64) -> Time {
    t.checked_sub_signed(seconds(secs))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// Formats a time as RFC 3339 in UTC with second precision, as every interface shows it.
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate_instead_of_panicking() {
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        assert_eq!(seconds(u64::MAX), seconds(MAX_SECONDS));
        assert_eq!(
            seconds(9_999_999_999_999_999).num_seconds() as u64,
            MAX_SECONDS
        );
        assert!(after(now, u64::MAX) > now);
        let last = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert_eq!(
            after(last, 86_400),
            last,
            "a stored time at the end of time"
        );
        let first = chrono::DateTime::<chrono::Utc>::MIN_UTC;
        assert_eq!(before(first, 86_400), first);
        assert_eq!(after(now, 60), now + chrono::Duration::minutes(1));
        assert_eq!(before(now, 60), now - chrono::Duration::minutes(1));
    }
}
