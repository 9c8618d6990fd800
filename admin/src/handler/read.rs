//! `list`, `audit` and `status`: reading, each limited to what the caller's roles cover.

use super::{deny, views, Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::{LockoutView, Response, StatusView};
use sparekey_conf::{Config, RoleAction};
use sparekey_core::Site;
use sparekey_core::{decision, rfc3339, Time};
use std::collections::BTreeSet;

/// The default and largest number of audit events in one answer.
const AUDIT_DEFAULT: usize = 100;
const AUDIT_MAX: usize = 10_000;

pub(crate) fn list(
    site: &Site,
    config: &Config,
    caller: &Caller,
    user: Option<&str>,
    all: bool,
    now: Time,
) -> Outcome {
    if !caller.may_at_all(config, RoleAction::List) {
        let who = caller.describe(config);
        return Err(deny(
            user.unwrap_or("*"),
            format!(
                "{who} may not list credentials; ask an administrator for a role that allows it"
            ),
        ));
    }
    if let Some(u) = user {
        super::check_user(u)?;
    }
    // Failures a hot path counted but has not written yet decide who is locked out.
    site.flush().map_err(|e| {
        Failure::Failed(format!("gathered failures could not be written first: {e}"))
    })?;
    let store = site.open_store()?;
    let creds = store.credentials(user, if all { None } else { Some(now) })?;
    let visible: Vec<_> = creds
        .iter()
        .filter(|c| caller.may(config, RoleAction::List, &c.policy))
        .collect();
    let users: BTreeSet<&str> = match user {
        Some(u) => BTreeSet::from([u]),
        None => visible.iter().map(|c| c.user.as_str()).collect(),
    };
    let mut lockouts = Vec::new();
    for u in users {
        let Ok(groups) = site.directory().groups_of(u) else {
            continue;
        };
        let Some(policy) = config.policy.policy_for(u, &groups) else {
            continue;
        };
        if !caller.may(config, RoleAction::List, policy.name()) {
            continue;
        }
        let stored = store.failures(u, decision::window_start(policy, now))?;
        let failures = decision::recent_failures(&stored, policy, now);
        if decision::is_locked_out(failures, policy) {
            lockouts.push(LockoutView {
                user: u.to_string(),
                failures,
            });
        }
    }
    Ok(Response::Credentials {
        credentials: visible.iter().map(|c| views::credential(c, now)).collect(),
        lockouts,
    })
}

pub(crate) fn audit(
    site: &Site,
    config: &Config,
    caller: &Caller,
    user: Option<&str>,
    limit: Option<usize>,
    verify: bool,
) -> Outcome {
    if !caller.may_at_all(config, RoleAction::Audit) {
        let who = caller.describe(config);
        return Err(deny(
            user.unwrap_or("*"),
            format!(
                "{who} may not read the audit log; ask an administrator for a role that allows it"
            ),
        ));
    }
    // Events a hot path gathered but has not written yet belong in what the caller reads.
    site.flush().map_err(|e| {
        Failure::Failed(format!(
            "gathered audit events could not be written first: {e}"
        ))
    })?;
    let store = site.open_store()?;
    if verify {
        if !caller.may(config, RoleAction::Audit, "*") && !caller.is_superadmin() {
            return Err(deny(
                "*",
                "verifying the whole audit log takes an audit role over all policies (\"*\")"
                    .into(),
            ));
        }
        let broken = store.verify_audit_chain()?;
        let tampered = store
            .credentials(None, None)?
            .into_iter()
            .filter(|c| c.tampered || !sparekey_core::decision::within_ceiling(c))
            .map(|c| c.id)
            .collect();
        return Ok(Response::Verified {
            intact: broken.is_none(),
            first_broken: broken,
            tampered,
        });
    }
    let limit = limit.unwrap_or(AUDIT_DEFAULT).clamp(1, AUDIT_MAX);
    let events = store.audit(user, limit)?;
    let all_policies = caller.is_superadmin()
        || caller
            .roles(config)
            .iter()
            .any(|r| r.allows(RoleAction::Audit) && r.covers_policy("*"));
    let visible = events
        .iter()
        .filter(|e| {
            all_policies || {
                let groups = site.directory().groups_of(&e.subject).unwrap_or_default();
                config
                    .policy
                    .policy_for(&e.subject, &groups)
                    .is_some_and(|p| caller.may(config, RoleAction::Audit, p.name()))
            }
        })
        .map(views::event)
        .collect();
    Ok(Response::Events { events: visible })
}

pub(crate) fn status(site: &Site, config: &Config, caller: &Caller, now: Time) -> Outcome {
    if !caller.is_superadmin() && caller.roles(config).is_empty() {
        let who = caller.describe(config);
        return Err(deny(
            "-",
            format!(
                "{who} holds no sparekey role; ask an administrator to add one in {}",
                config.path.display()
            ),
        ));
    }
    let counts = site.open_store().map_err(Failure::from)?.counts(now)?;
    Ok(Response::Status(StatusView {
        version: env!("CARGO_PKG_VERSION").to_string(),
        enabled: config.policy.enabled,
        policies: config
            .policy
            .policy
            .iter()
            .map(|p| p.name().to_string())
            .collect(),
        active_credentials: counts.active,
        stored_credentials: counts.credentials,
        audit_events: counts.events,
        config: config.path.display().to_string(),
        store: config.daemon.store.path.display().to_string(),
        radius_listen: config
            .daemon
            .radius
            .listen
            .iter()
            .map(|l| l.get_ref().clone())
            .collect(),
        started: rfc3339(site.started()),
        caller: caller.describe(config),
    }))
}
