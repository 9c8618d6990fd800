//! The store: credentials, failure counters and the audit log in one SQLite file (WAL).
//! Every state change that two processes could race on is one IMMEDIATE transaction, and
//! each writes its audit events in that same transaction. This is the narrow interface a
//! second backend (PostgreSQL) would implement.

mod rows;
mod schema;

use crate::audit::{Action, AuditEvent, AuditSink};
use crate::decision::{self, Attempt, Context, Reason, Verdict};
use crate::{Credential, Error, SiteKey, Time};
use chrono::Duration;
use rusqlite::config::DbConfig;
use rusqlite::hooks::Action as RowChange;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use sparekey_conf::{Kind, Policy};
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The WAL is copied into the database and emptied (a checkpoint: three fsyncs) after the
/// commit that takes it to this size (32 pages), never when a connection closes. A PAM login
/// is a process of its own that opens the store, commits and closes: checkpointing at every
/// close cost it three fsyncs, while reading back a WAL this small at open costs less than one.
/// The WAL is truncated rather than only copied, because the next lone process to open the
/// store rebuilds its index from the WAL file and cannot tell copied frames from new ones.
const WAL_CHECKPOINT_BYTES: u64 = 32 * 4096;

/// The filter for credentials that could still be redeemed at ?2.
const ACTIVE_AT_2: &str =
    "not_after > ?2 AND revoked_at IS NULL AND (max_uses IS NULL OR used < max_uses)";

fn credentials_sql(by_user: &str, active: &str) -> String {
    format!(
        "SELECT {} FROM credentials WHERE {by_user} AND {active} ORDER BY issued_at DESC, rowid DESC",
        rows::CREDENTIAL_COLUMNS
    )
}

/// Credentials this long past their end are not loaded to explain a refusal.
const HISTORY_DAYS: i64 = 30;

/// Failures counting toward a lockout: the time of each stored row and how many it stands for.
pub type FailureCounts = Vec<(Time, u32)>;

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The WAL file beside it.
    wal: PathBuf,
    /// Set by SQLite's update hook when a statement on this connection changed a row of
    /// `credentials` or `failures`; [`Store::write`] then bumps the generation once.
    state_changed: Arc<AtomicBool>,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Who changes the store and from where, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The admin or user acting.
    pub actor: &'a str,
    /// Where from.
    pub source: &'a str,
}

impl Store {
    /// Opens the store, creating the file (0600) and its directory (0700) when missing.
    pub fn open(path: &Path, key: Arc<SiteKey>, sink: Arc<dyn AuditSink>) -> Result<Self, Error> {
        let fail = |p: String| Error::Store {
            path: path.to_path_buf(),
            problem: p,
        };
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| fail(format!("cannot create its directory: {e}")))?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(format!("cannot create: {e}"))),
        }
        Self::open_existing(path, key, sink)
    }

    /// Opens a store that must already exist (the PAM module never creates one).
    pub fn open_existing(
        path: &Path,
        key: Arc<SiteKey>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Self, Error> {
        let fail = |p: String| Error::Store {
            path: path.to_path_buf(),
            problem: p,
        };
        let meta = fs::metadata(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        if meta.mode() & 0o077 != 0 {
            return Err(fail(format!(
                "mode {:04o} lets group or others read or write it; expected 0600 (fix: chmod 600 {})",
                meta.mode() & 0o7777,
                path.display()
            )));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| fail(e.to_string()))?;
        let sql = |e: rusqlite::Error| fail(e.to_string());
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(sql)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        if version == 0 {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {} COMMIT;", schema::CREATE))
                .map_err(sql)?;
        } else if version == 1 {
            // Checked again inside the transaction: another process may have upgraded it.
            conn.execute_batch("BEGIN IMMEDIATE;").map_err(sql)?;
            let again: i64 = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(sql)?;
            let upgrade = if again == 1 {
                schema::UPGRADE_FROM_1
            } else {
                ""
            };
            conn.execute_batch(&format!("{upgrade} COMMIT;"))
                .map_err(sql)?;
        } else if version != schema::VERSION {
            return Err(fail(format!(
                "schema version {version} is not the {} this sparekey understands; upgrade sparekey",
                schema::VERSION
            )));
        }
        let state_changed = Arc::new(AtomicBool::new(false));
        let flag = state_changed.clone();
        // Every row change on this connection is seen here, whatever the statement, so no
        // write path can forget the generation. (SQLite skips the hook only for a DELETE
        // without WHERE, which the store never runs on these tables.)
        conn.update_hook(Some(move |_: RowChange, _: &str, table: &str, _: i64| {
            if table == "credentials" || table == "failures" {
                flag.store(true, Ordering::Relaxed);
            }
        }))
        .map_err(sql)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            wal: PathBuf::from(wal),
            state_changed,
            key,
            sink,
        })
    }

    /// Checkpoints and empties the WAL when it has grown to [`WAL_CHECKPOINT_BYTES`]. Waits for
    /// no one: when another connection is using the WAL, the frames it does not need are
    /// copied and a later commit tries again.
    fn checkpoint_if_large(&self) -> Result<(), Error> {
        let size = fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size < WAL_CHECKPOINT_BYTES {
            return Ok(());
        }
        self.checkpoint()
    }

    /// Copies the WAL into the database and truncates it, without waiting for readers.
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.conn
            .busy_timeout(std::time::Duration::ZERO)
            .map_err(|e| self.fail(e))?;
        // When another connection holds a lock this copies what it can (as PASSIVE would) and
        // reports busy in its row, which is not an error.
        let out = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.fail(e))?;
        out.map_err(|e| self.fail(e))
    }

    fn fail(&self, e: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            problem: e.to_string(),
        }
    }

    fn begin(&mut self) -> Result<Transaction<'_>, Error> {
        let path = self.path.clone();
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::Store {
                path,
                problem: e.to_string(),
            })
    }

    /// Runs `f` in one IMMEDIATE transaction; its audit events are written in it, and sent to
    /// the sink only after the commit. When `f` changed credentials or failures, the
    /// generation is bumped once, in the same transaction.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        Ok(self.transact(false, f)?.0)
    }

    /// [`Store::write`], also telling the generation before and after the transaction.
    fn write_tracked<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<(T, Generations), Error> {
        let (out, generations) = self.transact(true, f)?;
        Ok((out, generations.unwrap_or_default()))
    }

    fn transact<T>(
        &mut self,
        track: bool,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<(T, Option<Generations>), Error> {
        let key = self.key.clone();
        let sink = self.sink.clone();
        let changed = self.state_changed.clone();
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| Error::Store {
            path: path.clone(),
            problem: e.to_string(),
        };
        let tx = self.begin()?;
        let before = if track {
            Some(read_generation(&tx)?)
        } else {
            None
        };
        changed.store(false, Ordering::Relaxed);
        let mut events = Vec::new();
        let out = f(&tx, &mut events)?;
        let bumped = changed.swap(false, Ordering::Relaxed);
        if bumped {
            tx.prepare_cached("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                .and_then(|mut st| st.execute([]))
                .map_err(sql)?;
        }
        append_events(&tx, &key, &mut events).map_err(sql)?;
        tx.commit().map_err(sql)?;
        for e in &events {
            sink.emit(e);
        }
        // The commit stands; a checkpoint that fails is tried again after the next one.
        let _ = self.checkpoint_if_large();
        let generations = before.map(|before| Generations {
            before,
            after: before + i64::from(bumped),
        });
        Ok((out, generations))
    }

    /// Stores a newly issued credential and its `issue` event.
    pub fn issue(&mut self, cred: &Credential, origin: Origin<'_>) -> Result<(), Error> {
        self.write(|tx, events| {
            insert_credential(tx, cred)?;
            events.push(issue_event(cred, Action::Issue, origin));
            Ok(())
        })
    }

    /// Ends all of `new.user`'s active credentials of `new.kind` (a new temporary code ends the
    /// temporary ones, a new fixed passcode the fixed one) and stores `new` in their place.
    /// Returns the ids replaced.
    pub fn replace(
        &mut self,
        new: &Credential,
        now: Time,
        origin: Origin<'_>,
    ) -> Result<Vec<String>, Error> {
        self.write(|tx, events| {
            let ended = end_credentials(tx, &new.user, None, Some(new.kind), now)?;
            insert_credential(tx, new)?;
            let mut e = issue_event(new, Action::Replace, origin);
            if !ended.is_empty() {
                let why = format!("replaces {}", ended.join(", "));
                e.reason = Some(match &new.reason {
                    Some(r) => format!("{r} ({why})"),
                    None => why,
                });
            }
            events.push(e);
            Ok(ended)
        })
    }

    /// Revokes `user`'s active credentials, or just the one with `id`. `action` is
    /// [`Action::Revoke`] (an admin) or [`Action::Retire`] (usual MFA worked again; temporary
    /// codes only). Returns the ids ended.
    pub fn revoke(
        &mut self,
        user: &str,
        id: Option<&str>,
        action: Action,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let kind = (action == Action::Retire).then_some(Kind::Temporary);
        self.write(|tx, events| {
            let ended = end_credentials(tx, user, id, kind, now)?;
            if let (Some(id), true) = (id, ended.is_empty()) {
                return Err(Error::NotFound(format!(
                    "user {user:?} has no active credential with id {id:?}"
                )));
            }
            for cid in &ended {
                let mut e = AuditEvent::new(now, action, origin.actor, user)
                    .credential(cid)
                    .source(origin.source);
                e.reason = reason.map(str::to_string);
                events.push(e);
            }
            Ok(ended)
        })
    }

    /// Credentials of `user` (or of everyone), newest first. `active_at` keeps only those
    /// that could still be redeemed at that time.
    pub fn credentials(
        &self,
        user: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<Credential>, Error> {
        // One statement per shape, each answerable from the (user, not_after) index: an
        // `?1 IS NULL OR user = ?1` filter would make SQLite scan the whole table.
        let by_user = if user.is_some() {
            "user = ?1"
        } else {
            "?1 IS NULL"
        };
        let active = if active_at.is_some() {
            ACTIVE_AT_2
        } else {
            "?2 IS NULL"
        };
        self.select_credentials(by_user, active, user, active_at)
    }

    fn select_credentials(
        &self,
        by_user: &str,
        active: &str,
        user: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<Credential>, Error> {
        let sql = credentials_sql(by_user, active);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(
                params![user, active_at.map(|t| t.timestamp())],
                rows::credential,
            )
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.fail(e));
        rows
    }

    /// Failed attempts of `user` since `since`.
    pub fn failures_since(&self, user: &str, since: Time) -> Result<u32, Error> {
        count_failures(&self.conn, user, since)
    }

    /// Verifies an attempt and records its outcome, in one transaction: a single-use code
    /// redeemed by many processes at once succeeds exactly once, and no cap is exceeded.
    pub fn redeem(
        &mut self,
        attempt: &Attempt<'_>,
        enabled: bool,
        policy: Option<&Policy>,
        now: Time,
        source: &str,
    ) -> Result<Verdict, Error> {
        // Most logins change nothing but the audit log (an uncapped code accepted, a refusal
        // that does not count). Their commit need not wait for the disk: in WAL mode with
        // synchronous=NORMAL it survives a crash of the process, not a power cut. A commit
        // that spends a use, starts a window or counts a failure waits for fsync as always.
        // The guess is made on a read just before; the transaction itself stays authoritative.
        let durable = self.changes_state(attempt, enabled, policy, now)?;
        let redeem = |store: &mut Self| {
            store.write(|tx, events| redeem_in(tx, events, attempt, enabled, policy, now, source))
        };
        if durable {
            return redeem(self);
        }
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.fail(e))?;
        let out = redeem(self);
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.fail(e))?;
        out
    }

    /// Whether redeeming `attempt` now would change credentials or failure counts.
    fn changes_state(
        &self,
        attempt: &Attempt<'_>,
        enabled: bool,
        policy: Option<&Policy>,
        now: Time,
    ) -> Result<bool, Error> {
        let stored = decide_stored(&self.conn, attempt, enabled, policy, now)?;
        Ok(match stored.verdict {
            Verdict::Accepted {
                counted, activates, ..
            } => counted || activates,
            Verdict::Rejected(reason) => reason.counts_as_failure(),
        })
    }

    /// [`Store::redeem`], also telling the store's generation just before and after this
    /// transaction, so a cache can tell its own change from another process's.
    pub fn redeem_tracked(
        &mut self,
        attempt: &Attempt<'_>,
        enabled: bool,
        policy: Option<&Policy>,
        now: Time,
        source: &str,
    ) -> Result<Redeemed, Error> {
        let (verdict, generations) = self.write_tracked(|tx, events| {
            redeem_in(tx, events, attempt, enabled, policy, now, source)
        })?;
        Ok(Redeemed {
            verdict,
            generations,
        })
    }

    /// The store's generation: it changes whenever any process changes credentials or
    /// failure counts (not on audit appends).
    pub fn generation(&self) -> Result<i64, Error> {
        read_generation(&self.conn)
    }

    /// What a login by `user` could match at `now`, for a cache: their credentials and the
    /// universal ones, ended ones of the last 30 days included (so a spent code is told from
    /// a wrong one, as in [`Store::redeem`]), and their failures since `since` (time, count).
    pub fn login_state(
        &self,
        user: &str,
        now: Time,
        since: Time,
    ) -> Result<(Vec<Credential>, FailureCounts), Error> {
        read_login_state(&self.conn, user, now, since)
    }

    /// [`Store::login_state`] and the generation it is as of, read in one transaction (one
    /// snapshot), for a cache that must tell what its reads already include.
    pub fn login_state_as_of(
        &self,
        user: &str,
        now: Time,
        since: Time,
    ) -> Result<(Vec<Credential>, FailureCounts, i64), Error> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.fail(e))?;
        let generation = read_generation(&tx)?;
        let (creds, failures) = read_login_state(&tx, user, now, since)?;
        tx.commit().map_err(|e| self.fail(e))?;
        Ok((creds, failures, generation))
    }

    /// Writes what a cache gathered, in one transaction: failed attempts (user, time) that
    /// count toward lockout, and audit events. A user's failures in one batch become one row
    /// with their count, at the last one's time (so they count for as long as the last one).
    /// Failures older than the longest lifetime are pruned on the way, so a flood cannot grow
    /// the table for ever. Tells the store's generation before and after, as
    /// [`Store::redeem_tracked`] does.
    pub fn record_batch(
        &mut self,
        failures: &[(String, Time)],
        batch: Vec<AuditEvent>,
    ) -> Result<Generations, Error> {
        if batch.is_empty() && failures.is_empty() {
            let now = self.generation()?;
            return Ok(Generations {
                before: now,
                after: now,
            });
        }
        let oldest = failures.iter().map(|(_, t)| *t).min();
        let per_user = failure_rows(failures);
        let ((), generations) = self.write_tracked(|tx, events| {
            if !per_user.is_empty() {
                let mut insert = tx
                    .prepare_cached("INSERT INTO failures (user, at, count) VALUES (?1, ?2, ?3)")
                    .map_err(sql_err)?;
                for (user, (at, count)) in &per_user {
                    insert
                        .execute(params![user, at.timestamp(), count])
                        .map_err(sql_err)?;
                }
            }
            if let Some(oldest) = oldest {
                let horizon = oldest - crate::seconds(sparekey_conf::MAX_LIFETIME.as_secs());
                tx.execute(
                    "DELETE FROM failures WHERE at < ?1",
                    params![horizon.timestamp()],
                )
                .map_err(sql_err)?;
            }
            events.extend(batch);
            Ok(())
        })?;
        Ok(generations)
    }
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

/// What [`Store::redeem_tracked`] tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The verdict, as [`Store::redeem`] gives it.
    pub verdict: Verdict,
    /// The store's generation before and after the transaction.
    pub generations: Generations,
}

fn read_generation(conn: &Connection) -> Result<i64, Error> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = 'generation'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_err)
}

/// A decision against what the store holds, with what it was made from.
struct Stored {
    verdict: Verdict,
    creds: Vec<Credential>,
    failures: u32,
    since: Time,
}

/// Decides `attempt` against the user's stored credentials and recent failures.
fn decide_stored(
    conn: &Connection,
    attempt: &Attempt<'_>,
    enabled: bool,
    policy: Option<&Policy>,
    now: Time,
) -> Result<Stored, Error> {
    let window = policy.map_or(0, |p| p.lockout.window.as_secs() as i64);
    let since = now - Duration::seconds(window);
    let failures = recent_failures(conn, attempt.user, since)?
        .iter()
        .map(|(_, n)| n)
        .sum();
    let creds = user_credentials(conn, attempt.user, now - Duration::days(HISTORY_DAYS))?;
    let ctx = Context {
        enabled,
        policy,
        recent_failures: failures,
        now,
    };
    let verdict = decision::decide(&creds, attempt, &ctx);
    Ok(Stored {
        verdict,
        creds,
        failures,
        since,
    })
}

/// `user`'s failure rows after ?2: time and count, oldest first.
const RECENT_FAILURES_SQL: &str =
    "SELECT at, count FROM failures WHERE user = ?1 AND at > ?2 ORDER BY at";

/// How many failures of `user` after ?2.
const COUNT_FAILURES_SQL: &str =
    "SELECT COALESCE(SUM(count), 0) FROM failures WHERE user = ?1 AND at > ?2";

/// Failures as the store keeps them: one row per user, at the last one's time, with how many
/// there were.
pub fn failure_rows(failures: &[(String, Time)]) -> HashMap<&str, (Time, u32)> {
    let mut rows: HashMap<&str, (Time, u32)> = HashMap::new();
    for (user, at) in failures {
        let row = rows.entry(user).or_insert((*at, 0));
        row.0 = row.0.max(*at);
        row.1 += 1;
    }
    rows
}

/// `user`'s failures after `since`: time and count, oldest first.
fn recent_failures(conn: &Connection, user: &str, since: Time) -> Result<FailureCounts, Error> {
    let mut stmt = conn.prepare_cached(RECENT_FAILURES_SQL).map_err(sql_err)?;
    stmt.query_map(params![user, since.timestamp()], |r| {
        Ok((rows::time(r.get::<_, i64>(0)?), r.get::<_, u32>(1)?))
    })
    .and_then(|r| r.collect())
    .map_err(sql_err)
}

fn count_failures(conn: &Connection, user: &str, since: Time) -> Result<u32, Error> {
    conn.prepare_cached(COUNT_FAILURES_SQL)
        .and_then(|mut st| st.query_row(params![user, since.timestamp()], |r| r.get(0)))
        .map_err(sql_err)
}

/// The body of a redeem transaction: decide against the stored state and record the outcome.
fn redeem_in(
    tx: &Transaction<'_>,
    events: &mut Vec<AuditEvent>,
    attempt: &Attempt<'_>,
    enabled: bool,
    policy: Option<&Policy>,
    now: Time,
    source: &str,
) -> Result<Verdict, Error> {
    let Stored {
        verdict,
        creds,
        failures,
        since,
    } = decide_stored(tx, attempt, enabled, policy, now)?;
    let event = |action, reason: Option<&str>| {
        let mut e = AuditEvent::new(now, action, attempt.user, attempt.user)
            .service(attempt.service)
            .source(source);
        e.reason = reason.map(str::to_string);
        e
    };
    match &verdict {
        Verdict::Accepted {
            credential,
            counted,
            activates,
            not_after,
        } => {
            if *activates {
                tx.execute(
                            "UPDATE credentials SET not_before = ?2, not_after = ?3, activate_secs = NULL WHERE id = ?1 AND activate_secs IS NOT NULL",
                            params![credential, now.timestamp(), not_after.timestamp()],
                        )
                        .map_err(sql_err)?;
            }
            if *counted {
                let n = tx
                            .execute("UPDATE credentials SET used = used + 1 WHERE id = ?1 AND (max_uses IS NULL OR used < max_uses)", params![credential])
                            .map_err(sql_err)?;
                if n != 1 {
                    // Cannot happen inside the transaction; refuse rather than exceed a cap.
                    events.push(
                        event(Action::Failure, Some(Reason::UsedUp.as_str()))
                            .credential(credential),
                    );
                    return Ok(Verdict::Rejected(Reason::UsedUp));
                }
            }
            events.push(event(Action::Redeem, None).credential(credential));
        }
        Verdict::Rejected(reason) => {
            let matched = matched_id(&creds, attempt);
            let mut e = event(Action::Failure, Some(reason.as_str()));
            e.credential = matched;
            events.push(e);
            if reason.counts_as_failure() {
                tx.execute(
                    "DELETE FROM failures WHERE user = ?1 AND at <= ?2",
                    params![attempt.user, since.timestamp()],
                )
                .map_err(sql_err)?;
                tx.execute(
                    "INSERT INTO failures (user, at) VALUES (?1, ?2)",
                    params![attempt.user, now.timestamp()],
                )
                .map_err(sql_err)?;
                if let Some(p) = policy.filter(|p| failures + 1 == p.lockout.attempts) {
                    let why = format!(
                        "{} failures within {}",
                        p.lockout.attempts, p.lockout.window
                    );
                    events.push(event(Action::Lockout, Some(&why)));
                }
            }
        }
    }
    Ok(verdict)
}

impl Store {
    /// Clears `user`'s failure count, ending a lockout. Returns how many failures were cleared.
    pub fn unlock(&mut self, user: &str, now: Time, origin: Origin<'_>) -> Result<usize, Error> {
        self.write(|tx, events| {
            let n: i64 = tx
                .query_row(
                    "SELECT COALESCE(SUM(count), 0) FROM failures WHERE user = ?1",
                    params![user],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            tx.execute("DELETE FROM failures WHERE user = ?1", params![user])
                .map_err(sql_err)?;
            events.push(
                AuditEvent::new(now, Action::Unlock, origin.actor, user).source(origin.source),
            );
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    /// Records an event that changes nothing else (a refused admin request, a reload).
    pub fn record(&mut self, event: AuditEvent) -> Result<(), Error> {
        self.write(|_, events| {
            events.push(event);
            Ok(())
        })
    }

    /// The newest `limit` audit events, about `subject` if given, oldest first.
    pub fn audit(&self, subject: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, Error> {
        let filter = if subject.is_some() {
            "WHERE subject = ?1"
        } else {
            "WHERE ?1 = ?1"
        };
        let sql = format!(
            "SELECT {} FROM audit {filter} ORDER BY seq DESC LIMIT ?2",
            rows::EVENT_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.fail(e))?;
        let mut events = stmt
            .query_map(params![subject.unwrap_or(""), limit as i64], rows::event)
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.fail(e))?;
        events.reverse();
        Ok(events)
    }

    /// Counts for `status`: (active credentials, all credentials, audit events).
    pub fn counts(&self, now: Time) -> Result<(u64, u64, u64), Error> {
        let q = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
            self.conn
                .query_row(sql, p, |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(|e| self.fail(e))
        };
        Ok((
            q("SELECT COUNT(*) FROM credentials WHERE revoked_at IS NULL AND not_after > ?1 AND (max_uses IS NULL OR used < max_uses)", &[&now.timestamp()])?,
            q("SELECT COUNT(*) FROM credentials", &[])?,
            q("SELECT COUNT(*) FROM audit", &[])?,
        ))
    }

    /// Checks the audit chain; returns the seq of the first event whose HMAC does not match.
    pub fn verify_audit_chain(&self) -> Result<Option<i64>, Error> {
        let sql = format!(
            "SELECT {}, mac FROM audit ORDER BY seq",
            rows::EVENT_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.fail(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.fail(e))?;
        let mut prev: Vec<u8> = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.fail(e))? {
            let mac: Vec<u8> = row.get(9).map_err(|e| self.fail(e))?;
            let Ok(event) = rows::event(row) else {
                return Ok(Some(row.get(0).map_err(|e| self.fail(e))?));
            };
            let expected = self.key.chain(&prev, &event.canonical());
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &mac[..])) {
                return Ok(Some(event.seq));
            }
            prev = mac;
        }
        Ok(None)
    }
}

fn sql_err(e: rusqlite::Error) -> Error {
    Error::Store {
        path: PathBuf::from("(transaction)"),
        problem: e.to_string(),
    }
}

fn issue_event(cred: &Credential, action: Action, origin: Origin<'_>) -> AuditEvent {
    let mut e = AuditEvent::new(cred.issued_at, action, origin.actor, &cred.user)
        .credential(&cred.id)
        .source(origin.source);
    e.reason = cred.reason.clone();
    e
}

fn insert_credential(tx: &Transaction<'_>, c: &Credential) -> Result<(), Error> {
    tx.execute(
        &format!("INSERT INTO credentials ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)", rows::CREDENTIAL_COLUMNS),
        params![
            c.id,
            c.kind.as_str(),
            c.user,
            c.policy,
            rows::join(&c.services),
            rows::join(&c.hosts),
            c.issued_at.timestamp(),
            c.not_before.timestamp(),
            c.not_after.timestamp(),
            c.uses.cap(),
            c.used,
            c.revoked_at.map(|t| t.timestamp()),
            c.issued_by,
            c.reason,
            c.activation.map(|s| s as i64),
            &c.digest[..],
        ],
    )
    .map_err(sql_err)?;
    Ok(())
}

/// A user's credentials and the universal ones, ended after ?2.
fn user_credentials_sql() -> String {
    format!(
        "SELECT {} FROM credentials WHERE user IN (?1, '*') AND not_after > ?2",
        rows::CREDENTIAL_COLUMNS
    )
}

/// [`Store::login_state`] on `conn`, inside whatever transaction it is in.
fn read_login_state(
    conn: &Connection,
    user: &str,
    now: Time,
    since: Time,
) -> Result<(Vec<Credential>, FailureCounts), Error> {
    let creds = user_credentials(conn, user, now - Duration::days(HISTORY_DAYS))?;
    let failures = recent_failures(conn, user, since)?;
    Ok((creds, failures))
}

fn user_credentials(
    tx: &Connection,
    user: &str,
    ended_after: Time,
) -> Result<Vec<Credential>, Error> {
    let mut stmt = tx
        .prepare_cached(&user_credentials_sql())
        .map_err(sql_err)?;
    stmt.query_map(params![user, ended_after.timestamp()], rows::credential)
        .and_then(|r| r.collect())
        .map_err(sql_err)
}

/// Ends active credentials of `user` (all, one id, or one kind); returns their ids.
fn end_credentials(
    tx: &Transaction<'_>,
    user: &str,
    id: Option<&str>,
    kind: Option<Kind>,
    now: Time,
) -> Result<Vec<String>, Error> {
    let mut stmt = tx
        .prepare(
            "UPDATE credentials SET revoked_at = ?1 WHERE user = ?2 AND revoked_at IS NULL AND not_after > ?1
             AND (max_uses IS NULL OR used < max_uses) AND (?3 IS NULL OR id = ?3) AND (?4 IS NULL OR kind = ?4) RETURNING id",
        )
        .map_err(sql_err)?;
    let mut ids: Vec<String> = stmt
        .query_map(
            params![now.timestamp(), user, id, kind.map(Kind::as_str)],
            |r| r.get(0),
        )
        .and_then(|r| r.collect())
        .map_err(sql_err)?;
    ids.sort();
    Ok(ids)
}

fn matched_id(creds: &[Credential], attempt: &Attempt<'_>) -> Option<String> {
    creds
        .iter()
        .find(|c| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                &c.digest[..],
                &attempt.digest[..],
            ))
        })
        .map(|c| c.id.clone())
}

fn append_events(
    tx: &Transaction<'_>,
    key: &SiteKey,
    events: &mut [AuditEvent],
) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut prev: Vec<u8> = tx
        .query_row("SELECT mac FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default();
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit (time, action, actor, subject, credential, service, source, reason, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for e in events.iter_mut() {
        let mac = key.chain(&prev, &e.canonical());
        stmt.execute(params![
            e.time.timestamp(),
            e.action.as_str(),
            e.actor,
            e.subject,
            e.credential,
            e.service,
            e.source,
            e.reason,
            &mac[..]
        ])?;
        e.seq = tx.last_insert_rowid();
        prev = mac.to_vec();
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
