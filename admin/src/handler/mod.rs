//! Admin request handlers: check the caller's right, act through sparekey-core, answer.
//! Library code with the time passed in; the socket server is a thin shell over [`handle`].

mod hosts;
mod issue;
mod manage;
mod offline;
mod read;
mod views;

use crate::caller::Caller;
use crate::protocol::{Request, Response};
use sparekey_conf::{Config, Policy, RoleAction};
use sparekey_core::audit::{Action, AuditEvent};
use sparekey_core::Site;
use sparekey_core::Time;

/// Answers one request from `caller`. Refusals are audited and answered with a sentence
/// that says why and what would be allowed; nothing is changed by a refused request.
pub fn handle(site: &Site, caller: &Caller, request: Request, now: Time) -> Response {
    let config = site.config();
    let result = match request {
        Request::Issue(args) => issue::issue(site, &config, caller, &args, now, false),
        Request::Replace(args) => issue::issue(site, &config, caller, &args, now, true),
        Request::Fixed(args) => issue::fixed(site, &config, caller, &args, now),
        Request::Universal(args) => issue::universal(site, &config, caller, &args, now),
        Request::List { user, all } => read::list(site, &config, caller, user.as_deref(), all, now),
        Request::Revoke { user, id, reason } => manage::revoke(
            site,
            &config,
            caller,
            &user,
            id.as_deref(),
            reason.as_deref(),
            now,
        ),
        Request::Unlock { user } => manage::unlock(site, &config, caller, &user, now),
        Request::Audit {
            user,
            limit,
            verify,
        } => read::audit(site, &config, caller, user.as_deref(), limit, verify),
        Request::Status => read::status(site, &config, caller, now),
        Request::Reload => manage::reload(site, caller, now),
        Request::HostEnroll { host } => hosts::enroll(site, &config, caller, &host, now),
        Request::HostRevoke { host, reason } => {
            hosts::revoke(site, &config, caller, &host, reason.as_deref(), now)
        }
        Request::HostList => hosts::list(site, &config, caller),
        Request::OfflineRespond(args) => offline::respond(site, &config, caller, &args, now),
    };
    match result {
        Ok(r) => r,
        Err(Failure::Denied { subject, message }) => {
            // Gathered, not written at once: a caller repeating a refused request (a script,
            // or misuse) costs one row per half second with the count, not one each. The
            // source names the uid, not the pid, so that the repeats are one event.
            let event = AuditEvent::new(now, Action::Denied, &caller.name, &subject)
                .source(&format!("admin-socket uid={}", caller.uid))
                .reason(&message);
            // Kept for the next write even when the journal cannot take it (a full disk):
            // the refusal stands either way, and changes nothing.
            let _ = site.redeemer().gather(&event);
            Response::Error { error: message }
        }
        Err(Failure::Failed(message)) => Response::Error { error: message },
    }
}

/// Why a request was not carried out.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The caller lacks the right; audited.
    Denied {
        /// Whom the request was about.
        subject: String,
        /// Why, for the caller.
        message: String,
    },
    /// The request cannot be carried out (bad argument, policy, store).
    Failed(String),
}

impl From<sparekey_core::Error> for Failure {
    fn from(e: sparekey_core::Error) -> Self {
        Failure::Failed(e.to_string())
    }
}

pub(crate) type Outcome = Result<Response, Failure>;

pub(crate) fn deny(subject: &str, message: String) -> Failure {
    Failure::Denied {
        subject: subject.to_string(),
        message,
    }
}

/// The policy that covers `user`, or a refusal saying so.
pub(crate) fn policy_of<'a>(
    site: &Site,
    config: &'a Config,
    user: &str,
) -> Result<&'a Policy, Failure> {
    let groups = site.directory().groups_of(user)?;
    config.policy.policy_for(user, &groups).ok_or_else(|| {
        Failure::Failed(format!(
            "user {user:?} is in no policy, so they cannot have temporary codes; add them (or one of their groups) to a policy in {}",
            config.policy_path.display()
        ))
    })
}

/// Refuses unless `caller` may take `action` on `policy`.
pub(crate) fn require(
    config: &Config,
    caller: &Caller,
    action: RoleAction,
    policy: &str,
    subject: &str,
) -> Result<(), Failure> {
    if caller.may(config, action, policy) {
        return Ok(());
    }
    let who = caller.describe(config);
    Err(deny(subject, format!("{who} may not {} for policy {policy:?}; ask an administrator for a role that allows it", action.as_str())))
}

/// A user name as the admin typed it: one line, not empty, not absurd.
pub(crate) fn check_user(user: &str) -> Result<(), Failure> {
    if user.is_empty()
        || user.len() > 256
        || user.chars().any(|c| c.is_control() || c == '/')
        || user.starts_with('-')
    {
        return Err(Failure::Failed(format!(
            "{user:?} is not a user name; expected a login name like \"alice\""
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
