//! `issue` and `replace`: a new temporary code, shown in the answer once.

use super::{check_user, deny, policy_of, require, Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::{IssueArgs, Issued, Response};
use crate::State;
use chrono::{DateTime, Utc};
use sparekey_conf::{Config, Kind, RoleAction};
use sparekey_core::issue::{make_credential, IssueRequest};
use sparekey_core::store::Origin;
use sparekey_core::{rfc3339, Code, Time, Uses};

pub(crate) fn issue(
    state: &State,
    config: &Config,
    caller: &Caller,
    args: &IssueArgs,
    now: Time,
    replace: bool,
) -> Outcome {
    let user = args.user.as_str();
    check_user(user)?;
    let action = if replace {
        RoleAction::Replace
    } else {
        RoleAction::Issue
    };
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
    if user == caller.name {
        return Err(deny(
            user,
            format!(
                "nobody may {} a code for their own account ({user}); ask a colleague",
                action.as_str()
            ),
        ));
    }
    let policy = policy_of(config, user)?;
    require(config, caller, action, policy.name(), user)?;

    let mut store = state.open_store()?;
    let mut request = request_from(args, caller, now)?;
    if replace {
        // Without options, the new code keeps the scope, uses and length of the newest active one.
        let active = store.credentials(Some(user), Some(now))?;
        if let Some(old) = active.iter().find(|c| c.kind == Kind::Temporary) {
            inherit(&mut request, args, old);
        }
    }
    let code = Code::generate(&policy.code)?;
    let cred = make_credential(policy, &request, &code, state.key(), now)?;
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
    Ok(Response::Issued(Issued {
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
    }))
}

fn request_from(args: &IssueArgs, caller: &Caller, now: Time) -> Result<IssueRequest, Failure> {
    let lifetime = args
        .lifetime
        .as_deref()
        .map(|s| {
            s.parse::<sparekey_conf::Duration>()
                .map_err(|e| Failure::Failed(format!("--for: {e}")))
        })
        .transpose()?;
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
    let not_after = time("--until", &args.until)?;
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
    Ok(IssueRequest {
        user: args.user.clone(),
        kind: Kind::Temporary,
        lifetime,
        not_before,
        not_after,
        uses,
        services: args.services.clone(),
        hosts: args.hosts.clone(),
        reason: args.reason.clone(),
        issued_by: caller.name.clone(),
    })
}

fn inherit(request: &mut IssueRequest, args: &IssueArgs, old: &sparekey_core::Credential) {
    if args.lifetime.is_none() && args.until.is_none() && args.from.is_none() {
        let secs = (old.not_after - old.not_before).num_seconds().max(1) as u64;
        request.lifetime = Some(sparekey_conf::Duration::from_secs(secs));
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
