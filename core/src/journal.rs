//! sparekeyd's journal: the audit events of answered requests that only its cache holds yet,
//! appended to a file beside the store before each answer is sent, and replayed into the
//! store at the next start. Appends are not synced: they outlive a crash or a kill of the
//! process (the kernel holds them), not a power loss.
//!
//! Every entry carries the epoch of the cache's batch it was gathered in; a batch written to
//! the store records its epoch in the same transaction ([`Store::journal_epoch`]), so replay
//! takes only entries newer than that. The journal is a series of segment files
//! (`STORE.journal.N`); after each write a new segment starts, and an old one is removed
//! once every entry it can hold is stored and no thread still appends to it.

use crate::audit::{AuditBatch, AuditEvent, EventRef};
use crate::store::{BatchWrite, Store};
use crate::{Error, SiteKey};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// Length of a record's HMAC.
const MAC_LEN: usize = 32;

/// The largest record replay accepts (a turn's entries are far smaller).
const MAX_RECORD: usize = 16 << 20;

/// Entries gathered by one thread between two appends: each the epoch, then one event's
/// canonical bytes with their length.
#[derive(Debug, Default, Clone)]
pub struct JournalEntries {
    body: Vec<u8>,
    newest_epoch: u64,
}

impl JournalEntries {
    /// Adds one event (its [`AuditEvent::canonical`] bytes) gathered in `epoch`.
    pub fn push(&mut self, epoch: u64, canonical: &[u8]) {
        self.body.extend_from_slice(&epoch.to_be_bytes());
        self.body
            .extend_from_slice(&(canonical.len() as u32).to_be_bytes());
        self.body.extend_from_slice(canonical);
        self.newest_epoch = self.newest_epoch.max(epoch);
    }

    /// Adds one borrowed event gathered in `epoch`.
    pub fn push_event(&mut self, epoch: u64, event: &EventRef<'_>) {
        self.body.extend_from_slice(&epoch.to_be_bytes());
        let at = self.body.len();
        self.body.extend_from_slice(&[0; 4]);
        event.canonical_into(&mut self.body);
        let len = (self.body.len() - at - 4) as u32;
        self.body[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self.newest_epoch = self.newest_epoch.max(epoch);
    }

    /// Moves `other`'s entries here.
    pub fn take_from(&mut self, other: &mut JournalEntries) {
        self.body.append(&mut other.body);
        self.newest_epoch = self.newest_epoch.max(other.newest_epoch);
        other.clear();
    }

    /// Whether there is nothing to append.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The newest epoch among the entries.
    pub fn newest_epoch(&self) -> u64 {
        self.newest_epoch
    }

    /// Forgets the entries (appended, or stored already).
    pub fn clear(&mut self) {
        self.body.clear();
        self.newest_epoch = 0;
    }
}

#[derive(Debug)]
struct Segment {
    file: File,
    path: PathBuf,
    used: AtomicBool,
}

/// What [`Journal::open`] found and replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Events written into the store.
    pub events: usize,
    /// Bytes at the end of a segment that were not a whole record with a matching HMAC
    /// (a write cut short by a power loss, or written without the key): skipped.
    pub skipped_bytes: usize,
    /// The epoch to gather in from now on.
    pub next_epoch: u64,
}

/// The journal of one store.
#[derive(Debug)]
pub struct Journal {
    /// Held while the journal is open: a second sparekeyd on the same store would otherwise
    /// replay, and remove, the segments the first still appends to.
    _lock: Flock<File>,
    base: PathBuf,
    key: Arc<SiteKey>,
    current: Mutex<Arc<Segment>>,
    /// Segments no longer appended to, each with the newest epoch it can hold.
    retired: Mutex<Vec<(Arc<Segment>, u64)>>,
    next_number: AtomicU64,
}

fn io_error<'a>(path: &'a Path, operation: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| Error::Store {
        location: path.display().to_string(),
        operation,
        problem: e.to_string(),
    }
}

/// The segments of `base`, oldest first: (number, path).
fn segments(base: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(
        "{}.",
        base.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_error(&dir, "list the journal"))? {
        let entry = entry.map_err(io_error(&dir, "list the journal"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The entries of one segment's authentic records, each (epoch, canonical event bytes), and
/// how many bytes at its end were not a whole record with a matching HMAC.
fn read_segment<'a>(key: &SiteKey, mut bytes: &'a [u8]) -> (Vec<(u64, &'a [u8])>, usize) {
    let mut entries = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let Some(record) = bytes
            .get(4..4 + len + MAC_LEN)
            .filter(|_| len <= MAX_RECORD)
        else {
            break;
        };
        let (body, mac) = record.split_at(len);
        if !bool::from(key.journal(body).ct_eq(mac)) {
            break;
        }
        let mut rest = body;
        while let (Some(epoch), Some(n)) = (rest.get(..8), rest.get(8..12)) {
            let epoch = u64::from_be_bytes(epoch.try_into().unwrap_or_default());
            let n = u32::from_be_bytes(n.try_into().unwrap_or_default()) as usize;
            let Some(canonical) = rest.get(12..12 + n) else {
                break;
            };
            entries.push((epoch, canonical));
            rest = &rest[12 + n..];
        }
        bytes = &bytes[4 + len + MAC_LEN..];
    }
    (entries, bytes.len())
}

impl Journal {
    /// The journal of the store at `store_path`: replays into `store` what segments left by
    /// an earlier sparekeyd hold beyond the store's journal epoch, removes them, and starts a
    /// new segment.
    pub fn open(
        store_path: &Path,
        key: Arc<SiteKey>,
        store: &mut dyn Store,
    ) -> Result<(Journal, Replayed), Error> {
        let mut base = store_path.as_os_str().to_owned();
        base.push(".journal");
        let base = PathBuf::from(base);
        let lock = lock(&base)?;
        let stored = store.journal_epoch()?;
        let found = segments(&base)?;
        let mut batch = AuditBatch::default();
        let mut skipped = 0;
        let mut newest = stored;
        for (_, path) in &found {
            let bytes = fs::read(path).map_err(io_error(path, "read the journal"))?;
            let (entries, cut) = read_segment(&key, &bytes);
            skipped += cut;
            for (epoch, canonical) in entries {
                newest = newest.max(epoch);
                if let Some(e) = AuditEvent::from_canonical(canonical).filter(|_| epoch > stored) {
                    batch.add(e.borrowed());
                }
            }
        }
        let events = batch.drain();
        let replayed = events.len();
        if !found.is_empty() {
            store.write_batch(BatchWrite {
                failures: &[],
                events,
                through_epoch: Some(newest),
                durable: true,
            })?;
            for (_, path) in &found {
                fs::remove_file(path).map_err(io_error(path, "remove a replayed journal"))?;
            }
        }
        let first = found.last().map_or(1, |(n, _)| n + 1);
        let segment = Arc::new(create_segment(&base, first)?);
        Ok((
            Journal {
                _lock: lock,
                base,
                key,
                current: Mutex::new(segment),
                retired: Mutex::new(Vec::new()),
                next_number: AtomicU64::new(first + 1),
            },
            Replayed {
                events: replayed,
                skipped_bytes: skipped,
                next_epoch: newest + 1,
            },
        ))
    }

    /// Appends `entries` as one record, before the answers they belong to are sent.
    pub fn append(&self, entries: &JournalEntries) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut record = Vec::with_capacity(4 + entries.body.len() + MAC_LEN);
        record.extend_from_slice(&(entries.body.len() as u32).to_be_bytes());
        record.extend_from_slice(&entries.body);
        record.extend_from_slice(&self.key.journal(&entries.body));
        let segment = match self.current.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        segment.used.store(true, Ordering::Relaxed);
        // O_APPEND: each record is one write(2) at the end, whatever other threads write.
        (&segment.file)
            .write_all(&record)
            .map_err(io_error(&segment.path, "append to the journal"))
    }

    /// After a write that stored every entry of epoch `stored` or before (`gathering` tells
    /// the epoch the cache gathers in): starts a new segment when the current one was used, and
    /// removes the retired segments that hold nothing newer than `stored`.
    pub fn rotate(&self, stored: u64, gathering: impl Fn() -> u64) -> Result<(), Error> {
        let mut retired = match self.retired.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        {
            let mut current = match self.current.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if current.used.load(Ordering::Relaxed) {
                let n = self.next_number.fetch_add(1, Ordering::Relaxed);
                let fresh = Arc::new(create_segment(&self.base, n)?);
                let old = std::mem::replace(&mut *current, fresh);
                // A thread that took the old segment before this swap gathered its entries
                // before it too: in the epoch of now at the newest.
                retired.push((old, gathering()));
            }
        }
        let mut kept = Vec::new();
        for (segment, newest) in retired.drain(..) {
            if newest <= stored && Arc::strong_count(&segment) == 1 {
                fs::remove_file(&segment.path)
                    .map_err(io_error(&segment.path, "remove a stored journal segment"))?;
            } else {
                kept.push((segment, newest));
            }
        }
        *retired = kept;
        Ok(())
    }
}

/// Takes `BASE.lock`, or says that another sparekeyd holds it.
fn lock(base: &Path) -> Result<Flock<File>, Error> {
    let mut path = base.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_error(&path, "lock the journal"))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| Error::Store {
        location: path.display().to_string(),
        operation: "lock the journal",
        problem: if e == nix::errno::Errno::EWOULDBLOCK {
            "another sparekeyd is using this store; stop it first".into()
        } else {
            e.to_string()
        },
    })
}

fn create_segment(base: &Path, n: u64) -> Result<Segment, Error> {
    let mut path = base.as_os_str().to_owned();
    path.push(format!(".{n}"));
    let path = PathBuf::from(path);
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_error(&path, "start a journal segment"))?;
    Ok(Segment {
        file,
        path,
        used: AtomicBool::new(false),
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
