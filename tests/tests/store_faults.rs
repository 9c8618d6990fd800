//! The store failing or changed under a running sparekeyd: on a full disk (a small tmpfs,
//! filled), RADIUS stops answering code requests within seconds (fail closed) instead of
//! accepting codes with no audit record, and nothing it gathered is lost: once the disk has
//! room again the failures counted before and during the fault still lock the user out, and
//! the audit log has every answered request. A store replaced or deleted is refused; rows
//! changed by hand with sqlite3 are seen at once, and refused when changed without the key.

use sparekey_tests::radius::{auth, loopback_site, radclient, tools_installed};
use sparekey_tests::site::{is_root, Site, POLICY};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SECRET: &str = "c3RvcmUtZmF1bHRzLXRlc3Qtc2VjcmV0LTMyYnl0ZXM";

/// A tmpfs mounted for the test, unmounted (lazily, as sparekeyd may still hold files on it)
/// when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None where this machine lets no one mount (a container without CAP_SYS_ADMIN).
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("run mount");
        status.success().then(|| Tmpfs(at.to_path_buf()))
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let out = Command::new("dd")
            .args(["if=/dev/zero", "bs=4096"])
            .arg(format!("of={}", path.display()))
            .output()
            .expect("run dd");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No space left"),
            "dd did not fill the tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A site answering RADIUS on 127.0.0.1 for one client, and that address.
fn radius_site() -> (Site, String) {
    loopback_site(POLICY, SECRET)
}

/// How many requests one audit event stands for: a batched one says "wrong code (3 times,
/// ...)" or "3 times, ...".
fn times(reason: Option<&str>) -> u64 {
    reason
        .and_then(|r| {
            let end = r.find(" times")?;
            let start = r[..end]
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |i| i + 1);
            r[start..end].parse().ok()
        })
        .unwrap_or(1)
}

/// One Access-Request, one try, one second: None when nothing answered.
fn once(server: &str, user: &str, code: &str) -> Option<String> {
    let input = format!(
        "User-Name = \"{user}\"\nUser-Password = \"{code}\"\nMessage-Authenticator = 0x00\n"
    );
    radclient(server, "auth", SECRET, &input, 1, 1)
        .reply
        .map(|r| r.code)
}

#[test]
fn a_full_disk_stops_answers_within_seconds_and_loses_no_failure_or_event() {
    if !is_root() {
        eprintln!("skipped: needs root to mount a tmpfs");
        return;
    }
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = radius_site();
    let Some(disk) = Tmpfs::mount(&site.path("state"), "2m") else {
        eprintln!("skipped: this machine lets no one mount a tmpfs (no CAP_SYS_ADMIN)");
        return;
    };
    let daemon = site.start();
    let (_, code) = site.issue(&["alice", "--multi", "--service", "vpn"]);
    assert_eq!(
        once(&server, "alice", &code).as_deref(),
        Some("Access-Accept")
    );
    // Two wrong codes (of the five the policy allows), written by the next batch.
    for _ in 0..2 {
        assert_eq!(
            once(&server, "alice", "00000-00000").as_deref(),
            Some("Access-Reject")
        );
    }
    std::thread::sleep(Duration::from_secs(1));

    let filler = disk.fill();
    // A wrong code is counted in the store, and an accept in the journal, before it is
    // answered: with the disk full, neither is answered (nor counted), and the NAS fails over
    // or the usual MFA decides.
    assert_eq!(once(&server, "alice", "00000-00000"), None);
    assert_eq!(
        once(&server, "alice", &code),
        None,
        "accepted while unwritable"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(once(&server, "alice", &code), None);
    assert!(
        daemon.log_text().contains("cannot be written"),
        "{}",
        daemon.log_text()
    );

    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        daemon.log_text().contains("can be written again"),
        "{}",
        daemon.log_text()
    );
    // The two failures survived the fault: the right code still works (2 of 5) ...
    assert_eq!(
        once(&server, "alice", &code).as_deref(),
        Some("Access-Accept")
    );
    // ... and three more lock alice out.
    for _ in 0..3 {
        assert_eq!(
            once(&server, "alice", "00000-00000").as_deref(),
            Some("Access-Reject")
        );
    }
    let locked = auth(&server, SECRET, "alice", &code);
    assert_eq!(
        locked.reply.map(|r| r.code).as_deref(),
        Some("Access-Reject")
    );
    // Every answered request is in the audit log: 2 accepts, 5 failures, and the refusal
    // after the lockout; nothing was answered during the fault.
    std::thread::sleep(Duration::from_secs(1));
    let (rc, v) = site.ctl_json(&["audit", "--user", "alice", "--limit", "100"]);
    assert_eq!(rc, 0, "{v}");
    let events = v["events"].as_array().unwrap();
    let count = |action: &str, reason: Option<&str>| -> u64 {
        events
            .iter()
            .filter(|e| e["action"] == action)
            .filter(|e| reason.is_none_or(|r| e["reason"].as_str().is_some_and(|x| x.contains(r))))
            .map(|e| times(e["reason"].as_str()))
            .sum()
    };
    assert_eq!(count("redeem", None), 2, "{events:#?}");
    assert_eq!(count("failure", Some("wrong code")), 5, "{events:#?}");
    assert_eq!(count("lockout", None), 1, "{events:#?}");
    drop(daemon);
}

#[test]
fn a_store_deleted_or_replaced_under_sparekeyd_is_refused_and_never_made_anew() {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = radius_site();
    let daemon = site.start();
    let (_, code) = site.issue(&["alice", "--multi", "--service", "vpn"]);
    assert_eq!(
        once(&server, "alice", &code).as_deref(),
        Some("Access-Accept")
    );

    // Replaced: a copy takes the store's name (another inode), as a restore from a backup
    // done under a running sparekeyd would.
    let store = site.path("state/sparekey.db");
    let copy = site.path("state/copy.db");
    std::fs::copy(&store, &copy).unwrap();
    std::fs::rename(&copy, &store).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        once(&server, "alice", &code),
        None,
        "answered from the old file"
    );
    let (rc, v) = site.ctl_json(&["revoke", "alice"]);
    assert_ne!(rc, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("was deleted or replaced while sparekeyd runs"),
        "{v}"
    );

    // Deleted: nothing makes a new empty store at its path.
    std::fs::remove_file(&store).unwrap();
    let (rc, v) = site.ctl_json(&["issue", "bob"]);
    assert_ne!(rc, 0, "{v}");
    assert!(
        !store.exists(),
        "a new store was made in place of the deleted one"
    );
    assert_eq!(once(&server, "alice", &code), None);
    assert!(
        daemon
            .log_text()
            .contains("was deleted or replaced while sparekeyd runs"),
        "{}",
        daemon.log_text()
    );
}

/// `sqlite3 STORE SQL`, as an admin (or an intruder with write access) would by hand.
fn sqlite3(store: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(store)
        .arg(sql)
        .output()
        .expect("run sqlite3 (apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_spent_code_revived_by_hand_is_refused_and_verify_names_it() {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = radius_site();
    let daemon = site.start();
    let (id, code) = site.issue(&["alice", "--service", "vpn"]);
    let first = auth(&server, SECRET, "alice", &code);
    let reply = first.reply.expect("answered");
    assert_eq!(reply.code, "Access-Accept", "{}", first.text);
    let timeout: u64 = reply.attr("Session-Timeout").unwrap().parse().unwrap();
    assert!(timeout <= 86_400, "{timeout}");
    assert_eq!(
        once(&server, "alice", &code).as_deref(),
        Some("Access-Reject"),
        "single use"
    );

    // Write access to the store, not to the key: the use given back, 100 days more.
    let store = site.path("state/sparekey.db");
    sqlite3(
        &store,
        "UPDATE credentials SET used = 0, not_after = not_after + 100 * 86400",
    );
    let again = auth(&server, SECRET, "alice", &code);
    let reply = again.reply.expect("answered");
    assert_eq!(reply.code, "Access-Reject", "{}", again.text);

    let (rc, v) = site.ctl_json(&["audit", "--verify"]);
    assert_ne!(rc, 0, "{v}");
    assert_eq!(v["intact"], true, "the audit chain itself is whole: {v}");
    assert_eq!(v["tampered"], serde_json::json!([id]), "{v}");
    let (_, events) = site.ctl_json(&["audit", "--user", "alice"]);
    let tampered: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "tampered")
        .collect();
    assert_eq!(tampered.len(), 1, "{events}");
    assert_eq!(tampered[0]["credential"], id.as_str());
    let (_, list) = site.ctl_json(&["list", "alice", "--all"]);
    assert!(list.to_string().contains("\"tampered\""), "{list}");
    drop(daemon);
}

#[test]
fn a_revoke_or_delete_by_hand_is_seen_by_sparekeyd_at_once() {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = radius_site();
    let _daemon = site.start();
    let (_, alice) = site.issue(&["alice", "--multi", "--service", "vpn"]);
    let (_, bob) = site.issue(&["bob", "--multi", "--service", "vpn"]);
    for (user, code) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(
            once(&server, user, code).as_deref(),
            Some("Access-Accept"),
            "{user}"
        );
    }
    let store = site.path("state/sparekey.db");
    sqlite3(&store, "DELETE FROM credentials WHERE user = 'alice'");
    sqlite3(
        &store,
        "UPDATE credentials SET revoked_at = strftime('%s', 'now') WHERE user = 'bob'",
    );
    for (user, code) in [("alice", &alice), ("bob", &bob)] {
        assert_eq!(
            once(&server, user, code).as_deref(),
            Some("Access-Reject"),
            "{user}: answered from the cache"
        );
    }
}

#[test]
fn a_kill_9_loses_no_audit_event_of_an_answered_request_and_no_counted_failure() {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = radius_site();
    let daemon = site.start();
    let (_, code) = site.issue(&["alice", "--multi", "--service", "vpn"]);
    let (_, bob) = site.issue(&["bob", "--multi", "--service", "vpn"]);
    // 30 accepts and 3 wrong codes, all answered, then a kill -9 at once: well within the
    // half second between two writes of what was gathered.
    let mut input = String::new();
    for i in 0..33 {
        // The wrong codes first: each is written before its answer, with what was gathered
        // until then, so that the accepts after the last one are in the journal alone.
        let (user, password) = match i % 11 {
            0 => ("bob", "00000-00000"),
            _ => ("alice", code.as_str()),
        };
        input.push_str(&format!(
            "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nMessage-Authenticator = 0x00\n\n"
        ));
    }
    let run = radclient(&server, "auth", SECRET, &input, 1, 2);
    let answered = |what: &str| run.text.matches(what).count();
    assert_eq!(
        (
            answered("Received Access-Accept"),
            answered("Received Access-Reject")
        ),
        (30, 3),
        "{}",
        run.text
    );
    daemon.signal(nix::sys::signal::Signal::SIGKILL);
    drop(daemon);

    let again = site.start();
    assert!(
        again
            .log_text()
            .contains("from the journal of a sparekeyd that stopped"),
        "{}",
        again.log_text()
    );
    let count = |user: &str, action: &str| -> u64 {
        let (rc, v) = site.ctl_json(&["audit", "--user", user, "--limit", "1000"]);
        assert_eq!(rc, 0, "{v}");
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| times(e["reason"].as_str()))
            .sum()
    };
    assert_eq!(count("alice", "redeem"), 30);
    assert_eq!(count("bob", "failure"), 3);
    let (rc, v) = site.ctl_json(&["audit", "--verify"]);
    assert_eq!(rc, 0, "{v}");
    // The failures count toward bob's lockout (5): two more lock him out.
    for _ in 0..2 {
        assert_eq!(
            once(&server, "bob", "00000-00000").as_deref(),
            Some("Access-Reject")
        );
    }
    let locked = auth(&server, SECRET, "bob", &bob);
    assert_eq!(
        locked.reply.map(|r| r.code).as_deref(),
        Some("Access-Reject")
    );
    drop(again);
}
