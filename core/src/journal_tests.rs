//! Tests of the journal against a real SQLite store: replay after a stop without a write,
//! epochs already stored, torn or forged tails, and segments removed once stored.

use super::*;
use crate::audit::{Action, NoSink};
use crate::store::SqliteStore;
use chrono::{TimeZone, Utc};

fn event(n: u32) -> AuditEvent {
    AuditEvent::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
        Action::Redeem,
        &format!("user{n}"),
        &format!("user{n}"),
    )
    .credential("c0ffee")
    .service("vpn")
    .source("radius client=gw")
}

struct Fixture {
    dir: tempfile::TempDir,
    key: Arc<SiteKey>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            key: Arc::new(SiteKey::from_bytes(&[4; 32])),
        }
    }

    fn store_path(&self) -> PathBuf {
        self.dir.path().join("s.db")
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.store_path(), self.key.clone(), Arc::new(NoSink)).unwrap()
    }

    fn open(&self) -> (Journal, Replayed, SqliteStore) {
        let mut store = self.store();
        let (j, r) = Journal::open(&self.store_path(), self.key.clone(), &mut store).unwrap();
        (j, r, store)
    }

    fn segments(&self) -> usize {
        segments(&self.dir.path().join("s.db.journal"))
            .unwrap()
            .len()
    }
}

fn entries(epoch: u64, range: std::ops::Range<u32>) -> JournalEntries {
    let mut e = JournalEntries::default();
    for n in range {
        e.push(epoch, &event(n).canonical());
    }
    e
}

fn users(store: &SqliteStore) -> Vec<String> {
    let mut u: Vec<String> = store
        .audit(None, 1000)
        .unwrap()
        .into_iter()
        .map(|e| e.actor)
        .collect();
    u.sort();
    u
}

#[test]
fn entries_of_a_stopped_sparekeyd_are_replayed_once() {
    let f = Fixture::new();
    let (journal, first, _) = f.open();
    assert_eq!(
        first,
        Replayed {
            events: 0,
            skipped_bytes: 0,
            next_epoch: 1
        }
    );
    journal.append(&entries(1, 0..3)).unwrap();
    journal.append(&entries(2, 3..4)).unwrap();
    drop(journal); // a kill -9: nothing written to the store

    let (_, replayed, store) = f.open();
    assert_eq!(replayed.events, 4);
    assert_eq!(replayed.next_epoch, 3);
    assert_eq!(users(&store), ["user0", "user1", "user2", "user3"]);
    assert_eq!(store.journal_epoch().unwrap(), 2);
    assert_eq!(store.verify_audit_chain().unwrap(), None);
    assert_eq!(
        f.segments(),
        1,
        "the replayed ones are gone, a fresh one is open"
    );

    let (_, again, store) = f.open();
    assert_eq!(again.events, 0, "nothing twice");
    assert_eq!(users(&store).len(), 4);
}

#[test]
fn entries_of_an_epoch_already_stored_are_not_replayed() {
    let f = Fixture::new();
    let (journal, _, mut store) = f.open();
    journal.append(&entries(1, 0..2)).unwrap();
    journal.append(&entries(2, 2..3)).unwrap();
    // Epoch 1's batch was written (with its events) before the stop; epoch 2's was not.
    store
        .write_batch(BatchWrite {
            failures: &[],
            events: vec![event(0), event(1)],
            through_epoch: Some(1),
            durable: true,
        })
        .unwrap();
    drop((journal, store));
    let (_, replayed, store) = f.open();
    assert_eq!(replayed.events, 1);
    assert_eq!(users(&store), ["user0", "user1", "user2"]);
}

#[test]
fn a_torn_or_forged_tail_is_skipped_and_the_rest_replayed() {
    let f = Fixture::new();
    let (journal, _, _) = f.open();
    journal.append(&entries(1, 0..2)).unwrap();
    drop(journal);
    let (_, path) = segments(&f.dir.path().join("s.db.journal"))
        .unwrap()
        .pop()
        .unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let whole = bytes.len();
    // A record written without the key, then half a record.
    let forged = entries(9, 7..8);
    bytes.extend_from_slice(&(forged.body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&forged.body);
    bytes.extend_from_slice(&[0; MAC_LEN]);
    bytes.extend_from_slice(&[0, 0, 1]);
    fs::write(&path, &bytes).unwrap();
    let (_, replayed, store) = f.open();
    assert_eq!(replayed.events, 2);
    assert_eq!(replayed.skipped_bytes, bytes.len() - whole);
    assert_eq!(users(&store), ["user0", "user1"]);
}

#[test]
fn a_segment_goes_once_its_entries_are_stored_and_no_one_appends_to_it() {
    let f = Fixture::new();
    let (journal, _, _) = f.open();
    journal.rotate(0, || 1).unwrap();
    assert_eq!(f.segments(), 1, "an unused segment is not rotated");
    journal.append(&entries(1, 0..1)).unwrap();
    journal.rotate(0, || 2).unwrap();
    assert_eq!(
        f.segments(),
        2,
        "retired, its epoch-2 entries not stored yet"
    );
    journal.rotate(1, || 2).unwrap();
    assert_eq!(f.segments(), 2);
    journal.rotate(2, || 3).unwrap();
    assert_eq!(f.segments(), 1);
}

#[test]
fn a_second_journal_on_the_same_store_is_refused_while_the_first_is_open() {
    let f = Fixture::new();
    let (journal, _, _) = f.open();
    let mut store = f.store();
    let err = Journal::open(&f.store_path(), f.key.clone(), &mut store).unwrap_err();
    assert!(
        err.to_string()
            .contains("another sparekeyd is using this store"),
        "{err}"
    );
    drop(journal);
    assert!(Journal::open(&f.store_path(), f.key.clone(), &mut store).is_ok());
}
