//! The schema of sparekey.toml's `[radius]` table: listen addresses, NAS clients and their
//! modes, and the upstream RADIUS servers (the usual MFA) requests can be passed on to.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

use crate::Cidr;

/// `[radius]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RadiusConfig {
    /// UDP addresses to answer on, e.g. "127.0.0.1:1812" or "[::1]:1812". Empty: RADIUS off.
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    /// How long the answer to a request that changed state (a single-use or capped code, a
    /// first use) is kept for its retransmits, in the store (default 60s; 5s to 1h).
    #[serde(default = "default_replay_window")]
    pub replay_window: Spanned<crate::Duration>,
    /// NAS clients allowed to ask.
    #[serde(default)]
    pub client: Vec<RadiusClientConfig>,
    /// RADIUS servers (the organisation's usual MFA) that clients' `upstream` names.
    #[serde(default)]
    pub upstream: Vec<UpstreamConfig>,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            listen: Vec::new(),
            replay_window: default_replay_window(),
            client: Vec::new(),
            upstream: Vec::new(),
        }
    }
}

impl RadiusConfig {
    /// The upstream named `name`.
    pub fn upstream(&self, name: &str) -> Option<&UpstreamConfig> {
        self.upstream.iter().find(|u| u.name.get_ref() == name)
    }
}

/// The shortest and longest `[radius] replay-window`.
pub const REPLAY_WINDOW_RANGE: (crate::Duration, crate::Duration) = (
    crate::Duration::from_secs(5),
    crate::Duration::from_secs(3600),
);

fn default_replay_window() -> Spanned<crate::Duration> {
    Spanned::new(0..0, crate::Duration::from_secs(60))
}

/// `[[radius.client]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RadiusClientConfig {
    /// A name for logs and the audit log.
    pub name: Spanned<String>,
    /// An IP address or CIDR block, e.g. "192.0.2.10" or "192.0.2.0/24".
    pub address: Cidr,
    /// A file holding the shared secret; refused when readable by group or others.
    /// Relative paths are resolved against sparekey.toml's directory by [`crate::load`].
    /// None only for `member-hosts`, whose secrets come from the site key.
    #[serde(default)]
    pub secret_file: Option<Spanned<PathBuf>>,
    /// The service name policies match for this client, e.g. "vpn". Not for
    /// `member-hosts`, whose requests name their PAM service.
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    /// Message-Authenticator on Access-Requests: required (true, the default), checked when
    /// present (false), or required once one request of the client carried one ("auto").
    /// Always required for `member-hosts`.
    #[serde(default = "default_rule")]
    pub require_message_authenticator: Spanned<MessageAuthenticatorRule>,
    /// The addresses are enrolled member hosts (pam_sparekey in member mode): each one's
    /// secret is derived from the site key and the name its NAS-Identifier gives.
    #[serde(default)]
    pub member_hosts: bool,
    /// What the User-Password of this client's requests carries.
    #[serde(default = "default_mode")]
    pub mode: Spanned<ClientMode>,
    /// challenge and append: the PAM service on this host that checks passwords.
    #[serde(default)]
    pub primary_pam_service: Option<Spanned<String>>,
    /// challenge: the Reply-Message of the Access-Challenge that asks for the code.
    #[serde(default)]
    pub challenge_prompt: Option<Spanned<String>>,
    /// append: what separates the password from the code (the last occurrence counts).
    #[serde(default)]
    pub append_delimiter: Option<Spanned<String>>,
    /// The `[[radius.upstream]]` that answers users without a usable code here (and, in
    /// challenge mode, every round that is not sparekey's).
    #[serde(default)]
    pub upstream: Option<Spanned<String>>,
    /// Answer Accounting-Requests (RFC 2866) and record session start and stop.
    #[serde(default)]
    pub accounting: bool,
}

fn default_rule() -> Spanned<MessageAuthenticatorRule> {
    Spanned::new(0..0, MessageAuthenticatorRule::Required)
}

fn default_mode() -> Spanned<ClientMode> {
    Spanned::new(0..0, ClientMode::CodeOnly)
}

/// The PAM service a challenge or append client checks passwords with by default.
pub const DEFAULT_PRIMARY_PAM_SERVICE: &str = "sparekey-radius";
/// The Access-Challenge prompt by default.
pub const DEFAULT_CHALLENGE_PROMPT: &str = "Temporary code: ";
/// What separates password and code in append mode by default.
pub const DEFAULT_APPEND_DELIMITER: &str = ",";

impl RadiusClientConfig {
    /// The PAM service that checks passwords (challenge and append).
    pub fn primary_pam_service(&self) -> &str {
        self.primary_pam_service
            .as_ref()
            .map_or(DEFAULT_PRIMARY_PAM_SERVICE, |s| s.get_ref())
    }

    /// The Access-Challenge's Reply-Message (challenge).
    pub fn challenge_prompt(&self) -> &str {
        self.challenge_prompt
            .as_ref()
            .map_or(DEFAULT_CHALLENGE_PROMPT, |s| s.get_ref())
    }

    /// The delimiter between password and code (append).
    pub fn append_delimiter(&self) -> &str {
        self.append_delimiter
            .as_ref()
            .map_or(DEFAULT_APPEND_DELIMITER, |s| s.get_ref())
    }
}

/// `mode` of a `[[radius.client]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// The User-Password is the code; the NAS checked the password elsewhere (the default).
    #[default]
    CodeOnly,
    /// The first request carries the password, checked through PAM here; an
    /// Access-Challenge asks for the code.
    Challenge,
    /// The User-Password is password, delimiter, code.
    Append,
}

impl ClientMode {
    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::CodeOnly => "code-only",
            ClientMode::Challenge => "challenge",
            ClientMode::Append => "append",
        }
    }
}

/// `require-message-authenticator`: true, false or "auto".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageAuthenticatorRule {
    /// Every Access-Request must carry a valid one (true, the default).
    #[default]
    Required,
    /// Checked when present (false).
    IfPresent,
    /// Checked when present; required from the client once any request carried one, as
    /// FreeRADIUS 3.2.5 does ("auto").
    Auto,
}

impl<'de> Deserialize<'de> for MessageAuthenticatorRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl Visitor<'_> for RuleVisitor {
            type Value = MessageAuthenticatorRule;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(if v {
                    MessageAuthenticatorRule::Required
                } else {
                    MessageAuthenticatorRule::IfPresent
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(MessageAuthenticatorRule::Auto),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(RuleVisitor)
    }
}

/// `[[radius.upstream]]`: a RADIUS server requests are passed on to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamConfig {
    /// The name clients' `upstream` gives.
    pub name: Spanned<String>,
    /// "host:port" (a name is resolved when the configuration is loaded).
    pub address: Spanned<String>,
    /// The shared secret with it; refused when readable by group or others.
    pub secret_file: Spanned<PathBuf>,
    /// How long to wait for its answer to one send (default 2s; 1s to 2m: a push to a
    /// phone waits for the person).
    #[serde(default = "default_upstream_timeout")]
    pub timeout: Spanned<crate::Duration>,
    /// Sends again after a timeout (default 2; 0 to 5).
    #[serde(default = "default_upstream_retries")]
    pub retries: Spanned<u32>,
}

/// The shortest and longest `[[radius.upstream]] timeout`.
pub const UPSTREAM_TIMEOUT_RANGE: (crate::Duration, crate::Duration) = (
    crate::Duration::from_secs(1),
    crate::Duration::from_secs(120),
);

/// The most `[[radius.upstream]] retries`.
pub const MAX_UPSTREAM_RETRIES: u32 = 5;

fn default_upstream_timeout() -> Spanned<crate::Duration> {
    Spanned::new(0..0, crate::Duration::from_secs(2))
}

fn default_upstream_retries() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
