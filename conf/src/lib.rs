//! sparekey-conf: the TOML files admins edit (sparekey.toml and policy.toml): their schema,
//! defaults and validation, with errors that name file, line, column and what was expected.
//!
//! This crate depends on nothing else of sparekey's; everything that reads configuration
//! (the PAM module, sparekeyd, sparekeyctl) goes through [`load`].
#![forbid(unsafe_code)]

mod cidr;
mod daemon;
mod diagnostic;
mod duration;
mod error;
mod load;
mod policy;
mod radius;
mod radius_checks;
mod reply;
mod secret_file;

pub use cidr::Cidr;
pub use daemon::{
    split_server, AdminConfig, AdminRole, AuditConfig, DaemonConfig, RoleAction, SiteConfig,
    StoreBackend, StoreConfig, DEFAULT_CONFIG_PATH, DEFAULT_SITE_PORT, SITE_TIMEOUT_RANGE,
};
pub use diagnostic::Diagnostic;
pub use duration::{Duration, MAX_LIFETIME};
pub use error::Error;
pub use load::{load, load_policy, parse_policy, Config};
pub use policy::{Alphabet, CodeFormat, Kind, Lockout, Policy, PolicyFile};
pub use radius::{
    ClientMode, MessageAuthenticatorRule, RadiusClientConfig, RadiusConfig, UpstreamConfig,
    DEFAULT_APPEND_DELIMITER, DEFAULT_CHALLENGE_PROMPT, DEFAULT_PRIMARY_PAM_SERVICE,
};
pub use reply::{ReplyAttribute, ReplyValue, StandardReply};
pub use secret_file::{check_secret_file, secret_file_problem};
pub use toml::Spanned;
