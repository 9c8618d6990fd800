//! Reading sparekey.toml and policy.toml from disk, resolving paths, and checking them as a whole.

use crate::{DaemonConfig, Diagnostic, Error, PolicyFile, MAX_LIFETIME};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Both files, parsed and checked, with every relative path resolved against sparekey.toml's directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where sparekey.toml was read from.
    pub path: PathBuf,
    /// Where policy.toml was read from.
    pub policy_path: PathBuf,
    /// sparekey.toml.
    pub daemon: DaemonConfig,
    /// policy.toml.
    pub policy: PolicyFile,
}

impl Config {
    /// One line for a successful check: "/etc/sparekey/sparekey.toml and
    /// /etc/sparekey/policy.toml are valid (2 policies, temporary codes enabled)".
    pub fn summary(&self) -> String {
        format!(
            "{} and {} are valid ({} policies, temporary codes {})",
            self.path.display(),
            self.policy_path.display(),
            self.policy.policy.len(),
            if self.policy.enabled {
                "enabled"
            } else {
                "disabled"
            }
        )
    }
}

/// Reads and checks sparekey.toml at `path` and the policy file it names (or policy.toml beside it).
/// Every error found in either file is reported.
pub fn load(path: &Path) -> Result<Config, Error> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let path = absolute.as_path();
    let mut diags = Vec::new();
    let daemon = read_toml::<DaemonConfig>(path, &mut diags);
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let policy_path = match daemon.as_ref().map(|(d, _)| d.policy_file.clone()) {
        Some(Some(p)) => base.join(p),
        _ => base.join("policy.toml"),
    };
    let policy = read_toml::<PolicyFile>(&policy_path, &mut diags);
    if let Some((policy, src)) = &policy {
        check_policy(&policy_path, src, policy, &mut diags);
    }
    if let Some((daemon, src)) = &daemon {
        check_daemon(
            path,
            src,
            daemon,
            policy.as_ref().map(|(p, _)| p),
            &mut diags,
        );
    }
    match (daemon, policy) {
        (Some((mut daemon, _)), Some((policy, _))) if diags.is_empty() => {
            resolve_paths(&mut daemon, &base);
            Ok(Config {
                path: path.to_path_buf(),
                policy_path,
                daemon,
                policy,
            })
        }
        _ => Err(Error::Invalid(diags)),
    }
}

/// Reads and checks a policy file by itself.
pub fn load_policy(path: &Path) -> Result<PolicyFile, Error> {
    match std::fs::read_to_string(path) {
        Ok(src) => parse_policy(&src, path),
        Err(e) => Err(Error::Invalid(vec![Diagnostic::whole_file(
            path,
            format!("cannot read the file: {e}"),
        )])),
    }
}

/// Parses and checks policy text; `origin` names it in errors.
pub fn parse_policy(src: &str, origin: &Path) -> Result<PolicyFile, Error> {
    let mut diags = Vec::new();
    match toml::from_str::<PolicyFile>(src) {
        Ok(policy) => {
            check_policy(origin, src, &policy, &mut diags);
            if diags.is_empty() {
                return Ok(policy);
            }
        }
        Err(e) => diags.push(Diagnostic::at(
            origin,
            src,
            e.span(),
            e.message().trim_end().to_string(),
        )),
    }
    Err(Error::Invalid(diags))
}

/// Why a configuration file may not be trusted, if it may not: it is writable by group or
/// others, or owned by someone other than root and the user running this, so that someone
/// else could change what the PAM module and sparekeyd do.
fn file_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let shown = path.display();
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "mode {mode:04o} lets group or others change this file; expected 0640 or stricter (fix: chmod 640 {shown})"
        ));
    }
    let owner = meta.uid();
    let me = nix::unistd::geteuid().as_raw();
    if owner != 0 && owner != me {
        return Some(format!(
            "owned by uid {owner}, who could change it; expected root (fix: chown root: {shown})"
        ));
    }
    None
}

fn read_toml<T: DeserializeOwned>(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<(T, String)> {
    if let Some(problem) = file_problem(path) {
        diags.push(Diagnostic::whole_file(path, problem));
        return None;
    }
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            diags.push(Diagnostic::whole_file(
                path,
                format!("cannot read the file: {e}"),
            ));
            return None;
        }
    };
    match toml::from_str::<T>(&src) {
        Ok(v) => Some((v, src)),
        Err(e) => {
            diags.push(Diagnostic::at(
                path,
                &src,
                e.span(),
                e.message().trim_end().to_string(),
            ));
            None
        }
    }
}

fn check_policy(path: &Path, src: &str, file: &PolicyFile, diags: &mut Vec<Diagnostic>) {
    let mut err = |span, msg: String| diags.push(Diagnostic::at(path, src, Some(span), msg));
    let mut names = HashSet::new();
    for p in &file.policy {
        let name = p.name();
        if name.trim().is_empty() {
            err(
                p.name.span(),
                "expected a policy name, found an empty string".into(),
            );
        }
        if !names.insert(name) {
            err(
                p.name.span(),
                format!("policy {name:?} is defined twice; names must be unique"),
            );
        }
        if p.users.is_empty() && p.groups.is_empty() {
            err(
                p.name.span(),
                format!("policy {name:?} applies to nobody: give `users` or `groups`"),
            );
        }
        crate::reply::check_replies(name, &p.reply, &mut err);
        if p.services.is_empty() {
            err(p.name.span(), format!("policy {name:?} allows no service: list at least one in `services`, e.g. [\"sshd\", \"vpn\"]"));
        }
        if p.kinds.is_empty() {
            err(p.name.span(), format!("policy {name:?} allows no kind of credential: `kinds` needs \"temporary\", \"fixed\", \"universal\" or \"offline\""));
        }
        let max = *p.max_lifetime.get_ref();
        if max > MAX_LIFETIME {
            err(
                p.max_lifetime.span(),
                format!("max-lifetime {max} is above the 14-day maximum; expected at most 14d"),
            );
        }
        let default = *p.default_lifetime.get_ref();
        if default > max.min(MAX_LIFETIME) {
            let span = if p.default_lifetime.span().is_empty() {
                p.max_lifetime.span()
            } else {
                p.default_lifetime.span()
            };
            err(span, format!("default-lifetime {default} is longer than max-lifetime {}; expected at most that", max.min(MAX_LIFETIME)));
        }
        let len = *p.code.length.get_ref();
        let min = p.code.alphabet.min_length();
        if !(min..=64).contains(&len) {
            let span = if p.code.length.span().is_empty() {
                p.name.span()
            } else {
                p.code.length.span()
            };
            err(
                span,
                format!(
                    "code length {len} is out of range; expected {min} to 64 for this alphabet"
                ),
            );
        }
        let fixed = *p.fixed_min_length.get_ref();
        if !(6..=128).contains(&fixed) {
            let span = if p.fixed_min_length.span().is_empty() {
                p.name.span()
            } else {
                p.fixed_min_length.span()
            };
            err(
                span,
                format!("fixed-min-length {fixed} is out of range; expected 6 to 128"),
            );
        }
        if p.lockout.attempts == 0 {
            err(
                p.name.span(),
                format!("policy {name:?}: lockout attempts must be at least 1"),
            );
        }
        if p.lockout.window > MAX_LIFETIME {
            err(
                p.name.span(),
                format!(
                    "policy {name:?}: lockout window {} is too long; expected at most {MAX_LIFETIME}, the longest any code lives",
                    p.lockout.window
                ),
            );
        }
    }
}

fn check_daemon(
    path: &Path,
    src: &str,
    d: &DaemonConfig,
    policy: Option<&PolicyFile>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut err = |span, msg: String| diags.push(Diagnostic::at(path, src, Some(span), msg));
    let mut roles = HashSet::new();
    for role in &d.admin.role {
        let name = role.name.get_ref();
        if !roles.insert(name.as_str()) {
            err(
                role.name.span(),
                format!("role {name:?} is defined twice; names must be unique"),
            );
        }
        if role.users.is_empty() && role.groups.is_empty() {
            err(
                role.name.span(),
                format!("role {name:?} has no members: give `users` or `groups`"),
            );
        }
        if role.may.is_empty() {
            err(
                role.name.span(),
                format!("role {name:?} may do nothing: list actions in `may`"),
            );
        }
        for p in &role.policies {
            let known =
                p.get_ref() == "*" || policy.is_none_or(|f| f.by_name(p.get_ref()).is_some());
            if !known {
                let names: Vec<&str> = policy
                    .map(|f| f.policy.iter().map(|p| p.name()).collect())
                    .unwrap_or_default();
                err(p.span(), format!("unknown policy {:?}; expected one of the policies in the policy file ({}) or \"*\"", p.get_ref(), names.join(", ")));
            }
        }
    }
    if let Some(keep) = &d.audit.keep {
        let min = crate::daemon::MIN_AUDIT_KEEP;
        if *keep.get_ref() < min {
            err(
                keep.span(),
                format!(
                    "keep {} is too short; expected at least {min}, or no keep to keep every event",
                    keep.get_ref()
                ),
            );
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    crate::radius_checks::check_radius(&d.radius, base, &mut err);
    if let Some(site) = &d.site {
        check_site(site, &mut err);
    }
    check_store(&d.store, base, &mut err);
}

fn check_store(
    store: &crate::StoreConfig,
    base: &Path,
    err: &mut impl FnMut(std::ops::Range<usize>, String),
) {
    let postgresql = *store.backend.get_ref() == crate::StoreBackend::Postgresql;
    if postgresql && store.url.is_none() {
        err(
            store.backend.span(),
            "backend = \"postgresql\" needs a `url`, e.g. \"postgresql://sparekey@db1.example.org,db2.example.org/sparekey?target_session_attrs=read-write\"".into(),
        );
    }
    for (name, given) in [
        ("url", store.url.as_ref().map(|u| u.span())),
        (
            "password-file",
            store.password_file.as_ref().map(|p| p.span()),
        ),
        ("ca-file", store.ca_file.as_ref().map(|p| p.span())),
    ] {
        if let (Some(span), false) = (given, postgresql) {
            err(
                span,
                format!("`{name}` is for backend = \"postgresql\"; the SQLite store is `path`"),
            );
        }
    }
    if let (Some(url), true) = (&store.url, postgresql) {
        if url.get_ref().contains("password=") || url.get_ref().contains(":@") {
            err(
                url.span(),
                "the url holds no password; put it in `password-file` (mode 0600)".into(),
            );
        } else if let Some(at) = url.get_ref().find('@') {
            let user_part = &url.get_ref()[..at];
            if user_part
                .rsplit("//")
                .next()
                .is_some_and(|u| u.contains(':'))
            {
                err(
                    url.span(),
                    "the url holds no password; put it in `password-file` (mode 0600)".into(),
                );
            }
        }
    }
    if let (Some(file), true) = (&store.password_file, postgresql) {
        if let Err(problem) = crate::check_secret_file(&base.join(file.get_ref())) {
            err(file.span(), problem);
        }
    }
    if let (Some(file), true) = (&store.ca_file, postgresql) {
        if let Err(e) = std::fs::metadata(base.join(file.get_ref())) {
            err(
                file.span(),
                format!("ca-file {}: {e}; expected the PEM file of the CA that signed the server's certificate", file.get_ref().display()),
            );
        }
    }
}

fn check_site(site: &crate::SiteConfig, err: &mut impl FnMut(std::ops::Range<usize>, String)) {
    if site.servers.is_empty() {
        err(
            site.host_file.span(),
            "[site] needs `servers`, e.g. [\"site1.example.org:1812\", \"site2.example.org:1812\"]"
                .into(),
        );
    }
    for s in &site.servers {
        if let Err(why) = crate::split_server(s.get_ref()) {
            err(s.span(), why);
        }
    }
    let timeout = *site.timeout.get_ref();
    let (shortest, longest) = crate::daemon::SITE_TIMEOUT_RANGE;
    if !(shortest..=longest).contains(&timeout) {
        err(
            site.timeout.span(),
            format!("timeout {timeout} is out of range; expected {shortest} to {longest}"),
        );
    }
    let kept = *site.request_lifetime.get_ref();
    let (shortest, longest) = crate::daemon::REQUEST_LIFETIME_RANGE;
    if !(shortest..=longest).contains(&kept) {
        err(
            site.request_lifetime.span(),
            format!("request-lifetime {kept} is out of range; expected {shortest} to {longest}"),
        );
    }
}

fn resolve_paths(d: &mut DaemonConfig, base: &Path) {
    for p in [
        &mut d.store.path,
        &mut d.store.key_file,
        &mut d.admin.socket,
    ] {
        *p = base.join(&*p);
    }
    for c in &mut d.radius.client {
        if let Some(f) = c.secret_file.as_mut() {
            let absolute = base.join(f.get_ref());
            *f.get_mut() = absolute;
        }
    }
    for u in &mut d.radius.upstream {
        let absolute = base.join(u.secret_file.get_ref());
        *u.secret_file.get_mut() = absolute;
    }
    if let Some(site) = d.site.as_mut() {
        let absolute = base.join(site.host_file.get_ref());
        *site.host_file.get_mut() = absolute;
    }
    for file in [d.store.password_file.as_mut(), d.store.ca_file.as_mut()]
        .into_iter()
        .flatten()
    {
        let absolute = base.join(file.get_ref());
        *file.get_mut() = absolute;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    struct Files(tempfile::TempDir);

    impl Files {
        fn new(daemon: &str, policy: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("sparekey.toml"), daemon).unwrap();
            fs::write(dir.path().join("policy.toml"), policy).unwrap();
            Files(dir)
        }

        fn load(&self) -> Result<Config, Error> {
            load(&self.0.path().join("sparekey.toml"))
        }

        fn errors(&self) -> Vec<String> {
            let err = self.load().expect_err("config should be refused");
            err.diagnostics()
                .iter()
                .map(|d| {
                    let file = d.path.file_name().unwrap().to_string_lossy().into_owned();
                    format!("{file}:{}:{}: {}", d.line, d.column, d.message)
                })
                .collect()
        }
    }

    const POLICY: &str = "enabled = true\n[[policy]]\nname = \"staff\"\ngroups = [\"staff\"]\nservices = [\"sshd\"]\n";

    #[test]
    fn shipped_examples_are_valid() {
        // Copied with a mode of their own: the checkout's modes follow the umask of whoever
        // made it, and a group-writable file is refused (see the next test).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let dir = tempfile::tempdir().unwrap();
        for name in ["sparekey.toml", "policy.toml"] {
            fs::copy(root.join(name), dir.path().join(name)).unwrap();
            fs::set_permissions(dir.path().join(name), fs::Permissions::from_mode(0o640)).unwrap();
        }
        let cfg = load(&dir.path().join("sparekey.toml")).unwrap();
        assert!(cfg.policy.enabled);
        assert_eq!(cfg.policy.policy[0].name(), "staff");
        assert_eq!(cfg.daemon.admin.role.len(), 3);
    }

    #[test]
    fn a_lockout_window_longer_than_any_code_lives_is_refused() {
        let f = Files::new(
            "",
            "[[policy]]\nname = \"staff\"\nusers = [\"alice\"]\nservices = [\"sshd\"]\nlockout = { attempts = 5, window = \"99999999999d\" }\n",
        );
        let errs = f.errors();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("policy.toml:2:8: policy \"staff\": lockout window")
                && errs[0].contains("is too long; expected at most 14d"),
            "{errs:?}"
        );
    }

    #[test]
    fn a_file_others_could_change_is_refused_with_the_fix() {
        let f = Files::new("", POLICY);
        let policy = f.0.path().join("policy.toml");
        fs::set_permissions(&policy, fs::Permissions::from_mode(0o664)).unwrap();
        let errs = f.errors();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("policy.toml:")
                && errs[0].ends_with(&format!(
                    "mode 0664 lets group or others change this file; expected 0640 or stricter (fix: chmod 640 {})",
                    policy.display()
                )),
            "{errs:?}"
        );
        fs::set_permissions(&policy, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(f.load().is_ok());
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&policy, Some(4242), None).unwrap();
            let errs = f.errors();
            assert!(
                errs[0].contains("owned by uid 4242, who could change it; expected root"),
                "{errs:?}"
            );
        }
    }

    #[test]
    fn audit_keep_is_at_least_a_day() {
        assert!(Files::new("[audit]\nkeep = \"400d\"\n", POLICY)
            .load()
            .is_ok());
        let errs = Files::new("[audit]\nkeep = \"1h\"\n", POLICY).errors();
        assert_eq!(
            errs,
            ["sparekey.toml:2:8: keep 1h is too short; expected at least 1d, or no keep to keep every event"]
        );
    }

    #[test]
    fn empty_files_give_safe_defaults() {
        let f = Files::new("", "");
        let cfg = f.load().unwrap();
        assert!(!cfg.policy.enabled, "the switch is off when absent");
        assert!(cfg.daemon.radius.listen.is_empty());
        assert_eq!(
            cfg.daemon.admin.socket,
            PathBuf::from("/run/sparekey/admin.sock")
        );
    }

    #[test]
    fn relative_paths_resolve_beside_the_file() {
        let f = Files::new(
            "[store]\npath = \"state/s.db\"\nkey-file = \"site.key\"\n",
            POLICY,
        );
        let cfg = f.load().unwrap();
        assert_eq!(cfg.daemon.store.path, f.0.path().join("state/s.db"));
        assert_eq!(cfg.daemon.store.key_file, f.0.path().join("site.key"));
    }

    #[test]
    fn unknown_key_is_located() {
        let f = Files::new("[store]\npath = \"x.db\"\ncolour = \"red\"\n", POLICY);
        let errs = f.errors();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("sparekey.toml:3:1: unknown field `colour`, expected"),
            "{errs:?}"
        );
    }

    #[test]
    fn malformed_toml_is_located() {
        let f = Files::new("[store\n", POLICY);
        let errs = f.errors();
        assert!(errs[0].starts_with("sparekey.toml:1:"), "{errs:?}");
    }

    #[test]
    fn errors_in_both_files_are_all_reported() {
        let policy = "[[policy]]\nname = \"staff\"\ngroups = [\"staff\"]\nservices = [\"sshd\"]\nmax-lifetime = \"20d\"\n\n[[policy]]\nname = \"staff\"\nusers = [\"bob\"]\nservices = []\n";
        let daemon = "[radius]\nlisten = [\"localhost\"]\n";
        let errs = Files::new(daemon, policy).errors();
        assert_eq!(
            errs,
            vec![
                "policy.toml:5:16: max-lifetime 20d is above the 14-day maximum; expected at most 14d",
                "policy.toml:8:8: policy \"staff\" is defined twice; names must be unique",
                "policy.toml:8:8: policy \"staff\" allows no service: list at least one in `services`, e.g. [\"sshd\", \"vpn\"]",
                "sparekey.toml:2:11: expected an address and port like 127.0.0.1:1812 or [::1]:1812, found \"localhost\"",
            ]
        );
    }

    #[test]
    fn bad_duration_names_what_was_expected() {
        let policy = "[[policy]]\nname = \"p\"\nusers = [\"a\"]\nservices = [\"sshd\"]\ndefault-lifetime = \"soon\"\n";
        let errs = Files::new("", policy).errors();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("policy.toml:5:20: expected a duration like 15m"),
            "{errs:?}"
        );
    }

    #[test]
    fn role_naming_unknown_policy_is_refused() {
        let daemon = "[[admin.role]]\nname = \"hd\"\ngroups = [\"helpdesk\"]\nmay = [\"issue\"]\npolicies = [\"contractors\"]\n";
        let errs = Files::new(daemon, POLICY).errors();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("sparekey.toml:5:13: unknown policy \"contractors\"; expected one of the policies in the policy file (staff)"), "{errs:?}");
    }

    #[test]
    fn unknown_role_action_is_refused() {
        let daemon = "[[admin.role]]\nname = \"hd\"\ngroups = [\"helpdesk\"]\nmay = [\"issue\", \"delete-everything\"]\npolicies = [\"*\"]\n";
        let errs = Files::new(daemon, POLICY).errors();
        assert!(
            errs[0].starts_with(
                "sparekey.toml:4:17: unknown variant `delete-everything`, expected one of"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn code_length_bounds_per_alphabet() {
        let policy = "[[policy]]\nname = \"p\"\nusers = [\"a\"]\nservices = [\"sshd\"]\ncode = { length = 4 }\n";
        let errs = Files::new("", policy).errors();
        assert_eq!(errs, vec!["policy.toml:5:19: code length 4 is out of range; expected 8 to 64 for this alphabet"]);
    }

    #[test]
    fn missing_policy_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("sparekey.toml"),
            "policy-file = \"elsewhere.toml\"\n",
        )
        .unwrap();
        let err = load(&dir.path().join("sparekey.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("elsewhere.toml: cannot read the file"),
            "{msg}"
        );
    }

    const CLIENT: &str = "[[radius.client]]\nname = \"gw\"\naddress = \"10.0.0.0/24\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n";

    fn secret(f: &Files, name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = f.0.path().join(name);
        fs::write(&p, "s3cret-s3cret-s3cret\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn radius_client_secret_file_resolves_beside_the_file() {
        let daemon = format!("[radius]\nlisten = [\"127.0.0.1:1812\", \"[::1]:1812\"]\n{CLIENT}");
        let f = Files::new(&daemon, POLICY);
        let p = secret(&f, "gw.secret", 0o600);
        let cfg = f.load().unwrap();
        let c = &cfg.daemon.radius.client[0];
        assert_eq!(c.secret_file.as_ref().unwrap().get_ref(), &p);
        assert_eq!(
            *c.require_message_authenticator.get_ref(),
            crate::MessageAuthenticatorRule::Required,
            "on by default"
        );
        assert_eq!(c.address.prefix(), 24);
    }

    #[test]
    fn a_store_on_postgresql_needs_a_url_without_a_password_and_a_private_password_file() {
        use std::os::unix::fs::PermissionsExt;
        let good = "[store]\nbackend = \"postgresql\"\nurl = \"postgresql://sparekey@db1,db2/sparekey?target_session_attrs=read-write\"\npassword-file = \"db.password\"\n";
        let f = Files::new(good, POLICY);
        let pw = f.0.path().join("db.password");
        fs::write(&pw, "s3cret\n").unwrap();
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = f.load().unwrap();
        assert_eq!(
            *cfg.daemon.store.backend.get_ref(),
            crate::StoreBackend::Postgresql
        );
        assert_eq!(cfg.daemon.store.password_file.unwrap().get_ref(), &pw);
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o644)).unwrap();
        let errors = f.errors();
        assert!(
            errors[0].starts_with("sparekey.toml:4:17: secret file"),
            "{errors:?}"
        );
        assert!(errors[0].contains("expected 0600"), "{errors:?}");
        for (bad, expect) in [
            ("[store]\nbackend = \"postgresql\"\n", "sparekey.toml:2:11: backend = \"postgresql\" needs a `url`"),
            ("[store]\nbackend = \"postgresql\"\nurl = \"postgresql://sparekey:pw@db1/sparekey\"\n", "sparekey.toml:3:7: the url holds no password"),
            ("[store]\nbackend = \"postgresql\"\nurl = \"host=db1 password=pw\"\n", "sparekey.toml:3:7: the url holds no password"),
            ("[store]\nurl = \"postgresql://db1/sparekey\"\n", "sparekey.toml:2:7: `url` is for backend = \"postgresql\""),
            ("[store]\nbackend = \"mysql\"\n", "sparekey.toml:2:11: unknown variant `mysql`"),
        ] {
            let errors = Files::new(bad, POLICY).errors();
            assert!(errors[0].starts_with(expect), "{bad}: {errors:?}");
        }
    }

    #[test]
    fn a_member_hosts_client_has_neither_secret_file_nor_service() {
        let ok = "[[radius.client]]\nname = \"members\"\naddress = \"10.20.0.0/16\"\nmember-hosts = true\n";
        let f = Files::new(ok, POLICY);
        let cfg = f.load().unwrap();
        assert!(cfg.daemon.radius.client[0].member_hosts);
        let both = format!("{ok}secret-file = \"gw.secret\"\nservice = \"vpn\"\n");
        let errors = Files::new(&both, POLICY).errors();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("expected no `secret-file`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("expected no `service`"), "{errors:?}");
        let unsigned = format!("{ok}require-message-authenticator = false\n");
        let errors = Files::new(&unsigned, POLICY).errors();
        assert!(
            errors[0].contains("always carry Message-Authenticator"),
            "{errors:?}"
        );
        // A NAS client needs both.
        let nas = "[[radius.client]]\nname = \"gw\"\naddress = \"10.0.0.0/24\"\n";
        let errors = Files::new(nas, POLICY).errors();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("needs a `secret-file`"), "{errors:?}");
        assert!(errors[1].contains("needs a `service`"), "{errors:?}");
    }

    #[test]
    fn the_site_table_names_servers_and_a_bounded_timeout() {
        let good = "[site]\nservers = [\"site1.example.org:1812\", \"192.0.2.5\", \"[2001:db8::5]:1812\"]\nhost-file = \"host.key\"\n";
        let f = Files::new(good, POLICY);
        let cfg = f.load().unwrap();
        let site = cfg.daemon.site.unwrap();
        assert_eq!(site.host_file.get_ref(), &f.0.path().join("host.key"));
        assert_eq!(site.timeout.get_ref().as_secs(), 1);
        assert_eq!(
            crate::split_server("192.0.2.5").unwrap(),
            ("192.0.2.5".into(), 1812)
        );
        assert_eq!(
            crate::split_server("[2001:db8::5]:1645").unwrap(),
            ("2001:db8::5".into(), 1645)
        );
        let bad = "[site]\nservers = [\"site1:http\", \"a b:1812\"]\ntimeout = \"30s\"\n";
        let errors = Files::new(bad, POLICY).errors();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("sparekey.toml:2:12: expected \"host:port\""),
            "{errors:?}"
        );
        assert!(errors[1].contains("found \"a b:1812\""), "{errors:?}");
        assert!(
            errors[2].contains("timeout 30s is out of range; expected 1s to 10s"),
            "{errors:?}"
        );
        let none = "[site]\nhost-file = \"host.key\"\n";
        assert!(Files::new(none, POLICY).errors()[0].contains("servers"));
    }

    #[test]
    fn radius_secret_file_readable_by_others_is_refused_at_its_line() {
        let f = Files::new(CLIENT, POLICY);
        let p = secret(&f, "gw.secret", 0o644);
        assert_eq!(
            f.errors(),
            vec![format!("sparekey.toml:4:15: secret file {0} has mode 0644, which lets group or others read or write it; expected 0600 (fix: chmod 600 {0})", p.display())]
        );
    }

    #[test]
    fn radius_secret_file_missing_is_refused() {
        let errs = Files::new(CLIENT, POLICY).errors();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("sparekey.toml:4:15: secret file "),
            "{errs:?}"
        );
        assert!(errs[0].contains("gw.secret does not exist; create it with: umask 077; head -c 32 /dev/urandom | base64 >"), "{errs:?}");
    }

    #[test]
    fn radius_client_address_given_twice_is_refused() {
        let daemon = format!("{CLIENT}{}", CLIENT.replace("\"gw\"", "\"gw2\""));
        let f = Files::new(&daemon, POLICY);
        secret(&f, "gw.secret", 0o600);
        assert_eq!(
            f.errors(),
            vec!["sparekey.toml:7:8: RADIUS client \"gw2\" has the same address 10.0.0.0/24 as client \"gw\"; expected each address block once"]
        );
    }

    #[test]
    fn radius_client_address_is_checked() {
        let daemon = "[[radius.client]]\nname = \"gw\"\naddress = \"10.0.0.1/24\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n";
        let errs = Files::new(daemon, POLICY).errors();
        assert!(
            errs[0].starts_with("sparekey.toml:3:11: \"10.0.0.1/24\" has host bits set"),
            "{errs:?}"
        );
    }
}
