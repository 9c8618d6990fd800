//! Member hosts through the real sparekeyd and sparekeyctl: `host enroll` writes a private
//! host file with the host's name and two keys, once; the keys differ per host and per
//! enrollment; `host list` shows when each last asked; `host revoke` and enroll again give
//! new keys; only a role with "enroll" over every policy may; no key reaches the terminal
//! or the audit log.

use sparekey_tests::site::{read, Site, POLICY, ROLES};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The two keys of a host file: (auth-key, offline-key), each 64 hex digits.
fn keys(file: &Path) -> (String, String) {
    let text = read(file);
    let get = |k: &str| -> String {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("no {k} in {text}"));
        let v = line.split('"').nth(1).unwrap().to_string();
        assert!(
            v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()),
            "{k}: {v}"
        );
        v
    };
    (get("auth-key"), get("offline-key"))
}

fn enroll(site: &Site, host: &str, out: &Path) -> (i32, serde_json::Value) {
    site.ctl_json(&["host", "enroll", host, "--out", out.to_str().unwrap()])
}

#[test]
fn a_host_is_enrolled_once_into_a_private_file_revoked_and_enrolled_anew() {
    let site = Site::new(POLICY);
    let _daemon = site.start();
    let a1 = site.path("host-a.key");
    let (rc, v) = enroll(&site, "host-a", &a1);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["host"]["name"], "host-a");
    assert_eq!(v["host"]["serial"], 1);
    assert_eq!(v["out"], a1.to_str().unwrap());
    let mode = std::fs::metadata(&a1).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(read(&a1).contains("host = \"host-a\"\nserial = 1\n"));
    let (auth_a, offline_a) = keys(&a1);
    assert_ne!(auth_a, offline_a);
    assert!(!v.to_string().contains(&auth_a), "keys on stdout: {v}");

    // Enrolled already: refused, nothing written.
    let other = site.path("again.key");
    let (rc, v) = enroll(&site, "host-a", &other);
    assert_ne!(rc, 0, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("enrolled already"),
        "{v}"
    );
    assert!(!other.exists());
    // A file in the way: refused before the daemon is asked, the file left as it was.
    std::fs::write(&other, "mine").unwrap();
    let (rc, v) = enroll(&site, "host-b", &other);
    assert_ne!(rc, 0, "{v}");
    assert!(v["error"].as_str().unwrap().contains("exists"), "{v}");
    assert_eq!(read(&other), "mine");
    // Not a host name.
    let (rc, v) = enroll(&site, "Host_B", &site.path("bad.key"));
    assert_ne!(rc, 0, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("expected a DNS name"),
        "{v}"
    );

    let b = site.path("host-b.key");
    assert_eq!(enroll(&site, "host-b", &b).0, 0);
    let (auth_b, offline_b) = keys(&b);
    assert_ne!(auth_a, auth_b);
    assert_ne!(offline_a, offline_b);

    let (rc, list) = site.ctl_json(&["host", "list"]);
    assert_eq!(rc, 0, "{list}");
    let hosts = list["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "{list}");
    assert_eq!(hosts[0]["name"], "host-a");
    assert!(hosts[0]["last_seen"].is_null(), "never asked: {list}");
    assert!(hosts[0]["revoked_at"].is_null());

    let (rc, v) = site.ctl_json(&["host", "revoke", "host-a", "--reason", "stolen laptop"]);
    assert_eq!(rc, 0, "{v}");
    let (_, list) = site.ctl_json(&["host", "list"]);
    assert!(!list["hosts"][0]["revoked_at"].is_null(), "{list}");
    let (rc, v) = site.ctl_json(&["host", "revoke", "host-a"]);
    assert_ne!(rc, 0, "revoked already: {v}");

    let a2 = site.path("host-a-2.key");
    let (rc, v) = enroll(&site, "host-a", &a2);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["host"]["serial"], 2);
    let (auth_a2, _) = keys(&a2);
    assert_ne!(auth_a, auth_a2, "a new enrollment, new keys");

    let (_, audit) = site.ctl_json(&["audit", "--user", "host-a"]);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["enroll", "host-revoke", "enroll"], "{audit}");
    let all = site.ctl_json(&["audit", "--limit", "1000"]).1.to_string();
    for k in [&auth_a, &offline_a, &auth_b, &auth_a2] {
        assert!(!all.contains(k.as_str()), "a key in the audit log");
    }
}

#[test]
fn only_a_role_with_enroll_over_every_policy_manages_hosts() {
    let roles = format!(
        "{ROLES}\n[[admin.role]]\nname = \"hosts\"\nusers = [\"auditor1\"]\nmay = [\"enroll\"]\npolicies = [\"*\"]\n\n[[admin.role]]\nname = \"staff-hosts\"\ngroups = [\"helpdesk\"]\nmay = [\"enroll\"]\npolicies = [\"staff\"]\n"
    );
    let site = Site::with_config(&roles, POLICY);
    let _daemon = site.start();
    // A directory the callers may write to, as a helpdesk member's home would be.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = dir.path().join("host-a.key");
    let (rc, v) = site.ctl_json_as(
        "helpdesk1",
        &["host", "enroll", "host-a", "--out", out.to_str().unwrap()],
    );
    assert_ne!(rc, 0, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("\"enroll\" action over all policies"),
        "{v}"
    );
    assert!(!out.exists(), "the reserved file is removed again");
    assert_ne!(site.ctl_json_as("helpdesk1", &["host", "list"]).0, 0);
    let (rc, v) = site.ctl_json_as(
        "auditor1",
        &["host", "enroll", "host-a", "--out", out.to_str().unwrap()],
    );
    assert_eq!(rc, 0, "{v}");
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (rc, list) = site.ctl_json_as("auditor1", &["host", "list"]);
    assert_eq!(rc, 0, "{list}");
    assert_eq!(list["hosts"][0]["enrolled_by"], "auditor1");
}

/// A policy file whose staff may log in offline on member hosts, for at most two days.
const OFFLINE_POLICY: &str = r#"enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
groups = ["staff"]
services = ["sshd", "login"]
kinds = ["temporary", "offline"]
max-lifetime = "2d"
default-lifetime = "1d"

[[policy]]
name = "contractors"
groups = ["contractors"]
services = ["sshd"]
"#;

/// A key of a host file as its 32 bytes.
fn key_bytes(hex: &str) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    k
}

#[test]
fn the_helpdesk_answers_an_offline_request_that_only_its_host_user_and_request_accept() {
    use sparekey_core::offline::{verify_response, RequestCode};
    let roles = ROLES.replace(
        "may = [\"issue\", \"revoke\", \"replace\", \"list\", \"unlock\"]",
        "may = [\"issue\", \"revoke\", \"replace\", \"list\", \"unlock\", \"offline\"]",
    );
    assert_ne!(roles, ROLES, "the helpdesk role gained offline");
    let site = Site::with_config(&roles, OFFLINE_POLICY);
    let _daemon = site.start();
    let file = site.path("host-a.key");
    assert_eq!(enroll(&site, "host-a", &file).0, 0);
    let (_, offline_hex) = keys(&file);
    let offline_key = key_bytes(&offline_hex);
    // What host-a would show: a request code of its own making.
    let mut n = 17u8;
    let request = RequestCode::from_random(|| {
        n = n.wrapping_mul(97).wrapping_add(13);
        n
    });
    let shown = request.display();
    let respond = |user: &str, request: &str, lifetime: &str| {
        site.ctl_json_as(
            "helpdesk1",
            &[
                "offline",
                "respond",
                "--host",
                "host-a",
                "--user",
                user,
                "--request",
                request,
                "--for",
                lifetime,
                "--reason",
                "ticket 77",
            ],
        )
    };
    let (rc, v) = respond("alice", &shown.to_lowercase().replace('-', " "), "8h");
    assert_eq!(rc, 0, "{v}");
    let code = v["response"].as_str().unwrap();
    assert_eq!(v["valid_secs"], 8 * 3600);
    assert_eq!(
        verify_response(&offline_key, "host-a", "alice", &request, code).unwrap() * 900,
        8 * 3600,
        "host-a accepts it for alice and this request"
    );
    assert!(verify_response(&offline_key, "host-a", "bob", &request, code).is_err());
    assert!(verify_response(&offline_key, "host-b", "alice", &request, code).is_err());

    // Refusals, each non-zero with the reason.
    let refused = |(rc, v): (i32, serde_json::Value), why: &str| {
        assert_ne!(rc, 0, "{v}");
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains(why), "expected {why:?} in: {v}");
    };
    refused(respond("alice", &shown, "15d"), "at most 2d");
    refused(respond("alice", &shown, "3d"), "at most 2d");
    let mut typo = shown.clone().into_bytes();
    typo.swap(0, 1);
    if typo[0] != typo[1] {
        refused(
            respond("alice", std::str::from_utf8(&typo).unwrap(), "8h"),
            "check character",
        );
    }
    refused(respond("carol", &shown, "8h"), "may not offline");
    refused(respond("helpdesk1", &shown, "8h"), "own account");
    let (rc, v) = site.ctl_json(&[
        "offline",
        "respond",
        "--host",
        "host-a",
        "--user",
        "carol",
        "--request",
        &shown,
        "--for",
        "1h",
    ]);
    refused((rc, v), "does not allow offline logins");
    assert_eq!(site.ctl_json(&["host", "revoke", "host-a"]).0, 0);
    refused(respond("alice", &shown, "8h"), "no enrolled host");

    let (_, audit) = site.ctl_json(&["audit", "--user", "alice"]);
    let made: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "offline-respond")
        .collect();
    assert_eq!(made.len(), 1, "{audit}");
    assert!(made[0]["reason"].as_str().unwrap().contains("host host-a"));
    assert!(
        !audit.to_string().contains(code),
        "the response in the audit log"
    );
}
