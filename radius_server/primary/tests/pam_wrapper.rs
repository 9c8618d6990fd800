//! check_password against real libpam and real modules (pam_unix over nss_wrapper's passwd
//! file, pam_wrapper's pam_matrix, pam_deny, pam_permit, pam_faildelay, pam_succeed_if), with
//! PAM service files in a temporary directory. pam_wrapper must be preloaded before a process
//! starts, so each test re-runs this test binary for itself with pam_wrapper (and
//! nss_wrapper) preloaded, and does its checks in that child.

// A test stops at its first surprise, in its helpers too (clippy.toml's allow-*-in-tests
// covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::panic)]

use sparekey_primary::{check_password, PasswordCheck, Refusal};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Set in the child: the fixture directory. Its presence means "do the real work".
const CHILD_VAR: &str = "SPAREKEY_PRIMARY_PAM_CHILD";

const ALICE_PASSWORD: &[u8] = b"correct horse \xc3\xa9 battery";
const BOB_PASSWORD: &[u8] = b"bob's password";
const WRONG: &[u8] = b"wrong guess 1234";
const CAROL_PASSWORD: &[u8] = b"carol pw";
/// `openssl passwd -6 -salt saltsalt 'carol pw'`: pam_unix reads it from nss_wrapper's passwd.
const CAROL_HASH: &str = "$6$saltsalt$/NOjrlLxXpOdc7GA8PE64bWhT3tW9Wl/Or3VLV2nn0RBjXAcNL8mvLhV.k/YY22tw2wYA.vWxFwWcb.ijvq671";

/// A system library, or a failure saying which package to install.
fn system_lib(name: &str, package: &str) -> PathBuf {
    let found = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: these tests need it (apt-get install {package})")
    })
}

fn pam_wrapper() -> PathBuf {
    system_lib("libpam_wrapper.so", "libpam-wrapper")
}

fn nss_wrapper() -> PathBuf {
    system_lib("libnss_wrapper.so", "libnss-wrapper")
}

/// The directory of pam_wrapper's test modules (pam_matrix.so).
fn pam_wrapper_modules() -> PathBuf {
    let lib = pam_wrapper();
    let dir = lib.parent().unwrap().join("pam_wrapper");
    assert!(
        dir.join("pam_matrix.so").exists(),
        "{}/pam_matrix.so is missing (apt-get install libpam-wrapper)",
        dir.display()
    );
    dir
}

/// A directory with `passdb` (pam_matrix's users), `passwd` and `group` (nss_wrapper's),
/// `services/` (the PAM service files) and `bare/` (one service and no `other`).
fn write_fixture(root: &Path) {
    let passwd = format!("carol:{CAROL_HASH}:4242:4242:Carol:/nonexistent:/bin/false\n");
    std::fs::write(root.join("passwd"), passwd).unwrap();
    std::fs::write(root.join("group"), "carol:x:4242:\n").unwrap();

    // pam_matrix's format: user:password:service (the service its account step allows).
    let mut passdb = Vec::new();
    passdb.extend_from_slice(b"alice:");
    passdb.extend_from_slice(ALICE_PASSWORD);
    passdb.extend_from_slice(b":matrix\nbob:");
    passdb.extend_from_slice(BOB_PASSWORD);
    passdb.extend_from_slice(b":elsewhere\n");
    let passdb_path = root.join("passdb");
    std::fs::write(&passdb_path, passdb).unwrap();

    let services = root.join("services");
    std::fs::create_dir(&services).unwrap();
    let matrix = format!(
        "{}/pam_matrix.so passdb={}",
        pam_wrapper_modules().display(),
        passdb_path.display()
    );
    let stacks: &[(&str, String)] = &[
        ("other", "auth required pam_deny.so\naccount required pam_deny.so\n".into()),
        ("matrix", format!("auth required {matrix}\naccount required {matrix}\n")),
        ("deny", "auth required pam_deny.so\naccount required pam_permit.so\n".into()),
        (
            "missing-module",
            "auth required /nonexistent/pam_sparekey_nothing.so\naccount required pam_permit.so\n".into(),
        ),
        (
            "account-deny",
            format!("auth required {matrix}\naccount required pam_deny.so\n"),
        ),
        (
            "echo",
            format!("auth required {matrix} echo\naccount required pam_permit.so\n"),
        ),
        (
            "verbose",
            format!("auth required {matrix} verbose\naccount required pam_permit.so\n"),
        ),
        (
            "faildelay",
            format!("auth optional pam_faildelay.so delay=3000000\nauth required {matrix}\naccount required pam_permit.so\n"),
        ),
        ("unix", "auth required pam_unix.so\naccount required pam_unix.so\n".into()),
        (
            "rhost",
            format!("auth requisite pam_succeed_if.so rhost = 192.0.2.7\nauth required {matrix}\naccount required pam_permit.so\n"),
        ),
    ];
    for (name, text) in stacks {
        std::fs::write(services.join(name), text).unwrap();
    }
    let bare = root.join("bare");
    std::fs::create_dir(&bare).unwrap();
    std::fs::write(
        bare.join("permit"),
        "auth required pam_permit.so\naccount required pam_permit.so\n",
    )
    .unwrap();
    std::fs::write(bare.join("auth-only"), "auth required pam_permit.so\n").unwrap();
}

/// Runs `body` in a child process of this test binary with pam_wrapper preloaded, and fails
/// unless the child ran it to the end. In the child, runs `body` itself.
fn in_pam_child(test: &str, body: impl FnOnce()) {
    in_pam_child_with(test, "services", body)
}

/// [`in_pam_child`] with the service directory `services` of the fixture.
fn in_pam_child_with(test: &str, services: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD_VAR).is_some() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.contains("libpam_wrapper"),
            "the child runs without pam_wrapper: its checks would use the host's PAM"
        );
        body();
        let done = Path::new(&std::env::var_os(CHILD_VAR).unwrap()).join(format!("{test}.done"));
        std::fs::write(done, "ok").unwrap();
        return;
    }
    // pam_wrapper 1.1.4 copies the service directory to /tmp/pam.X at start; two processes
    // starting together can race for the same X, and the loser says PWRAP_ERROR and runs
    // with the host's PAM. So: one child at a time, and such a start is retried.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    write_fixture(root.path());
    for _attempt in 0..10 {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                test,
                "--exact",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(
                "LD_PRELOAD",
                format!("{} {}", pam_wrapper().display(), nss_wrapper().display()),
            )
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", root.path().join(services))
            .env("NSS_WRAPPER_PASSWD", root.path().join("passwd"))
            .env("NSS_WRAPPER_GROUP", root.path().join("group"))
            .env(CHILD_VAR, root.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if wrapper_failed(&stderr) {
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && root.path().join(format!("{test}.done")).exists(),
            "the PAM child of {test} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        eprint!("{stderr}"); // Shown with --nocapture.
        return;
    }
    panic!("pam_wrapper failed to set up its service directory 10 times in a row");
}

/// Whether pam_wrapper failed to set itself up in the child: a PWRAP_ERROR line of its own
/// (libpam's syslog messages come as PWRAP_ERROR lines too, marked SYSLOG).
fn wrapper_failed(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.starts_with("PWRAP_ERROR") && !l.contains("SYSLOG("))
}

fn check(service: &str, user: &str, password: &[u8]) -> Result<(), Refusal> {
    check_password(&PasswordCheck {
        service,
        user,
        password,
        rhost: Some("192.0.2.1"),
    })
}

#[track_caller]
fn refused(r: Result<(), Refusal>, step: &str) -> String {
    match r {
        Err(Refusal::Refused { step: s, why }) if s == step => why,
        other => panic!("expected Refused at the {step} step, got {other:?}"),
    }
}

#[track_caller]
fn unavailable(r: Result<(), Refusal>, step: &str) -> String {
    match r {
        Err(Refusal::Unavailable { step: s, why }) if s == step => why,
        other => panic!("expected Unavailable at the {step} step, got {other:?}"),
    }
}

#[test]
fn the_right_password_passes() {
    in_pam_child("the_right_password_passes", || {
        assert_eq!(check("matrix", "alice", ALICE_PASSWORD), Ok(()));
    });
}

#[test]
fn a_wrong_password_is_refused_at_authenticate() {
    in_pam_child("a_wrong_password_is_refused_at_authenticate", || {
        let r = check("matrix", "alice", WRONG);
        let text = r.clone().unwrap_err().to_string();
        let why = refused(r, "authenticate");
        assert!(why.contains("PAM_AUTH_ERR"), "{why}");
        assert!(!text.contains("wrong guess"), "{text}");
        // A prefix or an extension of the right password is wrong too.
        refused(
            check("matrix", "alice", &ALICE_PASSWORD[..10]),
            "authenticate",
        );
        let mut longer = ALICE_PASSWORD.to_vec();
        longer.push(b'x');
        refused(check("matrix", "alice", &longer), "authenticate");
    });
}

#[test]
fn an_unknown_user_is_refused() {
    in_pam_child("an_unknown_user_is_refused", || {
        refused(check("matrix", "mallory", ALICE_PASSWORD), "authenticate");
    });
}

#[test]
fn pam_deny_refuses() {
    in_pam_child("pam_deny_refuses", || {
        refused(check("deny", "alice", ALICE_PASSWORD), "authenticate");
    });
}

#[test]
fn a_missing_service_file_falls_back_to_other() {
    in_pam_child("a_missing_service_file_falls_back_to_other", || {
        // libpam's own rule: the `other` file (here pam_deny) serves unknown services.
        refused(
            check("no-such-service", "alice", ALICE_PASSWORD),
            "authenticate",
        );
    });
}

#[test]
fn no_service_file_and_no_other_fails_closed_as_unavailable() {
    in_pam_child_with(
        "no_service_file_and_no_other_fails_closed_as_unavailable",
        "bare",
        || {
            assert_eq!(check("permit", "alice", ALICE_PASSWORD), Ok(()));
            let why = unavailable(check("no-such-service", "alice", ALICE_PASSWORD), "start");
            assert!(
                why.starts_with("pam_start: ") && why.ends_with("(PAM_ABORT)"),
                "{why}"
            );
        },
    );
}

#[test]
fn a_service_without_account_lines_is_refused_at_account() {
    in_pam_child_with(
        "a_service_without_account_lines_is_refused_at_account",
        "bare",
        || {
            // libpam answers PAM_PERM_DENIED when a step has no modules: the same code as
            // pam_access's or pam_sss's "not allowed", so it can only be Refused; the message
            // says where else it comes from.
            let why = refused(check("auth-only", "alice", ALICE_PASSWORD), "account");
            assert!(
                why.contains("PAM_PERM_DENIED") && why.contains("no modules"),
                "{why}"
            );
        },
    );
}

#[test]
fn a_missing_module_fails_closed_as_unavailable() {
    in_pam_child("a_missing_module_fails_closed_as_unavailable", || {
        let why = unavailable(
            check("missing-module", "alice", ALICE_PASSWORD),
            "authenticate",
        );
        // libpam loads the stack in pam_start, logs the module as faulty, and fails the step.
        assert_eq!(why, "Module is unknown (PAM_MODULE_UNKNOWN)");
    });
}

#[test]
fn the_account_step_can_refuse() {
    in_pam_child("the_account_step_can_refuse", || {
        refused(check("account-deny", "alice", ALICE_PASSWORD), "account");
        // pam_matrix's account step allows bob only the service `elsewhere`.
        refused(check("matrix", "bob", BOB_PASSWORD), "account");
        refused(check("matrix", "bob", WRONG), "authenticate");
    });
}

#[test]
fn a_visible_question_is_not_answered() {
    in_pam_child("a_visible_question_is_not_answered", || {
        let why = unavailable(check("echo", "alice", ALICE_PASSWORD), "authenticate");
        // pam_matrix returns PAM_AUTHINFO_UNAVAIL when its question is not answered; any
        // code would do, the refused question makes it Unavailable.
        assert!(why.contains("visible question (\"Password: \")"), "{why}");
    });
}

#[test]
fn messages_are_ignored() {
    in_pam_child("messages_are_ignored", || {
        assert_eq!(check("verbose", "alice", ALICE_PASSWORD), Ok(()));
        refused(check("verbose", "alice", WRONG), "authenticate");
    });
}

#[test]
fn rhost_is_set() {
    in_pam_child("rhost_is_set", || {
        let at = |rhost| {
            check_password(&PasswordCheck {
                service: "rhost",
                user: "alice",
                password: ALICE_PASSWORD,
                rhost,
            })
        };
        assert_eq!(at(Some("192.0.2.7")), Ok(()));
        refused(at(Some("192.0.2.8")), "authenticate");
        refused(at(None), "authenticate");
    });
}

#[test]
fn pam_unix_checks_the_password_without_its_delay() {
    in_pam_child("pam_unix_checks_the_password_without_its_delay", || {
        assert_eq!(check("unix", "carol", CAROL_PASSWORD), Ok(()));
        // pam_unix asks libpam for a 2 s delay after a failure (measured here: 2.3 s through
        // pamtester, which leaves PAM_FAIL_DELAY unset).
        #[allow(clippy::disallowed_methods)]
        let start = std::time::Instant::now();
        let why = refused(check("unix", "carol", WRONG), "authenticate");
        assert!(why.contains("PAM_AUTH_ERR"), "{why}");
        let took = start.elapsed();
        assert!(took.as_millis() < 1000, "took {took:?}");
        let why = refused(check("unix", "nobody-here", CAROL_PASSWORD), "authenticate");
        assert!(why.contains("PAM_USER_UNKNOWN"), "{why}");
    });
}

#[test]
fn the_failure_delay_does_not_block() {
    in_pam_child("the_failure_delay_does_not_block", || {
        // Measuring is this test's point; the crate itself never reads the clock.
        #[allow(clippy::disallowed_methods)]
        let start = std::time::Instant::now();
        for _ in 0..3 {
            refused(check("faildelay", "alice", WRONG), "authenticate");
        }
        assert_eq!(check("faildelay", "alice", ALICE_PASSWORD), Ok(()));
        let took = start.elapsed();
        // pam_faildelay asks for 3 s after each failure (measured here: 3.0 s through
        // pamtester, which leaves PAM_FAIL_DELAY unset).
        assert!(took.as_millis() < 1000, "took {took:?}");
    });
}

#[test]
fn bad_input_is_refused_before_pam() {
    // No PAM is needed (and none would be reached): these run in the test process itself.
    let refused_early = |user: &str, password: &[u8], rhost: Option<&str>| {
        let r = check_password(&PasswordCheck {
            service: "matrix",
            user,
            password,
            rhost,
        });
        refused(r, "request")
    };
    assert_eq!(
        refused_early("alice", b"correct\0horse", None),
        "the password contains a NUL byte"
    );
    assert_eq!(refused_early("alice", b"", None), "the password is empty");
    assert_eq!(
        refused_early("", ALICE_PASSWORD, None),
        "the user name is empty"
    );
    assert_eq!(
        refused_early("al\0ice", ALICE_PASSWORD, None),
        "the user name contains a NUL byte"
    );
    assert_eq!(
        refused_early("alice", ALICE_PASSWORD, Some("10.0.0.1\0")),
        "the remote host contains a NUL byte"
    );
    let r = check_password(&PasswordCheck {
        service: "mat\0rix",
        user: "alice",
        password: ALICE_PASSWORD,
        rhost: None,
    });
    unavailable(r, "start");
}

#[test]
fn many_threads_at_once_get_the_right_answers() {
    in_pam_child("many_threads_at_once_get_the_right_answers", || {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..20 {
                        match (t + i) % 5 {
                            0 => assert_eq!(check("matrix", "alice", ALICE_PASSWORD), Ok(())),
                            1 => {
                                refused(check("matrix", "alice", WRONG), "authenticate");
                            }
                            2 => {
                                refused(check("matrix", "bob", BOB_PASSWORD), "account");
                            }
                            3 => assert_eq!(check("unix", "carol", CAROL_PASSWORD), Ok(())),
                            _ => {
                                refused(check("faildelay", "alice", BOB_PASSWORD), "authenticate");
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn refusals_read_well() {
    let r = Refusal::Refused {
        step: "authenticate",
        why: "Authentication failure (PAM_AUTH_ERR)".into(),
    };
    assert_eq!(
        r.to_string(),
        "password refused (PAM authenticate step): Authentication failure (PAM_AUTH_ERR)"
    );
    let u = Refusal::Unavailable {
        step: "authenticate",
        why: "Authentication service cannot retrieve authentication info (PAM_AUTHINFO_UNAVAIL)"
            .into(),
    };
    assert_eq!(
        u.to_string(),
        "password not checked, refused to fail closed (PAM authenticate step): Authentication \
         service cannot retrieve authentication info (PAM_AUTHINFO_UNAVAIL); see the PAM \
         service file and the host's auth log"
    );
}
