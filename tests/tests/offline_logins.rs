//! The offline exchange through real libpam under pam_wrapper: a member host that cannot
//! reach its site (its `[site] servers` answer nothing) while the site's sparekeyd runs for
//! the helpdesk. The person types `offline`, sees a request code, and types the response
//! that `sparekeyctl offline respond` made; the host's ledger (a real SQLite file) keeps
//! the request, the accepted response and the wrong answers, and the offline logins go to
//! the site's audit log once the site answers again.

use sparekey_core::offline::RequestCode;
use sparekey_tests::pam::{self, Outcome, Services, Transaction};
use sparekey_tests::pam::{
    PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_IGNORE, PAM_MAXTRIES, PAM_SUCCESS,
};
use sparekey_tests::radius::free_udp_port;
use sparekey_tests::require_pam;
use sparekey_tests::site::{read, Site, ROLES};
use std::process::Command;

/// The child process's entry point (see sparekey_tests::pam); does nothing in a normal run.
#[test]
fn pam_child() {
    pam::child_main();
}

/// Staff may log in offline (on the site: the helpdesk may answer; on the host: the host
/// lets them); contractors may not.
const POLICY: &str = r#"enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
groups = ["staff"]
services = ["sshd"]
kinds = ["temporary", "offline"]
default-lifetime = "1d"
lockout = { attempts = 8, window = "15m" }

[[policy]]
name = "contractors"
groups = ["contractors"]
services = ["sshd"]
"#;

const PROMPT: &str = "Temporary code: ";
const RESPONSE_PROMPT: &str = "Response code: ";
const REFUSED: &str =
    "Temporary code not accepted. If you need a new one, contact IT helpdesk, ext. 4357.";
const MISTYPED: &str = "Response code mistyped: its check character does not match. Read it again.";
const LOCKED: &str = "Too many wrong temporary codes: they are refused for a while. Use your usual second factor, or contact IT helpdesk, ext. 4357.";

struct Offline {
    site: Site,
    _daemon: sparekey_tests::site::Daemon,
    live: String,
    dead: String,
    host: Site,
    services: Services,
}

impl Offline {
    fn new() -> Self {
        let live = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
        let radius = format!(
            "\n[radius]\nlisten = [{live:?}]\n\n[[radius.client]]\nname = \"members\"\naddress = \"127.0.0.0/8\"\nmember-hosts = true\n"
        );
        let site = Site::with_config(&format!("{ROLES}{radius}"), POLICY);
        let daemon = site.start();
        // A port nothing answers on: the host cannot reach its site.
        let dead = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
        let host = Site::with_config(
            &format!("\n[site]\nservers = [{dead:?}]\nhost-file = \"host.key\"\n"),
            POLICY,
        );
        let out = host.path("host.key");
        let (rc, v) = site.ctl_json(&["host", "enroll", "host-o", "--out", out.to_str().unwrap()]);
        assert_eq!(rc, 0, "{v}");
        let services = Services::new(&host);
        services.add("sshd", "auth [default=done] {sparekey}\n");
        Offline {
            site,
            _daemon: daemon,
            live,
            dead,
            host,
            services,
        }
    }

    fn login(&self, user: &str, answers: &[&str]) -> Outcome {
        pam::run(
            &self.host,
            &self.services,
            &Transaction::new("sshd", user, answers),
        )
    }

    /// The request code a login showed.
    fn request_shown(o: &Outcome) -> String {
        let line = o
            .infos()
            .into_iter()
            .find_map(|i| i.strip_prefix("Request code: "))
            .unwrap_or_else(|| panic!("no request code shown: {o:#?}"))
            .to_string();
        line
    }

    /// `sparekeyctl offline respond` on the site: (exit code, JSON).
    fn respond(
        &self,
        host: &str,
        user: &str,
        request: &str,
        dur: &str,
    ) -> (i32, serde_json::Value) {
        self.site.ctl_json(&[
            "offline",
            "respond",
            "--host",
            host,
            "--user",
            user,
            "--request",
            request,
            "--for",
            dur,
        ])
    }

    fn response(&self, user: &str, request: &str) -> String {
        let (rc, v) = self.respond("host-o", user, request, "8h");
        assert_eq!(rc, 0, "{v}");
        v["response"].as_str().unwrap().to_string()
    }

    fn sqlite(&self, sql: &str) {
        let out = Command::new("sqlite3")
            .arg(self.host.path("state/sparekey.db"))
            .arg(sql)
            .output()
            .expect("sqlite3 (apt-get install sqlite3)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[track_caller]
fn check(o: &Outcome, rc: i32, prompts: &[&str], errors: &[&str]) {
    assert_eq!(o.rc, rc, "{o:#?}");
    assert_eq!(o.prompts(), prompts, "{o:#?}");
    assert_eq!(o.errors(), errors, "{o:#?}");
    assert_eq!(o.unused_answers, 0, "{o:#?}");
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

#[test]
fn the_whole_offline_exchange_with_its_refusals_and_the_report_to_the_site() {
    require_pam!();
    let f = Offline::new();
    // The request is shown, and shown again while it is kept.
    let o = f.login("alice", &["offline", ""]);
    check(&o, PAM_IGNORE, &[PROMPT, RESPONSE_PROMPT], &[]);
    let request = Offline::request_shown(&o);
    assert!(RequestCode::parse(&request).is_ok(), "{request}");
    let o = f.login("alice", &["offline", ""]);
    assert_eq!(Offline::request_shown(&o), request);

    // Responses for another user, another host or another request are refused.
    let for_bob = f.response("bob", &request);
    let (rc, v) = f.site.ctl_json(&[
        "host",
        "enroll",
        "host-b",
        "--out",
        f.site.path("b.key").to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{v}");
    let (rc, v) = f.respond("host-b", "alice", &request, "8h");
    assert_eq!(rc, 0, "{v}");
    let for_host_b = v["response"].as_str().unwrap().to_string();
    let mut n = 7u8;
    let other = RequestCode::from_random(|| {
        n = n.wrapping_mul(13).wrapping_add(5);
        n
    })
    .display();
    let for_other = f.response("alice", &other);
    for wrong in [&for_bob, &for_host_b, &for_other] {
        let o = f.login("alice", &["offline", wrong]);
        check(&o, PAM_AUTH_ERR, &[PROMPT, RESPONSE_PROMPT], &[REFUSED]);
        assert_eq!(Offline::request_shown(&o), request, "the request stays");
    }
    // A mistyped response is caught by its check character (and counted).
    let right = f.response("alice", &request);
    let mut typo: Vec<char> = right.chars().collect();
    typo[1] = if typo[1] == '7' { '8' } else { '7' };
    let typo: String = typo.into_iter().collect();
    let o = f.login("alice", &["offline", &typo]);
    check(&o, PAM_AUTH_ERR, &[PROMPT, RESPONSE_PROMPT], &[MISTYPED]);

    // The right one is accepted once; the request is consumed.
    let o = f.login("alice", &["offline", &right]);
    check(&o, PAM_SUCCESS, &[PROMPT, RESPONSE_PROMPT], &[]);
    assert!(
        o.infos()
            .iter()
            .any(|i| i.starts_with("Offline login accepted.")),
        "{o:#?}"
    );
    // Within its validity the same response works at the code prompt.
    check(&f.login("alice", &[&right]), PAM_SUCCESS, &[PROMPT], &[]);
    // It never answers a request again: a new one is shown, and it is refused.
    let o = f.login("alice", &["offline", &right]);
    check(&o, PAM_AUTH_ERR, &[PROMPT, RESPONSE_PROMPT], &[REFUSED]);
    let second = Offline::request_shown(&o);
    assert_ne!(second, request);

    // An expired request: its response is refused, and a new request is shown.
    let late = f.response("alice", &second);
    f.sqlite("UPDATE ledger_requests SET created_at = created_at - 7200");
    let o = f.login("alice", &["offline", &late]);
    check(&o, PAM_AUTH_ERR, &[PROMPT, RESPONSE_PROMPT], &[REFUSED]);
    assert_ne!(Offline::request_shown(&o), second);

    // Six wrong answers so far, of eight: two more lock alice out of the offline path.
    for _ in 0..2 {
        check(
            &f.login("alice", &["offline", &for_bob]),
            PAM_AUTH_ERR,
            &[PROMPT, RESPONSE_PROMPT],
            &[REFUSED],
        );
    }
    check(&f.login("alice", &[]), PAM_MAXTRIES, &[], &[LOCKED]);

    // A user whose policy has no offline: PAM_AUTHINFO_UNAVAIL without a prompt.
    check(&f.login("carol", &[]), PAM_AUTHINFO_UNAVAIL, &[], &[]);

    // The helpdesk's refusals: beyond 14 days, and a mistyped request code.
    let (rc, v) = f.respond("host-o", "bob", &request, "15d");
    assert_ne!(rc, 0, "{v}");
    assert!(v["error"].as_str().unwrap().contains("14"), "{v}");
    let mut mistyped: Vec<char> = request.chars().collect();
    mistyped[0] = if mistyped[0] == '3' { '4' } else { '3' };
    let (rc, v) = f.respond(
        "host-o",
        "bob",
        &mistyped.into_iter().collect::<String>(),
        "1h",
    );
    assert_ne!(rc, 0, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("check character"),
        "{v}"
    );

    // The site answers again: the offline logins reach its audit log at the next login.
    let config = f.host.config.clone();
    std::fs::write(&config, read(&config).replace(&f.dead, &f.live)).unwrap();
    check(&f.login("bob", &[]), PAM_IGNORE, &[], &[]);
    let (rc, audit) = f.site.ctl_json(&["audit", "--user", "alice"]);
    assert_eq!(rc, 0, "{audit}");
    let offline: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "offline-login")
        .collect();
    assert_eq!(offline.len(), 2, "{audit}");
    assert!(
        offline[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("response accepted on host-o"),
        "{audit}"
    );
    assert!(
        offline[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("accepted response used again"),
        "{audit}"
    );
    assert_eq!(
        offline[0]["source"], "pam host=host-o service=sshd client=members",
        "{audit}"
    );
    assert!(
        !audit.to_string().contains(&right),
        "a response in the audit log"
    );
    // Reported once: the host forgot them.
    check(&f.login("bob", &[]), PAM_IGNORE, &[], &[]);
    let (_, again) = f.site.ctl_json(&["audit", "--user", "alice"]);
    let count = again["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "offline-login")
        .count();
    assert_eq!(count, 2, "{again}");
}

#[test]
fn a_host_set_offline_never_asks_the_site() {
    require_pam!();
    let f = Offline::new();
    // The host's server: a socket that would see any question.
    let listening = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = listening.local_addr().unwrap().to_string();
    let config = f.host.config.clone();
    let text = read(&config)
        .replace(&f.dead, &server)
        .replace("[site]\n", "[site]\noffline = true\n");
    std::fs::write(&config, text).unwrap();
    let o = f.login("alice", &["offline", ""]);
    check(&o, PAM_IGNORE, &[PROMPT, RESPONSE_PROMPT], &[]);
    let request = Offline::request_shown(&o);
    let right = f.response("alice", &request);
    check(
        &f.login("alice", &["offline", &right]),
        PAM_SUCCESS,
        &[PROMPT, RESPONSE_PROMPT],
        &[],
    );
    listening.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let asked = listening.recv(&mut buf);
    assert!(
        asked
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the site was asked: {asked:?}"
    );
}
