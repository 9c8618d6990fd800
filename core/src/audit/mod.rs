//! Audit events: who did what to whom, with which credential, from where and why; never a code.
//! Each is kept in the store, chained to the one before by an HMAC, and sent to a sink (syslog).

mod batch;
mod syslog;

pub use self::batch::{AuditBatch, EventRef};
pub use self::syslog::SyslogSink;

use crate::Time;
use std::fmt::Write as _;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A credential was issued.
    Issue,
    /// A credential was revoked by an admin.
    Revoke,
    /// A user's code was replaced by a new one.
    Replace,
    /// A code was accepted.
    Redeem,
    /// A code was refused.
    Failure,
    /// A user reached the failure limit; temporary codes are refused for a while.
    Lockout,
    /// A user's temporary codes ended because their usual MFA worked again.
    Retire,
    /// An admin cleared a lockout.
    Unlock,
    /// An admin request was refused.
    Denied,
    /// The configuration was (re)loaded.
    Reload,
    /// Events older than `[audit] keep` were removed from the store.
    Prune,
    /// A code matched a credential whose row was changed without the site key (its seal
    /// does not match, or its window breaks the 14-day ceiling): refused.
    Tampered,
    /// A member host was enrolled (its host file made).
    Enroll,
    /// A member host was revoked: the site refuses it.
    HostRevoke,
    /// The helpdesk made the response code for a member host's offline request.
    OfflineRespond,
    /// A member host let a user in offline (reported to the site when it was reachable
    /// again): a response accepted, or an accepted response used again within its validity.
    OfflineLogin,
    /// A store was copied into this one (`sparekeyd --import-sqlite`).
    Import,
    /// A NAS reported a session's start or stop, or its own accounting on or off.
    Accounting,
    /// A request was passed on to an upstream RADIUS server (the usual MFA).
    Forward,
    /// A password checked through PAM (challenge and append modes) was refused.
    PasswordRefused,
}

impl Action {
    /// The name in the store and in syslog.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Issue => "issue",
            Action::Revoke => "revoke",
            Action::Replace => "replace",
            Action::Redeem => "redeem",
            Action::Failure => "failure",
            Action::Lockout => "lockout",
            Action::Retire => "retire",
            Action::Unlock => "unlock",
            Action::Denied => "denied",
            Action::Reload => "reload",
            Action::Prune => "prune",
            Action::Tampered => "tampered",
            Action::Enroll => "enroll",
            Action::HostRevoke => "host-revoke",
            Action::OfflineRespond => "offline-respond",
            Action::OfflineLogin => "offline-login",
            Action::Import => "import",
            Action::Accounting => "accounting",
            Action::Forward => "forward",
            Action::PasswordRefused => "password-refused",
        }
    }

    /// The inverse of [`Action::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Action::Issue,
            Action::Revoke,
            Action::Replace,
            Action::Redeem,
            Action::Failure,
            Action::Lockout,
            Action::Retire,
            Action::Unlock,
            Action::Denied,
            Action::Reload,
            Action::Prune,
            Action::Tampered,
            Action::Enroll,
            Action::HostRevoke,
            Action::OfflineRespond,
            Action::OfflineLogin,
            Action::Import,
            Action::Accounting,
            Action::Forward,
            Action::PasswordRefused,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log (0 until stored).
    pub seq: i64,
    /// When.
    pub time: Time,
    /// What.
    pub action: Action,
    /// Who did it: an admin's user name, or the user logging in.
    pub actor: String,
    /// Whom it concerns.
    pub subject: String,
    /// Which credential, if one.
    pub credential: Option<String>,
    /// On which service (sshd, vpn, ...), if a login.
    pub service: Option<String>,
    /// From where: "admin-socket uid=1000", "pam rhost=... tty=...", "radius client=...".
    pub source: String,
    /// Why: the issuer's justification or the precise reason of a refusal.
    pub reason: Option<String>,
}

impl AuditEvent {
    /// An event with the required fields; add the rest with the builder methods.
    pub fn new(time: Time, action: Action, actor: &str, subject: &str) -> Self {
        AuditEvent {
            seq: 0,
            time,
            action,
            actor: actor.to_string(),
            subject: subject.to_string(),
            credential: None,
            service: None,
            source: String::new(),
            reason: None,
        }
    }

    /// With the credential id.
    pub fn credential(mut self, id: &str) -> Self {
        self.credential = Some(id.to_string());
        self
    }

    /// With the service.
    pub fn service(mut self, service: &str) -> Self {
        self.service = Some(service.to_string());
        self
    }

    /// With the source.
    pub fn source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        self
    }

    /// With the reason.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    /// Unambiguous bytes of the event for the HMAC chain: each field length-prefixed.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.borrowed().canonical_into(&mut out);
        out
    }

    /// The event borrowed, as [`AuditBatch::add`] takes it.
    pub fn borrowed(&self) -> EventRef<'_> {
        EventRef {
            time: self.time,
            action: self.action,
            actor: &self.actor,
            subject: &self.subject,
            credential: self.credential.as_deref(),
            service: self.service.as_deref(),
            source: &self.source,
            reason: self.reason.as_deref(),
        }
    }

    /// The inverse of [`AuditEvent::canonical`] (an empty credential, service or reason
    /// comes back as none), or None for bytes that are not one event.
    pub fn from_canonical(mut bytes: &[u8]) -> Option<AuditEvent> {
        let mut fields: [&str; 8] = [""; 8];
        for f in &mut fields {
            let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
            *f = std::str::from_utf8(bytes.get(4..4 + len)?).ok()?;
            bytes = &bytes[4 + len..];
        }
        if !bytes.is_empty() {
            return None;
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some(AuditEvent {
            seq: 0,
            time: chrono::DateTime::from_timestamp(fields[0].parse().ok()?, 0)?,
            action: Action::parse(fields[1])?,
            actor: fields[2].to_string(),
            subject: fields[3].to_string(),
            credential: some(fields[4]),
            service: some(fields[5]),
            source: fields[6].to_string(),
            reason: some(fields[7]),
        })
    }

    /// One line of `key=value` pairs for syslog, with values quoted and control characters
    /// escaped so that a user name cannot forge a line.
    pub fn line(&self) -> String {
        let mut s = format!("action={}", self.action.as_str());
        let mut put = |k: &str, v: &str| {
            let _ = write!(s, " {k}={}", quote(v));
        };
        put("actor", &self.actor);
        put("subject", &self.subject);
        if let Some(c) = &self.credential {
            put("credential", c);
        }
        if let Some(v) = &self.service {
            put("service", v);
        }
        if !self.source.is_empty() {
            put("source", &self.source);
        }
        if let Some(r) = &self.reason {
            put("reason", r);
        }
        s
    }
}

fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@:/".contains(c));
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where events go besides the store.
pub trait AuditSink: Send + Sync {
    /// Delivers one event; must not fail the operation that caused it.
    fn emit(&self, event: &AuditEvent);
}

/// A sink that drops events (tests, and `[audit] syslog = false`).
#[derive(Debug, Default)]
pub struct NoSink;

impl AuditSink for NoSink {
    fn emit(&self, _event: &AuditEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn line_escapes_what_could_forge_a_log_entry() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let e = AuditEvent::new(t, Action::Failure, "eve\nroot", "alice")
            .service("sshd")
            .source("pam rhost=10.0.0.1 tty=ssh")
            .reason("wrong code");
        assert_eq!(
            e.line(),
            "action=failure actor=\"eve\\x0aroot\" subject=alice service=sshd source=\"pam rhost=10.0.0.1 tty=ssh\" reason=\"wrong code\""
        );
    }

    #[test]
    fn canonical_form_separates_fields() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let a = AuditEvent::new(t, Action::Issue, "ab", "c");
        let b = AuditEvent::new(t, Action::Issue, "a", "bc");
        assert_ne!(a.canonical(), b.canonical());
    }

    #[test]
    fn actions_round_trip() {
        for a in [
            "issue", "revoke", "replace", "redeem", "failure", "lockout", "retire", "unlock",
            "denied", "reload",
        ] {
            assert_eq!(Action::parse(a).unwrap().as_str(), a);
        }
    }
}
