//! `host enroll`, `host revoke` and `host list`: the member hosts of a site. Each takes a role
//! with the `enroll` action over every policy ("*"), since an enrolled host may ask about
//! any user's codes that policy lets it see.

use super::{deny, Failure, Outcome};
use crate::caller::Caller;
use crate::protocol::{HostView, Response};
use sparekey_conf::{Config, RoleAction};
use sparekey_core::host::{host_file, Host};
use sparekey_core::store::Origin;
use sparekey_core::{rfc3339, Site, Time};

fn view(h: &Host) -> HostView {
    HostView {
        name: h.name.clone(),
        serial: h.serial,
        enrolled_at: rfc3339(h.enrolled_at),
        enrolled_by: h.enrolled_by.clone(),
        revoked_at: h.revoked_at.map(rfc3339),
        last_seen: h.last_seen.map(rfc3339),
    }
}

fn require_enroll(config: &Config, caller: &Caller, subject: &str) -> Result<(), Failure> {
    if caller.may(config, RoleAction::Enroll, "*") {
        return Ok(());
    }
    let who = caller.describe(config);
    Err(deny(
        subject,
        format!("{who} may not manage member hosts; that takes a role with the \"enroll\" action over all policies (policies = [\"*\"])"),
    ))
}

pub(crate) fn enroll(
    site: &Site,
    config: &Config,
    caller: &Caller,
    host: &str,
    now: Time,
) -> Outcome {
    require_enroll(config, caller, host)?;
    let source = caller.source();
    let origin = Origin {
        actor: &caller.name,
        source: &source,
    };
    let enrolled = site.open_store()?.enroll_host(host, now, origin)?;
    site.member_hosts().invalidate();
    let keys = site.key().host_keys(&enrolled.name, enrolled.serial);
    Ok(Response::HostEnrolled {
        host: view(&enrolled),
        file: host_file(&enrolled, &keys).to_string(),
    })
}

pub(crate) fn revoke(
    site: &Site,
    config: &Config,
    caller: &Caller,
    host: &str,
    reason: Option<&str>,
    now: Time,
) -> Outcome {
    require_enroll(config, caller, host)?;
    let source = caller.source();
    let origin = Origin {
        actor: &caller.name,
        source: &source,
    };
    let revoked = site.open_store()?.revoke_host(host, now, origin, reason)?;
    // The answering threads refuse the host from their next request on.
    site.member_hosts().invalidate();
    Ok(Response::HostRevoked {
        host: view(&revoked),
    })
}

pub(crate) fn list(site: &Site, config: &Config, caller: &Caller) -> Outcome {
    require_enroll(config, caller, "-")?;
    // When each host last asked, as far as the answering threads noted it.
    let _ = site.member_hosts().write_seen();
    let hosts = site.open_store()?.hosts()?;
    Ok(Response::Hosts {
        hosts: hosts.iter().map(view).collect(),
    })
}
