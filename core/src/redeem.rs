//! Redeeming a code at login, as the PAM module and the RADIUS responder both do it:
//! whether to ask at all, then one verification recorded in one store transaction.

use crate::credential::digest_subject;
use crate::decision::{self, Attempt, Context};
use crate::{Code, Error, SiteKey, Store, Time, Verdict};
use sparekey_conf::{Kind, PolicyFile};

/// A login that may use a code.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    /// The user logging in.
    pub user: &'a str,
    /// Their unix groups (from [`crate::identity::groups_of`]).
    pub groups: &'a [String],
    /// The service policies match.
    pub service: &'a str,
    /// The host, when known.
    pub host: Option<&'a str>,
    /// Where the login comes from, for the audit log.
    pub source: &'a str,
}

/// Whether a login could use a code here and now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Yes: ask for it.
    Usable,
    /// The organisation-wide switch is off.
    Disabled,
    /// No policy covers the user.
    NotEligible,
    /// The user has no credential usable on this service and host now.
    NoCredential,
    /// The user has one, but too many wrong codes lately: refuse without asking.
    LockedOut,
}

/// Whether to ask `login` for a code at all, and if not, why.
pub fn availability(
    store: &Store,
    policies: &PolicyFile,
    login: &Login<'_>,
    now: Time,
) -> Result<Availability, Error> {
    if !policies.enabled {
        return Ok(Availability::Disabled);
    }
    let Some(policy) = policies.policy_for(login.user, login.groups) else {
        return Ok(Availability::NotEligible);
    };
    // The same read a cache makes, and the one the redeem transaction repeats: one statement
    // of each kind per connection, which matters to a PAM login that opens the store anew.
    let since = now - crate::seconds(policy.lockout.window.as_secs());
    let (creds, failures) = store.login_state(login.user, now, since)?;
    let ctx = Context {
        enabled: true,
        policy: Some(policy),
        recent_failures: 0,
        now,
    };
    if !decision::has_usable(&creds, login.user, login.service, login.host, &ctx) {
        return Ok(Availability::NoCredential);
    }
    let recent: u32 = failures.iter().map(|(_, n)| n).sum();
    if recent >= policy.lockout.attempts {
        return Ok(Availability::LockedOut);
    }
    Ok(Availability::Usable)
}

/// Verifies `code` for `login` and records the outcome (use count, failure count, audit).
pub fn redeem(
    store: &mut Store,
    key: &SiteKey,
    policies: &PolicyFile,
    login: &Login<'_>,
    code: &Code,
    now: Time,
) -> Result<Verdict, Error> {
    let policy = policies.policy_for(login.user, login.groups);
    let universal = policy.filter(|p| p.allows_kind(Kind::Universal)).map(|p| {
        key.digest(
            &digest_subject(Kind::Universal, login.user, p.name()),
            code.as_bytes(),
        )
    });
    let attempt = Attempt {
        user: login.user,
        service: login.service,
        host: login.host,
        digest: key.digest(login.user, code.as_bytes()),
        universal_digest: universal,
    };
    store.redeem(&attempt, policies.enabled, policy, now, login.source)
}
