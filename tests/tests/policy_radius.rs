//! Policy features through the real RADIUS responder (sparekeyd) and the real radclient:
//! the switch with reload, scope by service, fixed passcodes, universal codes, activation on
//! first use, lockout and unlock, and the contact text in Reply-Message.

use sparekey_tests::radius::{
    auth, free_udp_port, section, tools_installed, write_secret, ClientEntry, Run,
};
use sparekey_tests::site::{run_with_input, Daemon, Site, POLICY};

const SECRET: &str = "cG9saWN5LXRlc3RzLXNlY3JldC0zMi1ieXRlcw";

struct Vpn {
    site: Site,
    _daemon: Daemon,
    server: String,
}

impl Vpn {
    fn new(policy: &str) -> Self {
        assert!(
            tools_installed(),
            "radclient is needed: apt-get install freeradius-utils"
        );
        let server = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
        let client = ClientEntry {
            name: "vpn-gw",
            address: "127.0.0.1",
            secret_file: "vpn-gw.secret",
            service: "vpn",
        };
        let site = Site::with_config(&section(&[&server], &[client]), policy);
        write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
        let daemon = site.start();
        Vpn {
            site,
            _daemon: daemon,
            server,
        }
    }

    fn login(&self, user: &str, code: &str) -> Run {
        auth(&self.server, SECRET, user, code)
    }

    fn verdict(&self, user: &str, code: &str) -> String {
        let run = self.login(user, code);
        run.reply
            .map(|r| r.code)
            .unwrap_or_else(|| format!("no reply: {}", run.text))
    }
}

fn with_kinds() -> String {
    POLICY.replace("services = [\"sshd\", \"login\", \"vpn\"]\n", "services = [\"sshd\", \"login\", \"vpn\"]\nkinds = [\"temporary\", \"fixed\", \"universal\"]\n")
}

#[test]
fn the_switch_off_refuses_every_code_and_reload_applies_it_at_once() {
    let vpn = Vpn::new(POLICY);
    let code = vpn.site.issue(&["alice", "--multi"]).1;
    assert_eq!(vpn.verdict("alice", &code), "Access-Accept");
    vpn.site
        .write_policy(&POLICY.replace("enabled = true", "enabled = false"));
    let (rc, v) = vpn.site.ctl_json(&["reload"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(vpn.verdict("alice", &code), "Access-Reject");
    let (_, v) = vpn.site.ctl_json(&["issue", "bob"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("temporary codes are disabled for this organisation"),
        "{v}"
    );
    vpn.site.write_policy(POLICY);
    vpn.site.ctl_json(&["reload"]);
    assert_eq!(vpn.verdict("alice", &code), "Access-Accept");
}

#[test]
fn a_code_narrowed_to_sshd_is_refused_by_the_vpn() {
    let vpn = Vpn::new(POLICY);
    let code = vpn.site.issue(&["alice", "--service", "sshd", "--multi"]).1;
    assert_eq!(vpn.verdict("alice", &code), "Access-Reject");
    let (_, audit) = vpn.site.ctl_json(&["audit", "--user", "alice"]);
    let last = audit["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "code not valid for this service", "{last}");
}

#[test]
fn the_reject_carries_the_policy_contact() {
    let vpn = Vpn::new(&POLICY.replace("IT helpdesk, ext. 4357", "Service desk, +1 555 0100"));
    vpn.site.issue(&["alice"]);
    let run = vpn.login("alice", "00000-00000");
    let reply = run.reply.expect("a reply");
    assert_eq!(
        reply.attr("Reply-Message"),
        Some("Code not accepted. Contact: Service desk, +1 555 0100")
    );
}

#[test]
fn fixed_and_universal_credentials_work_over_radius() {
    let vpn = Vpn::new(&with_kinds());
    let set = run_with_input(
        vpn.site.ctl_cmd(&["fixed", "bob"]),
        "orchid-lantern-7\norchid-lantern-7\n",
    );
    assert!(set.status.success(), "{set:?}");
    assert_eq!(vpn.verdict("bob", "orchid-lantern-7"), "Access-Accept");
    assert_eq!(
        vpn.verdict("bob", "orchid-lantern-7"),
        "Access-Accept",
        "fixed passcodes are multi-use"
    );

    let (rc, v) = vpn
        .site
        .ctl_json(&["universal", "staff", "--service", "vpn"]);
    assert_eq!(rc, 0, "{v}");
    let universal = v["code"].as_str().unwrap();
    assert_eq!(vpn.verdict("alice", universal), "Access-Accept");
    assert_eq!(vpn.verdict("helpdesk1", universal), "Access-Accept");
    assert_eq!(
        vpn.verdict("carol", universal),
        "Access-Reject",
        "carol is not in staff"
    );
    let (_, audit) = vpn.site.ctl_json(&["audit"]);
    // Uses of an uncapped credential are gathered: one event per user with a count.
    let redeems: Vec<(&str, &str)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "redeem")
        .map(|e| {
            (
                e["subject"].as_str().unwrap(),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let subjects: Vec<&str> = redeems.iter().map(|(s, _)| *s).collect();
    assert_eq!(subjects, ["bob", "alice", "helpdesk1"], "{redeems:?}");
    assert!(redeems[0].1.starts_with("2 times, "), "{redeems:?}");
}

#[test]
fn activation_on_first_use_bounds_the_session_from_the_first_login() {
    let vpn = Vpn::new(POLICY);
    let code = vpn
        .site
        .issue(&[
            "alice",
            "--for",
            "30m",
            "--multi",
            "--activate-on-first-use",
            "--redeem-within",
            "3d",
        ])
        .1;
    let reply = vpn.login("alice", &code).reply.expect("a reply");
    assert_eq!(reply.code, "Access-Accept");
    let timeout: i64 = reply.attr("Session-Timeout").unwrap().parse().unwrap();
    assert!(
        (1790..=1800).contains(&timeout),
        "30 minutes from the first use, not 3 days: {timeout}"
    );
}

#[test]
fn a_flood_of_wrong_codes_locks_the_user_out_until_unlocked() {
    let vpn = Vpn::new(POLICY);
    let code = vpn.site.issue(&["alice", "--multi"]).1;
    for _ in 0..5 {
        assert_eq!(vpn.verdict("alice", "12345-12345"), "Access-Reject");
    }
    assert_eq!(
        vpn.verdict("alice", &code),
        "Access-Reject",
        "locked out: even the right code"
    );
    let bobs = vpn.site.issue(&["bob"]).1;
    assert_eq!(
        vpn.verdict("bob", &bobs),
        "Access-Accept",
        "other users are not affected"
    );
    let (_, list) = vpn.site.ctl_json(&["list"]);
    assert_eq!(list["lockouts"][0]["user"], "alice", "{list}");
    let (rc, _) = vpn.site.ctl_json(&["unlock", "alice"]);
    assert_eq!(rc, 0);
    assert_eq!(vpn.verdict("alice", &code), "Access-Accept");
}

#[test]
fn gathered_audit_events_are_written_when_sparekeyd_stops() {
    let vpn = Vpn::new(POLICY);
    let code = vpn.site.issue(&["alice", "--multi"]).1;
    for _ in 0..3 {
        assert_eq!(vpn.verdict("alice", &code), "Access-Accept");
    }
    assert_eq!(vpn.verdict("outsider", "12345"), "Access-Reject");
    let Vpn { site, _daemon, .. } = vpn;
    assert_eq!(_daemon.stop(), Some(0));
    let key = std::sync::Arc::new(sparekey_core::SiteKey::load(&site.key).unwrap());
    use sparekey_core::store::Store;
    let store = sparekey_core::store::SqliteStore::open_existing(
        &site.store,
        key,
        std::sync::Arc::new(sparekey_core::audit::NoSink),
    )
    .unwrap();
    let events = store.audit(None, 100).unwrap();
    let redeem = events
        .iter()
        .find(|e| e.action == sparekey_core::Action::Redeem)
        .expect("the redeems were written at shutdown");
    assert!(
        redeem.reason.as_deref().unwrap().starts_with("3 times"),
        "{redeem:?}"
    );
    assert!(events.iter().any(|e| e.subject == "outsider" && e.reason.as_deref() == Some("user is in no policy")), "{events:?}");
    assert_eq!(store.verify_audit_chain().unwrap(), None);
}
