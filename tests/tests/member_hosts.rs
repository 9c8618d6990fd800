//! Member mode through real libpam under pam_wrapper: one site (the real sparekeyd with a
//! `member-hosts` client on loopback) and two member hosts, each with its own sparekey.toml
//! (a `[site]` table), host file and PAM service directory. A code issued once works on both
//! hosts; a single-use one once across them; one scoped to host A only there. No prompt
//! without a code, the same refusals and lockout as on a single host, retire, a revoked
//! host, and the site down.

use sparekey_tests::pam::{self, check, Outcome, Services, Transaction};
use sparekey_tests::pam::{
    PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_IGNORE, PAM_MAXTRIES, PAM_SUCCESS,
};
use sparekey_tests::radius::free_udp_port;
use sparekey_tests::require_pam;
use sparekey_tests::site::{read, Daemon, Site, POLICY, ROLES};
use std::time::{Duration, Instant};

/// The child process's entry point (see sparekey_tests::pam); does nothing in a normal run.
#[test]
fn pam_child() {
    pam::child_main();
}

const PROMPT: &str = "Temporary code: ";
const REFUSED: &str =
    "Temporary code not accepted. If you need a new one, contact IT helpdesk, ext. 4357.";
const LOCKED: &str = "Too many wrong temporary codes: they are refused for a while. Use your usual second factor, or contact IT helpdesk, ext. 4357.";
const SPENT: &str = "Temporary code accepted. It cannot be used again.";
const RETIRED: &str =
    "Your usual second factor works again, so your temporary codes have been ended.";

/// A member host: its own directory (sparekey.toml with `[site]`, policy.toml, host.key)
/// and PAM services `sshd` and `ftp` (pam_sparekey alone; policies allow sshd only) and
/// `retire` (pam_permit, then retire).
struct Host {
    name: String,
    dir: Site,
    services: Services,
}

struct Fleet {
    site: Site,
    daemon: Option<Daemon>,
    server: String,
    a: Host,
    b: Host,
}

impl Fleet {
    fn new() -> Self {
        let server = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
        let radius = format!(
            "\n[radius]\nlisten = [{server:?}]\n\n[[radius.client]]\nname = \"members\"\naddress = \"127.0.0.0/8\"\nmember-hosts = true\n"
        );
        let site = Site::with_config(&format!("{ROLES}{radius}"), POLICY);
        let daemon = site.start();
        let a = Fleet::host(&site, "host-a", &[&server]);
        let b = Fleet::host(&site, "host-b", &[&server]);
        Fleet {
            site,
            daemon: Some(daemon),
            server,
            a,
            b,
        }
    }

    /// Enrolls `name` on the site and sets it up as a member host asking `servers`.
    fn host(site: &Site, name: &str, servers: &[&str]) -> Host {
        let quoted: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
        let dir = Site::with_config(
            &format!(
                "\n[site]\nservers = [{}]\nhost-file = \"host.key\"\n",
                quoted.join(", ")
            ),
            POLICY,
        );
        let out = dir.path("host.key");
        let (rc, v) = site.ctl_json(&["host", "enroll", name, "--out", out.to_str().unwrap()]);
        assert_eq!(rc, 0, "{v}");
        let services = Services::new(&dir);
        services.add("sshd", "auth [default=done] {sparekey}\n");
        services.add("ftp", "auth [default=done] {sparekey}\n");
        services.add(
            "retire",
            "auth required {sec}/pam_permit.so\nauth optional {sparekey} retire\n",
        );
        Host {
            name: name.into(),
            dir,
            services,
        }
    }

    fn issue(&self, args: &[&str]) -> String {
        self.site.issue(args).1
    }

    /// Events of `user` with `action` (as `audit --user` shows them, which writes what
    /// sparekeyd gathered first): (source, service).
    fn events(&self, user: &str, action: &str) -> Vec<(String, String)> {
        let (rc, v) = self
            .site
            .ctl_json(&["audit", "--user", user, "--limit", "1000"]);
        assert_eq!(rc, 0, "{v}");
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| {
                (
                    e["source"].as_str().unwrap_or("").to_string(),
                    e["service"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn log(&self) -> String {
        read(&self.site.dir.path().join("sparekeyd.log"))
    }
}

fn login(host: &Host, service: &str, user: &str, answers: &[&str]) -> Outcome {
    pam::run(
        &host.dir,
        &host.services,
        &Transaction::new(service, user, answers),
    )
}

#[test]
fn a_code_issued_once_works_on_every_host_its_scope_allows_and_a_single_use_once_across_them() {
    require_pam!();
    let f = Fleet::new();
    // No code: no prompt on either host.
    check(
        &login(&f.a, "sshd", "alice", &[]),
        PAM_IGNORE,
        &[],
        &[],
        &[],
    );
    check(
        &login(&f.b, "sshd", "alice", &[]),
        PAM_IGNORE,
        &[],
        &[],
        &[],
    );

    let multi = f.issue(&["alice", "--multi"]);
    for host in [&f.a, &f.b, &f.a] {
        let o = login(host, "sshd", "alice", &[&multi]);
        assert_eq!(o.rc, PAM_SUCCESS, "{} {o:#?}\n{}", host.name, f.log());
        assert_eq!(o.prompts(), [PROMPT]);
        assert!(
            o.infos()[0].starts_with("Temporary code accepted. It works until "),
            "{o:#?}"
        );
    }
    // The host's PAM items reach the site's audit log, with the host's name.
    let redeemed = f.events("alice", "redeem");
    for host in ["host-a", "host-b"] {
        let source = format!("pam host={host} service=sshd rhost=10.0.0.5 tty=ssh client=members");
        assert!(redeemed.contains(&(source, "sshd".into())), "{redeemed:#?}");
    }

    let single = f.issue(&["bob"]);
    check(
        &login(&f.a, "sshd", "bob", &[&single]),
        PAM_SUCCESS,
        &[PROMPT],
        &[],
        &[SPENT],
    );
    // Spent on host A: host B has nothing to ask for any more.
    check(&login(&f.b, "sshd", "bob", &[]), PAM_IGNORE, &[], &[], &[]);

    let scoped = f.issue(&["bob", "--host", "host-a", "--multi"]);
    check(&login(&f.b, "sshd", "bob", &[]), PAM_IGNORE, &[], &[], &[]);
    let o = login(&f.a, "sshd", "bob", &[&scoped]);
    assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");

    // A service the policy does not allow: nothing to ask on any host.
    check(&login(&f.a, "ftp", "bob", &[]), PAM_IGNORE, &[], &[], &[]);

    // When each host last asked.
    let (rc, list) = f.site.ctl_json(&["host", "list"]);
    assert_eq!(rc, 0, "{list}");
    for h in list["hosts"].as_array().unwrap() {
        assert!(h["last_seen"].is_string(), "{list}");
    }
}

#[test]
fn wrong_codes_are_refused_and_lock_out_across_hosts_and_retire_ends_the_codes() {
    require_pam!();
    let f = Fleet::new();
    let code = f.issue(&["alice", "--multi"]);
    for i in 0..5 {
        let host = if i % 2 == 0 { &f.a } else { &f.b };
        check(
            &login(host, "sshd", "alice", &["0000000000"]),
            PAM_AUTH_ERR,
            &[PROMPT],
            &[REFUSED],
            &[],
        );
    }
    // Five wrong codes over both hosts: locked out everywhere, without a prompt.
    check(
        &login(&f.a, "sshd", "alice", &[]),
        PAM_MAXTRIES,
        &[],
        &[LOCKED],
        &[],
    );
    check(
        &login(&f.b, "sshd", "alice", &[]),
        PAM_MAXTRIES,
        &[],
        &[LOCKED],
        &[],
    );
    assert!(f.site.ctl(&["unlock", "alice"]).status.success());
    assert_eq!(login(&f.b, "sshd", "alice", &[&code]).rc, PAM_SUCCESS);
    // An answer longer than any code: refused unchecked.
    let long = "9".repeat(300);
    check(
        &login(&f.a, "sshd", "alice", &[&long]),
        PAM_AUTH_ERR,
        &[PROMPT],
        &[REFUSED],
        &[],
    );

    // The usual MFA succeeded on host B: the site ends alice's codes.
    check(
        &login(&f.b, "retire", "alice", &[]),
        PAM_SUCCESS,
        &[],
        &[],
        &[RETIRED],
    );
    check(
        &login(&f.a, "sshd", "alice", &[]),
        PAM_IGNORE,
        &[],
        &[],
        &[],
    );
    let retired = f.events("alice", "retire");
    assert_eq!(retired.len(), 1, "{retired:#?}");
    assert!(
        retired[0].0.starts_with("pam host=host-b service=retire"),
        "{retired:#?}"
    );
}

#[test]
fn a_revoked_host_is_refused_and_a_host_without_its_site_gives_authinfo_unavail_in_time() {
    require_pam!();
    let mut f = Fleet::new();
    let code = f.issue(&["alice", "--multi"]);
    assert!(f.site.ctl(&["host", "revoke", &f.b.name]).status.success());
    // Host B is refused at once: no prompt, and the usual MFA decides.
    check(
        &login(&f.b, "sshd", "alice", &[]),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    assert!(
        f.log()
            .contains("refused member host \"host-b\": it was revoked"),
        "{}",
        f.log()
    );
    assert_eq!(login(&f.a, "sshd", "alice", &[&code]).rc, PAM_SUCCESS);

    // A host file with another key than the enrolled one (a forged or stale file): its
    // requests do not check, and get no answer.
    let file = f.a.dir.path("host.key");
    let enrolled = read(&file);
    let forged: String = enrolled
        .lines()
        .map(|l| match l.strip_prefix("auth-key = \"") {
            Some(hex) => {
                let flipped = if hex.starts_with('0') { '1' } else { '0' };
                format!("auth-key = \"{flipped}{}\n", &hex[1..])
            }
            None => format!("{l}\n"),
        })
        .collect();
    assert_ne!(forged, enrolled);
    std::fs::write(&file, &forged).unwrap();
    // sparekeyd logs a problem of one source at most once a second.
    std::thread::sleep(Duration::from_millis(1100));
    check(
        &login(&f.a, "sshd", "alice", &[]),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    assert!(
        f.log().contains("wrong Message-Authenticator"),
        "{}",
        f.log()
    );
    std::fs::write(&file, &enrolled).unwrap();
    assert_eq!(login(&f.a, "sshd", "alice", &[&code]).rc, PAM_SUCCESS);

    // The site down: AUTHINFO_UNAVAIL within 1.5 s, without a prompt, so the usual MFA
    // decides.
    drop(f.daemon.take());
    let started = Instant::now();
    let o = login(&f.a, "sshd", "alice", &[]);
    let took = started.elapsed();
    check(&o, PAM_AUTHINFO_UNAVAIL, &[], &[], &[]);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn a_host_fails_over_to_the_next_server_when_the_first_is_silent() {
    require_pam!();
    let f = Fleet::new();
    // The first server: a socket that reads and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = silent.local_addr().unwrap().to_string();
    let c = Fleet::host(&f.site, "host-c", &[&dead, &f.server]);
    let code = f.issue(&["alice", "--multi"]);
    let started = Instant::now();
    let o = login(&c, "sshd", "alice", &[&code]);
    assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}\n{}", f.log());
    // Two questions, each answered by the second server after one silent try of the first.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 4096];
    silent.set_nonblocking(true).unwrap();
    assert!(
        silent.recv(&mut buf).is_ok(),
        "the first server was asked first"
    );
}

#[test]
fn sparekeyd_refuses_a_member_hosts_configuration_and_makes_no_site_key_there() {
    let host = Site::with_config(
        "\n[site]\nservers = [\"192.0.2.5:1812\"]\nhost-file = \"host.key\"\n",
        POLICY,
    );
    let out = std::process::Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--config")
        .arg(&host.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("has a [site] table: it is a member host's configuration"),
        "{err}"
    );
    assert!(!host.key.exists(), "a site key was made on a member host");
    // --check still checks it.
    let check = std::process::Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .args(["--check", "--config"])
        .arg(&host.config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
