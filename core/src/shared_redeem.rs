//! The hot path of a long-running process (sparekeyd's RADIUS answering threads), as one
//! type: the [`CachedRedeemer`] that every thread shares, the writer that stores its batch,
//! and the store connections of both. Group lookups run outside the shared lock. After a
//! failure or a panic in a thread that held it, the cache is dropped and rebuilt from the
//! store, never reused; what it had gathered and not yet written goes with the next batch.

use crate::audit::{AuditBatch, AuditEvent};
use crate::cached_redeem::{Batch, CacheLimits, CachedRedeemer, GroupLookup, Presented};
use crate::decision::{Availability, Login};
use crate::identity::Directory;
use crate::journal::{Journal, JournalEntries, Replayed};
use crate::store::{BatchWrite, Store};
use crate::{Error, SiteKey, Time, Verdict};
use sparekey_conf::PolicyFile;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Opens a connection to the store (one for the cache, one for the writer).
pub type StoreOpener = Arc<dyn Fn() -> Result<Box<dyn Store>, Error> + Send + Sync>;

/// The cache, the writer and their connections, shared by every answering thread.
#[derive(Clone)]
pub struct SharedRedeemer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedRedeemer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.inner.cache.try_lock();
        f.debug_struct("SharedRedeemer")
            .field(
                "cache",
                &cache
                    .as_ref()
                    .ok()
                    .map(|c| c.redeemer.as_ref().map(|(_, r)| r)),
            )
            .finish_non_exhaustive()
    }
}

struct Inner {
    open: StoreOpener,
    key: Arc<SiteKey>,
    directory: Arc<dyn Directory>,
    limits: CacheLimits,
    cache: Mutex<Cache>,
    /// The writer's connection; also serialises flushes.
    writer: Mutex<Option<Box<dyn Store>>>,
    /// The journal, once [`SharedRedeemer::open_journal`] opened it.
    journal: OnceLock<Journal>,
}

/// The cache (with the number of its build), what dropped caches left unwritten, and why
/// the store cannot be written, while it cannot.
#[derive(Default)]
struct Cache {
    redeemer: Option<(u64, CachedRedeemer)>,
    builds: u64,
    orphans: Vec<Batch>,
    unwritable: Option<String>,
    /// Events from outside the hot path to write with its batch (refused admin requests):
    /// repeats are kept once with their count, first and last time.
    gathered: AuditBatch,
    /// The journal epoch events are gathered in now; every write of the batches moves it on.
    epoch: u64,
}

impl Cache {
    /// Drops the cache; what it gathered and has not handed to the writer is kept.
    fn drop_redeemer(&mut self) {
        if let Some((_, mut r)) = self.redeemer.take() {
            if r.has_batch() {
                self.orphans.push(r.take_batch());
            }
        }
    }
}

impl SharedRedeemer {
    /// A hot path over the store that `open` connects to; nothing is opened until needed.
    pub fn new(
        open: StoreOpener,
        key: Arc<SiteKey>,
        directory: Arc<dyn Directory>,
        limits: CacheLimits,
    ) -> Self {
        SharedRedeemer {
            inner: Arc::new(Inner {
                open,
                key,
                directory,
                limits,
                cache: Mutex::new(Cache::default()),
                writer: Mutex::new(None),
                journal: OnceLock::new(),
            }),
        }
    }

    /// The shared cache. A thread that panicked while holding it may have left it half
    /// changed: it is dropped then, and rebuilt from the store at the next use.
    fn cache(&self) -> MutexGuard<'_, Cache> {
        match self.inner.cache.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                self.inner.cache.clear_poison();
                g.drop_redeemer();
                g
            }
        }
    }

    /// Opens the journal beside the store at `store_path` (see [`crate::journal`]),
    /// replaying what an earlier process left in it, and journals every event gathered from
    /// now on. Before any code is redeemed.
    pub fn open_journal(&self, store_path: &Path) -> Result<Replayed, Error> {
        let mut store = (self.inner.open)()?;
        let (journal, replayed) = Journal::open(store_path, self.inner.key.clone(), &mut *store)?;
        let mut cache = self.cache();
        cache.epoch = replayed.next_epoch;
        if let Some((_, r)) = cache.redeemer.as_mut() {
            r.journal_in(replayed.next_epoch);
        }
        let _ = self.inner.journal.set(journal);
        Ok(replayed)
    }

    /// Verifies `presented` and records the outcome, as [`CachedRedeemer::redeem`] does; the
    /// journal entries of what it gathered go to `turn`, for [`SharedRedeemer::settle`]
    /// before the answer is sent.
    pub fn redeem_in_turn(
        &self,
        policies: &PolicyFile,
        presented: &Presented<'_>,
        now: Time,
        turn: &mut JournalEntries,
    ) -> Result<Verdict, Error> {
        self.redeem_with(policies, presented, now, Some(turn))
    }

    /// Makes what a thread's answers rest on outlive a crash of the process, before it sends
    /// them: the failures counted and not yet stored are written (one transaction, not
    /// waiting for the disk), so that PAM logins count them too, and the events of `turn`
    /// are appended to the journal unless that write stored them. `Err`: send none of them.
    pub fn settle(&self, turn: &mut JournalEntries) -> Result<(), Error> {
        let settled = self.settle_turn(turn);
        // Unsent, the turn's answers need no entries; what they gathered stays in the cache.
        turn.clear();
        settled
    }

    fn settle_turn(&self, turn: &mut JournalEntries) -> Result<(), Error> {
        let pending = self
            .cache()
            .redeemer
            .as_ref()
            .is_some_and(|(_, r)| r.has_pending_failures());
        if pending {
            // The failures alone: the events wait for the half-second write, journaled.
            let mut written = 0;
            self.write_counting(Take::Failures, &mut written)?;
        }
        match self.inner.journal.get() {
            Some(journal) => journal.append(turn),
            None => Ok(()),
        }
    }

    /// Verifies `presented` and records the outcome, as [`CachedRedeemer::redeem`] does.
    /// `Err` when the store or the group lookup fails: the cache is then dropped, as its
    /// connection may be what failed, and nothing it gathered is lost. `Err` too, for every
    /// code, while the last write of what was gathered failed (a full or read-only disk): an
    /// uncapped code accepted from the cache would otherwise go unaudited, and failures
    /// unstored (fail closed). The next write that succeeds ends it.
    pub fn redeem(
        &self,
        policies: &PolicyFile,
        presented: &Presented<'_>,
        now: Time,
    ) -> Result<Verdict, Error> {
        self.redeem_with(policies, presented, now, None)
    }

    fn redeem_with(
        &self,
        policies: &PolicyFile,
        presented: &Presented<'_>,
        now: Time,
        turn: Option<&mut JournalEntries>,
    ) -> Result<Verdict, Error> {
        self.with_cache(policies, presented.user, now, turn, |r, lookup| {
            r.redeem(policies, presented, now, lookup)
        })
    }

    /// Whether to ask `login`'s user for a code at all, from the cache
    /// ([`CachedRedeemer::availability`]). `Err` as for [`SharedRedeemer::redeem`].
    pub fn availability(
        &self,
        policies: &PolicyFile,
        login: &Login<'_>,
        now: Time,
    ) -> Result<Availability, Error> {
        self.with_cache(policies, login.user, now, None, |r, lookup| {
            r.availability(policies, login, now, lookup)
        })
    }

    /// Runs `f` on the cache (built when there is none), with `user`'s groups looked up
    /// before the lock is taken. The journal entries `f` gathered go to `turn`.
    fn with_cache<T>(
        &self,
        policies: &PolicyFile,
        user: &str,
        now: Time,
        turn: Option<&mut JournalEntries>,
        f: impl FnOnce(&mut CachedRedeemer, GroupLookup<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if let Some(why) = self.cache().unwritable.clone() {
            return Err(Error::Unwritable(why));
        }
        // NSS may be slow (LDAP, SSSD): never asked under the lock every thread shares.
        let needs_groups = policies.names_groups()
            && !self
                .cache()
                .redeemer
                .as_ref()
                .is_some_and(|(_, r)| r.knows_groups(user, now));
        let groups = if needs_groups {
            Some(self.inner.directory.groups_of(user)?)
        } else {
            None
        };
        let mut cache = self.cache();
        if cache.redeemer.is_none() {
            let store = (self.inner.open)()?;
            let mut r = CachedRedeemer::new(store, self.inner.key.clone(), self.inner.limits);
            if self.inner.journal.get().is_some() {
                r.journal_in(cache.epoch);
            }
            for orphan in std::mem::take(&mut cache.orphans) {
                r.adopt(orphan);
            }
            cache.builds += 1;
            cache.redeemer = Some((cache.builds, r));
        }
        let directory = &self.inner.directory;
        let lookup = |user: &str| match &groups {
            Some(g) => Ok(g.clone()),
            None => directory.groups_of(user),
        };
        let Some((_, redeemer)) = cache.redeemer.as_mut() else {
            return Err(Error::Conflict("the cache".into()));
        };
        let out = f(redeemer, &lookup);
        let mut dropped = JournalEntries::default();
        redeemer.take_fresh(turn.unwrap_or(&mut dropped));
        if out.is_err() {
            cache.drop_redeemer();
        }
        out
    }

    /// Writes what the cache gathered so far, in one transaction on the writer's own
    /// connection (so answering threads never wait for the disk), durably, and moves the
    /// journal on. Returns how many failures and events were written. When the store fails,
    /// everything is kept for the next try.
    pub fn flush(&self) -> Result<usize, Error> {
        let mut written = 0;
        let stored = self.write_counting(Take::Everything, &mut written)?;
        if let (Some(journal), Some(stored)) = (self.inner.journal.get(), stored) {
            journal.rotate(stored, || self.cache().epoch)?;
        }
        Ok(written)
    }

    /// Writes what `take` says, adding to `written` how many failures and events; returns
    /// the journal epoch it completed, if it took everything (all gathered up to it is
    /// stored then).
    fn write_counting(&self, take: Take, written: &mut usize) -> Result<Option<u64>, Error> {
        let durable = take == Take::Everything;
        let mut writer = match self.inner.writer.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                // A writer that panicked may have left its connection in a transaction.
                let mut g = poisoned.into_inner();
                self.inner.writer.clear_poison();
                *g = None;
                g
            }
        };
        let (build, mut batches, through) = {
            let mut cache = self.cache();
            if take == Take::Failures {
                let (build, batch) = match cache.redeemer.as_mut() {
                    Some((build, r)) => (Some(*build), r.take_failures()),
                    None => (None, Batch::default()),
                };
                (build, vec![batch], None)
            } else {
                // Everything gathered in this epoch goes into the batches taken now.
                let through = cache.epoch;
                cache.epoch += 1;
                let next = cache.epoch;
                if let (Some((_, r)), Some(_)) = (cache.redeemer.as_mut(), self.inner.journal.get())
                {
                    r.journal_in(next);
                }
                let mut batches = std::mem::take(&mut cache.orphans);
                if !cache.gathered.is_empty() {
                    batches.push(Batch {
                        events: cache.gathered.drain(),
                        ..Batch::default()
                    });
                }
                let build = match cache.redeemer.as_mut() {
                    Some((build, r)) if r.has_batch() => {
                        batches.push(r.take_batch());
                        Some(*build)
                    }
                    Some((build, _)) => Some(*build),
                    None => None,
                };
                (build, batches, Some(through))
            }
        };
        while let Some(batch) = batches.pop() {
            let n = batch.events.len() + batch.failures.len();
            // The last batch completes the epoch: only once all of them are stored.
            let through_epoch = through.filter(|_| batches.is_empty());
            let stored = match writer.as_mut() {
                Some(s) => Ok(s),
                None => (self.inner.open)().map(|s| &mut *writer.insert(s)),
            }
            .and_then(|store| {
                store.write_batch(BatchWrite {
                    failures: &batch.failures,
                    events: batch.events.clone(),
                    through_epoch,
                    durable,
                })
            });
            if let Ok(generations) = &stored {
                // At once, without the cache's lock: a recheck from now on knows this commit.
                let _ = batch.committed.set(*generations);
            }
            let mut cache = self.cache();
            let same_build = cache.redeemer.as_ref().map(|(b, _)| *b) == build && build.is_some();
            match stored {
                Ok(generations) => {
                    // The cache takes the failures just stored and carries on, unless another
                    // process changed the store meanwhile.
                    if let Some((_, r)) = cache.redeemer.as_mut() {
                        r.written(&batch.failures, generations);
                    }
                    cache.unwritable = None;
                    *written += n;
                }
                Err(e) => {
                    *writer = None;
                    cache.unwritable = Some(e.to_string());
                    let mut kept = vec![batch];
                    kept.append(&mut batches);
                    for batch in kept {
                        match cache.redeemer.as_mut() {
                            Some((_, r)) if same_build => r.restore(batch),
                            Some((_, r)) => r.adopt(batch),
                            None => cache.orphans.push(batch),
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(through)
    }

    /// Gathers `event` to be written with the next batch (within [`SharedRedeemer::flush`]'s
    /// half second), aggregated with its repeats: for events that may come in floods, such
    /// as refused admin requests, so that 2,000 of them cost a row, not 2,000.
    /// It is journaled at once, before the caller answers.
    pub fn gather(&self, event: &AuditEvent) -> Result<(), Error> {
        let mut entry = JournalEntries::default();
        {
            let mut cache = self.cache();
            entry.push_event(cache.epoch, &event.borrowed());
            cache.gathered.add(event.borrowed());
        }
        match self.inner.journal.get() {
            Some(journal) => journal.append(&entry),
            None => Ok(()),
        }
    }

    /// Why the store cannot be written now (the last write of what was gathered failed), if
    /// it cannot: codes are refused meanwhile.
    pub fn unwritable(&self) -> Option<String> {
        self.cache().unwritable.clone()
    }
}

/// What a write takes from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Everything gathered, durably: the half-second write, and every [`SharedRedeemer::flush`].
    Everything,
    /// The counted failures alone, not waiting for the disk: before a turn's answers.
    Failures,
}

#[cfg(test)]
#[path = "shared_redeem_tests.rs"]
mod tests;
