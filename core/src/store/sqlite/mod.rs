//! The SQLite store: credentials, failure counters and the audit log in one file (WAL), and
//! the one place SQL, rusqlite and pragmas live. Every state change is one IMMEDIATE
//! transaction that writes its audit events in that same transaction.

/// The columns [`rows::credential`] reads, in order (a macro, so that statements can be
/// `concat!`ed at compile time).
macro_rules! credential_columns {
    () => {
        "id, kind, user, policy, services, hosts, issued_at, not_before, not_after, max_uses, used, revoked_at, issued_by, reason, activate_secs, digest, seal"
    };
}

mod admin;
mod hosts;
mod login;
mod rows;
mod schema;

use crate::audit::{AuditEvent, AuditSink};
use crate::store::Generations;
use crate::{Error, SiteKey};
use rusqlite::config::DbConfig;
use rusqlite::hooks::Action as RowChange;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
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

/// An open SQLite store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The WAL file beside it.
    wal: PathBuf,
    /// Set by SQLite's update hook when a statement on this connection changed a row of
    /// `failures`; a write transaction then bumps the generation once (the schema's
    /// triggers bump it for each change to a credential).
    state_changed: Arc<AtomicBool>,
    /// Whether commits wait for the disk (synchronous=FULL) now.
    durable: bool,
    /// The device and inode of the file this connection opened.
    file_id: (u64, u64),
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A rusqlite error as an [`Error`] naming the file and the operation.
fn store_error<'a>(
    path: &'a Path,
    operation: &'static str,
) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |e| Error::Store {
        location: path.display().to_string(),
        operation,
        problem: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens the store, creating the file (0600) and its directory (0700) when missing.
    pub fn open(path: &Path, key: Arc<SiteKey>, sink: Arc<dyn AuditSink>) -> Result<Self, Error> {
        let fail = |p: String| Error::Store {
            location: path.display().to_string(),
            operation: "create the store",
            problem: p,
        };
        crate::private_file::create(path).map_err(fail)?;
        Self::open_existing(path, key, sink)
    }

    /// Opens a store that must already exist (the PAM module never creates one).
    pub fn open_existing(
        path: &Path,
        key: Arc<SiteKey>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Self, Error> {
        let fail = |p: String| Error::Store {
            location: path.display().to_string(),
            operation: "open the store",
            problem: p,
        };
        crate::private_file::check(path, nix::unistd::geteuid().as_raw()).map_err(fail)?;
        let meta = fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| fail(e.to_string()))?;
        let sql = store_error(path, "open the store");
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(&sql)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(&sql)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(&sql)?;
        schema::migrate(&conn, |c| admin::seal_all(c, &key)).map_err(|e| match e {
            schema::MigrateError::Sql(e) => sql(e),
            schema::MigrateError::Newer(version) => fail(format!(
                "schema version {version} is not the {} this sparekey understands; upgrade sparekey",
                schema::VERSION
            )),
        })?;
        let state_changed = Arc::new(AtomicBool::new(false));
        let flag = state_changed.clone();
        // Every change to failures on this connection is seen here, whatever the statement,
        // so no write path can forget the generation. (SQLite skips the hook only for a
        // DELETE without WHERE, which the store never runs on it.) Changes to credentials
        // move it through the schema's triggers, whoever makes them.
        conn.update_hook(Some(move |_: RowChange, _: &str, table: &str, _: i64| {
            if table == "failures" {
                flag.store(true, Ordering::Relaxed);
            }
        }))
        .map_err(&sql)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            wal: PathBuf::from(wal),
            state_changed,
            durable: true,
            file_id: (meta.dev(), meta.ino()),
            key,
            sink,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        store_error(&self.path, operation)
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
        let fail = self.fail("checkpoint the WAL");
        self.conn
            .busy_timeout(std::time::Duration::ZERO)
            .map_err(&fail)?;
        // When another connection holds a lock this copies what it can (as PASSIVE would) and
        // reports busy in its row, which is not an error.
        let out = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(&fail)?;
        out.map_err(&fail)
    }

    /// Whether the next commits wait for the disk. Most logins change nothing but the audit
    /// log (an uncapped code accepted, a refusal that does not count): their commit need not
    /// wait, as in WAL mode with synchronous=NORMAL it survives a crash of the process, not a
    /// power cut. Cannot change inside a transaction.
    fn set_durable(&mut self, durable: bool) -> Result<(), Error> {
        if self.durable != durable {
            let level = if durable { "FULL" } else { "NORMAL" };
            self.conn
                .pragma_update(None, "synchronous", level)
                .map_err(store_error(&self.path, "set the commit durability"))?;
            self.durable = durable;
        }
        Ok(())
    }

    /// Runs `f` in one IMMEDIATE transaction (then checkpoints the WAL if it is large and
    /// `checkpoint`); its audit events are written in it, and sent to
    /// the sink only after the commit. When `f` changed failures, the generation is bumped
    /// once, in the same transaction (the triggers bump it for each credential row changed).
    /// `f` returns `Ok(None)` to roll back (nothing written, nothing sent).
    fn transact<T>(
        &mut self,
        checkpoint: bool,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<Option<T>, Error>,
    ) -> Result<Option<(T, Generations)>, Error> {
        let key = self.key.clone();
        let sink = self.sink.clone();
        let changed = self.state_changed.clone();
        let path = self.path.clone();
        let sql = store_error(&path, operation);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let before = read_generation(&tx).map_err(&sql)?;
        changed.store(false, Ordering::Relaxed);
        let mut events = Vec::new();
        let Some(out) = f(&tx, &mut events)? else {
            changed.store(false, Ordering::Relaxed);
            tx.rollback().map_err(&sql)?;
            return Ok(None);
        };
        let bumped = changed.swap(false, Ordering::Relaxed);
        if bumped {
            tx.prepare_cached("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                .and_then(|mut st| st.execute([]))
                .map_err(&sql)?;
        }
        // The triggers bumped it for each credential row changed; failures, above, once.
        let after = read_generation(&tx).map_err(&sql)?;
        append_events(&tx, &key, &mut events).map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        for e in &events {
            sink.emit(e);
        }
        // The commit stands; a checkpoint that fails is tried again after the next one.
        if checkpoint {
            let _ = self.checkpoint_if_large();
        }
        let generations = Generations { before, after };
        Ok(Some((out, generations)))
    }

    /// [`SqliteStore::transact`] for a body that never rolls back, committed durably.
    fn write<T>(
        &mut self,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<(T, Generations), Error> {
        self.write_with(true, operation, f)
    }

    /// [`SqliteStore::write`], its commit waiting for the disk or not. One that does not
    /// wait leaves the WAL to the next that does: sparekeyd commits each answering turn's
    /// failures that way, many a second, and a checkpoint (three fsyncs) after every few of
    /// them would cost more than the commits; its durable write every half second follows.
    fn write_with<T>(
        &mut self,
        durable: bool,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<(T, Generations), Error> {
        self.set_durable(durable)?;
        match self.transact(durable, operation, |tx, events| f(tx, events).map(Some))? {
            Some(out) => Ok(out),
            None => Err(Error::Conflict(self.path.display().to_string())),
        }
    }
}

fn read_generation(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = 'generation'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
}

fn append_events(
    tx: &Transaction<'_>,
    key: &SiteKey,
    events: &mut [AuditEvent],
) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // The newest event's HMAC, or after a prune that removed them all, the anchor's.
    let mut prev: Vec<u8> = match tx
        .prepare_cached("SELECT mac FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
    {
        Some(mac) => mac,
        None => tx
            .prepare_cached("SELECT value FROM meta WHERE key = 'audit_anchor'")?
            .query_row([], |r| r.get(0))
            .optional()?
            .unwrap_or_default(),
    };
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
#[path = "seal_tests.rs"]
mod seal_tests;
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
