//! A credential as stored: who it is for, its window, scope and uses, and its keyed hash.

use crate::key::Digest;
use crate::Time;
use sparekey_conf::Kind;

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
}

/// The user name universal (break-glass) credentials are stored under.
pub const UNIVERSAL_USER: &str = "*";

/// What a code's digest is bound to: the user, or for a universal code its policy (so that
/// it works for any user of that policy and no other).
pub fn digest_subject(kind: Kind, user: &str, policy: &str) -> String {
    match kind {
        Kind::Universal => format!("universal\0{policy}"),
        Kind::Temporary | Kind::Fixed => user.to_string(),
    }
}

impl Credential {
    /// Whether it could still be redeemed at `now` (or later): not revoked, not expired, not used up.
    pub fn is_active(&self, now: Time) -> bool {
        self.revoked_at.is_none() && now < self.not_after && !self.is_used_up()
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
        if self.revoked_at.is_some() {
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
