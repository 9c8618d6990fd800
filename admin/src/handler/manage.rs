//! `revoke`, `unlock` and `reload`: changes other than issuing.

use super::{check_user, deny, require, Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::Response;
use sparekey_conf::{Config, RoleAction};
use sparekey_core::audit::Action;
use sparekey_core::store::Origin;
use sparekey_core::Site;
use sparekey_core::Time;

pub(crate) fn revoke(
    site: &Site,
    config: &Config,
    caller: &Caller,
    user: &str,
    id: Option<&str>,
    reason: Option<&str>,
    now: Time,
) -> Outcome {
    check_user(user)?;
    if !caller.may_at_all(config, RoleAction::Revoke) {
        let who = caller.describe(config);
        return Err(deny(
            user,
            format!("{who} may not revoke; ask an administrator for a role that allows it"),
        ));
    }
    let mut store = site.open_store()?;
    let active = store.credentials(Some(user), Some(now))?;
    let targets: Vec<_> = active
        .iter()
        .filter(|c| id.is_none_or(|id| c.id == id))
        .collect();
    if targets.is_empty() {
        return Err(Failure::Failed(match id {
            Some(id) => format!("user {user:?} has no active credential with id {id:?}; see sparekeyctl list {user}"),
            None => format!("user {user:?} has no active credentials; nothing was revoked"),
        }));
    }
    for c in &targets {
        require(config, caller, RoleAction::Revoke, &c.policy, user)?;
    }
    let source = caller.source();
    let ids = store.revoke(
        user,
        id,
        Action::Revoke,
        now,
        Origin {
            actor: &caller.name,
            source: &source,
        },
        reason,
    )?;
    Ok(Response::Revoked {
        user: user.to_string(),
        ids,
    })
}

pub(crate) fn unlock(
    site: &Site,
    config: &Config,
    caller: &Caller,
    user: &str,
    now: Time,
) -> Outcome {
    check_user(user)?;
    let policy = super::policy_of(site, config, user)?;
    require(config, caller, RoleAction::Unlock, policy.name(), user)?;
    // Failures a hot path counted but has not written yet must be in the store first, or
    // they would outlive the unlock.
    site.flush().map_err(|e| {
        Failure::Failed(format!(
            "gathered failures could not be written before unlocking: {e}"
        ))
    })?;
    let source = caller.source();
    let cleared = site.open_store()?.unlock(
        user,
        now,
        Origin {
            actor: &caller.name,
            source: &source,
        },
    )?;
    Ok(Response::Unlocked {
        user: user.to_string(),
        cleared,
    })
}

pub(crate) fn reload(site: &Site, caller: &Caller, now: Time) -> Outcome {
    if !caller.is_superadmin() {
        return Err(deny(
            "-",
            format!(
                "only root may reload the configuration; {} is not root",
                caller.name
            ),
        ));
    }
    let config = site
        .reload(&caller.name, &caller.source(), now)
        .map_err(|e| {
            Failure::Failed(format!(
                "the configuration was not reloaded, the running one stays in force:\n{e}"
            ))
        })?;
    Ok(Response::Reloaded {
        enabled: config.policy.enabled,
        policies: config.policy.policy.len(),
    })
}
