//! `issue`, `replace`, `fixed` and `universal`: new credentials. A generated code is in the
//! answer once and nowhere else; a fixed passcode is never echoed back.

use super::{check_user, deny, policy_of, require, Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::{FixedArgs, IssueArgs, Issued, Response, UniversalArgs};
use chrono::{DateTime, Utc};
use sparekey_conf::{Config, Duration, Kind, Policy, RoleAction};
use sparekey_core::credential::UNIVERSAL_USER;
use sparekey_core::issue::{make_credential, IssueRequest};
use sparekey_core::store::Origin;
use sparekey_core::Site;
use sparekey_core::{rfc3339, Code, Credential, Time, Uses};

/// The checks every new credential for a user passes: the switch, the caller's right on the
/// user's policy, and nobody acting on their own account. Returns the user's policy.
pub(crate) fn authorize<'a>(
    site: &Site,
    config: &'a Config,
    caller: &Caller,
    action: RoleAction,
    user: &str,
) -> Result<&'a Policy, Failure> {
    check_user(user)?;
    if !config.policy.enabled {
        return Err(Failure::Failed(format!(
            "temporary codes are disabled for this organisation (enabled = false in {}); nothing was issued",
            config.policy_path.display()
        )));
    }
    if !caller.may_at_all(config, action) {
        let who = caller.describe(config);
        return Err(deny(
            user,
            format!(
                "{who} may not {}; ask an administrator for a role that allows it",
                action.as_str()
            ),
        ));
    }
    // The account, not the name: several names may reach one uid (a case variant under
    // SSSD's case_sensitive = false, a short and a fully-qualified name, shared uids).
    let target_uid = site.directory().uid_of(user)?;
    if user == caller.name || target_uid == Some(caller.uid) {
        let same = if user == caller.name {
            String::new()
        } else {
            format!(
                ", which is the same account as {} (uid {})",
                caller.name, caller.uid
            )
        };
        return Err(deny(
            user,
            format!(
                "nobody may {} a code for their own account ({user}{same}); ask a colleague",
                action.as_str()
            ),
        ));
    }
    let policy = policy_of(site, config, user)?;
    require(config, caller, action, policy.name(), user)?;
    Ok(policy)
}

pub(crate) fn issue(
    site: &Site,
    config: &Config,
    caller: &Caller,
    args: &IssueArgs,
    now: Time,
    replace: bool,
) -> Outcome {
    let action = if replace {
        RoleAction::Replace
    } else {
        RoleAction::Issue
    };
    let policy = authorize(site, config, caller, action, &args.user)?;
    let mut store = site.open_store()?;
    let mut request = request_from(args, caller, now)?;
    if replace {
        // Without options, the new code keeps the scope, uses and length of the newest active one.
        let active = store.credentials(Some(&args.user), Some(now))?;
        if let Some(old) = active.iter().find(|c| c.kind == Kind::Temporary) {
            inherit(&mut request, args, old);
        }
    }
    let code = Code::generate(&policy.code)?;
    let cred = make_credential(policy, &request, &code, site.key(), now)?;
    let source = caller.source();
    let origin = Origin {
        actor: &caller.name,
        source: &source,
    };
    let replaced = if replace {
        store.replace(&cred, now, origin)?
    } else {
        store.issue(&cred, origin)?;
        Vec::new()
    };
    Ok(Response::Issued(issued(&cred, policy, &code, replaced)))
}

pub(crate) fn fixed(
    site: &Site,
    config: &Config,
    caller: &Caller,
    args: &FixedArgs,
    now: Time,
) -> Outcome {
    let policy = authorize(site, config, caller, RoleAction::Fixed, &args.user)?;
    if args.passcode.chars().any(char::is_control) {
        return Err(Failure::Failed(
            "the passcode holds control characters; type letters, digits, spaces or dashes".into(),
        ));
    }
    let passcode = Code::from_input(args.passcode.as_bytes())
        .map_err(|e| Failure::Failed(format!("the passcode is not usable: {e}")))?;
    let request = IssueRequest {
        kind: Kind::Fixed,
        uses: Uses::Multi,
        lifetime: parse_lifetime("--for", args.lifetime.as_deref())?,
        reason: args.reason.clone(),
        ..IssueRequest::new(&args.user, &caller.name)
    };
    let cred = make_credential(policy, &request, &passcode, site.key(), now)?;
    let source = caller.source();
    let replaced = site.open_store()?.replace(
        &cred,
        now,
        Origin {
            actor: &caller.name,
            source: &source,
        },
    )?;
    Ok(Response::FixedSet {
        id: cred.id,
        user: cred.user,
        not_before: rfc3339(cred.not_before),
        not_after: rfc3339(cred.not_after),
        policy: cred.policy,
        replaced,
    })
}

pub(crate) fn universal(
    site: &Site,
    config: &Config,
    caller: &Caller,
    args: &UniversalArgs,
    now: Time,
) -> Outcome {
    if !caller.is_superadmin() {
        return Err(deny(
            UNIVERSAL_USER,
            format!(
                "only root may issue a universal (break-glass) code; {} is not root",
                caller.name
            ),
        ));
    }
    if !config.policy.enabled {
        return Err(Failure::Failed("temporary codes are disabled for this organisation (enabled = false); nothing was issued".into()));
    }
    let policy = config.policy.by_name(&args.policy).ok_or_else(|| {
        let names: Vec<&str> = config.policy.policy.iter().map(|p| p.name()).collect();
        Failure::Failed(format!(
            "unknown policy {:?}; expected one of: {}",
            args.policy,
            names.join(", ")
        ))
    })?;
    let request = IssueRequest {
        kind: Kind::Universal,
        uses: Uses::Multi,
        lifetime: parse_lifetime("--for", args.lifetime.as_deref())?,
        services: args.services.clone(),
        hosts: args.hosts.clone(),
        reason: args.reason.clone(),
        ..IssueRequest::new(UNIVERSAL_USER, &caller.name)
    };
    let code = Code::generate(&policy.code)?;
    let cred = make_credential(policy, &request, &code, site.key(), now)?;
    let source = caller.source();
    site.open_store()?.issue(
        &cred,
        Origin {
            actor: &caller.name,
            source: &source,
        },
    )?;
    Ok(Response::Issued(issued(&cred, policy, &code, Vec::new())))
}

fn issued(cred: &Credential, policy: &Policy, code: &Code, replaced: Vec<String>) -> Issued {
    Issued {
        id: cred.id.clone(),
        code: code.display().to_string(),
        user: cred.user.clone(),
        not_before: rfc3339(cred.not_before),
        not_after: rfc3339(cred.not_after),
        uses: cred.uses.describe(),
        policy: cred.policy.clone(),
        services: if cred.services.is_empty() {
            policy.services.clone()
        } else {
            cred.services.clone()
        },
        hosts: if cred.hosts.is_empty() {
            policy.hosts.clone()
        } else {
            cred.hosts.clone()
        },
        replaced,
        lasts_from_first_use: cred.activation.map(|s| Duration::from_secs(s).to_string()),
    }
}

fn parse_lifetime(flag: &str, text: Option<&str>) -> Result<Option<Duration>, Failure> {
    text.map(|s| {
        s.parse::<Duration>()
            .map_err(|e| Failure::Failed(format!("{flag}: {e}")))
    })
    .transpose()
}

fn request_from(args: &IssueArgs, caller: &Caller, now: Time) -> Result<IssueRequest, Failure> {
    let time = |flag: &str, s: &Option<String>| -> Result<Option<Time>, Failure> {
        s.as_deref()
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Failure::Failed(format!("{flag}: expected a time in RFC 3339 like 2026-11-22T09:00:00Z, found {v:?}")))
            })
            .transpose()
    };
    let not_before = time("--from", &args.from)?;
    if let Some(t) = not_before.filter(|t| *t > now + chrono::Duration::days(14)) {
        return Err(Failure::Failed(format!(
            "--from {} is more than 14 days away; the maximum is 14 days after issue",
            rfc3339(t)
        )));
    }
    let uses = match (args.multi, args.uses) {
        (true, Some(_)) => {
            return Err(Failure::Failed(
                "give either --multi or --uses N, not both".into(),
            ))
        }
        (true, None) => Uses::Multi,
        (false, None) => Uses::Single,
        (false, Some(0)) => return Err(Failure::Failed("--uses must be at least 1".into())),
        (false, Some(n)) => Uses::from_cap(Some(n)),
    };
    let activate_within = match (args.activate_on_first_use, args.redeem_within.as_deref()) {
        (false, Some(_)) => {
            return Err(Failure::Failed(
                "--redeem-within goes with --activate-on-first-use".into(),
            ))
        }
        (false, None) => None,
        (true, within) => {
            Some(parse_lifetime("--redeem-within", within)?.unwrap_or(sparekey_conf::MAX_LIFETIME))
        }
    };
    Ok(IssueRequest {
        lifetime: parse_lifetime("--for", args.lifetime.as_deref())?,
        not_before,
        not_after: time("--until", &args.until)?,
        uses,
        services: args.services.clone(),
        hosts: args.hosts.clone(),
        reason: args.reason.clone(),
        activate_within,
        ..IssueRequest::new(&args.user, &caller.name)
    })
}

fn inherit(request: &mut IssueRequest, args: &IssueArgs, old: &Credential) {
    if args.lifetime.is_none() && args.until.is_none() && args.from.is_none() {
        let secs = old
            .activation
            .unwrap_or_else(|| (old.not_after - old.not_before).num_seconds().max(1) as u64);
        request.lifetime = Some(Duration::from_secs(secs));
    }
    if !args.multi && args.uses.is_none() {
        request.uses = old.uses;
    }
    if args.services.is_empty() {
        request.services = old.services.clone();
    }
    if args.hosts.is_empty() {
        request.hosts = old.hosts.clone();
    }
}
