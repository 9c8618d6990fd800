//! Core types turned into what the protocol shows.

use crate::protocol::{CredentialView, EventView};
use sparekey_core::audit::AuditEvent;
use sparekey_core::{rfc3339, Credential, Time};

pub(crate) fn credential(c: &Credential, now: Time) -> CredentialView {
    CredentialView {
        id: c.id.clone(),
        kind: c.kind.as_str().to_string(),
        user: c.user.clone(),
        policy: c.policy.clone(),
        state: c.state(now).to_string(),
        not_before: rfc3339(c.not_before),
        not_after: rfc3339(c.not_after),
        uses: c.uses.describe(),
        used: c.used,
        services: c.services.clone(),
        hosts: c.hosts.clone(),
        issued_by: c.issued_by.clone(),
        issued_at: rfc3339(c.issued_at),
        reason: c.reason.clone(),
    }
}

pub(crate) fn event(e: &AuditEvent) -> EventView {
    EventView {
        seq: e.seq,
        time: rfc3339(e.time),
        action: e.action.as_str().to_string(),
        actor: e.actor.clone(),
        subject: e.subject.clone(),
        credential: e.credential.clone(),
        service: e.service.clone(),
        source: e.source.clone(),
        reason: e.reason.clone(),
    }
}
