//! Fuzz target: arbitrary bytes as sparekey.toml through sparekey-conf's load, as sparekeyd --check reads it from disk, beside a valid policy.toml: errors located, accepted files holding what the checks promise.
#![no_main]

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sparekey_conf::{load, Cidr, DaemonConfig, Duration, RoleAction};

mod diagnostics;

/// The policy.toml beside the fuzzed file: one policy, "staff", as in the shipped example
/// (which the seeds' roles name), without its comments (parsed for every input).
const POLICY: &str = "enabled = true\n[[policy]]\nname = \"staff\"\ngroups = [\"staff\"]\nservices = [\"sshd\", \"login\", \"vpn\"]\n";

/// Secret files a [[radius.client]] of the seeds may name, present and 0600.
const SECRETS: [&str; 2] = ["vpn-gw.secret", "gw.secret"];

/// A private directory, made once per process, holding sparekey.toml (rewritten for each
/// input), policy.toml and the secret files. It is under $TMPDIR: scripts/fuzz.sh points
/// that at a directory it removes afterwards.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "sparekey-fuzz-daemon-config.{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("a private directory");
        // Explicit modes: load refuses a file group or others could change, whatever the umask.
        let private = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).expect("a file in the private directory");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
        };
        private("policy.toml", POLICY);
        for name in SECRETS {
            private(name, "s3cret-s3cret-s3cret\n");
        }
        private("sparekey.toml", "");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let path = dir.join("sparekey.toml");
    let text = std::str::from_utf8(data).ok();
    let parsed = text.map(toml::from_str::<DaemonConfig>);

    // load reads the policy file sparekey.toml names. Anything but a plain relative name
    // could reach outside the private directory (a device, a pipe of this very process) and
    // make a hang that is not sparekey's; such inputs are parsed above but not loaded.
    if let Some(Ok(DaemonConfig {
        policy_file: Some(p),
        ..
    })) = &parsed
    {
        if !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return;
        }
    }

    fs::write(&path, data).expect("rewrite sparekey.toml");
    let loaded = load(&path);

    match (&parsed, &loaded) {
        // Not UTF-8: refused as unreadable, for the whole file.
        (None, Err(e)) => {
            assert!(e
                .diagnostics()
                .iter()
                .any(|d| d.path == path && d.line == 0));
        }
        (None, Ok(_)) => panic!("a sparekey.toml that is not UTF-8 was accepted"),
        // A syntax or schema error is refused, and located in sparekey.toml.
        (Some(Err(parse)), Err(e)) => {
            assert!(
                e.diagnostics()
                    .iter()
                    .any(|d| d.path == path && d.line >= 1),
                "{parse} was not located: {e}"
            );
        }
        (Some(Err(parse)), Ok(_)) => panic!("load accepted what toml refused: {parse}"),
        (Some(Ok(_)), _) => {}
    }

    match loaded {
        Err(e) => {
            assert!(!e.diagnostics().is_empty(), "a refusal says why");
            for d in e.diagnostics() {
                if d.path == path {
                    diagnostics::check(d, &path, text);
                } else {
                    // The policy file sparekey.toml names: missing, or not a policy file.
                    diagnostics::check(d, &d.path, None);
                    assert!(d.path.starts_with(dir), "{d:?}");
                }
            }
            assert!(!e.to_string().is_empty());
        }
        Ok(cfg) => {
            assert_eq!(cfg.path, path);
            assert!(cfg.policy_path.starts_with(dir));
            let d = &cfg.daemon;
            for p in [&d.store.path, &d.store.key_file, &d.admin.socket] {
                assert!(p.is_absolute(), "{p:?} was resolved");
            }
            let summary = cfg.summary();
            assert!(summary.contains(&path.display().to_string()), "{summary}");

            let mut roles = std::collections::HashSet::new();
            for role in &d.admin.role {
                assert!(roles.insert(role.name.get_ref()), "role names are unique");
                assert!(!role.users.is_empty() || !role.groups.is_empty());
                assert!(!role.may.is_empty());
                for p in &role.policies {
                    let name = p.get_ref();
                    assert!(
                        name == "*" || cfg.policy.by_name(name).is_some(),
                        "{name:?}"
                    );
                    assert!(role.covers_policy(name));
                }
                for action in ACTIONS {
                    let _ = role.allows(action);
                }
                assert!(role.may.iter().all(|a| role.allows(*a.get_ref())));
            }
            if let Some(keep) = &d.audit.keep {
                assert!(keep.get_ref().as_secs() >= 86_400);
            }
            let window = d.radius.replay_window.get_ref().as_secs();
            assert!((5..=3600).contains(&window));
            assert_eq!(
                d.radius
                    .replay_window
                    .get_ref()
                    .to_string()
                    .parse::<Duration>(),
                Ok(*d.radius.replay_window.get_ref())
            );
            for l in &d.radius.listen {
                assert!(l.get_ref().parse::<SocketAddr>().is_ok());
            }
            let mut clients = std::collections::HashSet::new();
            for c in &d.radius.client {
                assert!(clients.insert(c.name.get_ref()), "client names are unique");
                if c.member_hosts {
                    // Member hosts' secrets come from the site key; their requests name
                    // their service and always carry Message-Authenticator.
                    assert!(c.secret_file.is_none() && c.service.is_none());
                    assert_eq!(*c.require_message_authenticator.get_ref(), sparekey_conf::MessageAuthenticatorRule::Required);
                } else {
                    let service = c.service.as_ref().expect("a NAS client has a service");
                    assert!(!service.get_ref().trim().is_empty());
                    let file = c.secret_file.as_ref().expect("a NAS client has a secret file");
                    assert!(file.get_ref().is_absolute());
                }
                assert_eq!(
                    c.address.to_string().parse::<Cidr>(),
                    Ok(c.address),
                    "an address block shows as it parses"
                );
                assert!(c.address.prefix() <= 128);
            }
            if let Some(site) = &d.site {
                assert!(!site.servers.is_empty());
                for server in &site.servers {
                    assert!(sparekey_conf::split_server(server.get_ref()).is_ok());
                }
                assert!(site.host_file.get_ref().is_absolute());
                let (shortest, longest) = sparekey_conf::SITE_TIMEOUT_RANGE;
                assert!((shortest..=longest).contains(site.timeout.get_ref()));
            }
        }
    }
});

const ACTIONS: [RoleAction; 8] = [
    RoleAction::Issue,
    RoleAction::Revoke,
    RoleAction::Replace,
    RoleAction::List,
    RoleAction::Audit,
    RoleAction::Fixed,
    RoleAction::Universal,
    RoleAction::Unlock,
];
