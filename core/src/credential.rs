//! A credential as stored: who it is for, its window, scope and uses, and its keyed hash.

use crate::key::Digest;
use crate::{SiteKey, Time};
use sparekey_conf::Kind;
use subtle::ConstantTimeEq;

/// How many times a credential may be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    /// Once (the default).
    Single,
    /// Any number of times within its window.
    Multi,
    /// At most this many times (2 or more).
    Limited(u32),
}

impl Uses {
    /// The cap on redemptions, or None for uncapped.
    pub fn cap(self) -> Option<u32> {
        match self {
            Uses::Single => Some(1),
            Uses::Multi => None,
            Uses::Limited(n) => Some(n),
        }
    }

    /// The inverse of [`Uses::cap`].
    pub fn from_cap(cap: Option<u32>) -> Self {
        match cap {
            None => Uses::Multi,
            Some(1) => Uses::Single,
            Some(n) => Uses::Limited(n),
        }
    }

    /// How it is shown: "single-use", "multi-use", "3 uses".
    pub fn describe(self) -> String {
        match self {
            Uses::Single => "single-use".into(),
            Uses::Multi => "multi-use".into(),
            Uses::Limited(n) => format!("{n} uses"),
        }
    }
}

/// A stored credential. The code itself is never here: only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Short random id, shown to admins, used by `revoke --id`.
    pub id: String,
    /// What kind of credential.
    pub kind: Kind,
    /// The user it belongs to.
    pub user: String,
    /// The policy it was issued under.
    pub policy: String,
    /// Services it is limited to; empty means all its policy allows.
    pub services: Vec<String>,
    /// Hosts it is limited to; empty means all its policy allows.
    pub hosts: Vec<String>,
    /// When it was issued; the 14-day ceiling counts from here.
    pub issued_at: Time,
    /// Valid from.
    pub not_before: Time,
    /// Valid until (exclusive).
    pub not_after: Time,
    /// How often it may be used.
    pub uses: Uses,
    /// How often it has been used.
    pub used: u32,
    /// When it was revoked (or retired, or replaced), if it was.
    pub revoked_at: Option<Time>,
    /// Who issued it.
    pub issued_by: String,
    /// The issuer's justification.
    pub reason: Option<String>,
    /// Activate on first use: the validity (seconds) that starts at the first redemption.
    /// While set, `not_after` is the redeem-by deadline; the first use replaces the window.
    pub activation: Option<u64>,
    /// HMAC-SHA256(site key, [`digest_subject`], code).
    pub digest: Digest,
    /// Its row's seal did not match when it was read: it was written or changed without the
    /// site key. Such a credential is never usable, and a code matching it is refused and
    /// audited as tampering.
    pub tampered: bool,
}

/// The user name universal (break-glass) credentials are stored under.
pub const UNIVERSAL_USER: &str = "*";

/// What a code's digest is bound to: the user, or for a universal code its policy (so that
/// it works for any user of that policy and no other).
pub fn digest_subject(kind: Kind, user: &str, policy: &str) -> String {
    match kind {
        Kind::Universal => format!("universal\0{policy}"),
        Kind::Temporary | Kind::Fixed | Kind::Offline => user.to_string(),
    }
}

/// Appends `bytes` with their length, so that no two field lists encode alike.
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends an optional integer: a presence byte, then the value.
fn optional(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

impl Credential {
    /// The seal of its row: HMAC-SHA256 under a subkey of the site key over every field
    /// (not `tampered`), each length-prefixed in a fixed order. Written with every change to
    /// the row and checked whenever it is read, so that a row edited or inserted without the
    /// key (reviving a spent code, widening its window or scope) is refused.
    pub fn seal(&self, key: &SiteKey) -> [u8; 32] {
        let mut b = Vec::with_capacity(256);
        b.extend_from_slice(b"sparekey credential row v1\0");
        field(&mut b, self.id.as_bytes());
        field(&mut b, self.kind.as_str().as_bytes());
        field(&mut b, self.user.as_bytes());
        field(&mut b, self.policy.as_bytes());
        b.extend_from_slice(&(self.services.len() as u64).to_be_bytes());
        for s in &self.services {
            field(&mut b, s.as_bytes());
        }
        b.extend_from_slice(&(self.hosts.len() as u64).to_be_bytes());
        for h in &self.hosts {
            field(&mut b, h.as_bytes());
        }
        for t in [self.issued_at, self.not_before, self.not_after] {
            b.extend_from_slice(&t.timestamp().to_be_bytes());
        }
        optional(&mut b, self.uses.cap().map(i64::from));
        b.extend_from_slice(&i64::from(self.used).to_be_bytes());
        optional(&mut b, self.revoked_at.map(|t| t.timestamp()));
        field(&mut b, self.issued_by.as_bytes());
        match &self.reason {
            None => b.push(0),
            Some(r) => {
                b.push(1);
                field(&mut b, r.as_bytes());
            }
        }
        optional(
            &mut b,
            self.activation
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        );
        field(&mut b, &self.digest);
        key.seal(&b)
    }

    /// Whether `seal` is this credential's (compared in constant time).
    pub fn seal_matches(&self, key: &SiteKey, seal: &[u8]) -> bool {
        self.seal(key).ct_eq(seal).into()
    }

    /// Whether it could still be redeemed at `now` (or later): not revoked, not expired, not used up.
    pub fn is_active(&self, now: Time) -> bool {
        !self.tampered && self.revoked_at.is_none() && now < self.not_after && !self.is_used_up()
    }

    /// Whether its uses are spent.
    pub fn is_used_up(&self) -> bool {
        self.uses.cap().is_some_and(|cap| self.used >= cap)
    }

    /// Redemptions left, or None for uncapped.
    pub fn uses_left(&self) -> Option<u32> {
        self.uses.cap().map(|cap| cap.saturating_sub(self.used))
    }

    /// Its state at `now`, as `list` shows it.
    pub fn state(&self, now: Time) -> &'static str {
        if self.tampered {
            "tampered"
        } else if self.revoked_at.is_some() {
            "revoked"
        } else if self.is_used_up() {
            "used"
        } else if now >= self.not_after {
            "expired"
        } else if now < self.not_before {
            "pending"
        } else if self.activation.is_some() {
            "unused"
        } else {
            "active"
        }
    }
}
