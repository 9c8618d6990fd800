//! The site of the RADIUS-mode tests (issue 15): sparekeyd with NAS clients on 127.0.0.1
//! and ::1 under pam_wrapper (pam_matrix checks the passwords), radclient rounds, and a
//! private FreeRADIUS standing for the usual MFA upstream (tests/fixtures/freeradius-mfa.sh).

use crate::pam::{pam_wrapper, Services};
use crate::radius::{free_udp_port, radclient, tools_installed, write_secret, Reply, Run};
use crate::site::{Daemon, Site};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const SECRET: &str = "bW9kZXMtdGVzdC1zZWNyZXQtMzItYnl0ZXMK";
pub const UPSTREAM_SECRET: &str = "dXBzdHJlYW0tbWZhLXNlY3JldAo";

/// Policies: alice, bob and carol may have codes for the VPN; staff logins get a Class and
/// a Fortinet group. dave is in no policy.
pub const POLICY: &str = r#"enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
users = ["alice", "bob", "carol"]
services = ["vpn"]
default-lifetime = "1d"
lockout = { attempts = 3, window = "15m" }

[[policy.reply]]
attribute = "Class"
value = "OU=vpn-staff;"

[[policy.reply]]
vendor = 12356
type = 1
value = "vpn-staff"

[[policy.reply]]
attribute = "Idle-Timeout"
value = 900
"#;

/// A site with one NAS client on 127.0.0.1 (and one on ::1, for a second source) whose
/// `[[radius.client]]` gets `extra`, sparekeyd started under pam_wrapper with the PAM
/// service `sk-radius` checking `passdb` (pam_matrix: user:password:service lines).
#[derive(Debug)]
pub struct Modes {
    /// The site.
    pub site: Site,
    daemon: Option<Daemon>,
    _services: Services,
    /// Its IPv4 listen address.
    pub v4: String,
    /// Its IPv6 listen address.
    pub v6: String,
}

pub fn pam_matrix() -> PathBuf {
    let wrapper = pam_wrapper().expect("apt-get install libpam-wrapper");
    let m = wrapper.parent().unwrap().join("pam_wrapper/pam_matrix.so");
    assert!(
        m.exists(),
        "{} is missing (apt-get install libpam-wrapper)",
        m.display()
    );
    m
}

pub fn modes_site(extra: &str, daemon_extra: &str) -> Modes {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let v4 = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let v6 = format!("[::1]:{}", free_udp_port("::1"));
    let section = format!(
        "\n[radius]\nlisten = [{v4:?}, {v6:?}]\n\n[[radius.client]]\nname = \"gw\"\naddress = \"127.0.0.1\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n{extra}\n\n[[radius.client]]\nname = \"gw6\"\naddress = \"::1/128\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n{extra}\n{daemon_extra}"
    );
    let site = Site::with_config(&section, POLICY);
    write_secret(site.dir.path(), "gw.secret", SECRET);
    write_secret(site.dir.path(), "mfa.secret", UPSTREAM_SECRET);
    let passdb = site.path("passdb");
    std::fs::write(
        &passdb,
        "alice:alice-pw:sk-radius\nbob:bob-pw:sk-radius\ncarol:pa,ss:sk-radius\n",
    )
    .unwrap();
    let services = Services::new(&site);
    let matrix = format!("{} passdb={}", pam_matrix().display(), passdb.display());
    services.add(
        "sk-radius",
        &format!("auth required {matrix}\naccount required {matrix}\n"),
    );
    let daemon = site.start_with_pam(Some(services.path()));
    Modes {
        site,
        daemon: Some(daemon),
        _services: services,
        v4,
        v6,
    }
}

impl Drop for Modes {
    /// A failing test shows what sparekeyd logged (why it did not answer, for one).
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(d) = &self.daemon {
                eprintln!("--- sparekeyd's log:\n{}", d.log_text());
            }
        }
    }
}

impl Modes {
    /// Issues a code for `user` through sparekeyctl.
    pub fn issue(&self, user: &str, args: &[&str]) -> String {
        let mut full = vec!["issue", user, "--reason", "test"];
        full.extend_from_slice(args);
        let (rc, v) = self.site.ctl_json(&full);
        assert_eq!(rc, 0, "issue failed: {v}");
        v["code"].as_str().unwrap().to_string()
    }

    /// The audit actions about `user`, oldest first.
    pub fn actions(&self, user: &str) -> Vec<String> {
        let (rc, v) = self
            .site
            .ctl_json(&["audit", "--user", user, "--limit", "50"]);
        assert_eq!(rc, 0, "{v}");
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }

    /// The audit events about `user` as JSON text.
    pub fn audit_text(&self, user: &str) -> String {
        let (_, v) = self
            .site
            .ctl_json(&["audit", "--user", user, "--limit", "50"]);
        v.to_string()
    }

    /// sparekeyd's log.
    pub fn log(&self) -> String {
        self.daemon.as_ref().unwrap().log_text()
    }
}

/// An Access-Request for `user` with `password` (and `more` attribute lines) to `server`.
pub fn ask(server: &str, user: &str, password: &str, more: &str) -> Run {
    let input = format!(
        "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nNAS-Identifier = \"gw1.example\"\nCalling-Station-Id = \"203.0.113.7\"\nMessage-Authenticator = 0x00\n{more}"
    );
    radclient(server, "auth", SECRET, &input, 1, 3)
}

pub fn reply(run: &Run, code: &str) -> Reply {
    crate::radius::expect_reply(run, code)
}

pub fn no_reply(run: &Run) {
    assert!(run.reply.is_none(), "expected no answer:\n{}", run.text);
    assert!(
        run.text.contains("No reply from server"),
        "radclient ran: {}",
        run.text
    );
}

/// Round one: the password; the State of the Access-Challenge.
pub fn challenge(server: &str, user: &str, password: &str) -> String {
    let r = reply(&ask(server, user, password, ""), "Access-Challenge");
    assert_eq!(r.attr("Reply-Message"), Some("Temporary code: "), "{r:?}");
    r.attr("State").expect("a State").to_string()
}

pub fn with_state(state: &str) -> String {
    format!("State = {state}\n")
}

pub const CHALLENGE: &str = "mode = \"challenge\"\nprimary-pam-service = \"sk-radius\"";

pub fn reply_without_ma_check(run: &Run, code: &str) {
    assert_eq!(
        run.reply.as_ref().map(|r| r.code.as_str()),
        Some(code),
        "{}",
        run.text
    );
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A private FreeRADIUS standing for the usual MFA (tests/fixtures/freeradius-mfa.sh):
/// carol / carol-pw gets an Access-Challenge "Enter your token", then 123456 an Accept;
/// dave / dave-pw an Accept in one round.
#[derive(Debug)]
pub struct Mfa {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for Mfa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.dir.path().join("mfa/log/radius.log");
            eprintln!(
                "--- the private FreeRADIUS's log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

pub fn start_mfa(port: u16) -> Mfa {
    let dir = tempfile::tempdir().unwrap();
    let instance = dir.path().join("mfa");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/freeradius-mfa.sh");
    let out = Command::new(&script)
        .arg(&instance)
        .arg(port.to_string())
        .arg(UPSTREAM_SECRET)
        .output()
        .expect("run freeradius-mfa.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child = Command::new("freeradius")
        .args(["-f", "-d"])
        .arg(&instance)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("apt-get install freeradius");
    let server = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        let probe =
            "User-Name = \"dave\"\nUser-Password = \"dave-pw\"\nMessage-Authenticator = 0x00\n";
        if radclient(&server, "auth", UPSTREAM_SECRET, probe, 1, 1)
            .reply
            .is_some()
        {
            return Mfa { child, dir };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the private FreeRADIUS did not answer on {server}");
}

/// pam_radius_auth.so (Debian's libpam-radius-auth), if installed.
pub fn pam_radius_auth() -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/aarch64-linux-gnu/security",
        "/usr/lib/aarch64-linux-gnu/security",
    ]
    .iter()
    .map(|d| Path::new(d).join("pam_radius_auth.so"))
    .find(|p| p.exists())
}
