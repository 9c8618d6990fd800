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
        let time = self.time.timestamp().to_string();
        let fields: [&str; 8] = [
            &time,
            self.action.as_str(),
            &self.actor,
            &self.subject,
            self.credential.as_deref().unwrap_or(""),
            self.service.as_deref().unwrap_or(""),
            &self.source,
            self.reason.as_deref().unwrap_or(""),
        ];
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out
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
