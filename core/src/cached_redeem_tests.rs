//! Tests of the cached redeemer against a real SQLite store, with injected time.

use super::*;
use crate::audit::{Action, NoSink};
use crate::issue::{make_credential, IssueRequest};
use crate::store::Origin;
use crate::store::SqliteStore;
use crate::Uses;
use chrono::{Duration, TimeZone, Utc};
use std::cell::Cell;
use std::path::Path;

const ORIGIN: Origin<'static> = Origin {
    actor: "root",
    source: "test",
};

fn policies() -> PolicyFile {
    sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"staff\"\ngroups = [\"staff\"]\nservices = [\"vpn\"]\nlockout = { attempts = 3, window = \"15m\" }\n",
        Path::new("p.toml"),
    )
    .unwrap()
}

/// How many failures of `user` the store holds after `since`.
fn failures_since(store: &SqliteStore, user: &str, since: Time) -> u32 {
    store
        .failures(user, since)
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum()
}

fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    key: Arc<SiteKey>,
    redeemer: CachedRedeemer,
    policies: PolicyFile,
    lookups: Cell<u32>,
}

impl Fixture {
    fn new(limits: CacheLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SiteKey::from_bytes(&[3; 32]));
        let store =
            SqliteStore::open(&dir.path().join("s.db"), key.clone(), Arc::new(NoSink)).unwrap();
        let redeemer = CachedRedeemer::new(Box::new(store), key.clone(), limits);
        Fixture {
            dir,
            key,
            redeemer,
            policies: policies(),
            lookups: Cell::new(0),
        }
    }

    fn other_connection(&self) -> SqliteStore {
        SqliteStore::open(
            &self.dir.path().join("s.db"),
            self.key.clone(),
            Arc::new(NoSink),
        )
        .unwrap()
    }

    fn issue(&self, user: &str, uses: Uses) -> Code {
        let code = Code::generate(&Default::default()).unwrap();
        let req = IssueRequest {
            uses,
            ..IssueRequest::new(user, "root")
        };
        let cred = make_credential(&self.policies.policy[0], &req, &code, &self.key, t0()).unwrap();
        self.other_connection().issue(&cred, ORIGIN).unwrap();
        code
    }

    fn try_code(&mut self, user: &str, code: &Code, now: Time) -> Verdict {
        let lookups = &self.lookups;
        let lookup = |u: &str| {
            lookups.set(lookups.get() + 1);
            Ok(if u == "mallory" {
                vec![]
            } else {
                vec!["staff".to_string()]
            })
        };
        let presented = Presented {
            user,
            service: "vpn",
            host: None,
            source: "radius client=gw",
            code,
            replay: None,
        };
        self.redeemer
            .redeem(&self.policies, &presented, now, &lookup)
            .unwrap()
    }

    /// Writes the gathered batch through another connection and reports it, as sparekeyd's
    /// writer does; returns the generations of that write.
    fn write_batch(&mut self) -> Generations {
        let batch = self.redeemer.take_batch();
        let generations = self
            .other_connection()
            .record_batch(&batch.failures, batch.events)
            .unwrap();
        self.redeemer.written(&batch.failures, generations);
        generations
    }

    /// (generation, audit rows) as stored.
    fn stored(&self) -> (i64, usize) {
        let s = self.other_connection();
        (
            s.generation().unwrap(),
            s.audit(None, 100_000).unwrap().len(),
        )
    }
}

/// With [`every_second`]: alice's `code`, revoked at t0 by another process, is still
/// accepted half a second later from the cache, and refused at the next recheck.
#[track_caller]
fn revoke_is_seen_at_the_next_recheck(f: &mut Fixture, code: &Code) {
    assert!(matches!(
        f.try_code("alice", code, t0() + Duration::milliseconds(500)),
        Verdict::Accepted { .. }
    ));
    assert_eq!(
        f.try_code("alice", code, t0() + Duration::seconds(1)),
        Verdict::Rejected(Reason::Revoked)
    );
}

/// The generation read at most once a second; a user's wrong codes batched without limit
/// (these tests are about the batching itself).
fn every_second() -> CacheLimits {
    CacheLimits {
        recheck: Duration::seconds(1),
        quiet_failures: u32::MAX,
        ..CacheLimits::default()
    }
}

fn every_time() -> CacheLimits {
    CacheLimits {
        recheck: Duration::zero(),
        quiet_failures: u32::MAX,
        ..CacheLimits::default()
    }
}

#[test]
fn accepting_an_uncapped_code_writes_nothing_until_the_batch() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("alice", Uses::Multi);
    let before = f.stored();
    for s in 0..50 {
        assert!(matches!(
            f.try_code("alice", &code, t0() + Duration::seconds(s)),
            Verdict::Accepted { .. }
        ));
    }
    assert_eq!(f.stored(), before, "no store write on the hot path");
    let events = f.redeemer.take_batch().events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, Action::Redeem);
    assert!(
        events[0].reason.as_deref().unwrap().starts_with("50 times"),
        "{:?}",
        events[0]
    );
}

#[test]
fn a_single_use_code_goes_through_the_store_and_works_once() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("alice", Uses::Single);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { counted: true, .. }
    ));
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::UsedUp)
    );
    let actions: Vec<Action> = f
        .other_connection()
        .audit(Some("alice"), 10)
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, [Action::Issue, Action::Redeem, Action::Failure]);
}

#[test]
fn a_flood_of_wrong_codes_costs_one_batched_write() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    let before = f.stored();
    for _ in 0..3 {
        assert_eq!(
            f.try_code("alice", &wrong, t0()),
            Verdict::Rejected(Reason::WrongCode)
        );
    }
    for _ in 0..100 {
        assert_eq!(
            f.try_code("alice", &wrong, t0()),
            Verdict::Rejected(Reason::LockedOut)
        );
    }
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::LockedOut),
        "even the right code"
    );
    assert_eq!(
        f.stored(),
        before,
        "nothing is written on the hot path, failures included"
    );

    let batch = f.redeemer.take_batch();
    assert_eq!(batch.failures.len(), 3);
    let summary: Vec<(Action, String)> = batch
        .events
        .iter()
        .map(|e| (e.action, e.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert!(
        summary[0].0 == Action::Failure && summary[0].1.starts_with("wrong code (3 times"),
        "{summary:?}"
    );
    assert_eq!(
        summary[1],
        (Action::Lockout, "3 failures within 15m".to_string())
    );
    assert!(
        summary[2]
            .1
            .starts_with("locked out after too many failures (101 times"),
        "{summary:?}"
    );
    // Taken but not yet written: they still count.
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::LockedOut)
    );
    let generations = f
        .other_connection()
        .record_batch(&batch.failures, batch.events)
        .unwrap();
    f.redeemer.written(&batch.failures, generations);
    // Written: counted from the store now, by this process and by any other.
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::LockedOut)
    );
    let other = f.other_connection();
    assert_eq!(
        failures_since(&other, "alice", t0() - Duration::minutes(15)),
        3
    );
    // The window passes: the right code works again.
    assert!(matches!(
        f.try_code("alice", &code, t0() + Duration::minutes(16)),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn a_batch_that_could_not_be_written_goes_with_the_next() {
    let mut f = Fixture::new(every_time());
    f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    f.try_code("alice", &wrong, t0());
    let batch = f.redeemer.take_batch();
    f.redeemer.restore(batch);
    f.try_code("alice", &wrong, t0());
    let batch = f.redeemer.take_batch();
    assert_eq!(batch.failures.len(), 2);
    assert_eq!(batch.events.len(), 1, "{:?}", batch.events);
    assert!(
        batch.events[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("wrong code (2 times"),
        "the restored event and the new one: {:?}",
        batch.events
    );
}

#[test]
fn changes_by_another_process_are_seen() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("alice", Uses::Multi);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    f.other_connection()
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::Revoked)
    );
    // A code issued after the cache was filled is found.
    let fresh = f.issue("alice", Uses::Multi);
    assert!(matches!(
        f.try_code("alice", &fresh, t0()),
        Verdict::Accepted { .. }
    ));
    // An unlock by an admin ends a lockout at once (sparekeyd writes the gathered failures
    // before it unlocks, as here).
    let wrong = Code::from_input(b"0000000000").unwrap();
    for _ in 0..4 {
        f.try_code("alice", &wrong, t0());
    }
    assert_eq!(
        f.try_code("alice", &fresh, t0()),
        Verdict::Rejected(Reason::LockedOut)
    );
    f.write_batch();
    f.other_connection().unlock("alice", t0(), ORIGIN).unwrap();
    assert!(matches!(
        f.try_code("alice", &fresh, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn a_revoke_or_delete_by_hand_with_sqlite3_is_seen_within_the_default_recheck() {
    let mut f = Fixture::new(CacheLimits::default());
    let by_hand = |f: &Fixture, sql: &str| {
        rusqlite::Connection::open(f.dir.path().join("s.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    };
    let code = f.issue("alice", Uses::Multi);
    let other = f.issue("bob", Uses::Multi);
    let ms = Duration::milliseconds;
    for (user, code) in [("alice", &code), ("bob", &other)] {
        assert!(matches!(
            f.try_code(user, code, t0()),
            Verdict::Accepted { .. }
        ));
    }
    // No generation bump by sparekey's code: only the schema's triggers see these.
    by_hand(
        &f,
        "UPDATE credentials SET revoked_at = 1795000000 WHERE user = 'alice'",
    );
    by_hand(&f, "DELETE FROM credentials WHERE user = 'bob'");
    let v = f.try_code("alice", &code, t0() + ms(1));
    assert!(
        matches!(v, Verdict::Rejected(Reason::Tampered)),
        "a revoke by hand breaks the seal, and is refused either way: {v:?}"
    );
    assert_eq!(
        f.try_code("bob", &other, t0() + ms(1)),
        Verdict::Rejected(Reason::WrongCode)
    );
}

#[test]
fn the_generation_is_read_at_most_once_per_recheck_interval() {
    let mut f = Fixture::new(every_second());
    let code = f.issue("alice", Uses::Multi);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    f.other_connection()
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    revoke_is_seen_at_the_next_recheck(&mut f, &code);
}

#[test]
fn users_in_no_policy_cost_no_write_and_groups_are_looked_up_once() {
    let mut f = Fixture::new(every_time());
    let before = f.stored();
    let code = Code::from_input(b"1234567890").unwrap();
    for _ in 0..20 {
        assert_eq!(
            f.try_code("mallory", &code, t0()),
            Verdict::Rejected(Reason::NotEligible)
        );
    }
    assert_eq!(f.stored(), before);
    assert_eq!(f.lookups.get(), 1, "groups cached for their TTL");
    f.try_code("mallory", &code, t0() + Duration::seconds(31));
    assert_eq!(f.lookups.get(), 2);
    let mut disabled = policies();
    disabled.enabled = false;
    f.policies = disabled;
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::Disabled)
    );
}

#[test]
fn a_written_batch_keeps_the_cache_when_nothing_else_changed() {
    let mut f = Fixture::new(every_second());
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    f.try_code("alice", &wrong, t0());
    f.try_code("alice", &wrong, t0());
    let generations = f.write_batch();
    assert_ne!(generations.before, generations.after, "failures bump it");
    // Kept: a change by a third process now is seen at the next recheck, not before, which
    // shows the cache was not dropped and read again.
    f.other_connection()
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    revoke_is_seen_at_the_next_recheck(&mut f, &code);
}

#[test]
fn a_written_batch_leaves_another_process_change_to_the_next_recheck() {
    let mut f = Fixture::new(every_second());
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    f.try_code("alice", &wrong, t0());
    let batch = f.redeemer.take_batch();
    f.other_connection()
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    let generations = f
        .other_connection()
        .record_batch(&batch.failures, batch.events)
        .unwrap();
    f.redeemer.written(&batch.failures, generations);
    // The cache's one window: a revoke is seen at the next recheck, batch or no batch.
    revoke_is_seen_at_the_next_recheck(&mut f, &code);
}

#[test]
fn failures_of_a_batch_count_once_when_the_user_is_read_after_its_commit() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("bob", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    f.try_code("bob", &wrong, t0());
    f.try_code("bob", &wrong, t0());
    // The writer commits and says so; before it reports, another process changes the
    // store, so the cache is dropped and bob read again, with the batch's row in it.
    let batch = f.redeemer.take_batch();
    let generations = f
        .other_connection()
        .record_batch(&batch.failures, batch.events)
        .unwrap();
    batch.committed.set(generations).unwrap();
    f.issue("carol", Uses::Multi);
    assert!(
        matches!(f.try_code("bob", &code, t0()), Verdict::Accepted { .. }),
        "2 failures of 3 allowed, not 2 stored + 2 unwritten"
    );
    f.redeemer.written(&batch.failures, generations);
    assert!(matches!(
        f.try_code("bob", &code, t0()),
        Verdict::Accepted { .. }
    ));
    f.try_code("bob", &wrong, t0());
    assert_eq!(
        f.try_code("bob", &code, t0()),
        Verdict::Rejected(Reason::LockedOut)
    );
}

#[test]
fn failures_written_as_one_row_still_lock_out_in_the_cache_and_the_store() {
    let mut f = Fixture::new(every_time());
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    f.try_code("alice", &wrong, t0());
    f.try_code("alice", &wrong, t0() + Duration::seconds(1));
    f.write_batch();
    let rows: i64 = rusqlite::Connection::open(f.dir.path().join("s.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM failures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "two failures of one user in one batch: one row");
    let since = t0() - Duration::minutes(15);
    assert_eq!(failures_since(&f.other_connection(), "alice", since), 2);
    // The third (attempts = 3) locks out, in this cache and for any other process.
    f.try_code("alice", &wrong, t0() + Duration::seconds(2));
    assert_eq!(
        f.try_code("alice", &code, t0() + Duration::seconds(3)),
        Verdict::Rejected(Reason::LockedOut)
    );
    f.write_batch();
    assert_eq!(failures_since(&f.other_connection(), "alice", since), 3);
    // A row counts until the window has passed since the last failure in it: the first
    // failure (t0) still counts at t0 + 15 min + 0.5 s, as the batch's last one (t0 + 1 s) does.
    assert_eq!(
        f.try_code(
            "alice",
            &code,
            t0() + Duration::minutes(15) + Duration::milliseconds(500)
        ),
        Verdict::Rejected(Reason::LockedOut)
    );
    assert!(matches!(
        f.try_code(
            "alice",
            &code,
            t0() + Duration::minutes(15) + Duration::milliseconds(1500)
        ),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn a_code_issued_since_the_last_recheck_counts_as_wrong_until_the_next() {
    let mut f = Fixture::new(every_second());
    let old = f.issue("alice", Uses::Multi);
    assert!(matches!(
        f.try_code("alice", &old, t0()),
        Verdict::Accepted { .. }
    ));
    let fresh = f.issue("alice", Uses::Multi);
    // The cache's one window, as for a revoke: within the recheck interval the new code is
    // not known yet, and is refused as a guess.
    assert_eq!(
        f.try_code("alice", &fresh, t0() + Duration::milliseconds(500)),
        Verdict::Rejected(Reason::WrongCode)
    );
    assert!(matches!(
        f.try_code("alice", &fresh, t0() + Duration::seconds(1)),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn nss_is_not_asked_when_no_policy_names_groups() {
    let mut f = Fixture::new(every_time());
    f.policies = sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"staff\"\nusers = [\"alice\"]\nservices = [\"vpn\"]\n",
        Path::new("p.toml"),
    )
    .unwrap();
    let code = f.issue("alice", Uses::Multi);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    assert_eq!(
        f.try_code("mallory", &code, t0()),
        Verdict::Rejected(Reason::NotEligible)
    );
    assert_eq!(f.lookups.get(), 0);
}

#[test]
fn a_retransmit_of_a_counted_wrong_code_gets_the_same_refusal_and_counts_nothing() {
    let mut f = Fixture::new(CacheLimits::default());
    f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    let lookup = |_: &str| Ok(vec!["staff".to_string()]);
    let attempt = |f: &mut Fixture, key: &[u8], now: Time| {
        let presented = Presented {
            user: "alice",
            service: "vpn",
            host: None,
            source: "radius client=gw",
            code: &wrong,
            replay: Some(Replay {
                key,
                until: now + Duration::seconds(60),
            }),
        };
        f.redeemer
            .redeem(&f.policies, &presented, now, &lookup)
            .unwrap()
    };
    let refused = Verdict::Rejected(Reason::WrongCode);
    assert_eq!(attempt(&mut f, b"request 1", t0()), refused);
    // The NAS's retransmit after 10 s, past the duplicate cache's 5 s.
    assert_eq!(
        attempt(&mut f, b"request 1", t0() + Duration::seconds(10)),
        refused
    );
    let batch = f.redeemer.take_batch();
    assert_eq!(batch.failures.len(), 1, "counted once");
    assert!(
        batch
            .events
            .iter()
            .any(|e| e.reason.as_deref().unwrap_or("").contains("retransmit")),
        "{:?}",
        batch.events
    );
    f.redeemer.restore(batch);
    // A new request (another key) counts; so does the old one once its time has passed.
    f.write_batch();
    assert_eq!(
        attempt(&mut f, b"request 2", t0() + Duration::seconds(11)),
        refused
    );
    f.write_batch();
    let since = t0() - Duration::minutes(15);
    assert_eq!(failures_since(&f.other_connection(), "alice", since), 2);
}
