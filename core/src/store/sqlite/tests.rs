//! Tests of the SQLite store: transactions, counters, revocation, the audit chain.

use super::admin::{ACTIVE_AT_1, USER_CREDENTIALS_ALL_SQL, USER_CREDENTIALS_ENDING_AFTER_SQL};
use super::login::{RECENT_FAILURES_SQL, USER_CREDENTIALS_SQL};
use super::*;
use crate::audit::{Action, NoSink};
use crate::decision::{Availability, Reason};
use crate::issue::{make_credential, IssueRequest};
use crate::redeem::{availability, redeem, Login};
use crate::store::{Generations, Origin, Store};
use crate::{Code, Credential, Time, Uses, Verdict};
use chrono::{Duration, TimeZone};
use rusqlite::{params, Connection};
use sparekey_conf::PolicyFile;

fn policies() -> PolicyFile {
    sparekey_conf::parse_policy(
        "enabled = true\n[[policy]]\nname = \"staff\"\nusers = [\"alice\", \"bob\"]\nservices = [\"sshd\"]\nlockout = { attempts = 3, window = \"15m\" }\n",
        Path::new("p.toml"),
    )
    .unwrap()
}

pub(super) fn t0() -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .unwrap()
}

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) store: SqliteStore,
    pub(super) key: Arc<SiteKey>,
    pub(super) policies: PolicyFile,
}

pub(super) const ORIGIN: Origin<'static> = Origin {
    actor: "root",
    source: "test",
};

impl Fixture {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SiteKey::from_bytes(&[5; 32]));
        let store = SqliteStore::open(
            &dir.path().join("state/s.db"),
            key.clone(),
            Arc::new(NoSink),
        )
        .unwrap();
        Fixture {
            _dir: dir,
            store,
            key,
            policies: policies(),
        }
    }

    pub(super) fn issue(&mut self, user: &str, uses: Uses) -> Code {
        let code = Code::generate(&Default::default()).unwrap();
        let req = IssueRequest {
            uses,
            reason: Some("ticket 1".into()),
            ..IssueRequest::new(user, "root")
        };
        let cred = make_credential(&self.policies.policy[0], &req, &code, &self.key, t0()).unwrap();
        self.store.issue(&cred, ORIGIN).unwrap();
        code
    }

    pub(super) fn try_code(&mut self, user: &str, code: &Code, now: Time) -> Verdict {
        let login = Login {
            user,
            groups: &[],
            service: "sshd",
            host: None,
            source: "test",
        };
        redeem(
            &mut self.store,
            &self.key,
            &self.policies,
            &login,
            code,
            now,
        )
        .unwrap()
    }
}

#[test]
fn store_file_and_directory_are_private() {
    let f = Fixture::new();
    let meta = fs::metadata(&f.store.path).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(f.store.path.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
    let mode: String = f
        .store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn world_readable_store_is_refused() {
    let f = Fixture::new();
    fs::set_permissions(
        &f.store.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let err = SqliteStore::open_existing(&f.store.path, f.key.clone(), Arc::new(NoSink))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 0600"), "{err}");
}

#[test]
fn single_use_code_works_once() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::UsedUp)
    );
}

#[test]
fn capped_code_stops_at_its_cap() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Limited(3));
    for _ in 0..3 {
        assert!(matches!(
            f.try_code("alice", &code, t0()),
            Verdict::Accepted { .. }
        ));
    }
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::UsedUp)
    );
    let used: u32 = f
        .store
        .conn
        .query_row("SELECT used FROM credentials", [], |r| r.get(0))
        .unwrap();
    assert_eq!(used, 3);
}

#[test]
fn the_store_holds_no_code() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    f.try_code("alice", &code, t0());
    drop(f.store);
    let bytes = fs::read(f._dir.path().join("state/s.db")).unwrap();
    let wal = fs::read(f._dir.path().join("state/s.db-wal")).unwrap_or_default();
    let needle = code.as_bytes();
    for hay in [&bytes, &wal] {
        assert!(
            !hay.windows(needle.len()).any(|w| w == needle),
            "code found in the store files"
        );
    }
}

#[test]
fn failures_lock_out_then_expire_with_the_window() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    for _ in 0..3 {
        assert_eq!(
            f.try_code("alice", &wrong, t0()),
            Verdict::Rejected(Reason::WrongCode)
        );
    }
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::LockedOut)
    );
    let later = t0() + Duration::minutes(16);
    assert!(matches!(
        f.try_code("alice", &code, later),
        Verdict::Accepted { .. }
    ));
    let actions: Vec<Action> = f
        .store
        .audit(Some("alice"), 100)
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            Action::Issue,
            Action::Failure,
            Action::Failure,
            Action::Failure,
            Action::Lockout,
            Action::Failure,
            Action::Redeem
        ]
    );
}

#[test]
fn reusing_a_spent_code_does_not_lock_its_owner_out() {
    let mut f = Fixture::new();
    let spent = f.issue("alice", Uses::Single);
    f.try_code("alice", &spent, t0());
    for _ in 0..10 {
        assert_eq!(
            f.try_code("alice", &spent, t0()),
            Verdict::Rejected(Reason::UsedUp)
        );
    }
    let fresh = f.issue("alice", Uses::Single);
    assert!(matches!(
        f.try_code("alice", &fresh, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn unlock_clears_a_lockout() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Multi);
    let wrong = Code::from_input(b"0000000000").unwrap();
    for _ in 0..3 {
        f.try_code("alice", &wrong, t0());
    }
    assert_eq!(f.store.unlock("alice", t0(), ORIGIN).unwrap(), 3);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn a_lockout_does_not_spill_to_other_users() {
    let mut f = Fixture::new();
    let bobs = f.issue("bob", Uses::Single);
    let wrong = Code::from_input(b"0000000000").unwrap();
    for _ in 0..5 {
        f.try_code("alice", &wrong, t0());
    }
    assert!(matches!(
        f.try_code("bob", &bobs, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn revoke_ends_all_or_one() {
    let mut f = Fixture::new();
    let a = f.issue("alice", Uses::Single);
    let _b = f.issue("alice", Uses::Single);
    let creds = f.store.credentials(Some("alice"), Some(t0())).unwrap();
    let first = creds[0].id.clone();
    assert_eq!(
        f.store
            .revoke("alice", Some(&first), Action::Revoke, t0(), ORIGIN, None)
            .unwrap(),
        vec![first.clone()]
    );
    let err = f
        .store
        .revoke("alice", Some(&first), Action::Revoke, t0(), ORIGIN, None)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert_eq!(
        f.store
            .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
            .unwrap()
            .len(),
        1
    );
    assert!(f
        .store
        .credentials(Some("alice"), Some(t0()))
        .unwrap()
        .is_empty());
    assert_eq!(
        f.try_code("alice", &a, t0()),
        Verdict::Rejected(Reason::Revoked)
    );
}

#[test]
fn replace_ends_the_old_code_and_stores_the_new() {
    let mut f = Fixture::new();
    let old = f.issue("alice", Uses::Single);
    let code = Code::generate(&Default::default()).unwrap();
    let mut new = f.store.credentials(Some("alice"), None).unwrap().remove(0);
    new.id = "newid0000000".into();
    new.digest = f.key.digest("alice", code.as_bytes());
    let ended = f.store.replace(&new, t0(), ORIGIN).unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        f.try_code("alice", &old, t0()),
        Verdict::Rejected(Reason::Revoked)
    );
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn availability_says_when_to_prompt() {
    let mut f = Fixture::new();
    let login = |user| Login {
        user,
        groups: &[],
        service: "sshd",
        host: None,
        source: "t",
    };
    assert_eq!(
        availability(&f.store, &f.policies, &login("alice"), t0()).unwrap(),
        Availability::NoCredential
    );
    assert_eq!(
        availability(&f.store, &f.policies, &login("carol"), t0()).unwrap(),
        Availability::NotEligible
    );
    let code = f.issue("alice", Uses::Single);
    assert_eq!(
        availability(&f.store, &f.policies, &login("alice"), t0()).unwrap(),
        Availability::Usable
    );
    f.try_code("alice", &code, t0());
    assert_eq!(
        availability(&f.store, &f.policies, &login("alice"), t0()).unwrap(),
        Availability::NoCredential
    );
    f.policies.enabled = false;
    assert_eq!(
        availability(&f.store, &f.policies, &login("alice"), t0()).unwrap(),
        Availability::Disabled
    );
}

#[test]
fn audit_chain_detects_tampering() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    f.try_code("alice", &code, t0());
    f.try_code("alice", &code, t0());
    assert_eq!(f.store.verify_audit_chain().unwrap(), None);
    f.store
        .conn
        .execute(
            "UPDATE audit SET reason = 'nothing to see' WHERE seq = 2",
            [],
        )
        .unwrap();
    assert_eq!(f.store.verify_audit_chain().unwrap(), Some(2));
}

#[test]
fn no_audit_event_contains_the_code() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    f.try_code("alice", &code, t0());
    f.try_code("alice", &code, t0());
    let text = format!("{:?}", f.store.audit(None, 100).unwrap());
    assert!(!text.contains(std::str::from_utf8(code.as_bytes()).unwrap()));
}

#[test]
fn first_use_activation_is_stored_and_fixes_the_window() {
    let mut f = Fixture::new();
    let code = Code::generate(&Default::default()).unwrap();
    let mut req_cred = {
        let c = f.issue("bob", Uses::Multi);
        drop(c);
        f.store.credentials(Some("bob"), None).unwrap().remove(0)
    };
    req_cred.id = "activate0000".into();
    req_cred.activation = Some(3600);
    req_cred.not_after = t0() + Duration::days(3);
    req_cred.digest = f.key.digest("bob", code.as_bytes());
    f.store.issue(&req_cred, ORIGIN).unwrap();
    let first = t0() + Duration::days(2);
    let Verdict::Accepted {
        not_after,
        activates: true,
        ..
    } = f.try_code("bob", &code, first)
    else {
        panic!("first use")
    };
    assert_eq!(not_after, first + Duration::hours(1));
    let stored = f
        .store
        .credentials(Some("bob"), None)
        .unwrap()
        .into_iter()
        .find(|c| c.id == "activate0000")
        .unwrap();
    assert_eq!(
        (stored.not_before, stored.not_after, stored.activation),
        (first, first + Duration::hours(1), None)
    );
    assert!(matches!(
        f.try_code("bob", &code, first + Duration::minutes(30)),
        Verdict::Accepted {
            activates: false,
            ..
        }
    ));
    assert_eq!(
        f.try_code("bob", &code, first + Duration::minutes(61)),
        Verdict::Rejected(Reason::Expired)
    );
}

#[test]
fn login_lookups_use_the_index_and_never_scan_the_table() {
    let f = Fixture::new();
    let plan = |sql: &str| -> String {
        let mut stmt = f
            .store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let values: [&dyn rusqlite::ToSql; 2] = [&"alice", &0];
        let bound = &values[..stmt.parameter_count()];
        let rows: Vec<String> = stmt
            .query_map(bound, |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        rows.join("; ")
    };
    for sql in [
        USER_CREDENTIALS_ENDING_AFTER_SQL,
        USER_CREDENTIALS_ALL_SQL,
        USER_CREDENTIALS_SQL,
        RECENT_FAILURES_SQL,
    ] {
        let p = plan(sql);
        assert!(
            p.starts_with("SEARCH") && p.contains("INDEX") && !p.contains("SCAN"),
            "{sql}\n=> {p}"
        );
    }
}

#[test]
fn a_version_1_store_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = Arc::new(SiteKey::from_bytes(&[5; 32]));
    drop(SqliteStore::open(&path, key.clone(), Arc::new(NoSink)).unwrap());
    // Version 1 had no failures.count, no seals, no replies, other triggers.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE failures DROP COLUMN count; PRAGMA user_version = 1;
         ALTER TABLE credentials DROP COLUMN seal; DROP TABLE replies;
         DROP TRIGGER generation_on_credential_insert;
         DROP TRIGGER generation_on_credential_update;
         DROP TRIGGER generation_on_credential_delete;
         CREATE TRIGGER failures_inserted AFTER INSERT ON failures
             BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
         INSERT INTO failures (user, at) VALUES ('alice', 1795000000), ('alice', 1795000001);",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path, key, Arc::new(NoSink)).unwrap();
    let triggers: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        triggers, 3,
        "version 1's generation triggers are gone, version 4's three are there"
    );
    let since = chrono::DateTime::from_timestamp(1794999999, 0).unwrap();
    let failures = store.failures("alice", since).unwrap();
    assert_eq!(failures.iter().map(|(_, n)| n).sum::<u32>(), 2);
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::VERSION);
}

#[test]
fn a_store_of_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = Arc::new(SiteKey::from_bytes(&[5; 32]));
    drop(SqliteStore::open(&path, key.clone(), Arc::new(NoSink)).unwrap());
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = SqliteStore::open(&path, key, Arc::new(NoSink)).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn closing_leaves_a_small_wal_and_a_large_one_is_emptied_by_the_next_commit() {
    let mut f = Fixture::new();
    let wal = f.store.wal.clone();
    f.issue("alice", Uses::Multi);
    let small = fs::metadata(&wal).unwrap().len();
    assert!(small > 0 && small < WAL_CHECKPOINT_BYTES, "{small}");
    for _ in 0..200 {
        f.issue("bob", Uses::Multi);
    }
    let after = fs::metadata(&wal).unwrap().len();
    assert!(
        after < WAL_CHECKPOINT_BYTES,
        "checkpointed and truncated: {after}"
    );
    let path = f.store.path.clone();
    drop(f.store);
    assert!(
        fs::metadata(&wal).is_ok(),
        "the WAL stays when the last connection closes (no checkpoint at close)"
    );
    let key = Arc::new(SiteKey::from_bytes(&[5; 32]));
    let reopened = SqliteStore::open_existing(&path, key, Arc::new(NoSink)).unwrap();
    assert_eq!(reopened.credentials(Some("bob"), None).unwrap().len(), 200);
}

#[test]
fn the_generation_moves_once_per_change_to_credentials_or_failures_not_with_audit() {
    let mut f = Fixture::new();
    let at = |f: &Fixture| f.store.generation().unwrap();
    let g0 = at(&f);
    let code = f.issue("alice", Uses::Multi);
    assert_eq!(at(&f), g0 + 1, "issue");
    f.store
        .record(AuditEvent::new(t0(), Action::Reload, "root", "-"))
        .unwrap();
    assert_eq!(at(&f), g0 + 1, "an audit event alone");
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    assert_eq!(at(&f), g0 + 1, "an uncapped code accepted changes nothing");
    let wrong = Code::from_input(b"0000000000").unwrap();
    f.try_code("alice", &wrong, t0());
    assert_eq!(at(&f), g0 + 2, "a counted failure");
    let failures = vec![
        ("alice".to_string(), t0()),
        ("bob".to_string(), t0()),
        ("alice".to_string(), t0()),
    ];
    let written = f.store.record_batch(&failures, Vec::new()).unwrap();
    assert_eq!(
        written,
        Generations {
            before: g0 + 2,
            after: g0 + 3
        },
        "a batch of failures: once, however many rows"
    );
    assert_eq!(at(&f), g0 + 3);
    let nothing = f
        .store
        .record_batch(
            &[],
            vec![AuditEvent::new(t0(), Action::Reload, "root", "-")],
        )
        .unwrap();
    assert_eq!(
        nothing.before, nothing.after,
        "a batch of audit events only"
    );
    f.store.unlock("alice", t0(), ORIGIN).unwrap();
    assert_eq!(at(&f), g0 + 4, "unlock");
    f.store
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    assert_eq!(at(&f), g0 + 5, "revoke");
    // Another connection sees it, and its own changes move it for this one.
    let mut other =
        SqliteStore::open_existing(&f.store.path, f.key.clone(), Arc::new(NoSink)).unwrap();
    assert_eq!(other.generation().unwrap(), g0 + 5);
    other.unlock("bob", t0(), ORIGIN).unwrap();
    assert_eq!(at(&f), g0 + 6);
}

#[test]
fn a_new_connection_commits_durably_and_in_wal_mode() {
    let f = Fixture::new();
    let mode: String = f
        .store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let reopened =
        SqliteStore::open_existing(&f.store.path, f.key.clone(), Arc::new(NoSink)).unwrap();
    let level: i64 = reopened
        .conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(
        level, 2,
        "synchronous=FULL unless a commit is known to change nothing"
    );
    assert!(reopened.durable);
}

#[test]
fn the_count_of_active_credentials_follows_the_active_rule() {
    let mut f = Fixture::new();
    let code = Code::from_input(b"1234567890").unwrap();
    let base = make_credential(
        &f.policies.policy[0],
        &IssueRequest::new("alice", "root"),
        &code,
        &f.key,
        t0(),
    )
    .unwrap();
    let variants: Vec<Credential> = (0..6)
        .map(|i| {
            let mut c = base.clone();
            c.id = format!("c{i}");
            match i {
                1 => c.revoked_at = Some(t0()),
                2 => c.used = 1,
                3 => c.not_after = t0(),
                4 => {
                    c.uses = Uses::Limited(3);
                    c.used = 2;
                }
                5 => c.uses = Uses::Multi,
                _ => {}
            }
            c
        })
        .collect();
    f.store.insert_filler(&variants).unwrap();
    let expected = variants.iter().filter(|c| c.is_active(t0())).count() as u64;
    assert_eq!(f.store.counts(t0()).unwrap().active, expected);
    assert_eq!(
        f.store.credentials(None, Some(t0())).unwrap().len() as u64,
        expected
    );
    assert!(ACTIVE_AT_1.contains("revoked_at IS NULL"));
}

#[test]
fn sqlite_is_built_with_the_options_of_cargo_config() {
    let f = Fixture::new();
    let mut stmt = f.store.conn.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for expected in [
        "DEFAULT_MEMSTATUS=0",
        "DEFAULT_LOOKASIDE=1200,500",
        "OMIT_SHARED_CACHE",
        "OMIT_LOAD_EXTENSION",
    ] {
        assert!(
            options.iter().any(|o| o == expected),
            "{expected} missing (LIBSQLITE3_FLAGS in .cargo/config.toml): {options:?}"
        );
    }
    for unwanted in [
        "ENABLE_FTS5",
        "ENABLE_FTS3",
        "ENABLE_RTREE",
        "ENABLE_COLUMN_METADATA",
    ] {
        assert!(
            !options.iter().any(|o| o == unwanted),
            "{unwanted} is built in (LIBSQLITE3_FLAGS in .cargo/config.toml): {options:?}"
        );
    }
}

#[test]
fn a_kept_answer_is_given_again_to_its_retransmit_and_nothing_is_spent_twice() {
    use crate::decision::{Attempt, StateQuery};
    use crate::store::{RedeemRequest, Replay};
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    let policy = f.policies.policy[0].clone();
    let login = Login {
        user: "alice",
        groups: &[],
        service: "sshd",
        host: None,
        source: "radius",
    };
    let attempt = Attempt::new(&f.key, &policy, "alice", "sshd", None, &code);
    let try_at = |store: &mut SqliteStore, key: &[u8], now: Time| {
        let request = RedeemRequest {
            login: &login,
            now,
            query: StateQuery::for_login("alice", &policy, now),
            known: None,
            replay: Some(Replay {
                key,
                until: now + Duration::seconds(60),
            }),
        };
        let decide = |state: &crate::decision::UserState| {
            crate::decision::decide(state, 0, &policy, &attempt, now)
        };
        store.redeem(&request, &decide).unwrap().decision.verdict
    };
    let first = try_at(&mut f.store, b"request 1", t0());
    assert!(matches!(first, Verdict::Accepted { .. }), "{first:?}");
    // The same request 10 s later: the first answer again, the code not spent twice.
    let again = try_at(&mut f.store, b"request 1", t0() + Duration::seconds(10));
    // The same answer, except for the uses left and the policy, which a kept answer does
    // not hold (its Access-Accept carries no reply attributes).
    let mut expected = first.clone();
    if let Verdict::Accepted {
        uses_left, policy, ..
    } = &mut expected
    {
        assert_eq!(*uses_left, Some(0));
        *uses_left = None;
        *policy = None;
    }
    assert_eq!(again, expected);
    let cred = &f.store.credentials(Some("alice"), None).unwrap()[0];
    assert_eq!(cred.used, 1);
    // Another request with the same code is refused, and so is the first one once its
    // answer is no longer kept.
    assert_eq!(
        try_at(&mut f.store, b"request 2", t0() + Duration::seconds(10)),
        Verdict::Rejected(Reason::UsedUp)
    );
    assert_eq!(
        try_at(&mut f.store, b"request 1", t0() + Duration::seconds(61)),
        Verdict::Rejected(Reason::UsedUp)
    );
    let events = f.store.audit(Some("alice"), 10).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some(crate::decision::REPLAYED)),
        "{events:?}"
    );
}

#[test]
fn a_store_someone_else_owns_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        return; // chown needs root
    }
    let f = Fixture::new();
    std::os::unix::fs::chown(&f.store.path, Some(4242), None).unwrap();
    let err = SqliteStore::open_existing(&f.store.path, f.key.clone(), Arc::new(NoSink))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "owned by uid 4242, who could change what it holds; expected root (fix: chown root: "
        ),
        "{err}"
    );
}

#[test]
fn pruning_keeps_a_chain_that_verifies_from_its_anchor() {
    let mut f = Fixture::new();
    for days in [10, 5, 1] {
        let at = t0() - Duration::days(days);
        f.store
            .record(
                AuditEvent::new(at, Action::Reload, "root", "-").reason(&format!("{days}d ago")),
            )
            .unwrap();
    }
    assert_eq!(
        f.store
            .prune_audit(t0() - Duration::days(3), t0(), ORIGIN)
            .unwrap(),
        2
    );
    let kept = f.store.audit(None, 10).unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].reason.as_deref(), Some("1d ago"));
    assert_eq!(kept[1].action, Action::Prune);
    assert_eq!(
        f.store.verify_audit_chain().unwrap(),
        None,
        "verifies from the anchor"
    );
    // New events chain on; nothing left to prune is no error.
    f.store
        .record(AuditEvent::new(t0(), Action::Reload, "root", "-"))
        .unwrap();
    assert_eq!(
        f.store
            .prune_audit(t0() - Duration::days(3), t0(), ORIGIN)
            .unwrap(),
        0
    );
    assert_eq!(f.store.verify_audit_chain().unwrap(), None);
    // The oldest kept event is still checked: against the anchor.
    f.store
        .conn
        .execute(
            "UPDATE audit SET reason = 'rewritten' WHERE seq = ?1",
            params![kept[0].seq],
        )
        .unwrap();
    assert_eq!(f.store.verify_audit_chain().unwrap(), Some(kept[0].seq));
}
