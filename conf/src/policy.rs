//! The schema of policy.toml: the organisation-wide switch, the contact text and the policies.

use crate::Duration;
use serde::Deserialize;
use toml::Spanned;

/// policy.toml as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyFile {
    /// The organisation-wide switch: no code is accepted or issued anywhere while false.
    #[serde(default)]
    pub enabled: bool,
    /// Shown to a person whose code was refused, e.g. "IT helpdesk, ext. 4357".
    #[serde(default = "default_contact")]
    pub contact: String,
    /// Policies, in order: the first whose `users` or `groups` match a user decides for them.
    #[serde(default)]
    pub policy: Vec<Policy>,
}

impl Default for PolicyFile {
    fn default() -> Self {
        PolicyFile {
            enabled: false,
            contact: default_contact(),
            policy: Vec::new(),
        }
    }
}

fn default_contact() -> String {
    "your system administrator".to_string()
}

impl PolicyFile {
    /// The policy named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Policy> {
        self.policy.iter().find(|p| p.name.get_ref() == name)
    }

    /// Whether any policy applies to unix groups, i.e. whether a user's groups are needed to
    /// find their policy (when not, logins skip the NSS lookup).
    pub fn names_groups(&self) -> bool {
        self.policy.iter().any(|p| !p.groups.is_empty())
    }

    /// The first policy, in file order, that matches `user` or one of `groups`.
    pub fn policy_for(&self, user: &str, groups: &[String]) -> Option<&Policy> {
        self.policy.iter().find(|p| p.matches(user, groups))
    }
}

/// `[[policy]]`: who may have credentials, of which kinds, for which services, for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// A unique name, referenced by roles.
    pub name: Spanned<String>,
    /// Users this policy applies to.
    #[serde(default)]
    pub users: Vec<String>,
    /// Unix groups (through NSS) whose members this policy applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Services (PAM service names, RADIUS client services) where credentials work.
    pub services: Vec<String>,
    /// Hosts where credentials work; empty means any.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Kinds of credential allowed.
    #[serde(default = "default_kinds")]
    pub kinds: Vec<Kind>,
    /// The longest lifetime; never above 14 days.
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: Spanned<Duration>,
    /// The lifetime when the issuer gives none.
    #[serde(default = "default_lifetime")]
    pub default_lifetime: Spanned<Duration>,
    /// Whether codes may be multi-use (`--multi`, `--uses N`).
    #[serde(default = "yes")]
    pub multi_use: bool,
    /// Whether `--reason` is mandatory at issue.
    #[serde(default)]
    pub require_reason: bool,
    /// What generated codes look like.
    #[serde(default)]
    pub code: CodeFormat,
    /// The shortest fixed passcode an admin may set (after spaces and dashes are dropped).
    #[serde(default = "default_fixed_min_length")]
    pub fixed_min_length: Spanned<usize>,
    /// Failed attempts allowed per window before temporary codes are refused for the user.
    #[serde(default)]
    pub lockout: Lockout,
}

impl Policy {
    /// The policy's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// Whether this policy applies to `user`, who is in `groups`.
    pub fn matches(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user) || self.groups.iter().any(|g| groups.contains(g))
    }

    /// Whether credentials may be used on `service`.
    pub fn allows_service(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// Whether credentials of `kind` may be made.
    pub fn allows_kind(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }
}

fn yes() -> bool {
    true
}

fn default_fixed_min_length() -> Spanned<usize> {
    Spanned::new(0..0, 8)
}

fn default_kinds() -> Vec<Kind> {
    vec![Kind::Temporary]
}

fn default_max_lifetime() -> Spanned<Duration> {
    Spanned::new(0..0, crate::MAX_LIFETIME)
}

fn default_lifetime() -> Spanned<Duration> {
    Spanned::new(0..0, Duration::from_secs(86_400))
}

/// A kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A generated code issued by the helpdesk.
    Temporary,
    /// A passcode the admin chooses.
    Fixed,
    /// A break-glass code for any user of the policy.
    Universal,
}

impl Kind {
    /// The name used in files, the store and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Temporary => "temporary",
            Kind::Fixed => "fixed",
            Kind::Universal => "universal",
        }
    }

    /// The inverse of [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "temporary" => Some(Kind::Temporary),
            "fixed" => Some(Kind::Fixed),
            "universal" => Some(Kind::Universal),
            _ => None,
        }
    }
}

/// `code = { length = 10, alphabet = "digits" }`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CodeFormat {
    /// How many characters a generated code has.
    #[serde(default = "default_length")]
    pub length: Spanned<usize>,
    /// Which characters it is drawn from.
    #[serde(default)]
    pub alphabet: Alphabet,
}

impl Default for CodeFormat {
    fn default() -> Self {
        CodeFormat {
            length: default_length(),
            alphabet: Alphabet::Digits,
        }
    }
}

fn default_length() -> Spanned<usize> {
    Spanned::new(0..0, 10)
}

/// The characters codes are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alphabet {
    /// 0-9.
    #[default]
    Digits,
    /// Upper-case letters and digits without look-alikes (no 0, O, 1, I, L); input is case-blind.
    Alphanumeric,
}

impl Alphabet {
    /// The characters, in order.
    pub fn chars(self) -> &'static [u8] {
        match self {
            Alphabet::Digits => b"0123456789",
            Alphabet::Alphanumeric => b"ABCDEFGHJKMNPQRSTUVWXYZ23456789",
        }
    }

    /// The shortest code length allowed for this alphabet (about 26 bits or more).
    pub fn min_length(self) -> usize {
        match self {
            Alphabet::Digits => 8,
            Alphabet::Alphanumeric => 6,
        }
    }
}

/// `lockout = { attempts = 5, window = "15m" }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lockout {
    /// Failures within `window` that lock the temporary-code path.
    pub attempts: u32,
    /// How far back failures count, and how long a lockout lasts.
    pub window: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            attempts: 5,
            window: Duration::from_secs(900),
        }
    }
}
