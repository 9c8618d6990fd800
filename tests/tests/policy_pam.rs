//! Policy features through the real pam_sparekey.so under pam_wrapper (users and groups via
//! nss_wrapper): scope by service, fixed passcodes, universal codes, activation on first
//! use, the switch, lockout and unlock, and the contact text at a refused code.

use sparekey_tests::pam::{self, Outcome, Services, Transaction};
use sparekey_tests::pam::{PAM_AUTH_ERR, PAM_IGNORE, PAM_MAXTRIES, PAM_SUCCESS};
use sparekey_tests::require_pam;
use sparekey_tests::site::{run_with_input, Daemon, Site, POLICY};

/// The child process's entry point (see sparekey_tests::pam); does nothing in a normal run.
#[test]
fn pam_child() {
    pam::child_main();
}

const KINDS: &str = "kinds = [\"temporary\", \"fixed\", \"universal\"]\n";

struct Fixture {
    site: Site,
    _daemon: Daemon,
    services: Services,
}

impl Fixture {
    fn new(policy: &str) -> Self {
        let site = Site::new(policy);
        let daemon = site.start();
        let services = Services::new(&site);
        for service in ["sshd", "sudo", "login"] {
            services.add(service, "auth [default=done] {sparekey}\n");
        }
        Fixture {
            site,
            _daemon: daemon,
            services,
        }
    }

    fn with_kinds() -> Self {
        Self::new(&POLICY.replace(
            "services = [\"sshd\", \"login\", \"vpn\"]\n",
            &format!("services = [\"sshd\", \"login\", \"vpn\"]\n{KINDS}"),
        ))
    }

    fn login(&self, service: &str, user: &str, answers: &[&str]) -> Outcome {
        pam::run(
            &self.site,
            &self.services,
            &Transaction::new(service, user, answers),
        )
    }

    fn audit_subjects(&self, action: &str) -> Vec<String> {
        let (_, v) = self.site.ctl_json(&["audit"]);
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["subject"].as_str().unwrap().to_string())
            .collect()
    }
}

const CONTACT_REFUSAL: &str =
    "Temporary code not accepted. If you need a new one, contact IT helpdesk, ext. 4357.";

#[test]
fn a_code_for_sshd_and_vpn_is_never_asked_for_by_sudo() {
    require_pam!();
    let f = Fixture::new(POLICY);
    let code = f
        .site
        .issue(&["alice", "--service", "sshd", "--service", "vpn", "--multi"])
        .1;
    let sudo = f.login("sudo", "alice", &[&code]);
    assert_eq!(
        (sudo.rc, sudo.prompts().len()),
        (PAM_IGNORE, 0),
        "{sudo:#?}"
    );
    let sshd = f.login("sshd", "alice", &[&code]);
    assert_eq!(sshd.rc, PAM_SUCCESS, "{sshd:#?}");
    // narrowing at issue within the policy: login is allowed by the policy but not by this code
    let login = f.login("login", "alice", &[&code]);
    assert_eq!(login.rc, PAM_IGNORE, "{login:#?}");
}

#[test]
fn eligibility_comes_from_unix_groups_through_nss() {
    require_pam!();
    // staff is matched by group only; bob is in the staff group in the nss_wrapper files.
    let f = Fixture::new(POLICY);
    let code = f.site.issue(&["bob"]).1;
    assert_eq!(f.login("sshd", "bob", &[&code]).rc, PAM_SUCCESS);
    let (rc, v) = f.site.ctl_json(&["issue", "outsider"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"].as_str().unwrap().contains("is in no policy"),
        "{v}"
    );
    assert_eq!(
        f.login("sshd", "outsider", &["123"]).prompts().len(),
        0,
        "never prompted"
    );
}

#[test]
fn a_refused_code_shows_the_policy_contact() {
    require_pam!();
    let f = Fixture::new(POLICY);
    f.site.issue(&["alice"]);
    let o = f.login("sshd", "alice", &["00000-00000"]);
    assert_eq!(o.rc, PAM_AUTH_ERR);
    assert_eq!(o.errors(), [CONTACT_REFUSAL]);
    f.site
        .write_policy(&POLICY.replace("IT helpdesk, ext. 4357", "Service desk, +1 555 0100"));
    let o = f.login("sshd", "alice", &["00000-00000"]);
    assert_eq!(o.errors(), ["Temporary code not accepted. If you need a new one, contact Service desk, +1 555 0100."]);
}

#[test]
fn a_fixed_passcode_logs_in_many_times() {
    require_pam!();
    let f = Fixture::with_kinds();
    let set = run_with_input(
        f.site.ctl_cmd(&["fixed", "alice", "--for", "2d"]),
        "river-stone-1984\nriver-stone-1984\n",
    );
    assert!(set.status.success(), "{set:?}");
    for typed in ["river-stone-1984", "RIVER STONE 1984", "riverstone1984"] {
        let o = f.login("sshd", "alice", &[typed]);
        assert_eq!(o.rc, PAM_SUCCESS, "{typed}: {o:#?}");
    }
    assert_eq!(
        f.login("sshd", "alice", &["river-stone-1985"]).rc,
        PAM_AUTH_ERR
    );
}

#[test]
fn a_universal_code_logs_in_any_user_of_its_policy_and_is_audited_as_them() {
    require_pam!();
    let f = Fixture::with_kinds();
    let (rc, v) = f
        .site
        .ctl_json(&["universal", "staff", "--for", "30m", "--reason", "IdP down"]);
    assert_eq!(rc, 0, "{v}");
    let code = v["code"].as_str().unwrap();
    assert_eq!(f.login("sshd", "alice", &[code]).rc, PAM_SUCCESS);
    assert_eq!(f.login("sshd", "bob", &[code]).rc, PAM_SUCCESS);
    assert_eq!(
        f.login("sshd", "carol", &[code]).prompts().len(),
        0,
        "carol is not in staff"
    );
    assert_eq!(f.audit_subjects("redeem"), ["alice", "bob"]);
}

#[test]
fn activation_on_first_use_through_pam() {
    require_pam!();
    let f = Fixture::new(POLICY);
    let code = f
        .site
        .issue(&[
            "alice",
            "--for",
            "1h",
            "--multi",
            "--activate-on-first-use",
            "--redeem-within",
            "2d",
        ])
        .1;
    let o = f.login("sshd", "alice", &[&code]);
    assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");
    let until = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:")
        .to_string();
    assert!(o.infos()[0].contains(&until), "the hour starts now: {o:#?}");
    let (_, list) = f.site.ctl_json(&["list", "alice"]);
    assert_eq!(list["credentials"][0]["state"], "active");
}

#[test]
fn the_switch_applies_to_the_next_login() {
    require_pam!();
    let f = Fixture::new(POLICY);
    let code = f.site.issue(&["alice", "--multi"]).1;
    f.site
        .write_policy(&POLICY.replace("enabled = true", "enabled = false"));
    let o = f.login("sshd", "alice", &[&code]);
    assert_eq!((o.rc, o.prompts().len()), (PAM_IGNORE, 0));
    f.site.write_policy(POLICY);
    assert_eq!(f.login("sshd", "alice", &[&code]).rc, PAM_SUCCESS);
}

#[test]
fn lockout_is_listed_and_an_admin_can_clear_it() {
    require_pam!();
    let f = Fixture::new(POLICY);
    let code = f.site.issue(&["alice", "--multi"]).1;
    for _ in 0..5 {
        assert_eq!(f.login("sshd", "alice", &["99999-99999"]).rc, PAM_AUTH_ERR);
    }
    let o = f.login("sshd", "alice", &[]);
    assert_eq!((o.rc, o.prompts().len()), (PAM_MAXTRIES, 0), "{o:#?}");
    let (_, list) = f.site.ctl_json(&["list"]);
    assert_eq!(list["lockouts"][0]["user"], "alice", "{list}");
    assert_eq!(f.audit_subjects("lockout"), ["alice"]);
    let (rc, v) = f.site.ctl_json(&["unlock", "alice"]);
    assert_eq!((rc, v["cleared"].as_u64()), (0, Some(5)), "{v}");
    assert_eq!(f.login("sshd", "alice", &[&code]).rc, PAM_SUCCESS);
    // bob was never affected
    let bobs = f.site.issue(&["bob"]).1;
    assert_eq!(f.login("sshd", "bob", &[&bobs]).rc, PAM_SUCCESS);
}
