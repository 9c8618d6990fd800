//! The schema of policy.toml: the organisation-wide switch, the contact text and the policies.

use crate::Duration;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;
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
    /// User name -> index of the first policy that lists it, once
    /// [`PolicyFile::index_users`] has built it.
    #[serde(skip)]
    by_user: OnceLock<HashMap<String, usize>>,
}

impl Default for PolicyFile {
    fn default() -> Self {
        PolicyFile {
            enabled: false,
            contact: default_contact(),
            policy: Vec::new(),
            by_user: OnceLock::new(),
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

    /// The first policy, in file order, that matches `user` or one of `groups`. A scan of the
    /// users lists, or a hash lookup once [`PolicyFile::index_users`] was called.
    pub fn policy_for(&self, user: &str, groups: &[String]) -> Option<&Policy> {
        let Some(by_user) = self.by_user.get() else {
            return self.policy.iter().find(|p| p.matches(user, groups));
        };
        let named = by_user.get(user).copied();
        let before = &self.policy[..named.unwrap_or(self.policy.len())];
        let by_group = if groups.is_empty() {
            None
        } else {
            before
                .iter()
                .position(|p| p.groups.iter().any(|g| groups.contains(g)))
        };
        by_group.or(named).map(|i| &self.policy[i])
    }

    /// Builds the index [`PolicyFile::policy_for`] uses from then on, for a process that
    /// looks many users up in this file (sparekeyd); a PAM login's one lookup is cheaper as a
    /// scan. Does nothing the second time. The policies must not change afterwards.
    pub fn index_users(&self) {
        self.by_user.get_or_init(|| {
            let mut index = HashMap::new();
            for (i, p) in self.policy.iter().enumerate() {
                for u in &p.users {
                    index.entry(u.clone()).or_insert(i);
                }
            }
            index
        });
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
    /// RADIUS attributes added to the Access-Accept of a code login under this policy.
    #[serde(default)]
    pub reply: Vec<crate::ReplyAttribute>,
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
    /// An offline response: a member host that cannot reach the site lets the user in with
    /// a response code the helpdesk reads back (`sparekeyctl offline respond`). Never a
    /// stored credential.
    Offline,
}

impl Kind {
    /// The name used in files, the store and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Temporary => "temporary",
            Kind::Fixed => "fixed",
            Kind::Universal => "universal",
            Kind::Offline => "offline",
        }
    }

    /// The inverse of [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "temporary" => Some(Kind::Temporary),
            "fixed" => Some(Kind::Fixed),
            "universal" => Some(Kind::Universal),
            "offline" => Some(Kind::Offline),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_index_finds_the_same_policy_as_the_scan() {
        let file = crate::parse_policy(
            r#"
[[policy]]
name = "a"
users = ["ann"]
services = ["sshd"]
[[policy]]
name = "ops"
groups = ["ops"]
services = ["sshd"]
[[policy]]
name = "b"
users = ["bob", "ann"]
groups = ["dev"]
services = ["sshd"]
[[policy]]
name = "c"
users = ["carl", "bob"]
services = ["sshd"]
"#,
            Path::new("p.toml"),
        )
        .unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("ann", &[]),
            ("ann", &["ops"]),
            ("bob", &[]),
            ("bob", &["ops"]),
            ("bob", &["dev"]),
            ("carl", &["dev"]),
            ("carl", &[]),
            ("dora", &["dev"]),
            ("dora", &["ops", "dev"]),
            ("dora", &[]),
            ("", &[]),
        ];
        let answers = || -> Vec<Option<String>> {
            cases
                .iter()
                .map(|(u, g)| {
                    let g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
                    file.policy_for(u, &g).map(|p| p.name().to_string())
                })
                .collect()
        };
        let scanned = answers();
        file.index_users();
        let indexed = answers();
        assert_eq!(scanned, indexed);
        let name = |i: usize| indexed[i].as_deref();
        assert_eq!(name(1), Some("a"), "by name, before the group policy");
        assert_eq!(name(3), Some("ops"), "by group, before the name");
        assert_eq!(name(5), Some("b"), "carl by group dev, before c");
        assert_eq!(name(8), Some("ops"));
        assert_eq!(name(9), None);
    }
}
