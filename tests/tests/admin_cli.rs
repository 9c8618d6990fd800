//! End to end: the real sparekeyd and sparekeyctl on a throwaway site: issuing, listing,
//! revoking, replacing, lifetimes, the switch, reloads, the audit log, redeeming in real processes.

use sparekey_tests::site::{is_root, read, Site, POLICY};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn is_rfc3339_utc(v: &serde_json::Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[test]
fn check_accepts_a_valid_site_and_exits_78_naming_every_error() {
    let site = Site::new(POLICY);
    let ok = Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--check")
        .arg("--config")
        .arg(&site.config)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    std::fs::write(&site.config, "[store]\npath = \"s.db\"\nkey = \"k\"\n").unwrap();
    site.write_policy("enabled = true\n[[policy]]\nname = \"p\"\nusers = [\"a\"]\nservices = [\"sshd\"]\nmax-lifetime = \"30d\"\n");
    let bad = Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--check")
        .arg("--config")
        .arg(&site.config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(78), "{}", text(&bad));
    let err = String::from_utf8_lossy(&bad.stderr);
    let config = site.config.display().to_string();
    assert!(
        err.contains(&format!(
            "{config}:3:1: unknown field `key`, expected one of `backend`, `path`, `key-file`, `url`, `password-file`, `ca-file`"
        )),
        "{err}"
    );
    assert!(
        err.contains("policy.toml:6:16: max-lifetime 30d is above the 14-day maximum"),
        "{err}"
    );
    assert!(!site.store.exists(), "--check must not create the store");
}

#[test]
fn malformed_toml_keeps_the_daemon_from_starting() {
    let site = Site::new("enabled = yes\n");
    let out = Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--config")
        .arg(&site.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("policy.toml:1:11:"),
        "{}",
        text(&out)
    );
}

#[test]
fn first_start_creates_a_private_key_store_and_socket() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let site = Site::new(POLICY);
    let daemon = site.start();
    let key = std::fs::metadata(&site.key).unwrap();
    assert_eq!((key.mode() & 0o777, key.len()), (0o600, 32));
    assert_eq!(
        std::fs::metadata(&site.store).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(site.store.parent().unwrap())
            .unwrap()
            .mode()
            & 0o777,
        0o700
    );
    let sock = std::fs::metadata(&site.socket).unwrap();
    assert_eq!(
        (sock.mode() & 0o777, sock.gid()),
        (0o660, sparekey_tests::site::ADMIN_GID)
    );
    assert_eq!(daemon.stop(), Some(0));
    assert!(!site.socket.exists(), "SIGTERM removes the socket");
}

#[test]
fn a_group_readable_key_is_refused_with_the_fix() {
    let site = Site::new(POLICY);
    std::fs::write(&site.key, [1u8; 32]).unwrap();
    std::fs::set_permissions(&site.key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--config")
        .arg(&site.config)
        .envs(site.nss_env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("site.key: mode 0640 lets group or others read or write it; expected 0600 (fix: chmod 600"), "{err}");
}

#[test]
fn issue_prints_the_code_once_and_list_never_shows_it() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (rc, v) = site.ctl_json(&[
        "issue",
        "alice",
        "--for",
        "2h",
        "--reason",
        "lost phone, ticket 4711",
    ]);
    assert_eq!(rc, 0, "{v}");
    for field in ["id", "code", "user", "not_before", "not_after"] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["user"], "alice");
    assert!(
        is_rfc3339_utc(&v["not_before"]) && is_rfc3339_utc(&v["not_after"]),
        "{v}"
    );
    let code = v["code"].as_str().unwrap();
    assert_eq!(code.replace('-', "").len(), 10);
    assert!(code.replace('-', "").bytes().all(|b| b.is_ascii_digit()));

    let (rc, list) = site.ctl_json(&["list", "alice"]);
    assert_eq!(rc, 0);
    assert_eq!(list["credentials"][0]["id"], v["id"]);
    assert_eq!(list["credentials"][0]["reason"], "lost phone, ticket 4711");
    let digits = code.replace('-', "");
    assert!(!list.to_string().contains(&digits) && !list.to_string().contains(code));

    let human = site.ctl(&["issue", "bob"]);
    assert!(human.status.success());
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(
        out.starts_with("Code for bob: ") && out.contains("shown only once"),
        "{out}"
    );
}

#[test]
fn lifetimes_presets_ceiling_and_policy_maximum() {
    let site = Site::new(POLICY);
    let _d = site.start();
    for preset in [
        "15m", "30m", "1h", "2h", "4h", "8h", "1d", "2d", "5d", "14d",
    ] {
        let (rc, v) = site.ctl_json(&["issue", "alice", "--for", preset]);
        assert_eq!(rc, 0, "{preset}: {v}");
    }
    let (rc, v) = site.ctl_json(&["issue", "alice", "--for", "15d"]);
    assert_ne!(rc, 0);
    assert_eq!(
        v["error"],
        "a credential ending 15d after issue is too long: the maximum is 14 days after issue (14d)"
    );
    let (rc, v) = site.ctl_json(&[
        "issue",
        "alice",
        "--from",
        "2099-01-01T00:00:00Z",
        "--for",
        "1h",
    ]);
    assert_ne!(rc, 0, "{v}");
    let until = (chrono::Utc::now() + chrono::Duration::days(15))
        .format("%Y-%m-%d")
        .to_string();
    let (rc, v) = site.ctl_json(&["issue", "alice", "--until", &until]);
    assert_ne!(rc, 0, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("the maximum is 14 days"),
        "{v}"
    );
    // contractors: max-lifetime 1d, require-reason, single-use only.
    let (rc, v) = site.ctl_json(&["issue", "carol", "--for", "2d", "--reason", "r"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("policy \"contractors\" allows at most 1d"),
        "{v}"
    );
    let (_, v) = site.ctl_json(&["issue", "carol"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("requires a justification"),
        "{v}"
    );
    let (_, v) = site.ctl_json(&["issue", "carol", "--multi", "--reason", "r"]);
    assert!(
        v["error"].as_str().unwrap().contains("only single-use"),
        "{v}"
    );
    let (rc, v) = site.ctl_json(&["issue", "carol", "--reason", "r", "--service", "vpn"]);
    assert_eq!(rc, 0, "{v}");
    let (_, v) = site.ctl_json(&["issue", "carol", "--reason", "r", "--service", "sudo"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("service \"sudo\" is not allowed by policy \"contractors\""),
        "{v}"
    );
}

#[test]
fn custom_window_with_from_and_until() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let from = chrono::Utc::now() + chrono::Duration::hours(3);
    let until = from + chrono::Duration::hours(2);
    let (rc, v) = site.ctl_json(&[
        "issue",
        "alice",
        "--from",
        &from.to_rfc3339(),
        "--until",
        &until.to_rfc3339(),
    ]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["not_before"], sparekey_core::rfc3339(from));
    let (_, list) = site.ctl_json(&["list", "alice"]);
    assert_eq!(list["credentials"][0]["state"], "pending");
    assert_eq!(
        site.redeem("alice", "sshd", v["code"].as_str().unwrap()),
        "not asked: NoCredential"
    );
}

#[test]
fn a_code_is_accepted_with_spaces_or_dashes_and_then_refused_once_used() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (_, code) = site.issue(&["alice"]);
    let spaced = code.replace('-', " ");
    assert_eq!(
        site.redeem("alice", "sshd", "0000000000"),
        "rejected: wrong code"
    );
    assert!(site
        .redeem("alice", "sshd", &spaced)
        .starts_with("accepted "));
    assert_eq!(
        site.redeem("alice", "sshd", &code),
        "not asked: NoCredential"
    );
    let (_, code2) = site.issue(&["alice", "--uses", "2"]);
    assert!(site
        .redeem("alice", "sshd", &code2)
        .starts_with("accepted "));
    assert!(site
        .redeem("alice", "sshd", &code2.replace('-', ""))
        .starts_with("accepted "));
    assert_eq!(
        site.redeem("alice", "sshd", &code2),
        "not asked: NoCredential"
    );
    let (_, bobs) = site.issue(&["bob"]);
    assert!(
        site.redeem("alice", "sshd", &bobs).starts_with("not asked"),
        "alice has nothing left"
    );
    let (_, alices) = site.issue(&["alice", "--service", "vpn"]);
    assert_eq!(
        site.redeem("alice", "sshd", &alices),
        "not asked: NoCredential"
    );
    assert!(site
        .redeem("alice", "vpn", &alices)
        .starts_with("accepted "));
}

fn race(site: &Site, code: &str, processes: usize) -> usize {
    let children: Vec<_> = (0..processes)
        .map(|_| {
            site.redeem_cmd("alice", "sshd", code)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "a probe failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).starts_with("accepted"))
        .count()
}

#[test]
fn a_single_use_code_redeemed_by_many_processes_at_once_succeeds_exactly_once() {
    let site = Site::new(POLICY);
    let _d = site.start();
    for _ in 0..3 {
        let (_, code) = site.issue(&["alice"]);
        assert_eq!(race(&site, &code, 24), 1);
    }
}

#[test]
fn a_use_cap_is_never_exceeded_under_concurrency() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (id, code) = site.issue(&["alice", "--uses", "3"]);
    assert_eq!(race(&site, &code, 24), 3);
    let (_, list) = site.ctl_json(&["list", "alice", "--all"]);
    let cred = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (cred["used"].as_u64(), cred["state"].as_str()),
        (Some(3), Some("used"))
    );
}

#[test]
fn revoke_one_or_all_and_replace() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (id1, code1) = site.issue(&["alice", "--multi", "--service", "vpn", "--for", "4h"]);
    let (_id2, _) = site.issue(&["alice"]);
    let (rc, v) = site.ctl_json(&["revoke", "alice", "--id", &id1, "--reason", "phone found"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["ids"], serde_json::json!([id1]));
    assert_eq!(
        site.redeem("alice", "vpn", &code1),
        "rejected: code revoked"
    );
    let (rc, v) = site.ctl_json(&["revoke", "alice", "--id", &id1]);
    assert_ne!(rc, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no active credential with id"),
        "{v}"
    );

    let (_, old) = site.issue(&["alice", "--multi", "--service", "vpn", "--for", "4h"]);
    let (rc, v) = site.ctl_json(&["replace", "alice"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        v["replaced"].as_array().unwrap().len(),
        2,
        "both active codes end: {v}"
    );
    assert_eq!(
        v["uses"], "multi-use",
        "replace keeps the newest code's terms: {v}"
    );
    assert_eq!(v["services"], serde_json::json!(["vpn"]));
    assert_eq!(site.redeem("alice", "vpn", &old), "rejected: code revoked");
    assert!(site
        .redeem("alice", "vpn", v["code"].as_str().unwrap())
        .starts_with("accepted"));

    let (rc, v) = site.ctl_json(&["revoke", "alice"]);
    assert_eq!(rc, 0, "{v}");
    let (_, v) = site.ctl_json(&["revoke", "alice"]);
    assert_eq!(
        v["error"],
        "user \"alice\" has no active credentials; nothing was revoked"
    );
}

#[test]
fn the_switch_and_reload() {
    let off = POLICY.replace("enabled = true", "enabled = false");
    let site = Site::new(&off);
    let mut d = site.start();
    let (rc, v) = site.ctl_json(&["issue", "alice"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("temporary codes are disabled for this organisation"),
        "{v}"
    );

    site.write_policy(POLICY);
    let (rc, v) = site.ctl_json(&["reload"]);
    assert_eq!((rc, v["enabled"].as_bool()), (0, Some(true)), "{v}");
    let (_, code) = site.issue(&["alice", "--multi"]);
    assert!(site.redeem("alice", "sshd", &code).starts_with("accepted"));

    // A broken file on reload keeps the running configuration in the daemon.
    site.write_policy("enabled = true\n[[policy]]\nname = 1\n");
    let (rc, v) = site.ctl_json(&["reload"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"].as_str().unwrap().contains("policy.toml:3:8:"),
        "{v}"
    );
    let (rc, v) = site.ctl_json(&["issue", "bob"]);
    assert_eq!(rc, 0, "the old configuration still serves: {v}");
    site.write_policy(POLICY);

    // SIGHUP does the same as reload.
    site.write_policy(&off);
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !d.log_text().contains("configuration reloaded") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(d.is_running());
    let (_, s) = site.ctl_json(&["status"]);
    assert_eq!(s["enabled"], false, "{s}");
    assert!(site
        .redeem("alice", "sshd", &code)
        .starts_with("not asked: Disabled"));
}

#[test]
fn the_audit_log_records_everything_and_never_a_code() {
    let site = Site::new(POLICY);
    let d = site.start();
    let (id, code) = site.issue(&["alice", "--reason", "lost phone"]);
    site.redeem("alice", "sshd", "1111111111");
    site.redeem("alice", "sshd", &code);
    let (_, code2) = site.issue(&["bob"]);
    site.ctl_json(&["revoke", "bob"]);
    site.ctl_json(&["issue", "root"]);
    let (rc, v) = site.ctl_json(&["audit"]);
    assert_eq!(rc, 0);
    let actions: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["issue", "failure", "redeem", "issue", "revoke", "denied"]
    );
    let e = &v["events"][0];
    assert_eq!(
        (
            e["actor"].as_str(),
            e["subject"].as_str(),
            e["credential"].as_str()
        ),
        (Some("root"), Some("alice"), Some(id.as_str()))
    );
    assert_eq!(e["reason"], "lost phone");
    assert!(e["source"]
        .as_str()
        .unwrap()
        .starts_with("admin-socket uid=0 pid="));
    assert_eq!(v["events"][1]["reason"], "wrong code");
    let (_, alice_only) = site.ctl_json(&["audit", "--user", "bob"]);
    assert_eq!(alice_only["events"].as_array().unwrap().len(), 2);
    let (rc, verify) = site.ctl_json(&["audit", "--verify"]);
    assert_eq!((rc, verify["intact"].as_bool()), (0, Some(true)));
    let log = d.log_text();
    drop(d);
    for c in [&code, &code2] {
        let digits = c.replace('-', "");
        let store = std::fs::read(&site.store).unwrap();
        let wal = std::fs::read(site.path("state/sparekey.db-wal")).unwrap_or_default();
        for hay in [&store, &wal] {
            assert!(
                !hay.windows(digits.len()).any(|w| w == digits.as_bytes()),
                "code in store"
            );
        }
        assert!(!v.to_string().contains(&digits) && !v.to_string().contains(c.as_str()));
        assert!(!log.contains(&digits) && !log.contains(c.as_str()));
    }
}

#[test]
fn tampering_with_the_audit_log_is_detected() {
    let site = Site::new(POLICY);
    let d = site.start();
    site.issue(&["alice"]);
    site.issue(&["bob"]);
    drop(d);
    let status = Command::new("sqlite3")
        .arg(&site.store)
        .arg("UPDATE audit SET actor = 'nobody' WHERE seq = 2")
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: sqlite3 CLI not available");
        return;
    }
    let _d = site.start();
    let out = site.ctl(&["audit", "--verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("event 2 does not match"),
        "{}",
        text(&out)
    );
}

#[test]
fn unknown_users_and_policies_get_a_reason() {
    let site = Site::new(POLICY);
    let _d = site.start();
    let (rc, v) = site.ctl_json(&["issue", "nobody-here"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("user \"nobody-here\" is in no policy"),
        "{v}"
    );
    let (_, v) = site.ctl_json(&["issue", "--", "-rf"]);
    assert!(v.get("error").is_some(), "{v}");
    let (_, v) = site.ctl_json(&["issue", "alice", "--for", "soon"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("--for: expected a duration like 15m"),
        "{v}"
    );
    let (_, v) = site.ctl_json(&["issue", "alice", "--until", "tomorrow"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("--until: expected a time like"),
        "{v}"
    );
}

#[test]
fn sparekeyctl_without_a_daemon_says_what_to_check() {
    let site = Site::new(POLICY);
    let out = site.ctl(&["status"]);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to the admin socket") && err.contains("is sparekeyd running?"),
        "{err}"
    );
    let _ = read(&site.config);
}

#[test]
fn audit_keep_removes_old_events_and_the_rest_still_verifies() {
    let site = Site::with_config("keep = \"1d\"\n", POLICY);
    let d = site.start();
    site.issue(&["alice"]);
    assert_eq!(d.stop(), Some(0));
    // Events of ten days ago, as a long-running site has.
    {
        use sparekey_core::store::{SqliteStore, Store};
        let key = std::sync::Arc::new(sparekey_core::SiteKey::load(&site.key).unwrap());
        let mut store = SqliteStore::open_existing(
            &site.store,
            key,
            std::sync::Arc::new(sparekey_core::audit::NoSink),
        )
        .unwrap();
        let old = chrono::Utc::now() - chrono::Duration::days(10);
        for _ in 0..3 {
            let e = sparekey_core::AuditEvent::new(old, sparekey_core::Action::Reload, "root", "-");
            store.record(e).unwrap();
        }
    }
    let d = site.start();
    // At start sparekeyd removes what is older than a day: the log up to the last old event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.log_text().contains("audit: removed") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        d.log_text().contains("([audit] keep = 1d)"),
        "{}",
        d.log_text()
    );
    let (rc, v) = site.ctl_json(&["audit", "--limit", "100"]);
    assert_eq!(rc, 0, "{v}");
    let actions: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // A prefix of the log goes: the issue event was written before the old ones (the test
    // added them after it), so it went with them.
    assert!(!actions.contains(&"issue"), "{actions:?}");
    assert!(actions.contains(&"prune"), "{actions:?}");
    let (rc, v) = site.ctl_json(&["audit", "--verify"]);
    assert_eq!(rc, 0, "the kept chain verifies from its anchor: {v}");
}
