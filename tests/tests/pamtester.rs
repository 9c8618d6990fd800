//! Smoke test: pam_sparekey.so driven by pamtester (libpam's own misc_conv conversation, as
//! login and su use it) under pam_wrapper, with codes issued through the real sparekeyd.

use sparekey_tests::pam::{pam_wrapper, Services};
use sparekey_tests::require_pam;
use sparekey_tests::site::{nss_wrapper, Site, POLICY};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pamtester(
    site: &Site,
    services: &Services,
    prefix: &[&str],
    service: &str,
    user: &str,
    input: &str,
) -> Output {
    let (program, args) = match prefix.split_first() {
        Some((p, rest)) => (*p, rest.to_vec()),
        None => ("pamtester", Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if !prefix.is_empty() {
        cmd.arg("pamtester");
    }
    let preload = format!(
        "{} {}",
        pam_wrapper().unwrap().display(),
        nss_wrapper().unwrap().display()
    );
    let mut child = cmd
        .args(["-v", service, user, "authenticate"])
        .envs(site.nss_env())
        .env("LD_PRELOAD", preload)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", services.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pamtester (apt-get install pamtester)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn pamtester_logs_in_with_a_code_once_and_falls_back_to_the_usual_mfa() {
    require_pam!();
    if Command::new("pamtester").arg("--version").output().is_err() {
        eprintln!("skipped: pamtester is not installed (apt-get install pamtester)");
        return;
    }
    let site = Site::new(POLICY);
    let _daemon = site.start();
    let services = Services::new(&site);
    services.add(
        "sshd",
        "auth [success=done ignore=ignore authinfo_unavail=ignore maxtries=ignore default=die] {sparekey}\n\
         auth [success=ok default=die] {sec}/pam_deny.so\n\
         auth optional {sparekey} retire\n",
    );
    std::fs::set_permissions(
        services.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (_, code) = site.issue(&["alice"]);

    let o = pamtester(&site, &services, &[], "sshd", "alice", &format!("{code}\n"));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("Temporary code: ")
            && t.contains("Temporary code accepted. It cannot be used again."),
        "{t}"
    );

    // Spent: not asked again, so the usual MFA (pam_deny here) decides.
    let o = pamtester(&site, &services, &[], "sshd", "alice", "");
    let t = text(&o);
    assert!(
        !o.status.success() && !t.contains("Temporary code: "),
        "{t}"
    );

    // A wrong code: refused with the generic message.
    let (_, _) = site.issue(&["alice"]);
    let o = pamtester(&site, &services, &[], "sshd", "alice", "12345-67890\n");
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains(
            "Temporary code not accepted. If you need a new one, contact IT helpdesk, ext. 4357."
        ),
        "{t}"
    );

    // Not root: refused quietly (AUTHINFO_UNAVAIL is ignored, pam_deny decides), no crash.
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
    ];
    let o = pamtester(&site, &services, &nobody, "sshd", "alice", "");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        !t.contains("Temporary code: ") && !t.contains("panicked"),
        "{t}"
    );
}
