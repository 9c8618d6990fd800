//! End to end: Debian's pam_radius_auth (through pamtester, under pam_wrapper) as a real
//! challenge-mode client of sparekeyd.

use sparekey_tests::pam::{pam_wrapper, Services};
use sparekey_tests::radius_modes::*;
use sparekey_tests::site::nss_wrapper;
use std::process::{Command, Stdio};

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
