//! End to end: fixed passcodes, universal (break-glass) codes and activate-on-first-use,
//! issued through the real sparekeyctl and sparekeyd and tried like a login.

use sparekey_tests::site::{is_root, run_with_input, Site, POLICY};

fn policy_with_kinds() -> String {
    POLICY.replace(
        "services = [\"sshd\", \"login\", \"vpn\"]\n",
        "services = [\"sshd\", \"login\", \"vpn\"]\nkinds = [\"temporary\", \"fixed\", \"universal\"]\nfixed-min-length = 10\n",
    )
}

fn fixed(
    site: &Site,
    user: &str,
    first: &str,
    second: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec!["--json", "fixed", user];
    args.extend_from_slice(extra);
    sparekey_tests::site::json_of(&run_with_input(
        site.ctl_cmd(&args),
        &format!("{first}\n{second}\n"),
    ))
}

#[test]
fn a_fixed_passcode_is_read_twice_and_works_many_times() {
    let site = Site::new(&policy_with_kinds());
    let _d = site.start();
    let (rc, v) = fixed(&site, "alice", "blue-harbour-42", "blue-harbour-43", &[]);
    assert_ne!(rc, 0);
    assert_eq!(v["error"], "the two entries differ; nothing was changed");
    let (_, v) = fixed(&site, "alice", "short1", "short1", &[]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("at least 10 characters"),
        "{v}"
    );
    let (rc, v) = fixed(
        &site,
        "alice",
        "blue-harbour-42",
        "blue-harbour-42",
        &["--for", "5d", "--reason", "token in repair"],
    );
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["result"], "fixed-set");
    assert!(
        !v.to_string().to_lowercase().contains("harbour"),
        "never echoed: {v}"
    );
    for _ in 0..3 {
        assert!(site
            .redeem("alice", "sshd", "blue harbour 42")
            .starts_with("accepted"));
    }
    // A new passcode ends the old one.
    let (_, v) = fixed(&site, "alice", "green-valley-77", "green-valley-77", &[]);
    assert_eq!(v["replaced"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        site.redeem("alice", "sshd", "blue-harbour-42"),
        "rejected: code revoked"
    );
    assert!(site
        .redeem("alice", "sshd", "green-valley-77")
        .starts_with("accepted"));
    let (_, v) = fixed(
        &site,
        "alice",
        "green-valley-77",
        "green-valley-77",
        &["--for", "15d"],
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("the maximum is 14 days"),
        "{v}"
    );
}

#[test]
fn fixed_passcodes_need_the_kind_in_policy_and_the_role() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (_, v) = fixed(&site, "alice", "blue-harbour-42", "blue-harbour-42", &[]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not allow fixed credentials"),
        "{v}"
    );
    if is_root() {
        let site = Site::new(&policy_with_kinds());
        let _d = site.start();
        let out = {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid=2101",
                "--regid=2101",
                "--groups=7000,7001,7002",
                "--",
            ]);
            c.arg(sparekey_tests::bins::bin("sparekeyctl"))
                .arg("--socket")
                .arg(&site.socket)
                .args(["--json", "fixed", "alice"]);
            run_with_input(c, "blue-harbour-42\nblue-harbour-42\n")
        };
        let (_, v) = sparekey_tests::site::json_of(&out);
        assert!(
            v["error"].as_str().unwrap().contains("may not fixed"),
            "helpdesk lacks the fixed action: {v}"
        );
    }
}

#[test]
fn a_universal_code_is_root_only_and_works_for_any_user_of_its_policy() {
    let site = Site::new(&policy_with_kinds());
    let _d = site.start();
    let (rc, v) = site.ctl_json(&["universal", "staff", "--reason", "IdP outage"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        (v["user"].as_str(), v["uses"].as_str()),
        (Some("*"), Some("multi-use"))
    );
    let start = chrono::DateTime::parse_from_rfc3339(v["not_before"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(v["not_after"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_seconds(), 3600, "1 h by default");
    let code = v["code"].as_str().unwrap();
    assert!(site.redeem("alice", "sshd", code).starts_with("accepted"));
    assert!(site.redeem("bob", "vpn", code).starts_with("accepted"));
    assert!(site.redeem("alice", "sshd", code).starts_with("accepted"));
    assert!(
        site.redeem("carol", "vpn", code).starts_with("not asked"),
        "carol is in another policy"
    );
    let (_, audit) = site.ctl_json(&["audit"]);
    let redeemers: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "redeem")
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        redeemers,
        ["alice", "bob", "alice"],
        "each use audited with the real user"
    );

    let (_, v) = site.ctl_json(&["universal", "contractors"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not allow universal credentials"),
        "{v}"
    );
    let (_, v) = site.ctl_json(&["universal", "staff", "--for", "15d"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("the maximum is 14 days"),
        "{v}"
    );
    if is_root() {
        let (_, v) = site.ctl_json_as("helpdesk1", &["universal", "staff"]);
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("only root may issue a universal"),
            "{v}"
        );
    }
}

#[test]
fn activate_on_first_use_starts_the_window_at_the_first_login() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (rc, v) = site.ctl_json(&[
        "issue",
        "alice",
        "--for",
        "2h",
        "--activate-on-first-use",
        "--redeem-within",
        "5d",
    ]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["lasts_from_first_use"], "2h");
    let (_, list) = site.ctl_json(&["list", "alice"]);
    assert_eq!(list["credentials"][0]["state"], "unused");
    let line = site.redeem("alice", "sshd", v["code"].as_str().unwrap());
    assert!(line.starts_with("accepted"), "{line}");
    let until = chrono::DateTime::parse_from_rfc3339(line.rsplit(' ').next().unwrap()).unwrap();
    let expected = chrono::Utc::now() + chrono::Duration::hours(2);
    assert!(
        (until.timestamp() - expected.timestamp()).abs() <= 5,
        "{line}"
    );
    let (_, list) = site.ctl_json(&["list", "alice", "--all"]);
    assert_eq!(list["credentials"][0]["state"], "used");

    let (_, v) = site.ctl_json(&[
        "issue",
        "alice",
        "--activate-on-first-use",
        "--redeem-within",
        "15d",
    ]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("the maximum is 14 days"),
        "{v}"
    );
    let out = site.ctl(&["issue", "alice", "--redeem-within", "1d"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--redeem-within needs --activate-on-first-use"
    );
}
