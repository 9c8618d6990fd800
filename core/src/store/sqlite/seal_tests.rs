//! Tests of credential seals and of changes by other writers: rows changed, inserted or
//! upgraded without the site key, windows beyond the ceiling, and the generation triggers.

use super::tests::{t0, Fixture, ORIGIN};
use super::*;
use crate::audit::{Action, NoSink};
use crate::decision::{Availability, Reason};
use crate::redeem::{availability, Login};
use crate::store::Store;
use crate::{Code, Uses, Verdict};
use chrono::Duration;

fn login(user: &str) -> Login<'_> {
    Login {
        user,
        groups: &[],
        service: "sshd",
        host: None,
        source: "test",
    }
}

/// A connection of its own, as `sqlite3` by hand would be.
fn by_hand(f: &Fixture, sql: &str) {
    Connection::open(&f.store.path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

fn tampered_events(f: &Fixture) -> Vec<crate::AuditEvent> {
    f.store
        .audit(Some("alice"), 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::Tampered)
        .collect()
}

#[test]
fn a_spent_code_revived_and_extended_by_hand_is_refused_and_audited_as_tampering() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    assert!(matches!(
        f.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
    // Write access to the store, not the key: the use given back, 100 days more.
    by_hand(
        &f,
        "UPDATE credentials SET used = 0, not_after = not_after + 100 * 86400",
    );
    let later = t0() + Duration::hours(2);
    assert_eq!(
        f.try_code("alice", &code, later),
        Verdict::Rejected(Reason::Tampered)
    );
    let events = tampered_events(&f);
    assert_eq!(events.len(), 1, "{events:?}");
    let id = &f.store.credentials(Some("alice"), None).unwrap()[0];
    assert_eq!(events[0].credential.as_deref(), Some(id.id.as_str()));
    assert_eq!(id.state(later), "tampered");
    assert_eq!(
        availability(&f.store, &f.policies, &login("alice"), later).unwrap(),
        Availability::NoCredential,
        "a tampered row never brings the prompt"
    );
    assert!(f
        .store
        .credentials(Some("alice"), Some(later))
        .unwrap()
        .is_empty());
}

#[test]
fn a_row_inserted_or_its_scope_widened_by_hand_is_refused() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Multi);
    // A copy under another id: same digest, no seal of its own.
    by_hand(
        &f,
        "INSERT INTO credentials SELECT 'copy', kind, user, policy, services, hosts, issued_at, not_before, not_after, max_uses, used, revoked_at, issued_by, reason, activate_secs, digest, x'' FROM credentials;
         UPDATE credentials SET revoked_at = 1 WHERE id <> 'copy';",
    );
    let v = f.try_code("alice", &code, t0());
    assert!(
        matches!(v, Verdict::Rejected(Reason::Revoked | Reason::Tampered)),
        "{v:?}"
    );
    // Its seal copied too: the seal covers the id, so it still does not match.
    by_hand(
        &f,
        "UPDATE credentials SET seal = (SELECT seal FROM credentials WHERE id <> 'copy') WHERE id = 'copy'",
    );
    let v = f.try_code("alice", &code, t0());
    assert!(
        matches!(v, Verdict::Rejected(Reason::Revoked | Reason::Tampered)),
        "{v:?}"
    );
    let mut g = Fixture::new();
    let code = g.issue("alice", Uses::Multi);
    by_hand(&g, "UPDATE credentials SET services = 'sshd,sudo'");
    assert_eq!(
        g.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::Tampered)
    );
}

#[test]
fn a_sealed_window_beyond_the_ceiling_is_refused_whatever_the_seal_says() {
    let mut f = Fixture::new();
    let code = Code::from_input(b"4242424242").unwrap();
    let req = crate::issue::IssueRequest {
        uses: Uses::Multi,
        ..crate::issue::IssueRequest::new("alice", "root")
    };
    let mut cred =
        crate::issue::make_credential(&f.policies.policy[0], &req, &code, &f.key, t0()).unwrap();
    // A bug, or a writer with the key: 100 days, sealed.
    cred.not_after = t0() + Duration::days(100);
    f.store.issue(&cred, ORIGIN).unwrap();
    let later = t0() + Duration::days(20);
    assert_eq!(
        f.try_code("alice", &code, later),
        Verdict::Rejected(Reason::BeyondCeiling)
    );
    assert_eq!(tampered_events(&f).len(), 1);
    // Within its first 14 days too: the row as a whole breaks the rule.
    assert_eq!(
        f.try_code("alice", &code, t0() + Duration::hours(1)),
        Verdict::Rejected(Reason::BeyondCeiling)
    );
}

#[test]
fn rows_are_resealed_with_every_change_the_store_makes() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Limited(3));
    for _ in 0..2 {
        assert!(matches!(
            f.try_code("alice", &code, t0()),
            Verdict::Accepted { .. }
        ));
    }
    let creds = f.store.credentials(Some("alice"), None).unwrap();
    assert!(!creds[0].tampered && creds[0].used == 2);
    f.store
        .revoke("alice", None, Action::Revoke, t0(), ORIGIN, None)
        .unwrap();
    let creds = f.store.credentials(Some("alice"), None).unwrap();
    assert!(!creds[0].tampered && creds[0].revoked_at.is_some());
    assert_eq!(
        f.try_code("alice", &code, t0()),
        Verdict::Rejected(Reason::Revoked)
    );
}

#[test]
fn a_version_3_store_is_sealed_as_found_at_upgrade() {
    let mut f = Fixture::new();
    let code = f.issue("alice", Uses::Single);
    by_hand(
        &f,
        "ALTER TABLE credentials DROP COLUMN seal;
         DROP TRIGGER generation_on_credential_insert;
         DROP TRIGGER generation_on_credential_update;
         DROP TRIGGER generation_on_credential_delete;
         PRAGMA user_version = 3;",
    );
    let path = f.store.path.clone();
    let mut g = Fixture::new();
    g.store = SqliteStore::open_existing(&path, f.key.clone(), Arc::new(NoSink)).unwrap();
    let seals: i64 = g
        .store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM credentials WHERE length(seal) = 32",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seals, 1);
    assert!(matches!(
        g.try_code("alice", &code, t0()),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn any_writer_changing_a_credential_moves_the_generation() {
    let mut f = Fixture::new();
    f.issue("alice", Uses::Multi);
    let mut seen = f.store.generation().unwrap();
    for sql in [
        "UPDATE credentials SET revoked_at = 1",
        "INSERT OR REPLACE INTO credentials SELECT * FROM credentials",
        "DELETE FROM credentials",
    ] {
        by_hand(&f, sql);
        let now = f.store.generation().unwrap();
        assert!(now > seen, "{sql}: {seen} -> {now}");
        seen = now;
    }
    by_hand(&f, "DELETE FROM audit");
    assert_eq!(
        f.store.generation().unwrap(),
        seen,
        "only credentials have triggers"
    );
}
