//! Redeeming codes in a long-running process (sparekeyd's RADIUS responder) without a store
//! write on the common paths. A user's credentials, failures and groups are cached; the store's
//! generation, which every change to credentials or failures bumps, says when the cache is
//! stale. Only outcomes that change nothing are decided from the cache: an uncapped code
//! accepted, a locked-out user refused, a user in no policy or a switched-off organisation
//! refused. Their audit events are gathered in an [`AuditBatch`] for a later write. Everything
//! else (a capped or first-use code, any refusal that counts or needs a precise reason) goes
//! through [`Store::redeem`], one transaction, as a login by PAM does.

use crate::audit::{AuditBatch, AuditEvent, EventRef};
use crate::decision::{self, Attempt, Decision, Login, Reason, StateQuery};
use crate::journal::JournalEntries;
use crate::store::{failure_rows, Generations, RedeemRequest, Replay, Store};
use crate::{Code, Error, SiteKey, Time, Verdict};
use sparekey_conf::PolicyFile;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Counted failures held for the next write at most; beyond (the store is failing), wrong
/// codes go through the store one by one again.
pub const MAX_PENDING: usize = 100_000;

/// Requests whose wrong code was counted here, remembered at most for their retransmits;
/// beyond, a retransmit past the duplicate cache counts again (as before there was this).
pub const MAX_COUNTED_REQUESTS: usize = 100_000;

/// How long things are trusted.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// How often the store's generation is read (zero: before every decision). Changes by
    /// other processes (a PAM login, an admin's revoke) are seen within this time.
    pub recheck: chrono::Duration,
    /// How long a user's unix groups are trusted.
    pub groups_ttl: chrono::Duration,
    /// Users cached at most; the cache starts afresh beyond.
    pub max_users: usize,
    /// Wrong codes of one user that may be counted here and wait for a write at once;
    /// beyond, a wrong code goes through the store, which counts what other processes (PAM
    /// logins) stored meanwhile. 1 (the default) bounds guesses spread over PAM and RADIUS
    /// to the policy's attempts plus one.
    pub quiet_failures: u32,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            recheck: chrono::Duration::milliseconds(1),
            groups_ttl: chrono::Duration::seconds(30),
            max_users: 100_000,
            quiet_failures: 1,
        }
    }
}

/// A code presented by `user` on `service`.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The user.
    pub user: &'a str,
    /// The service policies match.
    pub service: &'a str,
    /// The host, when known.
    pub host: Option<&'a str>,
    /// From where, for the audit log.
    pub source: &'a str,
    /// The code.
    pub code: &'a Code,
    /// For a request that may be retransmitted: where its answer is kept (see [`Replay`]).
    pub replay: Option<Replay<'a>>,
}

#[derive(Debug)]
struct UserState {
    /// Credentials and stored failures.
    state: decision::UserState,
    /// The store's generation these were read at.
    as_of: i64,
}

/// A batch with failures, taken for writing and not yet reported written.
#[derive(Debug)]
struct InFlight {
    /// Set by the writer as soon as it has committed (see [`Batch::committed`]).
    committed: Arc<OnceLock<Generations>>,
    /// Its failures per user.
    counts: HashMap<String, u32>,
}

/// A store connection with caches in front of it.
pub struct CachedRedeemer {
    store: Box<dyn Store>,
    key: Arc<SiteKey>,
    limits: CacheLimits,
    generation: Option<i64>,
    checked_at: Option<Time>,
    users: HashMap<String, UserState>,
    groups: HashMap<String, (Vec<String>, Time)>,
    audit: AuditBatch,
    /// Counted failures not yet in the store (gathered, or taken but not confirmed written);
    /// they count toward lockout on top of the stored ones.
    unwritten: HashMap<String, Vec<Time>>,
    /// Counted failures gathered since the last [`CachedRedeemer::take_batch`].
    pending: Vec<(String, Time)>,
    /// The batch being written, if it has failures.
    in_flight: Option<InFlight>,
    /// The journal epoch events are gathered in, and the entries gathered since the last
    /// [`CachedRedeemer::take_fresh`] (when journaling).
    epoch: u64,
    fresh: Option<JournalEntries>,
    /// Retransmit keys of requests whose wrong code was counted here, with the time they are
    /// kept until, oldest first: a retransmit gets the same refusal and counts nothing (the
    /// store keeps the answers of the requests it counts itself).
    counted_requests: HashMap<Vec<u8>, Time>,
    counted_order: std::collections::VecDeque<(Vec<u8>, Time)>,
}

/// What a cache gathered for one write: see [`Store::record_batch`].
#[derive(Debug, Default)]
pub struct Batch {
    /// Failed attempts that count toward lockout.
    pub failures: Vec<(String, Time)>,
    /// Audit events.
    pub events: Vec<AuditEvent>,
    /// The writer sets this to what [`Store::record_batch`] returned as soon as it returns,
    /// before it reports to the cache with [`CachedRedeemer::written`], so that the cache
    /// can tell that commit from other processes' changes in the meantime.
    pub committed: Arc<OnceLock<Generations>>,
}

impl std::fmt::Debug for CachedRedeemer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRedeemer")
            .field("users", &self.users.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Looks up a user's unix groups (NSS in production).
pub type GroupLookup<'a> = &'a dyn Fn(&str) -> Result<Vec<String>, Error>;

impl CachedRedeemer {
    /// Caches in front of `store`.
    pub fn new(store: Box<dyn Store>, key: Arc<SiteKey>, limits: CacheLimits) -> Self {
        CachedRedeemer {
            store,
            key,
            limits,
            generation: None,
            checked_at: None,
            users: HashMap::new(),
            groups: HashMap::new(),
            audit: AuditBatch::default(),
            unwritten: HashMap::new(),
            pending: Vec::new(),
            in_flight: None,
            epoch: 0,
            fresh: None,
            counted_requests: HashMap::new(),
            counted_order: std::collections::VecDeque::new(),
        }
    }

    /// From now on, every event gathered is also kept as a journal entry of `epoch` until
    /// [`CachedRedeemer::take_fresh`] (see [`crate::journal`]).
    pub fn journal_in(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.fresh.get_or_insert_with(JournalEntries::default);
    }

    /// Moves the journal entries gathered since the last call into `into`.
    pub fn take_fresh(&mut self, into: &mut JournalEntries) {
        if let Some(fresh) = self.fresh.as_mut() {
            into.take_from(fresh);
        }
    }

    /// Whether failures counted here wait for a write.
    pub fn has_pending_failures(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Verifies `presented` and records the outcome: in the store at once when it changes
    /// something, else as an audit event in the batch ([`CachedRedeemer::take_batch`]).
    pub fn redeem(
        &mut self,
        policies: &PolicyFile,
        presented: &Presented<'_>,
        now: Time,
        lookup: GroupLookup<'_>,
    ) -> Result<Verdict, Error> {
        self.refresh(now)?;
        if let Some(replay) = &presented.replay {
            if self
                .counted_requests
                .get(replay.key)
                .is_some_and(|until| *until > now)
            {
                // A retransmit of a request whose wrong code was counted: the first answer
                // again, nothing counted twice.
                let again = Decision::replayed(Verdict::Rejected(Reason::WrongCode));
                self.gather(presented, &again, now);
                return Ok(again.verdict);
            }
        }
        policies.index_users();
        // As at a PAM login: NSS is asked only when some policy applies to groups.
        let groups = if policies.names_groups() {
            self.groups_of(presented.user, now, lookup)?
        } else {
            &[]
        };
        let policy = match decision::eligibility(policies, presented.user, groups) {
            Ok(p) => p,
            Err(early) => {
                let refused = Decision::refused(early, None);
                self.gather(presented, &refused, now);
                return Ok(refused.verdict);
            }
        };
        let query = StateQuery::for_login(presented.user, policy, now);
        self.load_user(&query)?;
        let unwritten = self.unwritten_failures(presented.user, query.failures_after);
        let attempt = Attempt::new(
            &self.key,
            policy,
            presented.user,
            presented.service,
            presented.host,
            presented.code,
        );
        let cached = decision::decide(
            &self.users[presented.user].state,
            unwritten,
            policy,
            &attempt,
            now,
        );
        let quiet = match &cached.verdict {
            // An uncapped code accepted: nothing changes.
            Verdict::Accepted { .. } => !cached.effects.change_state(),
            // A locked-out user, and an answer that cannot be a code (a flood of garbage
            // must not cost a transaction each): refused, nothing changes.
            Verdict::Rejected(reason) => matches!(reason, Reason::LockedOut | Reason::NotACode),
        };
        if quiet {
            self.gather(presented, &cached, now);
            return Ok(cached.verdict);
        }
        if cached.verdict == Verdict::Rejected(Reason::WrongCode)
            && unwritten < self.limits.quiet_failures
            && self.pending.len() < MAX_PENDING
        {
            // A code that matches nothing the store held at the last recheck: count it here
            // and write it with the next batch, which sparekeyd writes before it answers
            // (without waiting for the disk), as a flood of guesses must not cost an fsync
            // (nor a read of the store) each. Only while fewer than `quiet_failures` of this
            // user wait to be written: beyond, it goes through the store, which counts what
            // PAM logins stored meanwhile (see [`CacheLimits::quiet_failures`]). A code
            // issued since the last recheck, at most `recheck` ago, would be refused and
            // counted once, as a code revoked since is still accepted: the cache's one window.
            self.count_failure(presented, now);
            if let Some(replay) = &presented.replay {
                self.remember_counted(replay.key, replay.until, now);
            }
            self.gather(presented, &cached, now);
            return Ok(cached.verdict);
        }
        // Anything else changes the store or needs its precise answer: one transaction.
        let login = Login {
            user: presented.user,
            groups: &[],
            service: presented.service,
            host: presented.host,
            source: presented.source,
        };
        let request = RedeemRequest {
            login: &login,
            now,
            query,
            known: None,
            replay: presented.replay,
        };
        let decide =
            |state: &decision::UserState| decision::decide(state, unwritten, policy, &attempt, now);
        let out = self.store.redeem(&request, &decide)?;
        if self.generation == Some(out.generations.before) {
            self.users.remove(presented.user);
        } else {
            self.users.clear();
        }
        self.generation = Some(out.generations.after);
        Ok(out.decision.verdict)
    }

    /// Whether to ask `user` for a code on `service` and `host` at all (a member host's
    /// question before its prompt), from the cache as [`CachedRedeemer::redeem`] decides:
    /// failures counted here and not yet stored count toward the lockout.
    pub fn availability(
        &mut self,
        policies: &PolicyFile,
        login: &Login<'_>,
        now: Time,
        lookup: GroupLookup<'_>,
    ) -> Result<decision::Availability, Error> {
        self.refresh(now)?;
        policies.index_users();
        let groups = if policies.names_groups() {
            self.groups_of(login.user, now, lookup)?
        } else {
            &[]
        };
        let policy = match decision::eligibility(policies, login.user, groups) {
            Ok(p) => p,
            Err(early) => return Ok(early.into()),
        };
        let query = StateQuery::for_login(login.user, policy, now);
        self.load_user(&query)?;
        let unwritten = self.unwritten_failures(login.user, query.failures_after);
        Ok(decision::availability(
            &self.users[login.user].state,
            unwritten,
            policy,
            login.user,
            login.service,
            login.host,
            now,
        ))
    }

    /// Reads `query.user`'s credentials and failures unless they are cached, and forgets
    /// failures out of the window (a long flood must not grow the list).
    fn load_user(&mut self, query: &StateQuery<'_>) -> Result<(), Error> {
        if !self.users.contains_key(query.user) {
            if self.users.len() >= self.limits.max_users {
                self.users.clear();
            }
            let snapshot = self.store.login_state(query)?;
            self.users.insert(
                query.user.to_string(),
                UserState {
                    state: snapshot.state,
                    as_of: snapshot.generation,
                },
            );
        }
        if let Some(user) = self.users.get_mut(query.user) {
            user.state
                .failures
                .retain(|(t, _)| *t > query.failures_after);
        }
        Ok(())
    }

    /// Counted failures of `user` after `since` that the store does not hold yet.
    fn unwritten_failures(&self, user: &str, since: Time) -> u32 {
        let mut unwritten = self
            .unwritten
            .get(user)
            .map_or(0, |v| v.iter().filter(|t| **t > since).count());
        // Read after the batch being written was committed: the store has those already.
        if let (Some(flight), Some(state)) = (&self.in_flight, self.users.get(user)) {
            if flight
                .committed
                .get()
                .is_some_and(|g| state.as_of >= g.after)
            {
                let in_store = flight.counts.get(user).copied().unwrap_or(0);
                unwritten = unwritten.saturating_sub(in_store as usize);
            }
        }
        u32::try_from(unwritten).unwrap_or(u32::MAX)
    }

    /// What was gathered since the last call, for one [`Store::record_batch`]. Its failures
    /// keep counting until [`CachedRedeemer::written`] says they are in the store.
    pub fn take_batch(&mut self) -> Batch {
        let mut batch = self.take_failures();
        batch.events = self.audit.drain();
        batch
    }

    /// [`CachedRedeemer::take_batch`] without the audit events, which wait for the next.
    pub fn take_failures(&mut self) -> Batch {
        let failures = std::mem::take(&mut self.pending);
        let committed = Arc::new(OnceLock::new());
        if !failures.is_empty() {
            let counts = failure_rows(&failures)
                .into_iter()
                .map(|(user, (_, n))| (user.to_string(), n))
                .collect();
            self.in_flight = Some(InFlight {
                committed: committed.clone(),
                counts,
            });
        }
        Batch {
            failures,
            events: Vec::new(),
            committed,
        }
    }

    /// Whether anything waits to be written.
    pub fn has_batch(&self) -> bool {
        !self.audit.is_empty() || !self.pending.is_empty()
    }

    /// `failures` (from [`CachedRedeemer::take_batch`]) are in the store now, written by the
    /// transaction that took the store from generation `written.before` to `written.after`:
    /// they are counted from the store's state, no longer as unwritten. Cached users read
    /// before that commit take them as the store holds them (one row per user, at the last
    /// one's time, with the count); those read since have them already. The cache carries
    /// on: a change by anyone else is seen at the next recheck.
    pub fn written(&mut self, failures: &[(String, Time)], written: Generations) {
        self.in_flight = None;
        for (user, at) in failures {
            if let Some(times) = self.unwritten.get_mut(user) {
                if let Some(i) = times.iter().position(|t| t == at) {
                    times.swap_remove(i);
                }
                if times.is_empty() {
                    self.unwritten.remove(user);
                }
            }
        }
        for (user, row) in failure_rows(failures) {
            if let Some(state) = self.users.get_mut(user).filter(|s| s.as_of < written.after) {
                state.state.failures.push(row);
            }
        }
        if self.generation == Some(written.before) {
            self.generation = Some(written.after);
        }
    }

    /// Puts back a batch that could not be written, to go with the next one.
    pub fn restore(&mut self, batch: Batch) {
        self.in_flight = None;
        self.pending.extend(batch.failures);
        for e in batch.events {
            self.audit.add(EventRef {
                time: e.time,
                action: e.action,
                actor: &e.actor,
                subject: &e.subject,
                credential: e.credential.as_deref(),
                service: e.service.as_deref(),
                source: &e.source,
                reason: e.reason.as_deref(),
            });
        }
    }

    /// Remembers that the request `key` had its wrong code counted, until `until`.
    fn remember_counted(&mut self, key: &[u8], until: Time, now: Time) {
        while let Some((k, t)) = self.counted_order.front() {
            if *t > now && self.counted_order.len() < MAX_COUNTED_REQUESTS {
                break;
            }
            if self.counted_requests.get(k) == Some(t) {
                self.counted_requests.remove(k);
            }
            self.counted_order.pop_front();
        }
        self.counted_requests.insert(key.to_vec(), until);
        self.counted_order.push_back((key.to_vec(), until));
    }

    /// Counts a wrong code toward `presented.user`'s lockout, to be written with the batch.
    fn count_failure(&mut self, presented: &Presented<'_>, now: Time) {
        match self.unwritten.get_mut(presented.user) {
            Some(times) => times.push(now),
            None => {
                self.unwritten.insert(presented.user.to_string(), vec![now]);
            }
        }
        self.pending.push((presented.user.to_string(), now));
    }

    /// Gathers `decision`'s audit events for the next batch (and the journal).
    fn gather(&mut self, presented: &Presented<'_>, decision: &Decision, now: Time) {
        for e in decision.events() {
            let event = EventRef {
                time: now,
                action: e.action,
                actor: presented.user,
                subject: presented.user,
                credential: e.credential.as_deref(),
                service: Some(presented.service),
                source: presented.source,
                reason: e.reason.as_deref(),
            };
            if let Some(fresh) = self.fresh.as_mut() {
                fresh.push_event(self.epoch, &event);
            }
            self.audit.add(event);
        }
    }

    /// Drops the cached credentials when another process (or connection) changed the store.
    /// The commit of this cache's own batch of failures changes nothing it holds (until
    /// [`CachedRedeemer::written`] they count as unwritten): otherwise every batch would
    /// empty the cache, and every user be read again, whenever a recheck fell between the
    /// batch's commit and its report.
    fn refresh(&mut self, now: Time) -> Result<(), Error> {
        let due = self
            .checked_at
            .is_none_or(|t| now - t >= self.limits.recheck || now < t);
        if !due {
            return Ok(());
        }
        // A store deleted or replaced under this connection: refuse rather than answer from
        // what it held (a revoke in the new file would never be seen).
        self.store.check_unchanged()?;
        let generation = self.store.generation()?;
        if self.generation != Some(generation) {
            let ours = self
                .in_flight
                .as_ref()
                .and_then(|f| f.committed.get())
                .is_some_and(|g| self.generation == Some(g.before) && generation == g.after);
            if !ours {
                self.users.clear();
            }
            self.generation = Some(generation);
        }
        self.checked_at = Some(now);
        Ok(())
    }

    /// Whether `user`'s groups are cached and fresh at `now` (then [`CachedRedeemer::redeem`]
    /// does not call its lookup).
    pub fn knows_groups(&self, user: &str, now: Time) -> bool {
        self.groups.get(user).is_some_and(|(_, until)| now < *until)
    }

    /// Takes over a batch gathered by another cache (one dropped after a failure or a
    /// panic): its failures count here until written, and it goes with the next batch.
    pub fn adopt(&mut self, batch: Batch) {
        for (user, at) in &batch.failures {
            self.unwritten.entry(user.clone()).or_default().push(*at);
        }
        let in_flight = self.in_flight.take();
        self.restore(batch);
        self.in_flight = in_flight;
    }

    fn groups_of(
        &mut self,
        user: &str,
        now: Time,
        lookup: GroupLookup<'_>,
    ) -> Result<&[String], Error> {
        if !self.knows_groups(user, now) {
            let groups = lookup(user)?;
            if self.groups.len() >= self.limits.max_users {
                self.groups.clear();
            }
            self.groups
                .insert(user.to_string(), (groups, now + self.limits.groups_ttl));
        }
        Ok(&self.groups[user].0)
    }
}

#[cfg(test)]
#[path = "cached_redeem_tests.rs"]
mod tests;
