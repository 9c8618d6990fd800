//! The audit events and refusals that every store implementation writes the same way, so
//! that SQLite and PostgreSQL record an issue, a replace, a revoke, an enrollment or a prune
//! in the same words.

use crate::audit::{Action, AuditEvent};
use crate::host::Host;
use crate::store::Origin;
use crate::{Credential, Error, Time, Verdict};

/// The event of a credential issued (`Action::Issue`) or issued in place of others
/// (`Action::Replace`, with the ids it `ended` in its reason).
pub fn issued(
    cred: &Credential,
    action: Action,
    origin: Origin<'_>,
    ended: &[String],
) -> AuditEvent {
    let mut e = AuditEvent::new(cred.issued_at, action, origin.actor, &cred.user)
        .credential(&cred.id)
        .source(origin.source);
    e.reason = cred.reason.clone();
    if !ended.is_empty() {
        let why = format!("replaces {}", ended.join(", "));
        e.reason = Some(match &cred.reason {
            Some(r) => format!("{r} ({why})"),
            None => why,
        });
    }
    e
}

/// The events of `user`'s credentials `ended` by `action` (revoke or retire).
pub fn ended(
    user: &str,
    ended: &[String],
    action: Action,
    now: Time,
    origin: Origin<'_>,
    reason: Option<&str>,
) -> Vec<AuditEvent> {
    ended
        .iter()
        .map(|id| {
            let mut e = AuditEvent::new(now, action, origin.actor, user)
                .credential(id)
                .source(origin.source);
            e.reason = reason.map(str::to_string);
            e
        })
        .collect()
}

/// The refusal of a revoke of one credential that `user` does not have active.
pub fn no_such_credential(user: &str, id: &str) -> Error {
    Error::NotFound(format!(
        "user {user:?} has no active credential with id {id:?}"
    ))
}

/// The refusal to enroll `h` again while it is enrolled.
pub fn enrolled_already(h: &Host) -> Error {
    let name = &h.name;
    Error::Refused(format!(
        "host {name:?} is enrolled already (enrollment {}, {}, by {}); revoke it first (sparekeyctl host revoke {name}) to make a new host file, which ends the old one",
        h.serial,
        crate::rfc3339(h.enrolled_at),
        h.enrolled_by
    ))
}

/// The refusal to revoke a host that is not enrolled.
pub fn no_such_host(name: &str) -> Error {
    Error::NotFound(format!(
        "no enrolled host {name:?}; see sparekeyctl host list"
    ))
}

/// The event of host `name` enrolled with `serial`.
pub fn enrolled(name: &str, serial: u32, now: Time, origin: Origin<'_>) -> AuditEvent {
    AuditEvent::new(now, Action::Enroll, origin.actor, name)
        .source(origin.source)
        .reason(&format!("enrollment {serial}"))
}

/// The event of a prune that removed `removed` events up to `seq`, older than `before`.
pub fn pruned(removed: u64, seq: i64, before: Time, now: Time, origin: Origin<'_>) -> AuditEvent {
    let why = format!(
        "{removed} events up to seq {seq} (older than {}) removed; the chain now starts after it",
        crate::rfc3339(before)
    );
    AuditEvent::new(now, Action::Prune, origin.actor, "-")
        .source(origin.source)
        .reason(&why)
}

/// A verdict as the replies table keeps it: credential, end, counted, activates, reason.
pub fn reply_columns(
    verdict: &Verdict,
) -> (Option<&str>, Option<i64>, bool, bool, Option<&'static str>) {
    match verdict {
        Verdict::Accepted {
            credential,
            not_after,
            counted,
            activates,
            ..
        } => (
            Some(credential.as_str()),
            Some(not_after.timestamp()),
            *counted,
            *activates,
            None,
        ),
        Verdict::Rejected(r) => (None, None, false, false, Some(r.as_str())),
    }
}
