//! `offline respond`: the response code for a member host's offline request, made on the
//! site from the host's offline key, checked and audited like an issue.

use super::issue::authorize;
use super::{Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::{OfflineArgs, Response};
use sparekey_conf::{Config, Kind, RoleAction};
use sparekey_core::audit::{Action, AuditEvent};
use sparekey_core::offline::{quarters_of, response, RequestCode, QUARTER_HOUR};
use sparekey_core::{Site, Time};

pub(crate) fn respond(
    site: &Site,
    config: &Config,
    caller: &Caller,
    args: &OfflineArgs,
    now: Time,
) -> Outcome {
    let policy = authorize(site, config, caller, RoleAction::Offline, &args.user)?;
    let pname = policy.name();
    if !policy.allows_kind(Kind::Offline) {
        return Err(Failure::Failed(format!(
            "policy {pname:?} does not allow offline logins (its kinds need \"offline\"); nothing was made"
        )));
    }
    let lifetime: sparekey_conf::Duration = args
        .lifetime
        .parse()
        .map_err(|e| Failure::Failed(format!("--for {:?}: {e}", args.lifetime)))?;
    let max = sparekey_core::issue::ceiling(policy);
    if lifetime > max {
        return Err(Failure::Failed(format!(
            "--for {lifetime} is too long: policy {pname:?} allows at most {max} (the absolute maximum is 14 days)"
        )));
    }
    let quarters = quarters_of(lifetime.as_secs())?;
    let request = RequestCode::parse(&args.request)?;
    let store = site.open_store()?;
    let Some(host) = store
        .hosts()?
        .into_iter()
        .find(|h| h.name == args.host && h.revoked_at.is_none())
    else {
        return Err(Failure::Failed(format!(
            "no enrolled host {:?}; see sparekeyctl host list",
            args.host
        )));
    };
    let keys = site.key().host_keys(&host.name, host.serial);
    let code = response(&keys.offline, &host.name, &args.user, &request, quarters);
    let valid_secs = quarters * QUARTER_HOUR;
    let mut why = format!(
        "host {} request {} for {}",
        host.name,
        request.display(),
        sparekey_conf::Duration::from_secs(valid_secs)
    );
    if let Some(r) = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        why = format!("{r} ({why})");
    }
    let mut store = store;
    store.record(
        AuditEvent::new(now, Action::OfflineRespond, &caller.name, &args.user)
            .source(&caller.source())
            .reason(&why),
    )?;
    Ok(Response::OfflineResponse {
        host: host.name,
        user: args.user.clone(),
        response: code,
        valid_secs,
    })
}
