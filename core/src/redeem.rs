//! One login that may use a code, as the PAM module does it: the early refusals, the user's
//! state read once to decide whether to ask, then at most one store transaction that decides
//! again on that same state unless the store changed meanwhile.

pub use crate::decision::Login;

use crate::decision::{self, Attempt, Availability, Decision, StateQuery};
use crate::store::{LoginSnapshot, RedeemRequest, Redeemed, Store};
use crate::{Code, Error, SiteKey, Time, Verdict};
use sparekey_conf::{Policy, PolicyFile};

/// The audit reason of a retire: the user's usual second factor worked again.
pub const RETIRE_REASON: &str = "usual second factor succeeded";

/// A login past the early refusals, with the user's state as read once.
#[derive(Debug)]
pub struct LoginCheck<'a> {
    login: &'a Login<'a>,
    policy: &'a Policy,
    snapshot: LoginSnapshot,
    now: Time,
}

impl<'a> LoginCheck<'a> {
    /// Reads what `login` is decided on at `now`: nothing when the switch is off or no policy
    /// covers the user (`Err` says which), else the user's state, once.
    pub fn begin(
        store: &dyn Store,
        policies: &'a PolicyFile,
        login: &'a Login<'a>,
        now: Time,
    ) -> Result<Result<Self, Availability>, Error> {
        let policy = match decision::eligibility(policies, login.user, login.groups) {
            Ok(p) => p,
            Err(early) => return Ok(Err(early.into())),
        };
        let snapshot = store.login_state(&StateQuery::for_login(login.user, policy, now))?;
        Ok(Ok(LoginCheck {
            login,
            policy,
            snapshot,
            now,
        }))
    }

    /// Whether to ask for a code at all.
    pub fn availability(&self) -> Availability {
        let l = self.login;
        decision::availability(
            &self.snapshot.state,
            0,
            self.policy,
            l.user,
            l.service,
            l.host,
            self.now,
        )
    }

    /// Verifies `code` and records the outcome (use count, failure count, audit) in one
    /// transaction, deciding on the state already read unless the store changed since.
    pub fn redeem(
        &self,
        store: &mut dyn Store,
        key: &SiteKey,
        code: &Code,
    ) -> Result<Redeemed, Error> {
        let l = self.login;
        let attempt = Attempt::new(key, self.policy, l.user, l.service, l.host, code);
        let (policy, now) = (self.policy, self.now);
        let decide = |state: &decision::UserState| -> Decision {
            decision::decide(state, 0, policy, &attempt, now)
        };
        let request = RedeemRequest {
            login: l,
            now,
            query: StateQuery::for_login(l.user, policy, now),
            known: Some(&self.snapshot),
            replay: None,
        };
        store.redeem(&request, &decide)
    }
}

/// Whether to ask `login` for a code at all, and if not, why.
pub fn availability(
    store: &dyn Store,
    policies: &PolicyFile,
    login: &Login<'_>,
    now: Time,
) -> Result<Availability, Error> {
    Ok(match LoginCheck::begin(store, policies, login, now)? {
        Ok(check) => check.availability(),
        Err(early) => early,
    })
}

/// Verifies `code` for `login` and records the outcome, as a login that did not ask first.
/// The early refusals are recorded too.
pub fn redeem(
    store: &mut dyn Store,
    key: &SiteKey,
    policies: &PolicyFile,
    login: &Login<'_>,
    code: &Code,
    now: Time,
) -> Result<Verdict, Error> {
    let policy = match decision::eligibility(policies, login.user, login.groups) {
        Ok(p) => p,
        Err(early) => {
            let decision = Decision::refused(early, None);
            let request = RedeemRequest {
                login,
                now,
                query: StateQuery {
                    user: login.user,
                    ended_after: now,
                    failures_after: now,
                },
                known: None,
                replay: None,
            };
            store.record(request.event(&decision.event))?;
            return Ok(decision.verdict);
        }
    };
    let attempt = Attempt::new(key, policy, login.user, login.service, login.host, code);
    let decide = |state: &decision::UserState| decision::decide(state, 0, policy, &attempt, now);
    let request = RedeemRequest {
        login,
        now,
        query: StateQuery::for_login(login.user, policy, now),
        known: None,
        replay: None,
    };
    Ok(store.redeem(&request, &decide)?.decision.verdict)
}
