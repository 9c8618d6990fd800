//! The schema of sparekey.toml: store, admin socket and roles, audit, member-host [site] (the
//! `[radius]` table is in `radius.rs`).

use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// Where sparekey.toml lives unless told otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sparekey/sparekey.toml";

/// sparekey.toml as written (relative paths are resolved by [`crate::load`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonConfig {
    /// Where policy.toml is; default: beside sparekey.toml.
    pub policy_file: Option<PathBuf>,
    /// The store and the site key.
    #[serde(default)]
    pub store: StoreConfig,
    /// The admin socket and who may use it.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Where audit events go besides the store.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The RADIUS responder.
    #[serde(default)]
    pub radius: crate::RadiusConfig,
    /// On a member host: the site that checks codes (absent: this host is its own site).
    #[serde(default)]
    pub site: Option<SiteConfig>,
}

/// `[site]`, on a member host: where the site's sparekeyd nodes answer, and this host's file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteConfig {
    /// The site's nodes as "host:port" (a name or an address), tried in turn.
    pub servers: Vec<Spanned<String>>,
    /// The host file `sparekeyctl host enroll` wrote for this host; must be 0600.
    #[serde(default = "default_host_file")]
    pub host_file: Spanned<PathBuf>,
    /// How long one question to the site may take in all, retransmits and failover
    /// included (default 1s; 1s to 10s). Past it, PAM_AUTHINFO_UNAVAIL.
    #[serde(default = "default_site_timeout")]
    pub timeout: Spanned<crate::Duration>,
    /// Never ask the site: only the offline exchange works (a host that can never reach it).
    #[serde(default)]
    pub offline: bool,
    /// How long an offline request is shown again to the same user (default 1h; 5m to 1d).
    #[serde(default = "default_request_lifetime")]
    pub request_lifetime: Spanned<crate::Duration>,
}

/// The shortest and longest `[site] request-lifetime`.
pub const REQUEST_LIFETIME_RANGE: (crate::Duration, crate::Duration) = (
    crate::Duration::from_secs(300),
    crate::Duration::from_secs(86_400),
);

fn default_request_lifetime() -> Spanned<crate::Duration> {
    Spanned::new(0..0, crate::Duration::from_secs(3600))
}

/// The shortest and longest `[site] timeout`.
pub const SITE_TIMEOUT_RANGE: (crate::Duration, crate::Duration) = (
    crate::Duration::from_secs(1),
    crate::Duration::from_secs(10),
);

/// The UDP port of a `[site] servers` entry that names none.
pub const DEFAULT_SITE_PORT: u16 = 1812;

fn default_host_file() -> Spanned<PathBuf> {
    Spanned::new(0..0, PathBuf::from("/etc/sparekey/host.key"))
}

fn default_site_timeout() -> Spanned<crate::Duration> {
    Spanned::new(0..0, crate::Duration::from_secs(1))
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreConfig {
    /// Where credentials, counters and the audit log live.
    #[serde(default = "default_backend")]
    pub backend: Spanned<StoreBackend>,
    /// The SQLite file holding credentials, counters and the audit log.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// 32 random bytes that key the code hashes; must be 0600.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// PostgreSQL: the connection, libpq style ("postgresql://sparekey@db1,db2/sparekey?
    /// target_session_attrs=read-write", or "host=db1,db2 dbname=sparekey user=sparekey").
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// PostgreSQL: a file holding the password (one line); refused unless 0600.
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// PostgreSQL: TLS, the server's certificate verified against this CA file (PEM).
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// `[store] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreBackend {
    /// One SQLite file beside the PAM module and sparekeyd (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by several sparekeyd nodes.
    Postgresql,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Spanned::new(0..0, StoreBackend::Sqlite),
            path: default_store_path(),
            key_file: default_key_file(),
            url: None,
            password_file: None,
            ca_file: None,
        }
    }
}

fn default_backend() -> Spanned<StoreBackend> {
    Spanned::new(0..0, StoreBackend::Sqlite)
}

fn default_store_path() -> PathBuf {
    PathBuf::from("/var/lib/sparekey/sparekey.db")
}

fn default_key_file() -> PathBuf {
    PathBuf::from("/etc/sparekey/site.key")
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// The admin socket's path.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// The group that owns the socket (mode 0660); members can connect, roles decide the rest.
    #[serde(default = "default_socket_group")]
    pub socket_group: String,
    /// Who may do what; root is always superadmin.
    #[serde(default)]
    pub role: Vec<AdminRole>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            socket: default_socket(),
            socket_group: default_socket_group(),
            role: Vec::new(),
        }
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/sparekey/admin.sock")
}

fn default_socket_group() -> String {
    "sparekey-admin".to_string()
}

/// `[[admin.role]]`: members (by user or unix group) may take these actions on these policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminRole {
    /// A name for messages and the audit log.
    pub name: Spanned<String>,
    /// Users who hold the role.
    #[serde(default)]
    pub users: Vec<String>,
    /// Unix groups (resolved through NSS) whose members hold the role.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The actions allowed.
    pub may: Vec<Spanned<RoleAction>>,
    /// The policies the role acts on; "*" means all.
    pub policies: Vec<Spanned<String>>,
}

impl AdminRole {
    /// Whether the role covers the policy named `policy`.
    pub fn covers_policy(&self, policy: &str) -> bool {
        self.policies
            .iter()
            .any(|p| p.get_ref() == "*" || p.get_ref() == policy)
    }

    /// Whether the role allows `action`.
    pub fn allows(&self, action: RoleAction) -> bool {
        self.may.iter().any(|a| *a.get_ref() == action)
    }
}

/// Something a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleAction {
    /// Issue temporary codes.
    Issue,
    /// Revoke credentials.
    Revoke,
    /// Replace a user's code with a new one.
    Replace,
    /// List credentials.
    List,
    /// Read the audit log.
    Audit,
    /// Set fixed passcodes.
    Fixed,
    /// Issue universal (break-glass) codes.
    Universal,
    /// Clear a lockout.
    Unlock,
    /// Enroll, revoke and list member hosts (with policies = ["*"]).
    Enroll,
    /// Answer a member host's offline request (`sparekeyctl offline respond`).
    Offline,
}

impl RoleAction {
    /// The name used in the files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleAction::Issue => "issue",
            RoleAction::Revoke => "revoke",
            RoleAction::Replace => "replace",
            RoleAction::List => "list",
            RoleAction::Audit => "audit",
            RoleAction::Fixed => "fixed",
            RoleAction::Universal => "universal",
            RoleAction::Unlock => "unlock",
            RoleAction::Enroll => "enroll",
            RoleAction::Offline => "offline",
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuditConfig {
    /// Also send every event to syslog (facility authpriv). Default true.
    #[serde(default = "yes")]
    pub syslog: bool,
    /// How long events are kept in the store; absent: for ever. At least 1d.
    #[serde(default)]
    pub keep: Option<Spanned<crate::Duration>>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            syslog: true,
            keep: None,
        }
    }
}

/// The shortest `[audit] keep`: a day, so that what happened today is always there.
pub const MIN_AUDIT_KEEP: crate::Duration = crate::Duration::from_secs(86_400);

fn yes() -> bool {
    true
}

/// A `[site] servers` entry split into its host and port: "site1:1812", "192.0.2.5",
/// "[2001:db8::5]:1812" (no port: [`DEFAULT_SITE_PORT`]). `Err` says what was expected.
pub fn split_server(entry: &str) -> Result<(String, u16), String> {
    let expected = || {
        format!("expected \"host:port\" like \"site1.example.org:1812\", \"192.0.2.5:1812\" or \"[2001:db8::5]:1812\", found {entry:?}")
    };
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
        return Ok((ip.to_string(), DEFAULT_SITE_PORT));
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| expected())?),
        None => (entry, DEFAULT_SITE_PORT),
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !name_ok || port == 0 {
        return Err(expected());
    }
    Ok((host.to_string(), port))
}
