//! Issuing: checks a request against its policy and the 14-day ceiling, and makes the
//! credential and its code. Pure apart from drawing the code from the OS.

use crate::credential::digest_subject;
use crate::{Code, Credential, Error, SiteKey, Time, Uses};
use sparekey_conf::{Kind, Policy, MAX_LIFETIME};

/// The longest justification accepted, in characters.
pub const MAX_REASON: usize = 500;

/// A universal (break-glass) code lasts an hour unless asked otherwise.
pub const UNIVERSAL_DEFAULT_SECS: u64 = 3600;

/// What the issuer asked for; unset fields take the policy's defaults.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The user the credential is for.
    pub user: String,
    /// The kind of credential.
    pub kind: Kind,
    /// How long it is valid from its start (`--for`).
    pub lifetime: Option<sparekey_conf::Duration>,
    /// When it starts (`--from`); default now.
    pub not_before: Option<Time>,
    /// When it ends (`--until`); exclusive with `lifetime`.
    pub not_after: Option<Time>,
    /// How often it may be used.
    pub uses: Uses,
    /// Services to narrow to; empty means all the policy allows.
    pub services: Vec<String>,
    /// Hosts to narrow to; empty means all the policy allows.
    pub hosts: Vec<String>,
    /// The justification.
    pub reason: Option<String>,
    /// Who asks (for the record).
    pub issued_by: String,
    /// Activate on first use, which must come within this long of issue.
    pub activate_within: Option<sparekey_conf::Duration>,
}

impl IssueRequest {
    /// A single-use temporary code for `user` asked by `issued_by`, with every other term
    /// left to the policy's defaults; set fields to ask for more.
    pub fn new(user: &str, issued_by: &str) -> Self {
        IssueRequest {
            user: user.to_string(),
            kind: Kind::Temporary,
            lifetime: None,
            not_before: None,
            not_after: None,
            uses: Uses::Single,
            services: Vec::new(),
            hosts: Vec::new(),
            reason: None,
            issued_by: issued_by.to_string(),
            activate_within: None,
        }
    }
}

/// The effective ceiling of `policy`: its max-lifetime, never above 14 days.
pub fn ceiling(policy: &Policy) -> sparekey_conf::Duration {
    (*policy.max_lifetime.get_ref()).min(MAX_LIFETIME)
}

fn refuse(msg: String) -> Result<Credential, Error> {
    Err(Error::Refused(msg))
}

/// Checks `req` against `policy` and makes the credential for `code` (already generated or
/// chosen). The credential gets a fresh random id.
pub fn make_credential(
    policy: &Policy,
    req: &IssueRequest,
    code: &Code,
    key: &SiteKey,
    now: Time,
) -> Result<Credential, Error> {
    let pname = policy.name();
    if req.kind == Kind::Offline {
        return refuse(
            "offline is not a credential to issue: answer a member host's request with sparekeyctl offline respond".into(),
        );
    }
    if !policy.allows_kind(req.kind) {
        return refuse(format!(
            "policy {pname:?} does not allow {} credentials (its kinds: {})",
            req.kind.as_str(),
            policy
                .kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (not_before, not_after, activation) = window(policy, req, now)?;
    if req.kind == Kind::Fixed {
        let min = *policy.fixed_min_length.get_ref();
        if code.as_bytes().len() < min {
            return refuse(format!(
                "the passcode is too short: policy {pname:?} needs at least {min} characters (spaces and dashes do not count)"
            ));
        }
    }
    match req.uses {
        Uses::Limited(0) => return refuse("--uses must be at least 1".into()),
        Uses::Multi | Uses::Limited(_) if req.kind == Kind::Temporary && !policy.multi_use => {
            return refuse(format!(
                "policy {pname:?} allows only single-use codes (multi-use = false)"
            ));
        }
        _ => {}
    }
    for name in req.services.iter().chain(&req.hosts) {
        if name.is_empty()
            || name.len() > 253
            || name
                .chars()
                .any(|c| c == ',' || c.is_whitespace() || c.is_control())
        {
            return refuse(format!(
                "{name:?} is not a service or host name; expected a name without spaces or commas"
            ));
        }
    }
    for s in &req.services {
        if !policy.allows_service(s) {
            return refuse(format!(
                "service {s:?} is not allowed by policy {pname:?}; expected one of: {}",
                policy.services.join(", ")
            ));
        }
    }
    for h in &req.hosts {
        if !policy.hosts.is_empty() && !policy.hosts.contains(h) {
            return refuse(format!(
                "host {h:?} is not allowed by policy {pname:?}; expected one of: {}",
                policy.hosts.join(", ")
            ));
        }
    }
    let reason = req
        .reason
        .as_ref()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    match &reason {
        None if policy.require_reason => {
            return refuse(format!(
                "policy {pname:?} requires a justification: give --reason TEXT"
            ));
        }
        Some(r) if r.chars().count() > MAX_REASON || r.chars().any(char::is_control) => {
            return refuse(format!(
                "the reason must be one line of at most {MAX_REASON} characters"
            ));
        }
        _ => {}
    }
    Ok(Credential {
        id: new_id()?,
        kind: req.kind,
        user: req.user.clone(),
        policy: pname.to_string(),
        services: req.services.clone(),
        hosts: req.hosts.clone(),
        issued_at: now,
        not_before,
        not_after,
        uses: req.uses,
        used: 0,
        revoked_at: None,
        issued_by: req.issued_by.clone(),
        reason,
        activation,
        digest: key.digest(&digest_subject(req.kind, &req.user, pname), code.as_bytes()),
        tampered: false,
    })
}

/// The window a request asks for, checked against the ceiling: (not_before, not_after,
/// activation). With activate-on-first-use, not_after is the redeem-by deadline and the
/// lifetime waits in `activation`.
fn window(
    policy: &Policy,
    req: &IssueRequest,
    now: Time,
) -> Result<(Time, Time, Option<u64>), Error> {
    let pname = policy.name();
    let max = ceiling(policy);
    let too_long = |what: &str, secs: u64| {
        let asked = sparekey_conf::Duration::from_secs(secs);
        let limit = if max == MAX_LIFETIME {
            "the maximum is 14 days after issue (14d)".to_string()
        } else {
            format!("policy {pname:?} allows at most {max} after issue (the absolute maximum is 14 days)")
        };
        Error::Refused(format!("{what} {asked} after issue is too long: {limit}"))
    };
    let default_lifetime = match req.kind {
        Kind::Universal => sparekey_conf::Duration::from_secs(UNIVERSAL_DEFAULT_SECS).min(max),
        Kind::Temporary | Kind::Fixed | Kind::Offline => *policy.default_lifetime.get_ref(),
    };
    if let Some(within) = req.activate_within {
        if req.not_before.is_some() || req.not_after.is_some() {
            return Err(Error::Refused(
                "a code activated on first use starts at its first use: give --for and --redeem-within, not --from or --until".into(),
            ));
        }
        let lifetime = req.lifetime.unwrap_or(default_lifetime);
        if lifetime > max {
            return Err(too_long("a credential lasting", lifetime.as_secs()));
        }
        if within > max {
            return Err(too_long("a first use due", within.as_secs()));
        }
        return Ok((
            now,
            crate::after(now, within.as_secs()),
            Some(lifetime.as_secs()),
        ));
    }
    let not_before = req.not_before.map_or(now, |t| t.max(now));
    let not_after = match (req.lifetime, req.not_after) {
        (Some(_), Some(_)) => {
            return Err(Error::Refused(
                "give either a lifetime (--for) or an end (--until), not both".into(),
            ))
        }
        (None, Some(end)) => end,
        (Some(d), None) => crate::after(not_before, d.as_secs()),
        (None, None) => crate::after(not_before, default_lifetime.as_secs()),
    };
    if not_after <= not_before {
        return Err(Error::Refused(format!(
            "the window ends ({}) before it starts ({}); expected an end after the start",
            crate::rfc3339(not_after),
            crate::rfc3339(not_before)
        )));
    }
    if not_after > crate::after(now, max.as_secs()) {
        return Err(too_long(
            "a credential ending",
            (not_after - now).num_seconds().max(0) as u64,
        ));
    }
    Ok((not_before, not_after, None))
}

/// A short random credential id: 12 hex digits.
fn new_id() -> Result<String, Error> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| Error::Randomness(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
#[path = "issue_tests.rs"]
mod tests;
