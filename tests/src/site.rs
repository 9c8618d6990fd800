//! A throwaway sparekey site in a temporary directory: config, policy, key, store, users and
//! groups (through nss_wrapper), and the real sparekeyd and sparekeyctl run against it.

use crate::bins::bin;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Test users: (name, uid, primary gid). Groups are in [`GROUPS`].
pub const USERS: &[(&str, u32, u32)] = &[
    ("root", 0, 0),
    ("alice", 2001, 2001),
    ("bob", 2002, 2002),
    ("carol", 2003, 2003),
    ("helpdesk1", 2101, 2101),
    ("auditor1", 2102, 2102),
    ("outsider", 2199, 2199),
    // Other names of helpdesk1's account (uid 2101), as SSSD with case_sensitive = false
    // answers a case variant, and as a site with fully-qualified names has a second name.
    ("HELPDESK1", 2101, 2101),
    ("helpdesk1@corp.example", 2101, 2101),
];

/// Test groups: (name, gid, members).
pub const GROUPS: &[(&str, u32, &[&str])] = &[
    ("root", 0, &[]),
    (
        "sparekey-admin",
        7000,
        &["helpdesk1", "auditor1", "outsider", "alice"],
    ),
    ("helpdesk", 7001, &["helpdesk1"]),
    (
        "staff",
        7002,
        &[
            "alice",
            "bob",
            "helpdesk1",
            "HELPDESK1",
            "helpdesk1@corp.example",
        ],
    ),
    ("contractors", 7003, &["carol"]),
];

/// The gid of the admin socket's group in test sites.
pub const ADMIN_GID: u32 = 7000;

/// A policy file most tests can use: staff (alice, bob, helpdesk1) and contractors (carol).
pub const POLICY: &str = r#"enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
groups = ["staff"]
services = ["sshd", "login", "vpn"]
default-lifetime = "1d"
lockout = { attempts = 5, window = "15m" }

[[policy]]
name = "contractors"
groups = ["contractors"]
services = ["vpn"]
max-lifetime = "1d"
default-lifetime = "4h"
multi-use = false
require-reason = true
"#;

/// Roles most tests can use.
pub const ROLES: &str = r#"
[[admin.role]]
name = "helpdesk"
groups = ["helpdesk"]
may = ["issue", "revoke", "replace", "list", "unlock"]
policies = ["staff"]

[[admin.role]]
name = "auditor"
users = ["auditor1"]
may = ["list", "audit"]
policies = ["*"]
"#;

/// A site in a temporary directory.
#[derive(Debug)]
pub struct Site {
    /// The directory holding everything (removed on drop).
    pub dir: tempfile::TempDir,
    /// sparekey.toml.
    pub config: PathBuf,
    /// The admin socket.
    pub socket: PathBuf,
    /// The store.
    pub store: PathBuf,
    /// The site key.
    pub key: PathBuf,
}

/// The nss_wrapper library, if installed.
pub fn nss_wrapper() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
        "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
        "/usr/lib/libnss_wrapper.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Held while a process under pam_wrapper starts (see [`Site::start_with_pam`]).
static PAM_WRAPPER_STARTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Site {
    /// A site with the standard roles and `policy` as policy.toml.
    pub fn new(policy: &str) -> Self {
        Self::with_config(ROLES, policy)
    }

    /// A site whose sparekey.toml has `daemon_extra` appended to the store/admin/audit sections.
    pub fn with_config(daemon_extra: &str, policy: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Non-root test processes must reach the socket directory inside.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("sparekey.toml");
        let daemon = format!(
            "[store]\npath = \"state/sparekey.db\"\nkey-file = \"site.key\"\n\n[admin]\nsocket = \"run/admin.sock\"\nsocket-group = \"sparekey-admin\"\n\n[audit]\nsyslog = false\n{daemon_extra}"
        );
        fs::write(&config, daemon).unwrap();
        fs::write(dir.path().join("policy.toml"), policy).unwrap();
        let passwd: String = USERS
            .iter()
            .map(|(n, u, g)| format!("{n}:x:{u}:{g}:{n}:/nonexistent:/bin/false\n"))
            .collect();
        let mut group: String = GROUPS
            .iter()
            .map(|(n, g, m)| format!("{n}:x:{g}:{}\n", m.join(",")))
            .collect();
        let mut primary = std::collections::HashSet::new();
        for (n, _, g) in USERS.iter().filter(|(_, _, g)| *g != 0) {
            // One group per primary gid: a second name of an account shares its group.
            if primary.insert(*g) {
                group.push_str(&format!("{n}:x:{g}:\n"));
            }
        }
        fs::write(dir.path().join("passwd"), passwd).unwrap();
        fs::write(dir.path().join("group"), group).unwrap();
        let p = dir.path().to_path_buf();
        Site {
            config,
            socket: p.join("run/admin.sock"),
            store: p.join("state/sparekey.db"),
            key: p.join("site.key"),
            dir,
        }
    }

    /// Replaces policy.toml.
    pub fn write_policy(&self, policy: &str) {
        fs::write(self.dir.path().join("policy.toml"), policy).unwrap();
    }

    /// Environment that makes a process see the test users and groups (nss_wrapper).
    pub fn nss_env(&self) -> Vec<(String, String)> {
        let lib =
            nss_wrapper().expect("nss_wrapper is not installed (apt-get install libnss-wrapper)");
        vec![
            ("LD_PRELOAD".into(), lib.display().to_string()),
            (
                "NSS_WRAPPER_PASSWD".into(),
                self.dir.path().join("passwd").display().to_string(),
            ),
            (
                "NSS_WRAPPER_GROUP".into(),
                self.dir.path().join("group").display().to_string(),
            ),
        ]
    }

    /// Starts the real sparekeyd on this site and waits until its admin socket answers.
    pub fn start(&self) -> Daemon {
        self.start_with_pam(None)
    }

    /// [`Site::start`], with the real libpam under pam_wrapper reading service files from
    /// `services` (challenge and append modes check passwords through PAM).
    pub fn start_with_pam(&self, services: Option<&Path>) -> Daemon {
        let log = self.dir.path().join("sparekeyd.log");
        let mut env = self.nss_env();
        if let Some(dir) = services {
            let wrapper = crate::pam::pam_wrapper()
                .expect("pam_wrapper is not installed (apt-get install libpam-wrapper)");
            for (k, v) in env.iter_mut() {
                if k == "LD_PRELOAD" {
                    *v = format!("{}:{v}", wrapper.display());
                }
            }
            env.push(("PAM_WRAPPER".into(), "1".into()));
            env.push(("PAM_WRAPPER_SERVICE_DIR".into(), dir.display().to_string()));
        }
        // pam_wrapper copies the service files into /tmp/pam.X when the process starts and
        // removes directories there it takes for stale: two starting at the same moment can
        // take each other's (then pam_start finds no service file). One at a time, until
        // this one is up.
        let _one_at_a_time = services.map(|_| {
            PAM_WRAPPER_STARTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        let child = Command::new(bin("sparekeyd"))
            .arg("--config")
            .arg(&self.config)
            .envs(env)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sparekeyd");
        let mut daemon = Daemon { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("sparekeyd exited early ({status}):\n{}", daemon.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "sparekeyd did not open {} in time:\n{}",
            self.socket.display(),
            daemon.log_text()
        );
    }

    /// Runs sparekeyctl as root against this site's socket.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_cmd(args).output().expect("run sparekeyctl")
    }

    /// A sparekeyctl command as root, not yet run.
    pub fn ctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("sparekeyctl"));
        c.arg("--socket").arg(&self.socket).args(args);
        c
    }

    /// Runs sparekeyctl as the test user `user` (setpriv: real non-root uid, its groups).
    pub fn ctl_as(&self, user: &str, args: &[&str]) -> Output {
        let (_, uid, gid) = USERS
            .iter()
            .find(|(n, _, _)| *n == user)
            .unwrap_or_else(|| panic!("no test user {user}"));
        let groups: Vec<String> = GROUPS
            .iter()
            .filter(|(_, _, m)| m.contains(&user))
            .map(|(_, g, _)| g.to_string())
            .collect();
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"));
        if groups.is_empty() {
            c.arg("--clear-groups");
        } else {
            c.arg(format!("--groups={}", groups.join(",")));
        }
        c.arg("--")
            .arg(bin("sparekeyctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args);
        c.output().expect("run setpriv sparekeyctl")
    }

    /// Runs sparekeyctl --json as root; returns the exit code and the one JSON object printed.
    pub fn ctl_json(&self, args: &[&str]) -> (i32, Value) {
        json_of(&self.ctl(&with_json(args)))
    }

    /// Runs sparekeyctl --json as `user`.
    pub fn ctl_json_as(&self, user: &str, args: &[&str]) -> (i32, Value) {
        json_of(&self.ctl_as(user, &with_json(args)))
    }

    /// Issues a code through the real daemon as root; returns (id, code).
    pub fn issue(&self, args: &[&str]) -> (String, String) {
        let mut full = vec!["issue"];
        full.extend_from_slice(args);
        let (rc, v) = self.ctl_json(&full);
        assert_eq!(
            rc,
            0,
            "issue failed: {v}\nsparekeyd's log:\n{}",
            read(&self.dir.path().join("sparekeyd.log"))
        );
        (
            v["id"].as_str().unwrap().to_string(),
            v["code"].as_str().unwrap().to_string(),
        )
    }

    /// Tries a code the way a login does (the redeem_probe process, in-process like the PAM
    /// module): returns the probe's one-line verdict, e.g. "accepted ..." or "rejected: wrong code".
    pub fn redeem(&self, user: &str, service: &str, code: &str) -> String {
        let out = self
            .redeem_cmd(user, service, code)
            .output()
            .expect("run redeem_probe");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "redeem_probe failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The redeem_probe command for one attempt (spawn many for races).
    pub fn redeem_cmd(&self, user: &str, service: &str, code: &str) -> Command {
        let mut c = Command::new(bin("redeem_probe"));
        c.arg(&self.config)
            .arg(user)
            .arg(service)
            .arg(code)
            .envs(self.nss_env());
        c
    }

    /// The path of a file in the site directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--json"];
    v.extend_from_slice(args);
    v
}

/// Parses sparekeyctl --json output: exactly one JSON object on stdout.
pub fn json_of(out: &Output) -> (i32, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {stdout:?} stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(v.is_object(), "{v}");
    (out.status.code().unwrap_or(-1), v)
}

/// A running sparekeyd, stopped with SIGTERM when dropped.
#[derive(Debug)]
pub struct Daemon {
    /// The process.
    pub child: Child,
    log: PathBuf,
}

impl Daemon {
    /// What sparekeyd wrote to stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it with SIGTERM and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let code = self.child.wait().ok().and_then(|s| s.code());
        std::mem::forget(self);
        code
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Only a child not yet reaped: a reaped one's pid may already be another process's.
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.child.wait();
        // A failing test shows what sparekeyd said (the test harness prints a failed test's
        // output, and only a failed test's).
        if std::thread::panicking() {
            eprintln!("--- sparekeyd's log ---\n{}", self.log_text());
        }
    }
}

/// Whether the tests run as root (needed for setpriv and the store's ownership rules).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Reads a file to a string, or "" when missing.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Runs `cmd` with `input` on its stdin and collects its output (e.g. `sparekeyctl fixed`,
/// which reads the passcode twice from stdin).
pub fn run_with_input(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for the command")
}
