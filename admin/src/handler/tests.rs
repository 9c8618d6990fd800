//! The handlers over a real store with a fake directory: which roles a caller holds and which
//! policy covers a user come from groups the test chooses, not from the machine's NSS.

use super::*;
use sparekey_admin_protocol::IssueArgs;
use sparekey_core::audit::NoSink;
use sparekey_core::identity::Directory;
use sparekey_core::{Site, SiteKey};
use std::sync::{Arc, Mutex};

/// Users (name, uid, groups) as the test says, in order (a uid's name is its first entry's,
/// as in a passwd file), counting group lookups.
#[derive(Debug, Default)]
struct FakeDirectory {
    users: Vec<(String, (u32, Vec<String>))>,
    lookups: Mutex<u32>,
}

impl FakeDirectory {
    fn get(&self, user: &str) -> Option<&(u32, Vec<String>)> {
        self.users.iter().find(|(n, _)| n == user).map(|(_, v)| v)
    }
}

impl FakeDirectory {
    fn with(users: &[(&str, u32, &[&str])]) -> Self {
        FakeDirectory {
            users: users
                .iter()
                .map(|(n, uid, g)| {
                    (
                        n.to_string(),
                        (*uid, g.iter().map(|g| g.to_string()).collect()),
                    )
                })
                .collect(),
            lookups: Mutex::new(0),
        }
    }
}

impl Directory for FakeDirectory {
    fn groups_of(&self, user: &str) -> Result<Vec<String>, sparekey_core::Error> {
        *self.lookups.lock().unwrap() += 1;
        Ok(self.get(user).map(|(_, g)| g.clone()).unwrap_or_default())
    }

    fn uid_of(&self, user: &str) -> Result<Option<u32>, sparekey_core::Error> {
        Ok(self.get(user).map(|(uid, _)| *uid))
    }

    fn user_name(&self, uid: u32) -> Result<Option<String>, sparekey_core::Error> {
        Ok(self
            .users
            .iter()
            .find(|(_, (u, _))| *u == uid)
            .map(|(n, _)| n.clone()))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    site: Arc<Site>,
    directory: Arc<FakeDirectory>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let daemon = "[store]\npath = \"sparekey.db\"\nkey-file = \"site.key\"\n[audit]\nsyslog = false\n\
        [[admin.role]]\nname = \"helpdesk\"\ngroups = [\"helpdesk\"]\nmay = [\"issue\", \"replace\", \"fixed\", \"list\"]\npolicies = [\"staff\"]\n";
    std::fs::write(dir.path().join("sparekey.toml"), daemon).unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "enabled = true\n[[policy]]\nname = \"staff\"\ngroups = [\"staff\"]\nservices = [\"sshd\"]\n",
    )
    .unwrap();
    let path = dir.path().join("sparekey.toml");
    let config = sparekey_conf::load(&path).unwrap();
    let directory = Arc::new(FakeDirectory::with(&[
        ("helen", 1001, &["helpdesk", "staff"]),
        // Another name of helen's account, as SSSD answers a case variant.
        ("HELEN", 1001, &["helpdesk", "staff"]),
        ("alice", 1002, &["staff"]),
        ("bob", 1003, &["contractors"]),
    ]));
    let site = Site::new(
        &path,
        config,
        Arc::new(SiteKey::from_bytes(&[4; 32])),
        Arc::new(NoSink),
        directory.clone(),
        now(),
    );
    Fixture {
        _dir: dir,
        site,
        directory,
    }
}

fn issue_for(user: &str) -> Request {
    Request::Issue(IssueArgs {
        user: user.into(),
        lifetime: Some("1h".into()),
        ..IssueArgs::default()
    })
}

fn now() -> Time {
    chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap()
}

#[test]
fn the_callers_roles_and_the_users_policy_come_from_the_directory() {
    let f = fixture();
    let helen = Caller::resolve(&*f.directory, 1001, 42).unwrap();
    assert_eq!(
        (helen.name.as_str(), helen.groups.as_slice()),
        ("helen", &["helpdesk".to_string(), "staff".to_string()][..])
    );
    // alice is staff: helen's role covers her policy.
    let issued = handle(&f.site, &helen, issue_for("alice"), now());
    assert!(matches!(issued, Response::Issued(_)), "{issued:?}");
    // bob's groups put him in no policy.
    let Response::Error { error } = handle(&f.site, &helen, issue_for("bob"), now()) else {
        panic!("bob is in no policy")
    };
    assert!(error.contains("\"bob\" is in no policy"), "{error}");
    assert!(*f.directory.lookups.lock().unwrap() >= 3);
}

#[test]
fn a_caller_the_directory_does_not_know_holds_no_role() {
    let f = fixture();
    let stranger = Caller::resolve(&*f.directory, 4242, 7).unwrap();
    assert_eq!(stranger.name, "uid:4242");
    assert!(stranger.groups.is_empty());
    let Response::Error { error } = handle(&f.site, &stranger, issue_for("alice"), now()) else {
        panic!("a stranger may not issue")
    };
    assert!(error.contains("uid:4242"), "{error}");
}

#[test]
fn nobody_issues_for_their_own_account_under_another_name() {
    let f = fixture();
    let helen = Caller::resolve(&*f.directory, 1001, 42).unwrap();
    for (name, request) in [
        ("helen", issue_for("helen")),
        ("HELEN", issue_for("HELEN")),
        (
            "HELEN",
            Request::Replace(IssueArgs {
                user: "HELEN".into(),
                ..IssueArgs::default()
            }),
        ),
        (
            "HELEN",
            Request::Fixed(sparekey_admin_protocol::FixedArgs {
                user: "HELEN".into(),
                passcode: "blue harbour 42".into(),
                ..Default::default()
            }),
        ),
    ] {
        let Response::Error { error } = handle(&f.site, &helen, request, now()) else {
            panic!("{name}: issued for the caller's own account")
        };
        assert!(error.contains("own account"), "{name}: {error}");
    }
}

#[test]
fn two_thousand_refused_requests_cost_a_handful_of_audit_rows() {
    let f = fixture();
    let stranger = Caller::resolve(&*f.directory, 4242, 7).unwrap();
    for _ in 0..2000 {
        let refused = handle(&f.site, &stranger, issue_for("alice"), now());
        assert!(matches!(refused, Response::Error { .. }));
    }
    f.site.flush().unwrap();
    let store = f.site.open_store().unwrap();
    let denied: Vec<_> = store
        .audit(None, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == sparekey_core::Action::Denied)
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    let reason = denied[0].reason.as_deref().unwrap();
    assert!(reason.contains("(2000 times, "), "{reason}");
    assert_eq!(denied[0].source, "admin-socket uid=4242");
}
