//! pam_sparekey.so through real libpam under pam_wrapper: every row of the results table,
//! single- and multi-use codes across transactions, retire, the documented stacks and their
//! control flags, a caller that is not root, a deliberate panic, and a race for one code.
//! Codes are issued through the real sparekeyd and sparekeyctl.

use sparekey_core::audit::NoSink;
use sparekey_core::store::{SqliteStore, Store};
use sparekey_core::{Action, AuditEvent, SiteKey};
use sparekey_tests::pam::{self, check, Outcome, Services, Transaction};
use sparekey_tests::pam::{
    PAM_ABORT, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_IGNORE, PAM_MAXTRIES, PAM_SERVICE_ERR,
    PAM_SUCCESS,
};
use sparekey_tests::require_pam;
use sparekey_tests::site::{Site, POLICY};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

/// The child process's entry point (see sparekey_tests::pam); does nothing in a normal run.
#[test]
fn pam_child() {
    pam::child_main();
}

/// The code line of the documented stacks (docs/guide/02-pam-logins.md, pam_sparekey(8)).
const CODE_FLAGS: &str =
    "[success=done ignore=ignore authinfo_unavail=ignore maxtries=ignore default=die]";
/// The usual-MFA line of the documented stacks: only its success goes on to `retire`.
const MFA_FLAGS: &str = "[success=ok default=die]";
/// The retire line of the documented stacks.
const RETIRE_LINE: &str = "optional {sparekey} retire";

const REFUSED: &str =
    "Temporary code not accepted. If you need a new one, contact IT helpdesk, ext. 4357.";
const LOCKED: &str = "Too many wrong temporary codes: they are refused for a while. Use your usual second factor, or contact IT helpdesk, ext. 4357.";
const SPENT: &str = "Temporary code accepted. It cannot be used again.";
const RETIRED: &str =
    "Your usual second factor works again, so your temporary codes have been ended.";
const PROMPT: &str = "Temporary code: ";

/// A site with sparekeyd running, and a service directory with:
/// - `sshd` and `login`: pam_sparekey alone, `[default=done]`, so that the test sees the
///   module's own result;
/// - `broken`: the same with an unknown argument.
struct Fixture {
    site: Site,
    _daemon: sparekey_tests::site::Daemon,
    services: Services,
}

impl Fixture {
    fn new() -> Self {
        let site = Site::new(POLICY);
        let daemon = site.start();
        let services = Services::new(&site);
        services.add("sshd", "auth [default=done] {sparekey}\n");
        services.add("login", "auth [default=done] {sparekey}\n");
        services.add("broken", "auth [default=done] {sparekey} retrie\n");
        Fixture {
            site,
            _daemon: daemon,
            services,
        }
    }

    fn issue(&self, args: &[&str]) -> String {
        self.site.issue(args).1
    }

    fn login(&self, service: &str, user: &str, answers: &[&str]) -> Outcome {
        pam::run(
            &self.site,
            &self.services,
            &Transaction::new(service, user, answers),
        )
    }

    fn store(&self) -> SqliteStore {
        let key = Arc::new(SiteKey::load(&self.site.key).unwrap());
        SqliteStore::open_existing(&self.site.store, key, Arc::new(NoSink)).unwrap()
    }

    fn events(&self, user: &str, action: Action) -> Vec<AuditEvent> {
        self.store()
            .audit(Some(user), 1000)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    fn active_codes(&self, user: &str) -> usize {
        self.store()
            .credentials(Some(user), Some(chrono::Utc::now()))
            .unwrap()
            .len()
    }
}

#[test]
fn no_usable_credential_is_ignored_without_a_prompt() {
    require_pam!();
    let f = Fixture::new();
    // Before any code exists for anyone (the store exists: sparekeyd made it).
    check(&f.login("sshd", "alice", &[]), PAM_IGNORE, &[], &[], &[]);
    f.issue(&["alice", "--service", "login"]);
    // alice's code is for login only; bob has none; outsider is in no policy; carol's policy
    // (contractors) does not allow sshd.
    f.issue(&["carol", "--reason", "lost phone"]);
    for user in ["alice", "bob", "outsider", "carol", "nosuchuser"] {
        check(&f.login("sshd", user, &[]), PAM_IGNORE, &[], &[], &[]);
    }
    // Switched off: not asked even where a code would work.
    f.site
        .write_policy(&POLICY.replace("enabled = true", "enabled = false"));
    check(&f.login("login", "alice", &[]), PAM_IGNORE, &[], &[], &[]);
}

#[test]
fn an_empty_answer_is_ignored() {
    require_pam!();
    let f = Fixture::new();
    f.issue(&["alice"]);
    check(
        &f.login("sshd", "alice", &[""]),
        PAM_IGNORE,
        &[PROMPT],
        &[],
        &[],
    );
    check(
        &f.login("sshd", "alice", &["  "]),
        PAM_IGNORE,
        &[PROMPT],
        &[],
        &[],
    );
    assert_eq!(f.active_codes("alice"), 1);
}

#[test]
fn a_single_use_code_works_in_one_transaction_only() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice"]);
    check(
        &f.login("sshd", "alice", &[&code]),
        PAM_SUCCESS,
        &[PROMPT],
        &[],
        &[SPENT],
    );
    // The next transaction is not even asked: nothing usable is left.
    check(&f.login("sshd", "alice", &[]), PAM_IGNORE, &[], &[], &[]);
    // With another code active, the spent one is asked for and refused.
    f.issue(&["alice"]);
    check(
        &f.login("sshd", "alice", &[&code]),
        PAM_AUTH_ERR,
        &[PROMPT],
        &[REFUSED],
        &[],
    );
    let redeemed = f.events("alice", Action::Redeem);
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].service.as_deref(), Some("sshd"));
    assert_eq!(
        redeemed[0].source,
        "pam service=sshd rhost=10.0.0.5 tty=ssh"
    );
    let failed = f.events("alice", Action::Failure);
    assert_eq!(failed[0].reason.as_deref(), Some("code already used"));
}

#[test]
fn pam_silent_keeps_the_messages_but_not_the_prompt_away() {
    require_pam!();
    let f = Fixture::new();
    f.issue(&["alice"]);
    let mut t = Transaction::new("sshd", "alice", &["0000000000"]);
    t.silent = true;
    check(
        &pam::run(&f.site, &f.services, &t),
        PAM_AUTH_ERR,
        &[PROMPT],
        &[],
        &[],
    );
}

#[test]
fn a_multi_use_code_works_again_and_says_until_when() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice", "--multi"]);
    for typed in [code.clone(), code.replace('-', " ")] {
        let o = f.login("sshd", "alice", &[&typed]);
        assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");
        let info = o.infos().join("");
        assert!(
            info.starts_with("Temporary code accepted. It works until 20")
                && info.ends_with(" UTC."),
            "{info}"
        );
    }
    let capped = f.issue(&["bob", "--uses", "3"]);
    let o = f.login("login", "bob", &[&capped]);
    assert!(o.infos()[0].ends_with(" UTC, for 2 more uses."), "{o:#?}");
}

#[test]
fn wrong_used_revoked_and_out_of_scope_codes_get_one_generic_message() {
    require_pam!();
    let f = Fixture::new();
    f.issue(&["alice", "--multi"]);
    let used = f.issue(&["alice"]);
    check(
        &f.login("sshd", "alice", &[&used]),
        PAM_SUCCESS,
        &[PROMPT],
        &[],
        &[SPENT],
    );
    let (id, revoked) = f.site.issue(&["alice"]);
    let out = f
        .site
        .ctl(&["revoke", "alice", "--id", &id, "--reason", "test"]);
    assert!(out.status.success(), "{out:?}");
    let vpn_only = f.issue(&["alice", "--service", "vpn"]);
    for code in ["1234567890", &used, &revoked, &vpn_only] {
        check(
            &f.login("sshd", "alice", &[code]),
            PAM_AUTH_ERR,
            &[PROMPT],
            &[REFUSED],
            &[],
        );
    }
    let reasons: Vec<_> = f
        .events("alice", Action::Failure)
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert_eq!(
        reasons,
        [
            "wrong code",
            "code already used",
            "code revoked",
            "code not valid for this service"
        ]
    );
}

#[test]
fn locked_out_users_get_maxtries_without_a_prompt() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice", "--multi"]);
    for _ in 0..5 {
        check(
            &f.login("sshd", "alice", &["0000000000"]),
            PAM_AUTH_ERR,
            &[PROMPT],
            &[REFUSED],
            &[],
        );
    }
    check(
        &f.login("sshd", "alice", &[]),
        PAM_MAXTRIES,
        &[],
        &[LOCKED],
        &[],
    );
    assert_eq!(f.events("alice", Action::Lockout).len(), 1);
    // Unlocking opens the path again.
    assert!(f.site.ctl(&["unlock", "alice"]).status.success());
    assert_eq!(f.login("sshd", "alice", &[&code]).rc, PAM_SUCCESS);
}

#[test]
fn an_unusable_config_or_key_is_authinfo_unavail_without_a_prompt() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice", "--multi"]);
    f.site.write_policy("enabled = true\ncolour = \"blue\"\n");
    check(
        &f.login("sshd", "alice", &[]),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    f.site.write_policy(POLICY);
    std::fs::set_permissions(&f.site.key, std::fs::Permissions::from_mode(0o640)).unwrap();
    check(
        &f.login("sshd", "alice", &[]),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    std::fs::set_permissions(&f.site.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A store on PostgreSQL is the site's nodes', never a login's to open.
    let config = std::fs::read_to_string(&f.site.config).unwrap();
    std::fs::write(
        &f.site.config,
        config.replace(
            "[store]\n",
            "[store]\nbackend = \"postgresql\"\nurl = \"postgresql://sparekey@127.0.0.1:1/sparekey\"\n",
        ),
    )
    .unwrap();
    check(
        &f.login("sshd", "alice", &[]),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    std::fs::write(&f.site.config, config).unwrap();
    assert_eq!(f.login("sshd", "alice", &[&code]).rc, PAM_SUCCESS);
}

#[test]
fn an_unknown_argument_is_a_service_error() {
    require_pam!();
    let f = Fixture::new();
    f.issue(&["alice"]);
    check(
        &f.login("broken", "alice", &[]),
        PAM_SERVICE_ERR,
        &[],
        &[],
        &[],
    );
}

#[test]
fn a_caller_that_is_not_root_is_refused_without_a_crash() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice"]);
    // The service directory must be readable by nobody for pam_wrapper to copy it.
    std::fs::set_permissions(f.services.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let result = pam::result_file();
    let t = Transaction::new("sshd", "alice", &[]);
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(pam::child_args());
    pam::child_env(&mut cmd, &f.site, &f.services, &t, result.path());
    let out = {
        let _one_at_a_time = pam::exclusive();
        cmd.output().expect("run setpriv")
    };
    assert!(out.status.success(), "{out:?}");
    check(
        &pam::outcome(&out, result.path()),
        PAM_AUTHINFO_UNAVAIL,
        &[],
        &[],
        &[],
    );
    // Nothing was spent.
    assert_eq!(f.login("sshd", "alice", &[&code]).rc, PAM_SUCCESS);
}

#[test]
fn a_panic_never_leaves_the_module() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice"]);
    if sparekey_tests::bins::profile_dir().ends_with("release") {
        // A release build refuses the x-test-panic feature: the argument is unknown there.
        f.services.add(
            "guarded",
            "auth [default=done] {sparekey} service=sshd x-test-panic=guarded\n",
        );
        let o = f.login("guarded", "alice", &[&code]);
        check(&o, PAM_SERVICE_ERR, &[], &[], &[]);
        return;
    }
    f.services.add(
        "guarded",
        "auth [default=done] {sparekey} service=sshd x-test-panic=guarded\n",
    );
    f.services.add(
        "unguarded",
        "auth [default=done] {sparekey} service=sshd x-test-panic=unguarded\n",
    );
    f.services.add(
        "stacked",
        &format!("auth {CODE_FLAGS} {{sparekey}} service=sshd x-test-panic=guarded\nauth {MFA_FLAGS} {{sec}}/pam_permit.so\n"),
    );
    // Inside the module's own guard: after the answer was read, before the store was touched.
    let o = f.login("guarded", "alice", &[&code]);
    check(&o, PAM_AUTHINFO_UNAVAIL, &[PROMPT], &[], &[]);
    assert!(
        o.stderr.trim().is_empty(),
        "the module printed: {}",
        o.stderr
    );
    // So with the documented flags the usual MFA still decides.
    assert_eq!(f.login("stacked", "alice", &[&code]).rc, PAM_SUCCESS);
    // Outside it: pam-bindings' catch_unwind turns it into PAM_ABORT; the process lives on.
    let o = f.login("unguarded", "alice", &[]);
    check(&o, PAM_ABORT, &[], &[], &[]);
    assert!(
        o.stderr.trim().is_empty(),
        "the module printed: {}",
        o.stderr
    );
    // The code was never spent.
    check(
        &f.login("sshd", "alice", &[&code]),
        PAM_SUCCESS,
        &[PROMPT],
        &[],
        &[SPENT],
    );
}

#[test]
fn twenty_processes_racing_for_one_single_use_code_let_exactly_one_in() {
    require_pam!();
    let f = Fixture::new();
    let code = f.issue(&["alice"]);
    let t = Transaction::new("sshd", "alice", &[&code]);
    let _no_other_pam_children = pam::exclusive();
    let runs: Vec<_> = (0..20)
        .map(|_| {
            let result = pam::result_file();
            let child = pam::command(&f.site, &f.services, &t, result.path()).output_async();
            (child, result)
        })
        .collect();
    // A child whose pam_wrapper failed to start (see pam::wrapper_failed) ran nothing of
    // ours; it is run again once the race is over.
    let outcomes: Vec<Outcome> = runs
        .into_iter()
        .map(|(child, result)| {
            let out = child.wait_with_output().unwrap();
            (!pam::wrapper_failed(&out)).then(|| pam::outcome(&out, result.path()))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|o| o.unwrap_or_else(|| pam::run_locked(&f.site, &f.services, &t)))
        .collect();
    let rcs: Vec<i32> = outcomes.iter().map(|o| o.rc).collect();
    eprintln!("results of the 20 racing logins: {rcs:?}");
    assert_eq!(
        rcs.iter().filter(|&&rc| rc == PAM_SUCCESS).count(),
        1,
        "{rcs:?}"
    );
    // The others were refused (used) or, coming after the winner, not asked at all.
    assert!(
        rcs.iter()
            .all(|&rc| [PAM_SUCCESS, PAM_AUTH_ERR, PAM_IGNORE].contains(&rc)),
        "{rcs:?}"
    );
    assert_eq!(f.events("alice", Action::Redeem).len(), 1);
}

trait SpawnOutput {
    fn output_async(self) -> std::process::Child;
}

impl SpawnOutput for std::process::Command {
    fn output_async(mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn PAM child")
    }
}

// ---- The documented stacks ----

/// The login stack of docs/guide/02-pam-logins.md with pam_matrix as pam_unix (password "secret") and
/// pam_permit or pam_deny standing for the usual TOTP module.
fn login_stack(f: &Fixture, first: &str, mfa: &str) -> String {
    let passdb = f.site.path("passdb");
    std::fs::write(&passdb, "alice:secret:login\nbob:secret:login\n").unwrap();
    let matrix = pam::pam_wrapper()
        .unwrap()
        .parent()
        .unwrap()
        .join("pam_wrapper/pam_matrix.so");
    format!(
        "auth {first} {} passdb={}\nauth {CODE_FLAGS} {{sparekey}}\nauth {MFA_FLAGS} {{sec}}/{mfa}\nauth {RETIRE_LINE}\n",
        matrix.display(),
        passdb.display()
    )
}

/// The sshd stack for publickey,keyboard-interactive: no password in PAM.
fn second_factor_stack(mfa: &str) -> String {
    format!("auth {CODE_FLAGS} {{sparekey}}\nauth {MFA_FLAGS} {{sec}}/{mfa}\nauth {RETIRE_LINE}\n")
}

#[test]
fn documented_stack_code_accepted_ends_the_stack() {
    require_pam!();
    let f = Fixture::new();
    f.services
        .add("login", &login_stack(&f, "requisite", "pam_deny.so"));
    let code = f.issue(&["alice", "--multi"]);
    // The MFA stand-in would refuse, and retire would end the code: neither runs.
    let o = f.login("login", "alice", &["secret", &code]);
    assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");
    assert_eq!(o.prompts(), ["Password: ", PROMPT]);
    assert_eq!(f.active_codes("alice"), 1);
    assert!(f.events("alice", Action::Retire).is_empty());
}

#[test]
fn documented_stack_no_code_given_leaves_it_to_the_usual_mfa_and_retire_follows_its_success() {
    require_pam!();
    let f = Fixture::new();
    f.services
        .add("login", &login_stack(&f, "requisite", "pam_deny.so"));
    f.services
        .add("sshd", &second_factor_stack("pam_permit.so"));
    f.issue(&["alice", "--multi"]);
    // Usual MFA fails: no login, and retire did not run.
    let o = f.login("login", "alice", &["secret", ""]);
    check(&o, PAM_AUTH_ERR, &["Password: ", PROMPT], &[], &[]);
    assert_eq!(f.active_codes("alice"), 1);
    // Usual MFA succeeds: login, and the temporary codes end.
    let o = f.login("sshd", "alice", &[""]);
    check(&o, PAM_SUCCESS, &[PROMPT], &[], &[RETIRED]);
    assert_eq!(f.active_codes("alice"), 0);
    let retired = f.events("alice", Action::Retire);
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].source, "pam service=sshd rhost=10.0.0.5 tty=ssh");
    // Users without codes pass straight to their usual MFA, unasked.
    check(&f.login("sshd", "bob", &[]), PAM_SUCCESS, &[], &[], &[]);
}

#[test]
fn documented_stack_a_wrong_code_ends_the_stack_with_failure() {
    require_pam!();
    let f = Fixture::new();
    f.services
        .add("sshd", &second_factor_stack("pam_permit.so"));
    f.issue(&["alice", "--multi"]);
    let o = f.login("sshd", "alice", &["1234567890"]);
    check(&o, PAM_AUTH_ERR, &[PROMPT], &[REFUSED], &[]);
    // The MFA stand-in (pam_permit) would have let it in, and retire never ran.
    assert_eq!(f.active_codes("alice"), 1);
}

#[test]
fn documented_stack_broken_or_locked_sparekey_leaves_the_usual_mfa_working() {
    require_pam!();
    let f = Fixture::new();
    f.services
        .add("sshd", &second_factor_stack("pam_permit.so"));
    f.services.add("vpn", &second_factor_stack("pam_deny.so"));
    let code = f.issue(&["alice", "--multi"]);
    for _ in 0..5 {
        assert_eq!(f.login("vpn", "alice", &["0000000000"]).rc, PAM_AUTH_ERR);
    }
    // Locked out of codes: the usual MFA still works (MAXTRIES is ignored), and only it.
    check(
        &f.login("sshd", "alice", &[]),
        PAM_SUCCESS,
        &[],
        &[LOCKED],
        &[RETIRED],
    );
    let code2 = f.issue(&["alice", "--multi"]);
    assert!(f.site.ctl(&["unlock", "alice"]).status.success());
    // Broken configuration: never a prompt, never a code accepted, the usual MFA decides.
    f.site.write_policy("enabled = maybe\n");
    check(&f.login("sshd", "alice", &[]), PAM_SUCCESS, &[], &[], &[]);
    check(&f.login("vpn", "alice", &[]), PAM_AUTH_ERR, &[], &[], &[]);
    f.site.write_policy(POLICY);
    assert_eq!(f.login("vpn", "alice", &[&code2]).rc, PAM_SUCCESS);
    let _ = code;
}

#[test]
fn setcred_succeeds_after_a_code_login_even_when_the_mfa_modules_setcred_fails() {
    require_pam!();
    let f = Fixture::new();
    // pam_deny's setcred fails; sshd drops a login whose pam_setcred fails.
    f.services.add("sshd", &second_factor_stack("pam_deny.so"));
    let code = f.issue(&["alice", "--multi"]);
    let mut t = Transaction::new("sshd", "alice", &[&code]);
    t.setcred = true;
    let o = pam::run(&f.site, &f.services, &t);
    assert_eq!(
        (o.rc, o.setcred),
        (PAM_SUCCESS, Some(PAM_SUCCESS)),
        "{o:#?}"
    );
}

#[test]
fn requisite_first_factor_never_reaches_the_code_prompt_but_required_spends_the_code() {
    require_pam!();
    let f = Fixture::new();
    f.services
        .add("login", &login_stack(&f, "requisite", "pam_permit.so"));
    let code = f.issue(&["alice"]);
    // requisite: a wrong password stops the stack before the code prompt.
    let o = f.login("login", "alice", &["wrong"]);
    check(&o, PAM_AUTH_ERR, &["Password: "], &[], &[]);
    assert_eq!(f.active_codes("alice"), 1);
    // required: the stack goes on after the wrong password, asks for the code and spends
    // it, and the login still fails.
    f.services
        .add("login", &login_stack(&f, "required", "pam_permit.so"));
    let o = f.login("login", "alice", &["wrong", &code]);
    check(&o, PAM_AUTH_ERR, &["Password: ", PROMPT], &[], &[SPENT]);
    assert_eq!(f.active_codes("alice"), 0);
}

#[test]
fn the_documented_stacks_are_the_tested_ones() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for doc in ["docs/guide/02-pam-logins.md", "docs/man/pam_sparekey.8.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
        for needle in [
            CODE_FLAGS,
            MFA_FLAGS,
            "optional",
            "pam_sparekey.so retire",
            "requisite",
        ] {
            assert!(text.contains(needle), "{doc} does not show {needle:?}");
        }
    }
}

#[test]
fn use_first_pass_takes_the_code_an_earlier_module_set_and_never_asks() {
    require_pam!();
    let f = Fixture::new();
    let set_items = pam::pam_wrapper()
        .unwrap()
        .parent()
        .unwrap()
        .join("pam_wrapper/pam_set_items.so");
    f.services.add(
        "sshd",
        &format!(
            "auth optional {}\nauth [default=done] {{sparekey}} use_first_pass\n",
            set_items.display()
        ),
    );
    let code = f.issue(&["alice"]);
    // pam_set_items copies PAM_AUTHTOK from the process environment into the item.
    let mut t = Transaction::new("sshd", "alice", &[]);
    t.env = vec![("PAM_AUTHTOK".into(), code)];
    check(
        &pam::run(&f.site, &f.services, &t),
        PAM_SUCCESS,
        &[],
        &[],
        &[SPENT],
    );
    // No token: treated as an empty answer.
    f.issue(&["alice"]);
    check(&f.login("sshd", "alice", &[]), PAM_IGNORE, &[], &[], &[]);
}

/// libpam dlcloses the module at every pam_end; it is linked so that this never unloads it
/// (pam_module/build.rs says why).
#[test]
fn the_module_is_marked_never_to_be_unloaded() {
    let module = sparekey_tests::bins::pam_module();
    let out = std::process::Command::new("readelf")
        .arg("--dynamic")
        .arg(&module)
        .output()
        .expect("readelf (binutils) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let flags = text
        .lines()
        .find(|l| l.contains("(FLAGS_1)"))
        .unwrap_or_else(|| panic!("no FLAGS_1 in {}:\n{text}", module.display()));
    assert!(flags.contains("NODELETE"), "{flags}");
}
