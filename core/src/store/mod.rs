//! The store interface: the narrow set of operations that a login's effects and the admin
//! actions need, and [`open`], which picks the implementation from `[store]`. Every state
//! change that two processes could race on is one transaction of the implementation, with
//! its audit events in that same transaction. The rules of a login are not here: a
//! transaction reads the user's state, asks [`crate::decision`], and applies what it says.
//! SQLite ([`sqlite`]) is the implementation today; no SQL leaves it.

pub mod events;
#[cfg(feature = "postgresql")]
pub mod postgres;
pub mod sqlite;

#[cfg(feature = "postgresql")]
pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;

use crate::audit::{Action, AuditEvent, AuditSink};
use crate::decision::{Decision, FailureCounts, Login, LoginEvent, StateQuery, UserState};
use crate::host::Host;
use crate::{Credential, Error, SiteKey, Time};
use sparekey_conf::StoreConfig;
use std::sync::Arc;

/// Who changes the store and from where, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The admin or user acting.
    pub actor: &'a str,
    /// Where from.
    pub source: &'a str,
}

/// The store's generation when a transaction began (it holds the write lock throughout) and
/// when it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generations {
    /// When it began.
    pub before: i64,
    /// When it ended.
    pub after: i64,
}

/// One write of what a cache gathered: see [`Store::write_batch`].
#[derive(Debug)]
pub struct BatchWrite<'a> {
    /// Failed attempts that count toward lockout: (user, time).
    pub failures: &'a [(String, Time)],
    /// Audit events.
    pub events: Vec<AuditEvent>,
    /// The journal epoch this write completes, if it does.
    pub through_epoch: Option<u64>,
    /// Whether the commit waits for the disk. Without, it survives a crash of the process,
    /// not a power loss, until the next commit that waits or the next checkpoint.
    pub durable: bool,
}

/// A user's state as read at one moment, with the store's generation then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginSnapshot {
    /// Credentials and failures.
    pub state: UserState,
    /// The generation it was read at: a later transaction that finds the same generation may
    /// decide on this state without reading it again.
    pub generation: i64,
}

/// One redeem transaction: who, when, which rows, and what was read before, if anything.
#[derive(Debug, Clone, Copy)]
pub struct RedeemRequest<'a> {
    /// The login, for its audit events.
    pub login: &'a Login<'a>,
    /// The time of the attempt.
    pub now: Time,
    /// The rows the decision needs.
    pub query: StateQuery<'a>,
    /// The state read earlier in this login (to ask whether to prompt), reused when nothing
    /// changed since.
    pub known: Option<&'a LoginSnapshot>,
    /// For a request that may be retransmitted (RADIUS): where its answer is kept.
    pub replay: Option<Replay<'a>>,
}

/// The key a retransmitted request is known by, and until when its answer is kept. A request
/// whose answer changed state (a use spent, a window started) has that answer kept under
/// its key; the same request again before `until` gets it again, and nothing is decided,
/// spent or counted twice.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    /// The request's identity: for RADIUS the client, source, Identifier and Request
    /// Authenticator.
    pub key: &'a [u8],
    /// Kept until then.
    pub until: Time,
}

impl RedeemRequest<'_> {
    /// `e` as the audit log keeps it: by the login's user, about them, on its service.
    pub fn event(&self, e: &LoginEvent) -> AuditEvent {
        let l = self.login;
        AuditEvent {
            seq: 0,
            time: self.now,
            action: e.action,
            actor: l.user.to_string(),
            subject: l.user.to_string(),
            credential: e.credential.clone(),
            service: Some(l.service.to_string()),
            source: l.source.to_string(),
            reason: e.reason.as_deref().map(str::to_string),
        }
    }
}

/// What a redeem transaction decided, and the generations around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The decision that was applied.
    pub decision: Decision,
    /// The store's generation before and after the transaction.
    pub generations: Generations,
}

/// The numbers `status` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Credentials that could still be redeemed.
    pub active: u64,
    /// All stored credentials.
    pub credentials: u64,
    /// Audit events.
    pub events: u64,
}

/// The store, whatever keeps it. Each method is one transaction (or one consistent read).
pub trait Store: Send + std::fmt::Debug {
    /// What it is, for messages: "/var/lib/sparekey/sparekey.db".
    fn location(&self) -> String;

    /// A user's state per `query`, and the generation it is as of, in one snapshot.
    fn login_state(&self, query: &StateQuery<'_>) -> Result<LoginSnapshot, Error>;

    /// One login, in one transaction: reads the user's state (or takes `request.known` when
    /// the generation has not moved), calls `decide`, applies its effects and appends its
    /// events. A single-use code redeemed by many processes at once succeeds exactly once,
    /// and no cap is exceeded.
    fn redeem(
        &mut self,
        request: &RedeemRequest<'_>,
        decide: &dyn Fn(&UserState) -> Decision,
    ) -> Result<Redeemed, Error>;

    /// Writes what a cache gathered, in one transaction: failed attempts (user, time) that
    /// count toward lockout (a user's failures in one batch become one row, at the last one's
    /// time, with their count) and audit events. A durable write prunes failures older than
    /// the longest lifetime on the way. With `through_epoch`, the same transaction records that every
    /// journal entry of that epoch or before is stored (see [`crate::journal`]).
    fn write_batch(&mut self, batch: BatchWrite<'_>) -> Result<Generations, Error>;

    /// [`Store::write_batch`], durably, with no journal epoch.
    fn record_batch(
        &mut self,
        failures: &[(String, Time)],
        events: Vec<AuditEvent>,
    ) -> Result<Generations, Error> {
        self.write_batch(BatchWrite {
            failures,
            events,
            through_epoch: None,
            durable: true,
        })
    }

    /// The newest journal epoch whose entries are all stored (0 for none).
    fn journal_epoch(&self) -> Result<u64, Error>;

    /// Enrolls member host `name` (checked by [`crate::host::check_name`]) and records an
    /// `enroll` event: a new host gets serial 1, a revoked one the next serial (so new
    /// keys). Refused while the host is enrolled and not revoked.
    fn enroll_host(&mut self, name: &str, now: Time, origin: Origin<'_>) -> Result<Host, Error>;

    /// Revokes member host `name`, recording a `host-revoke` event with `reason`: the site
    /// refuses its requests from now on. [`Error::NotFound`] when it is not enrolled.
    fn revoke_host(
        &mut self,
        name: &str,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Host, Error>;

    /// Every member host ever enrolled, by name.
    fn hosts(&self) -> Result<Vec<Host>, Error>;

    /// Records when member hosts last asked the site (`host list` shows it): one write,
    /// not audited, not waiting for the disk. Names not enrolled are passed over.
    fn hosts_seen(&mut self, seen: &[(String, Time)]) -> Result<(), Error>;

    /// The generation: it changes whenever anyone changes credentials or failure counts
    /// (not on audit appends).
    fn generation(&self) -> Result<i64, Error>;

    /// Stores a newly issued credential and its `issue` event.
    fn issue(&mut self, cred: &Credential, origin: Origin<'_>) -> Result<(), Error>;

    /// Ends all of `new.user`'s active credentials of `new.kind` and stores `new` in their
    /// place. Returns the ids replaced.
    fn replace(
        &mut self,
        new: &Credential,
        now: Time,
        origin: Origin<'_>,
    ) -> Result<Vec<String>, Error>;

    /// Ends `user`'s active credentials, or just the one with `id`. `action` is
    /// [`Action::Revoke`] (an admin) or [`Action::Retire`] (usual MFA worked again; temporary
    /// codes only). Returns the ids ended.
    fn revoke(
        &mut self,
        user: &str,
        id: Option<&str>,
        action: Action,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Vec<String>, Error>;

    /// Credentials of `user` (or of everyone), newest first. `active_at` keeps only those
    /// that could still be redeemed at that time.
    fn credentials(
        &self,
        user: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<Credential>, Error>;

    /// `user`'s stored failures after `after`, oldest first.
    fn failures(&self, user: &str, after: Time) -> Result<FailureCounts, Error>;

    /// Clears `user`'s failures, ending a lockout. Returns how many were cleared.
    fn unlock(&mut self, user: &str, now: Time, origin: Origin<'_>) -> Result<usize, Error>;

    /// Records an event that changes nothing else (a refused admin request, a reload).
    fn record(&mut self, event: AuditEvent) -> Result<(), Error>;

    /// The newest `limit` audit events, about `subject` if given, oldest first.
    fn audit(&self, subject: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, Error>;

    /// Counts for `status`.
    fn counts(&self, now: Time) -> Result<StoreCounts, Error>;

    /// Checks the audit chain; returns the seq of the first event whose HMAC does not match.
    /// After a prune the chain starts at the oldest kept event, checked against the HMAC of
    /// the last one removed (kept as the chain's anchor).
    fn verify_audit_chain(&self) -> Result<Option<i64>, Error>;

    /// Removes the oldest audit events, up to the last one older than `before` (a prefix of
    /// the log, so that what is kept is one chain), keeps the last removed one's HMAC as the
    /// chain's anchor, and records a `prune` event; in one transaction. Returns how many
    /// were removed.
    fn prune_audit(&mut self, before: Time, now: Time, origin: Origin<'_>) -> Result<u64, Error>;

    /// What this connection opened, as the system names it (for SQLite the file's device and
    /// inode): two connections with the same identity reach the same store.
    fn identity(&self) -> String;

    /// Whether the store's name still leads to what this connection opened; `Err` when it
    /// was deleted or replaced since (a connection to a deleted file reads on, unaware).
    fn check_unchanged(&self) -> Result<(), Error>;
}

/// Everything a store holds that another store can take over whole (`sparekeyd
/// --import-sqlite`): the credentials, the failures, the audit log with each event's HMAC
/// and the chain's anchor, and the member hosts.
#[derive(Debug, Default)]
pub struct Export {
    /// Every credential (their seals are made again under the same key).
    pub credentials: Vec<Credential>,
    /// Failure rows: user, time, count.
    pub failures: Vec<(String, Time, u32)>,
    /// The audit log in seq order, each event with its HMAC.
    pub audit: Vec<(AuditEvent, Vec<u8>)>,
    /// The HMAC the chain starts from (after a prune), or none.
    pub anchor: Option<Vec<u8>>,
    /// Every member host.
    pub hosts: Vec<Host>,
}

/// Whether [`open`] may create a store that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// sparekeyd: create it (0600, in a 0700 directory) when missing.
    Create,
    /// The PAM module and the tools: it must exist.
    Existing,
}

/// Opens the store that `[store]` describes.
pub fn open(
    config: &StoreConfig,
    mode: OpenMode,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
) -> Result<Box<dyn Store>, Error> {
    if *config.backend.get_ref() == sparekey_conf::StoreBackend::Postgresql {
        return open_postgresql(config, key, sink);
    }
    let store = match mode {
        OpenMode::Create => SqliteStore::open(&config.path, key, sink)?,
        OpenMode::Existing => SqliteStore::open_existing(&config.path, key, sink)?,
    };
    Ok(Box::new(store))
}

/// This node's id for a store on PostgreSQL is kept beside its journal: `path` + ".node".
pub fn node_file(config: &StoreConfig) -> std::path::PathBuf {
    let mut p = config.path.as_os_str().to_owned();
    p.push(".node");
    p.into()
}

#[cfg(feature = "postgresql")]
fn open_postgresql(
    config: &StoreConfig,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
) -> Result<Box<dyn Store>, Error> {
    Ok(Box::new(PgStore::open(
        config,
        &node_file(config),
        key,
        sink,
    )?))
}

#[cfg(not(feature = "postgresql"))]
fn open_postgresql(
    config: &StoreConfig,
    _: Arc<SiteKey>,
    _: Arc<dyn AuditSink>,
) -> Result<Box<dyn Store>, Error> {
    Err(Error::Store {
        location: config.url.as_ref().map(|u| u.get_ref().clone()).unwrap_or_default(),
        operation: "open the store",
        problem: "this program is built without PostgreSQL (pam_sparekey reads a SQLite store only; a site on PostgreSQL answers its hosts over RADIUS: give them a [site] table)".into(),
    })
}

/// Whether the store `[store]` describes exists at all (a host where no code was ever issued
/// has none).
pub fn exists(config: &StoreConfig) -> Result<bool, Error> {
    if *config.backend.get_ref() == sparekey_conf::StoreBackend::Postgresql {
        return Ok(true);
    }
    match std::fs::metadata(&config.path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Store {
            location: config.path.display().to_string(),
            operation: "look for the store",
            problem: e.to_string(),
        }),
    }
}

/// Failures as a store keeps them: one row per user, at the last one's time, with how many
/// there were.
pub fn failure_rows(failures: &[(String, Time)]) -> std::collections::HashMap<&str, (Time, u32)> {
    let mut rows: std::collections::HashMap<&str, (Time, u32)> = Default::default();
    for (user, at) in failures {
        let row = rows.entry(user).or_insert((*at, 0));
        row.0 = row.0.max(*at);
        row.1 = row.1.saturating_add(1);
    }
    rows
}
