//! End to end: sparekeyd as a VPN's only RADIUS server (issue 15). The real sparekeyd under
//! pam_wrapper checks passwords through real libpam (pam_wrapper's pam_matrix as the
//! password module), answers the real radclient in challenge and append modes, passes users
//! without a code to a private FreeRADIUS standing for the usual MFA (with its own
//! Access-Challenge round), adds policy reply attributes, answers accounting, switches an
//! "auto" client to requiring Message-Authenticator, and serves Debian's pam_radius_auth as
//! a real challenge client (pamtester).

use sparekey_tests::pam::{pam_wrapper, Services};
use sparekey_tests::radius::{
    capture_request, free_udp_port, radclient, tools_installed, write_secret, Reply, Run,
};
use sparekey_tests::site::{nss_wrapper, Daemon, Site};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SECRET: &str = "bW9kZXMtdGVzdC1zZWNyZXQtMzItYnl0ZXMK";
const UPSTREAM_SECRET: &str = "dXBzdHJlYW0tbWZhLXNlY3JldAo";

/// Policies: alice, bob and carol may have codes for the VPN; staff logins get a Class and
/// a Fortinet group. dave is in no policy.
const POLICY: &str = r#"enabled = true
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
struct Modes {
    site: Site,
    daemon: Option<Daemon>,
    _services: Services,
    v4: String,
    v6: String,
}

fn pam_matrix() -> PathBuf {
    let wrapper = pam_wrapper().expect("apt-get install libpam-wrapper");
    let m = wrapper.parent().unwrap().join("pam_wrapper/pam_matrix.so");
    assert!(
        m.exists(),
        "{} is missing (apt-get install libpam-wrapper)",
        m.display()
    );
    m
}

fn modes_site(extra: &str, daemon_extra: &str) -> Modes {
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

impl Modes {
    fn issue(&self, user: &str, args: &[&str]) -> String {
        let mut full = vec!["issue", user, "--reason", "test"];
        full.extend_from_slice(args);
        let (rc, v) = self.site.ctl_json(&full);
        assert_eq!(rc, 0, "issue failed: {v}");
        v["code"].as_str().unwrap().to_string()
    }

    fn actions(&self, user: &str) -> Vec<String> {
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

    fn audit_text(&self, user: &str) -> String {
        let (_, v) = self
            .site
            .ctl_json(&["audit", "--user", user, "--limit", "50"]);
        v.to_string()
    }

    fn log(&self) -> String {
        self.daemon.as_ref().unwrap().log_text()
    }
}

/// An Access-Request for `user` with `password` (and `more` attribute lines) to `server`.
fn ask(server: &str, user: &str, password: &str, more: &str) -> Run {
    let input = format!(
        "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nNAS-Identifier = \"gw1.example\"\nCalling-Station-Id = \"203.0.113.7\"\nMessage-Authenticator = 0x00\n{more}"
    );
    radclient(server, "auth", SECRET, &input, 1, 3)
}

fn reply(run: &Run, code: &str) -> Reply {
    let r = run
        .reply
        .clone()
        .unwrap_or_else(|| panic!("no reply:\n{}", run.text));
    assert_eq!(r.code, code, "{}", run.text);
    assert_eq!(
        r.attrs.first().map(|(n, _)| n.as_str()),
        Some("Message-Authenticator"),
        "Message-Authenticator first:\n{}",
        run.text
    );
    r
}

fn no_reply(run: &Run) {
    assert!(run.reply.is_none(), "expected no answer:\n{}", run.text);
    assert!(
        run.text.contains("No reply from server"),
        "radclient ran: {}",
        run.text
    );
}

/// Round one: the password; the State of the Access-Challenge.
fn challenge(server: &str, user: &str, password: &str) -> String {
    let r = reply(&ask(server, user, password, ""), "Access-Challenge");
    assert_eq!(r.attr("Reply-Message"), Some("Temporary code: "), "{r:?}");
    r.attr("State").expect("a State").to_string()
}

fn with_state(state: &str) -> String {
    format!("State = {state}\n")
}

const CHALLENGE: &str = "mode = \"challenge\"\nprimary-pam-service = \"sk-radius\"";

#[test]
fn challenge_mode_takes_the_password_then_the_code_with_its_state() {
    let m = modes_site(CHALLENGE, "");
    let code = m.issue("alice", &["--multi"]);
    let state = challenge(&m.v4, "alice", "alice-pw");
    assert!(state.starts_with("0x"), "{state}");
    let accept = reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // The policy's reply attributes: Class, Fortinet-Group-Name, Idle-Timeout.
    assert_eq!(
        accept.attr("Class"),
        Some("0x4f553d76706e2d73746166663b"),
        "{accept:?}"
    );
    let fortinet = accept
        .attrs
        .iter()
        .find(|(n, _)| n.contains("Fortinet-Group-Name") || n.contains("26.12356.1"));
    assert!(
        fortinet.is_some_and(|(_, v)| v.contains("vpn-staff") || v == "0x76706e2d7374616666"),
        "{accept:?}"
    );
    assert_eq!(accept.attr("Idle-Timeout"), Some("900"), "{accept:?}");
    assert!(accept.attr("Session-Timeout").is_some(), "{accept:?}");

    // The State works once: replayed, refused.
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // Another user's name with alice's State: refused, and the State is gone for alice too.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "bob", &code, &with_state(&state)),
        "Access-Reject",
    );
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // From another source (and client): refused.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v6, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // A State sparekeyd never made (its prefix, random bytes of its own): refused.
    let forged = format!("0x{}{}", hex(b"sparekey1:"), "00".repeat(16));
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&forged)),
        "Access-Reject",
    );
    // A State that is not sparekeyd's, and no upstream: refused.
    reply(
        &ask(&m.v4, "alice", &code, "State = 0x0102030405\n"),
        "Access-Reject",
    );
    // A fresh State with a wrong code: refused, counted as a wrong code.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", "00000-00000", &with_state(&state)),
        "Access-Reject",
    );
    let log = m.log();
    assert!(
        log.contains("a State made for another client, source address or user"),
        "{log}"
    );
    assert!(
        log.contains("a State that sparekeyd did not make or that was used already"),
        "{log}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "redeem").count(),
        1,
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "failure"), "{actions:?}");
}

#[test]
fn a_wrong_password_spends_and_counts_nothing() {
    let m = modes_site(CHALLENGE, "");
    let code = m.issue("alice", &[]);
    // Four wrong passwords, more than the policy's three wrong codes before a lockout.
    for _ in 0..4 {
        reply(
            &ask(&m.v4, "alice", "not-her-password", ""),
            "Access-Reject",
        );
    }
    let audit = m.audit_text("alice");
    assert!(
        !audit.contains("not-her-password"),
        "the password is never audited: {audit}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "password-refused").count(),
        4,
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "failure" || a == "lockout"),
        "{actions:?}"
    );
    // The single-use code is still there, and no lockout stands in the way.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // A user without a usable code gets a Reject without a password check.
    reply(&ask(&m.v4, "bob", "bob-pw", ""), "Access-Reject");
    assert!(!m.actions("bob").iter().any(|a| a == "password-refused"));
    assert!(
        m.log().contains("no usable code for this user here"),
        "{}",
        m.log()
    );
}

#[test]
fn a_retransmit_of_a_first_round_gets_the_same_challenge() {
    let m = modes_site(CHALLENGE, "");
    m.issue("alice", &[]);
    let datagram = capture_request(
        SECRET,
        "User-Name = \"alice\"\nUser-Password = \"alice-pw\"\nMessage-Authenticator = 0x00\n",
    );
    let port = free_udp_port("127.0.0.1");
    let send = || {
        let s = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&datagram, &m.v4).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).expect("an answer");
        buf[..n].to_vec()
    };
    let first = send();
    assert_eq!(first[0], 11, "Access-Challenge");
    assert_eq!(
        send(),
        first,
        "the retransmit gets the same Access-Challenge (one PAM check)"
    );
}

#[test]
fn append_mode_takes_password_delimiter_and_code() {
    let m = modes_site("mode = \"append\"\nprimary-pam-service = \"sk-radius\"", "");
    let code = m.issue("alice", &[]);
    // A wrong password with the right code: refused, the single-use code not spent.
    reply(
        &ask(&m.v4, "alice", &format!("wrong,{code}"), ""),
        "Access-Reject",
    );
    // No delimiter: refused without a check.
    reply(&ask(&m.v4, "alice", "alice-pw", ""), "Access-Reject");
    let accept = reply(
        &ask(&m.v4, "alice", &format!("alice-pw,{code}"), ""),
        "Access-Accept",
    );
    assert!(accept.attr("Class").is_some(), "{accept:?}");
    // Spent: once only.
    reply(
        &ask(&m.v4, "alice", &format!("alice-pw,{code}"), ""),
        "Access-Reject",
    );
    // The last delimiter splits: carol's password has a comma in it.
    let code = m.issue("carol", &[]);
    reply(
        &ask(&m.v4, "carol", &format!("pa,ss,{code}"), ""),
        "Access-Accept",
    );
    let actions = m.actions("alice");
    assert!(
        actions.iter().any(|a| a == "password-refused"),
        "{actions:?}"
    );
}

#[test]
fn reply_attributes_come_with_a_code_only_accept() {
    let m = modes_site("", "");
    let code = m.issue("alice", &[]);
    let accept = reply(
        &ask(&m.v4, "alice", &code, "Proxy-State = 0x686f702d31\n"),
        "Access-Accept",
    );
    assert_eq!(
        accept.attr("Class"),
        Some("0x4f553d76706e2d73746166663b"),
        "{accept:?}"
    );
    assert_eq!(
        accept.attr("Proxy-State"),
        Some("0x686f702d31"),
        "{accept:?}"
    );
}

#[test]
fn accounting_is_answered_and_recorded_when_asked_for() {
    let m = modes_site("accounting = true", "");
    let start = "User-Name = \"alice\"\nAcct-Status-Type = Start\nAcct-Session-Id = \"s-42\"\nFramed-IP-Address = 10.8.0.6\nNAS-Identifier = \"gw1.example\"\n";
    let r = radclient(&m.v4, "acct", SECRET, start, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    let stop = "User-Name = \"alice\"\nAcct-Status-Type = Stop\nAcct-Session-Id = \"s-42\"\nAcct-Session-Time = 3600\nAcct-Terminate-Cause = User-Request\nNAS-Identifier = \"gw1.example\"\nMessage-Authenticator = 0x00\n";
    let r = radclient(&m.v4, "acct", SECRET, stop, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    let interim =
        "User-Name = \"alice\"\nAcct-Status-Type = Interim-Update\nAcct-Session-Id = \"s-42\"\n";
    let r = radclient(&m.v4, "acct", SECRET, interim, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    // A wrong secret: no answer.
    no_reply(&radclient(&m.v4, "acct", "not-the-secret", start, 1, 1));
    let audit = m.audit_text("alice");
    assert!(
        audit.contains("session start, Acct-Session-Id=s-42 Framed-IP-Address=10.8.0.6"),
        "{audit}"
    );
    assert!(
        audit.contains("Acct-Session-Time=3600s Acct-Terminate-Cause=User-Request"),
        "{audit}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "accounting").count(),
        2,
        "interim not recorded: {actions:?}"
    );

    // Without accounting = true: dropped, logged.
    let plain = modes_site("", "");
    no_reply(&radclient(&plain.v4, "acct", SECRET, start, 1, 1));
    assert!(
        plain.log().contains("no `accounting = true`"),
        "{}",
        plain.log()
    );
}

#[test]
fn an_auto_client_requires_message_authenticator_once_it_sent_one() {
    let m = modes_site("require-message-authenticator = \"auto\"", "");
    let code = m.issue("alice", &["--multi"]);
    let bare = format!("User-Name = \"alice\"\nUser-Password = \"{code}\"\n");
    reply_without_ma_check(
        &radclient(&m.v4, "auth", SECRET, &bare, 1, 3),
        "Access-Accept",
    );
    reply(&ask(&m.v4, "alice", &code, ""), "Access-Accept");
    assert!(
        m.log()
            .contains("from now on its Access-Requests without one are dropped"),
        "{}",
        m.log()
    );
    no_reply(&radclient(&m.v4, "auth", SECRET, &bare, 1, 1));
    // The other client has not sent one: still answered without.
    reply_without_ma_check(
        &radclient(&m.v6, "auth", SECRET, &bare, 1, 3),
        "Access-Accept",
    );
}

fn reply_without_ma_check(run: &Run, code: &str) {
    assert_eq!(
        run.reply.as_ref().map(|r| r.code.as_str()),
        Some(code),
        "{}",
        run.text
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A private FreeRADIUS standing for the usual MFA (tests/fixtures/freeradius-mfa.sh):
/// carol / carol-pw gets an Access-Challenge "Enter your token", then 123456 an Accept;
/// dave / dave-pw an Accept in one round.
struct Mfa {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Mfa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mfa(port: u16) -> Mfa {
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
        let probe = format!(
            "User-Name = \"dave\"\nUser-Password = \"dave-pw\"\nMessage-Authenticator = 0x00\n"
        );
        if radclient(&server, "auth", UPSTREAM_SECRET, &probe, 1, 1)
            .reply
            .is_some()
        {
            return Mfa { child, _dir: dir };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the private FreeRADIUS did not answer on {server}");
}

#[test]
fn users_without_a_code_go_to_the_upstream_and_its_challenge_is_relayed() {
    let port = free_udp_port("127.0.0.1");
    let mfa = start_mfa(port);
    let upstream = format!(
        "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"127.0.0.1:{port}\"\nsecret-file = \"mfa.secret\"\ntimeout = \"1s\"\nretries = 1\n"
    );
    let m = modes_site(&format!("{CHALLENGE}\nupstream = \"mfa\""), &upstream);
    // carol has no code here: her password goes to the upstream, whose challenge comes back.
    let round1 = ask(&m.v4, "carol", "carol-pw", "Proxy-State = 0x6e61732d31\n");
    let r = reply(&round1, "Access-Challenge");
    assert_eq!(r.attr("Reply-Message"), Some("Enter your token"), "{r:?}");
    assert_eq!(r.attr("Proxy-State"), Some("0x6e61732d31"), "{r:?}");
    let state = r.attr("State").unwrap().to_string();
    let round2 = ask(&m.v4, "carol", "123456", &with_state(&state));
    let r = reply(&round2, "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("MFA ok"), "{r:?}");
    assert!(r.attr("Class").is_some(), "the upstream's Class: {r:?}");
    // A wrong token: the upstream's Reject, relayed.
    let state = reply(&ask(&m.v4, "carol", "carol-pw", ""), "Access-Challenge")
        .attr("State")
        .unwrap()
        .to_string();
    reply(
        &ask(&m.v4, "carol", "654321", &with_state(&state)),
        "Access-Reject",
    );
    // dave (in no policy) in one round.
    let r = reply(&ask(&m.v4, "dave", "dave-pw", ""), "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("upstream accept"), "{r:?}");
    // alice has a code: sparekeyd's own challenge, not the upstream's.
    let code = m.issue("alice", &[]);
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // Audited as passed on, never with the password.
    let audit = m.audit_text("carol");
    assert!(
        audit.contains("passed on to upstream mfa, which answered Access-Challenge"),
        "{audit}"
    );
    assert!(audit.contains("which answered Access-Accept"), "{audit}");
    assert!(
        !audit.contains("carol-pw") && !audit.contains("123456"),
        "{audit}"
    );
    // The upstream silent: no answer (the NAS tries again or elsewhere).
    drop(mfa);
    no_reply(&ask(&m.v4, "dave", "dave-pw", ""));
    assert!(
        m.log().contains("no answer from upstream mfa"),
        "{}",
        m.log()
    );
}

#[test]
fn code_only_users_without_a_code_go_to_the_upstream() {
    let port = free_udp_port("127.0.0.1");
    let _mfa = start_mfa(port);
    let upstream = format!(
        "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"127.0.0.1:{port}\"\nsecret-file = \"mfa.secret\"\n"
    );
    let m = modes_site("upstream = \"mfa\"", &upstream);
    let r = reply(&ask(&m.v4, "dave", "dave-pw", ""), "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("upstream accept"), "{r:?}");
    let code = m.issue("bob", &[]);
    reply(&ask(&m.v4, "bob", &code, ""), "Access-Accept");
    assert!(m.actions("dave").iter().any(|a| a == "forward"));
}

/// pam_radius_auth.so (Debian's libpam-radius-auth), if installed.
fn pam_radius_auth() -> Option<PathBuf> {
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

#[test]
fn debian_pam_radius_auth_is_a_real_challenge_client() {
    let module = pam_radius_auth().expect("apt-get install libpam-radius-auth");
    // pam_radius_auth 2.0.0 sends no Message-Authenticator.
    let m = modes_site(
        &format!("{CHALLENGE}\nrequire-message-authenticator = false"),
        "",
    );
    let code = m.issue("alice", &[]);
    let conf = m.site.path("pam_radius_auth.conf");
    std::fs::write(&conf, format!("{} {SECRET} 3\n", m.v4)).unwrap();
    let client = Services::new(&m.site);
    client.add(
        "vpn-login",
        &format!(
            "auth required {} conf={}\n",
            module.display(),
            conf.display()
        ),
    );
    let login = |answers: &str| {
        let preload = format!(
            "{} {}",
            pam_wrapper().unwrap().display(),
            nss_wrapper().unwrap().display()
        );
        let mut child = Command::new("pamtester")
            .args(["-v", "vpn-login", "alice", "authenticate"])
            .envs(m.site.nss_env())
            .env("LD_PRELOAD", preload)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", client.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apt-get install pamtester");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answers.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = login("alice-pw\n00000-00000\n");
    assert!(!ok, "a wrong code fails: {text}");
    assert!(
        text.contains("Temporary code:"),
        "the challenge's prompt: {text}"
    );
    let (ok, text) = login(&format!("alice-pw\n{code}\n"));
    assert!(ok, "{text}");
    let (ok, text) = login(&format!("alice-pw\n{code}\n"));
    assert!(!ok, "single use: {text}");
}
