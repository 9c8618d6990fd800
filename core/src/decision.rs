//! The verification decision, pure: given a user's credentials, the policy, the typed code's
//! digest and the time, accept one credential or name the precise reason to refuse.

use crate::key::Digest;
use crate::{Credential, Time};
use sparekey_conf::{Kind, Policy};
use subtle::ConstantTimeEq;

/// Where and by whom a code is tried.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The user logging in.
    pub user: &'a str,
    /// The service (PAM service name or RADIUS client service).
    pub service: &'a str,
    /// The host the login is on, when known.
    pub host: Option<&'a str>,
    /// HMAC of the typed code bound to `user`.
    pub digest: Digest,
    /// HMAC of the typed code bound to the user's policy, when the policy allows universal
    /// (break-glass) codes; see [`crate::credential::digest_subject`].
    pub universal_digest: Option<Digest>,
}

/// Everything besides the credentials that the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The organisation-wide switch.
    pub enabled: bool,
    /// The user's policy, if any matches them.
    pub policy: Option<&'a Policy>,
    /// Failed attempts by this user within the policy's lockout window.
    pub recent_failures: u32,
    /// The time of the attempt.
    pub now: Time,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The code matched a usable credential.
    Accepted {
        /// Its id.
        credential: String,
        /// When it stops working.
        not_after: Time,
        /// Whether this redemption must be counted (it has a cap).
        counted: bool,
        /// Whether this first use starts the credential's window (activate on first use):
        /// the store then sets it to now .. `not_after`.
        activates: bool,
    },
    /// Refused, with the precise reason (for the audit log, never for the person).
    Rejected(Reason),
}

/// Why a code was refused. Precise in the audit log; generic at the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The organisation-wide switch is off.
    Disabled,
    /// No policy covers the user.
    NotEligible,
    /// The user has too many recent failures.
    LockedOut,
    /// No credential of this user matches the code.
    WrongCode,
    /// The matching credential has expired.
    Expired,
    /// The matching credential's window has not begun.
    NotYetValid,
    /// The matching credential's uses are spent.
    UsedUp,
    /// The matching credential was revoked.
    Revoked,
    /// The matching credential does not cover this service.
    WrongService,
    /// The matching credential does not cover this host.
    WrongHost,
    /// The policy no longer allows this kind of credential.
    KindNotAllowed,
}

impl Reason {
    /// The reason as the audit log words it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Disabled => "temporary codes are switched off",
            Reason::NotEligible => "user is in no policy",
            Reason::LockedOut => "locked out after too many failures",
            Reason::WrongCode => "wrong code",
            Reason::Expired => "code expired",
            Reason::NotYetValid => "code not yet valid",
            Reason::UsedUp => "code already used",
            Reason::Revoked => "code revoked",
            Reason::WrongService => "code not valid for this service",
            Reason::WrongHost => "code not valid on this host",
            Reason::KindNotAllowed => "policy no longer allows this kind of credential",
        }
    }

    /// Whether this refusal counts towards lockout: only a code that matches nothing, which is
    /// what guessing produces. A code that matched a real but spent, expired or out-of-scope
    /// credential shows knowledge of that code, not guessing, and must not lock its owner out.
    pub fn counts_as_failure(self) -> bool {
        self == Reason::WrongCode
    }
}

/// Whether the credential covers `service` and `host` under `policy`.
fn scope_reason(
    cred: &Credential,
    policy: &Policy,
    service: &str,
    host: Option<&str>,
) -> Option<Reason> {
    if !policy.allows_kind(cred.kind) {
        return Some(Reason::KindNotAllowed);
    }
    let service_ok = policy.allows_service(service)
        && (cred.services.is_empty() || cred.services.iter().any(|s| s == service));
    if !service_ok {
        return Some(Reason::WrongService);
    }
    let host_in =
        |list: &[String]| list.is_empty() || host.is_some_and(|h| list.iter().any(|x| x == h));
    if !host_in(&policy.hosts) || !host_in(&cred.hosts) {
        return Some(Reason::WrongHost);
    }
    None
}

/// Why this matching credential cannot be used now, or None when it can.
fn refusal(cred: &Credential, policy: &Policy, attempt: &Attempt<'_>, now: Time) -> Option<Reason> {
    if cred.revoked_at.is_some() {
        Some(Reason::Revoked)
    } else if cred.is_used_up() {
        Some(Reason::UsedUp)
    } else if now >= cred.not_after {
        Some(Reason::Expired)
    } else if now < cred.not_before {
        Some(Reason::NotYetValid)
    } else {
        scope_reason(cred, policy, attempt.service, attempt.host)
    }
}

/// Decides an attempt against `creds` (the user's credentials, in any state).
/// Every digest is compared in constant time and all are compared, so timing does not
/// tell how many credentials a user has or which one matched.
pub fn decide(creds: &[Credential], attempt: &Attempt<'_>, ctx: &Context<'_>) -> Verdict {
    if !ctx.enabled {
        return Verdict::Rejected(Reason::Disabled);
    }
    let Some(policy) = ctx.policy else {
        return Verdict::Rejected(Reason::NotEligible);
    };
    if ctx.recent_failures >= policy.lockout.attempts {
        return Verdict::Rejected(Reason::LockedOut);
    }
    let mut usable: Option<&Credential> = None;
    let mut first_refusal: Option<Reason> = None;
    for cred in creds {
        if !belongs(cred, attempt.user, policy) {
            continue;
        }
        let expected = match cred.kind {
            Kind::Universal => attempt.universal_digest.unwrap_or([0; 32]),
            Kind::Temporary | Kind::Fixed => attempt.digest,
        };
        let matched: bool = cred.digest.ct_eq(&expected).into();
        if !matched || (cred.kind == Kind::Universal && attempt.universal_digest.is_none()) {
            continue;
        }
        match refusal(cred, policy, attempt, ctx.now) {
            None => usable = usable.or(Some(cred)),
            Some(r) => first_refusal = first_refusal.or(Some(r)),
        }
    }
    match (usable, first_refusal) {
        (Some(cred), _) => Verdict::Accepted {
            credential: cred.id.clone(),
            not_after: match cred.activation {
                // The window starts now, never past the ceiling counted from issue.
                Some(secs) => (ctx.now + crate::seconds(secs))
                    .min(cred.issued_at + crate::seconds(crate::issue::ceiling(policy).as_secs())),
                None => cred.not_after,
            },
            counted: cred.uses.cap().is_some(),
            activates: cred.activation.is_some(),
        },
        (None, Some(reason)) => Verdict::Rejected(reason),
        (None, None) => Verdict::Rejected(Reason::WrongCode),
    }
}

/// Whether `cred` could be `user`'s: their own, or a universal code of their policy.
fn belongs(cred: &Credential, user: &str, policy: &Policy) -> bool {
    match cred.kind {
        Kind::Universal => cred.policy == policy.name(),
        Kind::Temporary | Kind::Fixed => cred.user == user,
    }
}

/// Whether `user` has a credential that could be redeemed here and now: the PAM module
/// prompts only then. Disabled switch and no policy mean no.
pub fn has_usable(
    creds: &[Credential],
    user: &str,
    service: &str,
    host: Option<&str>,
    ctx: &Context<'_>,
) -> bool {
    let Some(policy) = ctx.policy.filter(|_| ctx.enabled) else {
        return false;
    };
    creds.iter().any(|c| {
        belongs(c, user, policy)
            && c.is_active(ctx.now)
            && ctx.now >= c.not_before
            && scope_reason(c, policy, service, host).is_none()
    })
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
