//! The shared hot path over a real SQLite store: a flush of audit events alone keeps the
//! cache, wrong codes are counted once toward lockout whether written yet or not, and a
//! panic while the cache is held drops it and loses nothing it gathered.

use super::*;
use crate::audit::NoSink;
use crate::cached_redeem::CacheLimits;
use crate::identity::{Directory, Nss};
use crate::issue::{make_credential, IssueRequest};
use crate::store::{Origin, SqliteStore};
use crate::{Code, Reason};
use chrono::{Duration, TimeZone, Utc};
use std::path::Path;

fn policies() -> PolicyFile {
    sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"p\"\nusers = [\"alice\"]\nservices = [\"vpn\"]\n",
        Path::new("policy.toml"),
    )
    .unwrap()
}

fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    key: Arc<SiteKey>,
    policies: PolicyFile,
    redeemer: SharedRedeemer,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparekey.db");
        let key = Arc::new(SiteKey::from_bytes(&[7; 32]));
        let (p, k) = (path.clone(), key.clone());
        let open: StoreOpener = Arc::new(move || {
            Ok(Box::new(SqliteStore::open(&p, k.clone(), Arc::new(NoSink))?) as Box<dyn Store>)
        });
        let redeemer =
            SharedRedeemer::new(open, key.clone(), Arc::new(Nss), CacheLimits::default());
        Fixture {
            _dir: dir,
            path,
            key,
            policies: policies(),
            redeemer,
        }
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.path, self.key.clone(), Arc::new(NoSink)).unwrap()
    }

    /// Issues a single-use code for alice per entry of `codes`.
    fn issue(&self, codes: &[&str]) {
        let mut store = self.store();
        for code in codes {
            let code = Code::from_input(code.as_bytes()).unwrap();
            let cred = make_credential(
                &self.policies.policy[0],
                &IssueRequest::new("alice", "test"),
                &code,
                &self.key,
                t0(),
            )
            .unwrap();
            let origin = Origin {
                actor: "test",
                source: "test",
            };
            store.issue(&cred, origin).unwrap();
        }
    }

    fn try_code(&self, code: &str, now: Time) -> Verdict {
        let code = Code::from_input(code.as_bytes()).unwrap();
        let presented = Presented {
            user: "alice",
            service: "vpn",
            host: None,
            source: "test",
            code: &code,
            replay: None,
        };
        self.redeemer
            .redeem(&self.policies, &presented, now)
            .unwrap()
    }

    fn cached_users(&self) -> String {
        let shown = format!("{:?}", self.redeemer);
        let at = shown.find("users: ").expect("the redeemer is open");
        shown[at..].split(',').next().unwrap().to_string()
    }
}

#[test]
fn failures_count_once_across_flushes_and_audit_alone_keeps_the_cache() {
    let f = Fixture::new();
    f.issue(&["1234567890"]);
    let at = |ms: i64| t0() + Duration::milliseconds(ms);
    let wrong = Verdict::Rejected(Reason::WrongCode);

    // Two wrong codes, written; two more, not yet: 4 of the 5 allowed, the code still works.
    assert_eq!(f.try_code("0000000001", at(0)), wrong);
    assert_eq!(f.try_code("0000000002", at(10)), wrong);
    assert_eq!(
        f.redeemer.flush().unwrap(),
        2 + 1,
        "two failures, one event with a count of 2"
    );
    assert_eq!(f.try_code("0000000003", at(20)), wrong);
    assert_eq!(f.try_code("0000000004", at(30)), wrong);
    assert!(matches!(
        f.try_code("1234567890", at(40)),
        Verdict::Accepted { .. }
    ));
    // The fifth locks alice out, written or not.
    assert_eq!(f.try_code("0000000005", at(50)), wrong);
    let locked = Verdict::Rejected(Reason::LockedOut);
    assert_eq!(f.try_code("0000000006", at(60)), locked);
    f.redeemer.flush().unwrap();
    assert_eq!(f.try_code("0000000007", at(70)), locked);
    assert_eq!(f.cached_users(), "users: 1");

    // A flush of refusals alone (no failure counted while locked out) keeps alice cached.
    assert!(f.redeemer.flush().unwrap() > 0);
    assert_eq!(f.cached_users(), "users: 1");
    assert_eq!(f.try_code("0000000008", at(80)), locked);
}

#[test]
fn a_panic_while_the_cache_is_held_drops_it_and_keeps_what_it_gathered() {
    let f = Fixture::new();
    let mut multi = IssueRequest::new("alice", "test");
    multi.uses = crate::Uses::Multi;
    let code = Code::from_input(b"1234567890").unwrap();
    let cred = make_credential(&f.policies.policy[0], &multi, &code, &f.key, t0()).unwrap();
    let origin = Origin {
        actor: "test",
        source: "test",
    };
    f.store().issue(&cred, origin).unwrap();
    let wrong = Verdict::Rejected(Reason::WrongCode);
    let at = t0() + Duration::microseconds(100);
    assert!(matches!(
        f.try_code("1234567890", at),
        Verdict::Accepted { .. }
    ));
    for _ in 0..3 {
        assert_eq!(f.try_code("0000000001", at), wrong);
    }
    // Another process revokes the code: the cache would see it at its next recheck (1 ms).
    f.store()
        .revoke("alice", None, crate::Action::Revoke, t0(), origin, None)
        .unwrap();
    // A thread panics while holding the cache (a bug anywhere under the lock).
    let redeemer = f.redeemer.clone();
    let crashed = std::thread::spawn(move || {
        let _held = redeemer.cache();
        panic!("a deliberate panic while the cache is held");
    })
    .join();
    assert!(crashed.is_err());
    // Within the same recheck interval, the cache is rebuilt from the store, not reused: the
    // revoke is seen at once, where the old cache would still have accepted the code.
    assert_eq!(
        f.try_code("1234567890", at),
        Verdict::Rejected(Reason::Revoked)
    );
    // The three failures it had counted still count: two more reach the limit of 5 ...
    assert_eq!(f.try_code("0000000002", at), wrong);
    assert_eq!(f.try_code("0000000003", at), wrong);
    assert_eq!(
        f.try_code("0000000004", at),
        Verdict::Rejected(Reason::LockedOut)
    );
    // ... and they reach the store with the next flush.
    f.redeemer.flush().unwrap();
    let stored: u32 = f
        .store()
        .failures("alice", t0() - Duration::minutes(15))
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(stored, 5);
}

/// Groups as the test says, counting lookups.
#[derive(Debug, Default)]
struct Groups {
    lookups: std::sync::Mutex<Vec<String>>,
}

impl Directory for Groups {
    fn groups_of(&self, user: &str) -> Result<Vec<String>, crate::Error> {
        self.lookups.lock().unwrap().push(user.to_string());
        Ok(match user {
            "alice" => vec!["staff".into()],
            _ => vec![],
        })
    }

    fn user_name(&self, _uid: u32) -> Result<Option<String>, crate::Error> {
        Ok(None)
    }

    fn uid_of(&self, _user: &str) -> Result<Option<u32>, crate::Error> {
        Ok(None)
    }
}

#[test]
fn policies_by_group_are_matched_through_the_directory_once_per_ttl() {
    let mut f = Fixture::new();
    f.policies = sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"p\"\ngroups = [\"staff\"]\nservices = [\"vpn\"]\n",
        Path::new("policy.toml"),
    )
    .unwrap();
    let groups = Arc::new(Groups::default());
    let (p, k) = (f.path.clone(), f.key.clone());
    let open: StoreOpener = Arc::new(move || {
        Ok(Box::new(SqliteStore::open(&p, k.clone(), Arc::new(NoSink))?) as Box<dyn Store>)
    });
    f.redeemer = SharedRedeemer::new(open, f.key.clone(), groups.clone(), CacheLimits::default());
    f.issue(&["1234567890"]);
    assert!(matches!(
        f.try_code("1234567890", t0()),
        Verdict::Accepted { .. }
    ));
    assert_eq!(
        f.try_code("1234567890", t0()),
        Verdict::Rejected(Reason::UsedUp)
    );
    let code = Code::from_input(b"1234567890").unwrap();
    let bob = Presented {
        user: "bob",
        service: "vpn",
        host: None,
        source: "test",
        code: &code,
        replay: None,
    };
    assert_eq!(
        f.redeemer.redeem(&f.policies, &bob, t0()).unwrap(),
        Verdict::Rejected(Reason::NotEligible)
    );
    assert_eq!(
        *groups.lookups.lock().unwrap(),
        ["alice", "bob"],
        "each user's groups asked once within their TTL"
    );
}
