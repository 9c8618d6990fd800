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
        // Wrong codes batched without limit: most tests here are about the batching.
        let limits = CacheLimits {
            quiet_failures: u32::MAX,
            ..CacheLimits::default()
        };
        let redeemer = SharedRedeemer::new(open, key.clone(), Arc::new(Nss), limits);
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

    /// A sparekeyd started afresh over the same store: sparekeyd's limits, the journal open.
    fn restarted(&self) -> (SharedRedeemer, crate::journal::Replayed) {
        let (p, k) = (self.path.clone(), self.key.clone());
        let open: StoreOpener = Arc::new(move || {
            Ok(Box::new(SqliteStore::open(&p, k.clone(), Arc::new(NoSink))?) as Box<dyn Store>)
        });
        let r = SharedRedeemer::new(
            open,
            self.key.clone(),
            Arc::new(Nss),
            CacheLimits::default(),
        );
        let replayed = r.open_journal(&self.path).unwrap();
        (r, replayed)
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

fn presented<'a>(code: &'a Code) -> Presented<'a> {
    Presented {
        user: "alice",
        service: "vpn",
        host: None,
        source: "test",
        code,
        replay: None,
    }
}

#[test]
fn settled_answers_outlive_a_kill_failures_in_the_store_events_in_the_journal() {
    let f = Fixture::new();
    let p = sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"p\"\nusers = [\"alice\"]\nservices = [\"vpn\"]\nmulti-use = true\n",
        Path::new("policy.toml"),
    )
    .unwrap();
    let code = Code::from_input(b"1234567890").unwrap();
    let req = IssueRequest {
        uses: crate::Uses::Multi,
        ..IssueRequest::new("alice", "test")
    };
    let cred = make_credential(&p.policy[0], &req, &code, &f.key, t0()).unwrap();
    let origin = Origin {
        actor: "test",
        source: "test",
    };
    f.store().issue(&cred, origin).unwrap();
    let audit_rows = |f: &Fixture| f.store().audit(None, 1000).unwrap().len();
    let before = audit_rows(&f);

    let (r, first) = f.restarted();
    assert_eq!(first.events, 0);
    let mut turn = crate::journal::JournalEntries::default();
    let wrong = Code::from_input(b"0000000000").unwrap();
    for c in [&code, &code, &wrong] {
        r.redeem_in_turn(&p, &presented(c), t0(), &mut turn)
            .unwrap();
    }
    r.settle(&mut turn).unwrap();
    assert!(turn.is_empty());
    // The counted failure is in the store before the answer goes: PAM logins count it.
    let since = t0() - Duration::minutes(15);
    assert_eq!(f.store().failures("alice", since).unwrap().len(), 1);
    // The events wait for the half-second write, in the journal only; two more accepts.
    r.redeem_in_turn(&p, &presented(&code), t0(), &mut turn)
        .unwrap();
    r.redeem_in_turn(&p, &presented(&code), t0(), &mut turn)
        .unwrap();
    r.settle(&mut turn).unwrap();
    assert_eq!(audit_rows(&f), before, "no event written yet");
    drop(r); // a kill -9: no flush

    let (_, replayed) = f.restarted();
    assert_eq!(
        replayed.events, 2,
        "the four accepts as one event with its count, and the failure"
    );
    let events = f.store().audit(None, 1000).unwrap();
    assert_eq!(events.len(), before + 2);
    let redeem = events
        .iter()
        .find(|e| e.action == crate::Action::Redeem)
        .unwrap();
    assert!(
        redeem
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("4 times"),
        "{redeem:?}"
    );
    assert!(events.iter().any(|e| e.action == crate::Action::Failure));
    assert_eq!(f.store().verify_audit_chain().unwrap(), None);
}

#[test]
fn a_second_wrong_code_of_a_user_goes_through_the_store_at_once() {
    let f = Fixture::new();
    f.issue(&["1234567890"]);
    let (r, _) = f.restarted();
    let wrong = Code::from_input(b"0000000000").unwrap();
    let since = t0() - Duration::minutes(15);
    let mut turn = crate::journal::JournalEntries::default();
    r.redeem_in_turn(&f.policies, &presented(&wrong), t0(), &mut turn)
        .unwrap();
    assert_eq!(
        f.store().failures("alice", since).unwrap().len(),
        0,
        "the first waits"
    );
    r.redeem_in_turn(&f.policies, &presented(&wrong), t0(), &mut turn)
        .unwrap();
    assert_eq!(
        f.store().failures("alice", since).unwrap().len(),
        1,
        "the second is stored as it is decided"
    );
}
