//! The one login decision, pure: from what the store knows about a user (credentials, recent
//! failures), their policy and the attempt, the verdict and the effects to apply (spend a
//! use, start a window, count a failure) with the audit events. PAM, the store's redeem
//! transaction, sparekeyd's cached redeemer and the admin views all decide here, so each rule
//! (eligibility, which credentials are active, the lockout threshold and window, the digest
//! construction, the audit reason texts) is written once.

use crate::audit::Action;
use crate::credential::digest_subject;
use crate::key::Digest;
use crate::{Code, Credential, SiteKey, Time};
use sparekey_conf::{Kind, Policy, PolicyFile};
use std::borrow::Cow;
use subtle::ConstantTimeEq;

/// Failures counting toward a lockout: the time of each stored row and how many it stands for.
pub type FailureCounts = Vec<(Time, u32)>;

/// Credentials this long past their end (30 days, in seconds) are still read, so that a
/// spent or expired code is told from a wrong one (and does not count as a guess).
pub const HISTORY_SECS: u64 = 30 * 86_400;

/// What the store knows about one user at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// Their credentials and the universal ones, in any state, ended ones of the last
    /// [`HISTORY_SECS`] included.
    pub credentials: Vec<Credential>,
    /// Their stored failures within the lockout window (time, count).
    pub failures: FailureCounts,
}

/// Which of a user's rows a decision at `now` needs: what a store reads for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateQuery<'a> {
    /// The user.
    pub user: &'a str,
    /// Credentials that ended at or before this are left out.
    pub ended_after: Time,
    /// Failures at or before this are left out (the lockout window's start).
    pub failures_after: Time,
}

impl<'a> StateQuery<'a> {
    /// The rows a login by `user` under `policy` at `now` is decided on.
    pub fn for_login(user: &'a str, policy: &Policy, now: Time) -> Self {
        StateQuery {
            user,
            ended_after: crate::before(now, HISTORY_SECS),
            failures_after: window_start(policy, now),
        }
    }
}

/// A login that may use a code.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    /// The user logging in.
    pub user: &'a str,
    /// Their unix groups (from a [`crate::identity::Directory`]).
    pub groups: &'a [String],
    /// The service policies match.
    pub service: &'a str,
    /// The host, when known.
    pub host: Option<&'a str>,
    /// Where the login comes from, for the audit log.
    pub source: &'a str,
}

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
    /// Whether the answer has the shape of any code the policy's kinds make (see
    /// [`could_be_code`]); one that cannot be a code is refused without counting.
    pub could_be_code: bool,
}

/// Whether `code` has the shape of a code `policy`'s kinds make: a generated one (temporary,
/// universal) is letters and digits, 6 to 64 of them, as any policy's code format allows;
/// a fixed passcode is text without control characters, at least 6 long. Bounds of every
/// format rather than the policy's own, so that codes issued before a change of the
/// policy's format still count. What fails both (a User-Password decoded with the wrong
/// secret, a password typed at the code prompt where no fixed passcode exists) is no guess
/// at a code, and must not lock the user out.
pub fn could_be_code(policy: &Policy, code: &Code) -> bool {
    let bytes = code.as_bytes();
    let generated = (policy.allows_kind(Kind::Temporary) || policy.allows_kind(Kind::Universal))
        && (6..=64).contains(&bytes.len())
        && bytes.iter().all(u8::is_ascii_alphanumeric);
    let fixed = policy.allows_kind(Kind::Fixed)
        && bytes.len() >= 6
        && std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(char::is_control));
    generated || fixed
}

impl<'a> Attempt<'a> {
    /// The attempt of `code` by `user` under `policy`: the one place the digests a code is
    /// compared by are made.
    pub fn new(
        key: &SiteKey,
        policy: &Policy,
        user: &'a str,
        service: &'a str,
        host: Option<&'a str>,
        code: &Code,
    ) -> Self {
        let universal = policy.allows_kind(Kind::Universal).then(|| {
            key.digest(
                &digest_subject(Kind::Universal, user, policy.name()),
                code.as_bytes(),
            )
        });
        Attempt {
            user,
            service,
            host,
            digest: key.digest(user, code.as_bytes()),
            universal_digest: universal,
            could_be_code: could_be_code(policy, code),
        }
    }
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
        /// The uses a counted credential has left after this one (None: uncounted, or an
        /// answer given again to a retransmit, which does not know).
        uses_left: Option<u32>,
        /// The policy the login was decided under, whose RADIUS reply attributes the
        /// Access-Accept carries (None: an answer given again to a retransmit).
        policy: Option<String>,
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
    /// The answer cannot be a code: wrong length or characters for any code of the policy.
    NotACode,
    /// The matching credential's row was changed without the site key: its seal does not
    /// match.
    Tampered,
    /// The matching credential's window breaks the 14-day ceiling (it starts before its
    /// issue or ends more than 14 days after it), whatever its seal says.
    BeyondCeiling,
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
            Reason::NotACode => "the answer cannot be a code (its length or characters)",
            Reason::Tampered => {
                "the code's stored row was changed without the site key (its seal does not match)"
            }
            Reason::BeyondCeiling => {
                "the code's stored window breaks the 14-day ceiling (the row was changed)"
            }
        }
    }

    /// The inverse of [`Reason::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [
            Reason::Disabled,
            Reason::NotEligible,
            Reason::LockedOut,
            Reason::WrongCode,
            Reason::Expired,
            Reason::NotYetValid,
            Reason::UsedUp,
            Reason::Revoked,
            Reason::WrongService,
            Reason::WrongHost,
            Reason::KindNotAllowed,
            Reason::NotACode,
            Reason::Tampered,
            Reason::BeyondCeiling,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// Whether this refusal counts towards lockout: only a code that matches nothing, which is
    /// what guessing produces. A code that matched a real but spent, expired or out-of-scope
    /// credential shows knowledge of that code, not guessing, and must not lock its owner out.
    pub fn counts_as_failure(self) -> bool {
        self == Reason::WrongCode
    }
}

/// The early refusals, before any state is read: the switch, then the policy. Returns the
/// user's policy when neither refuses.
pub fn eligibility<'p>(
    policies: &'p PolicyFile,
    user: &str,
    groups: &[String],
) -> Result<&'p Policy, Reason> {
    if !policies.enabled {
        return Err(Reason::Disabled);
    }
    policies.policy_for(user, groups).ok_or(Reason::NotEligible)
}

/// The start of the lockout window at `now`: failures after it count.
pub fn window_start(policy: &Policy, now: Time) -> Time {
    crate::before(now, policy.lockout.window.as_secs())
}

/// How many of `failures` fall within `policy`'s lockout window at `now`.
pub fn recent_failures(failures: &[(Time, u32)], policy: &Policy, now: Time) -> u32 {
    let since = window_start(policy, now);
    failures
        .iter()
        .filter(|(at, _)| *at > since)
        .fold(0u32, |n, (_, count)| n.saturating_add(*count))
}

/// Whether `recent` failures lock a user of `policy` out.
pub fn is_locked_out(recent: u32, policy: &Policy) -> bool {
    recent >= policy.lockout.attempts
}

/// The audit reason of a lockout: "5 failures within 15m".
pub fn lockout_reason(policy: &Policy) -> String {
    format!(
        "{} failures within {}",
        policy.lockout.attempts, policy.lockout.window
    )
}

/// An audit event of a login, without what every event of the login shares (time, user,
/// service, source): the store or the cache adds those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEvent {
    /// Redeem, Failure or Lockout.
    pub action: Action,
    /// The credential concerned, when one matched.
    pub credential: Option<String>,
    /// Why, for a refusal or a lockout.
    pub reason: Option<Cow<'static, str>>,
}

/// What a decision asks the store to change, besides appending its audit events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// Spend one use of the accepted credential, only while its uses are not spent.
    pub spend_use: bool,
    /// Start the accepted credential's window (activate on first use): valid from the first
    /// time to the second from now on.
    pub start_window: Option<(Time, Time)>,
    /// Count this attempt toward lockout at this time, and forget the user's failures at or
    /// before the second time (out of the window).
    pub count_failure: Option<(Time, Time)>,
}

impl Effects {
    /// Whether applying these changes credentials or failures (beyond the audit log).
    pub fn change_state(&self) -> bool {
        self.spend_use || self.start_window.is_some() || self.count_failure.is_some()
    }
}

/// A decision: the verdict, what to change, what to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Accepted or refused, and why.
    pub verdict: Verdict,
    /// What the store applies, in the same transaction as the events.
    pub effects: Effects,
    /// The redeem or failure event.
    pub event: LoginEvent,
    /// The lockout event, when this failure reached the policy's limit.
    pub lockout: Option<LoginEvent>,
    /// For an accepted capped code: the uses left after this one.
    pub uses_left: Option<u32>,
}

impl Decision {
    /// A refusal that changes nothing: the early refusals, and a lockout.
    pub fn refused(reason: Reason, credential: Option<String>) -> Self {
        let action = match reason {
            Reason::Tampered | Reason::BeyondCeiling => Action::Tampered,
            _ => Action::Failure,
        };
        Decision {
            verdict: Verdict::Rejected(reason),
            effects: Effects::default(),
            event: LoginEvent {
                action,
                credential,
                reason: Some(Cow::Borrowed(reason.as_str())),
            },
            lockout: None,
            uses_left: None,
        }
    }

    /// The answer kept for a retransmitted request, given again: it changes nothing, and its
    /// audit event says that it is the first answer again.
    pub fn replayed(verdict: Verdict) -> Self {
        let (action, credential, reason) = match &verdict {
            Verdict::Accepted { credential, .. } => {
                (Action::Redeem, Some(credential.clone()), None)
            }
            Verdict::Rejected(r) => (Action::Failure, None, Some(r.as_str())),
        };
        let why = match reason {
            Some(r) => format!("{r}; {REPLAYED}"),
            None => REPLAYED.to_string(),
        };
        Decision {
            verdict,
            effects: Effects::default(),
            event: LoginEvent {
                action,
                credential,
                reason: Some(Cow::Owned(why)),
            },
            lockout: None,
            uses_left: None,
        }
    }

    /// Its audit events, in order.
    pub fn events(&self) -> impl Iterator<Item = &LoginEvent> {
        std::iter::once(&self.event).chain(&self.lockout)
    }
}

/// The audit reason of an answer given again to a retransmitted request.
pub const REPLAYED: &str =
    "a retransmit of a request already answered: the same answer again, nothing spent twice";

/// Whether a user could be asked for a code here and now.
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

impl From<Reason> for Availability {
    fn from(early: Reason) -> Self {
        match early {
            Reason::Disabled => Availability::Disabled,
            Reason::LockedOut => Availability::LockedOut,
            Reason::NotEligible => Availability::NotEligible,
            _ => Availability::NoCredential,
        }
    }
}

/// Whether to ask for a code at all: the user has a credential usable on `service` and
/// `host` now, and is not locked out. `unwritten` failures (counted, not yet stored) add to
/// the stored ones.
pub fn availability(
    state: &UserState,
    unwritten: u32,
    policy: &Policy,
    user: &str,
    service: &str,
    host: Option<&str>,
    now: Time,
) -> Availability {
    let usable = state.credentials.iter().any(|c| {
        belongs(c, user, policy)
            && c.is_active(now)
            && within_ceiling(c)
            && now >= c.not_before
            && scope_reason(c, policy, service, host).is_none()
    });
    if !usable {
        Availability::NoCredential
    } else if is_locked_out(
        recent_failures(&state.failures, policy, now).saturating_add(unwritten),
        policy,
    ) {
        Availability::LockedOut
    } else {
        Availability::Usable
    }
}

/// Decides `attempt` against `state` (the user's credentials, in any state, and failures),
/// with `unwritten` failures counted but not yet stored. Every digest is compared in constant
/// time and all are compared, so timing does not tell how many credentials a user has or
/// which one matched.
pub fn decide(
    state: &UserState,
    unwritten: u32,
    policy: &Policy,
    attempt: &Attempt<'_>,
    now: Time,
) -> Decision {
    let recent = recent_failures(&state.failures, policy, now).saturating_add(unwritten);
    if is_locked_out(recent, policy) {
        return Decision::refused(Reason::LockedOut, None);
    }
    if !attempt.could_be_code {
        return Decision::refused(Reason::NotACode, None);
    }
    let mut usable: Option<&Credential> = None;
    let mut first_refusal: Option<(Reason, &Credential)> = None;
    for cred in &state.credentials {
        if !belongs(cred, attempt.user, policy) {
            continue;
        }
        let expected = match cred.kind {
            Kind::Universal => attempt.universal_digest.unwrap_or([0; 32]),
            Kind::Temporary | Kind::Fixed | Kind::Offline => attempt.digest,
        };
        let matched: bool = cred.digest.ct_eq(&expected).into();
        if !matched || (cred.kind == Kind::Universal && attempt.universal_digest.is_none()) {
            continue;
        }
        match refusal(cred, policy, attempt, now) {
            None => usable = usable.or(Some(cred)),
            Some(r) => first_refusal = first_refusal.or(Some((r, cred))),
        }
    }
    match (usable, first_refusal) {
        (Some(cred), _) => accept(cred, policy, now),
        (None, Some((reason, cred))) => Decision::refused(reason, Some(cred.id.clone())),
        (None, None) => {
            let mut d = Decision::refused(Reason::WrongCode, None);
            d.effects.count_failure = Some((now, window_start(policy, now)));
            if recent.saturating_add(1) == policy.lockout.attempts {
                d.lockout = Some(LoginEvent {
                    action: Action::Lockout,
                    credential: None,
                    reason: Some(Cow::Owned(lockout_reason(policy))),
                });
            }
            d
        }
    }
}

/// The decision for a usable `cred`: its window (a first use starts it, never past the
/// ceiling counted from issue) and its count.
fn accept(cred: &Credential, policy: &Policy, now: Time) -> Decision {
    let not_after = match cred.activation {
        Some(secs) => crate::after(now, secs).min(crate::after(
            cred.issued_at,
            crate::issue::ceiling(policy).as_secs(),
        )),
        None => cred.not_after,
    };
    let counted = cred.uses.cap().is_some();
    let activates = cred.activation.is_some();
    Decision {
        verdict: Verdict::Accepted {
            credential: cred.id.clone(),
            not_after,
            counted,
            activates,
            uses_left: cred.uses_left().map(|n| n.saturating_sub(1)),
            policy: Some(policy.name().to_string()),
        },
        effects: Effects {
            spend_use: counted,
            start_window: activates.then_some((now, not_after)),
            count_failure: None,
        },
        event: LoginEvent {
            action: Action::Redeem,
            credential: Some(cred.id.clone()),
            reason: None,
        },
        lockout: None,
        uses_left: cred.uses_left().map(|n| n.saturating_sub(1)),
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
    if cred.tampered {
        Some(Reason::Tampered)
    } else if !within_ceiling(cred) {
        Some(Reason::BeyondCeiling)
    } else if cred.revoked_at.is_some() {
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

/// Whether `cred`'s window keeps the rule that issuing keeps: it starts no earlier than its
/// issue and ends no later than 14 days after it, and a first use due, or the validity it
/// starts, is at most 14 days. Checked at every decision, whatever the row says, so that a
/// row changed by hand (or by a bug) never grants more than the ceiling.
pub fn within_ceiling(cred: &Credential) -> bool {
    let max = sparekey_conf::MAX_LIFETIME.as_secs();
    cred.not_before >= cred.issued_at
        && cred.not_after <= crate::after(cred.issued_at, max)
        && cred.activation.is_none_or(|secs| secs <= max)
}

/// Whether `cred` could be `user`'s: their own, or a universal code of their policy.
fn belongs(cred: &Credential, user: &str, policy: &Policy) -> bool {
    match cred.kind {
        Kind::Universal => cred.policy == policy.name(),
        Kind::Temporary | Kind::Fixed | Kind::Offline => cred.user == user,
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
