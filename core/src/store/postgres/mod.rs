//! The store on PostgreSQL, shared by several sparekeyd nodes: the same operations and the
//! same rules as SQLite's, each one transaction. What SQLite's single writer gives for
//! free is taken here with advisory locks: a redeem holds its user's lock (so a single-use
//! code is spent once across every node), an audit append the chain's (so there is one
//! chain, in seq order), a migration the schema's. Every change to credentials or failures
//! moves the generation and is announced with NOTIFY, which each connection LISTENs to, so
//! that reading the generation costs no round trip while nothing changed.

mod admin;
mod import;
mod login;
mod rows;
mod schema;

pub use self::import::Imported;

use crate::audit::{AuditEvent, AuditSink};
use crate::store::Generations;
use crate::{Error, SiteKey};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, Transaction};
use sparekey_conf::StoreConfig;
use std::cell::{Cell, RefCell, RefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The lock of the audit chain's head (pg_advisory_xact_lock), taken by every append.
const AUDIT_LOCK: i64 = 0x5350_4b59_0002;

/// How long a connection attempt may take when the url says nothing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a transaction is tried when PostgreSQL rolled it back for a conflict with
/// another (a deadlock or serialization failure) or a conditional write found its row
/// changed.
pub(super) const ATTEMPTS: usize = 3;

/// The statements prepared on the current connection, by their text: each is parsed by
/// the server once per connection, not at every use (a round trip saved per statement).
#[derive(Default)]
pub(super) struct Statements(RefCell<std::collections::HashMap<String, postgres::Statement>>);

impl Statements {
    /// `sql`, prepared on `tx`'s connection the first time.
    pub(super) fn get(
        &self,
        tx: &mut Transaction<'_>,
        sql: &str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.0.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = tx.prepare(sql)?;
        self.0
            .borrow_mut()
            .insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

/// One connection to the shared store.
pub struct PgStore {
    config: Config,
    tls: Tls,
    /// What `location` shows: the url without a password.
    shown: String,
    client: RefCell<Option<Client>>,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
    /// The store's id, made with the schema: what [`crate::Store::identity`] gives.
    store_id: RefCell<String>,
    /// This node's name for its journal epoch (a random id kept beside its journal).
    node: String,
    /// The generation as last read, while no NOTIFY said it moved.
    generation: Cell<Option<i64>>,
    /// What is prepared on the connection.
    pub(super) statements: Statements,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.shown)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Tls {
    Off,
    Verified(postgres_native_tls::MakeTlsConnector),
}

fn random_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Randomness(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl PgStore {
    /// Connects to the database `[store]` names (url, password file, CA file) and brings
    /// its schema to this build's version. `node_file` keeps this node's id (made when
    /// missing, mode 0600): the journal beside it records its epoch under that id.
    pub fn open(
        store: &StoreConfig,
        node_file: &Path,
        key: Arc<SiteKey>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Self, Error> {
        let url = store
            .url
            .as_ref()
            .map(|u| u.get_ref().as_str())
            .unwrap_or("");
        let shown = shown_url(url);
        let fail = |operation: &'static str, problem: String| Error::Store {
            location: shown.clone(),
            operation,
            problem,
        };
        let mut config = Config::from_str(url).map_err(|e| {
            fail(
                "read the url",
                format!("{e}; expected a libpq url or key=value string"),
            )
        })?;
        if let Some(file) = &store.password_file {
            let password =
                read_password(file.get_ref()).map_err(|p| fail("read the password file", p))?;
            config.password(password.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = match &store.ca_file {
            None => Tls::Off,
            Some(ca) => {
                let pem = std::fs::read(ca.get_ref()).map_err(|e| {
                    fail(
                        "read the CA file",
                        format!("{}: {e}", ca.get_ref().display()),
                    )
                })?;
                let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                    fail(
                        "read the CA file",
                        format!("{}: {e}", ca.get_ref().display()),
                    )
                })?;
                let connector = native_tls::TlsConnector::builder()
                    .add_root_certificate(cert)
                    .build()
                    .map_err(|e| fail("set up TLS", e.to_string()))?;
                config.ssl_mode(postgres::config::SslMode::Require);
                Tls::Verified(postgres_native_tls::MakeTlsConnector::new(connector))
            }
        };
        let node = node_id(node_file).map_err(|p| fail("keep this node's id", p))?;
        let store = PgStore {
            config,
            tls,
            shown,
            client: RefCell::new(None),
            key,
            sink,
            store_id: RefCell::new(String::new()),
            node,
            generation: Cell::new(None),
            statements: Statements::default(),
        };
        drop(store.client()?);
        Ok(store)
    }

    /// `e` as the store's error; a broken connection is dropped, to be made anew (the
    /// url's next host, after a failover) at the next use.
    fn error(&self, operation: &'static str, e: &postgres::Error) -> Error {
        if e.is_closed() {
            if let Ok(mut c) = self.client.try_borrow_mut() {
                *c = None;
            }
            self.generation.set(None);
        }
        if matches!(
            e.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
        ) {
            return Error::Conflict(self.shown.clone());
        }
        Error::Store {
            location: self.shown.clone(),
            operation,
            problem: describe(e),
        }
    }

    /// The connection, made (and the schema migrated) when there is none or it broke.
    fn client(&self) -> Result<RefMut<'_, Client>, Error> {
        let mut slot = self.client.try_borrow_mut().map_err(|_| Error::Store {
            location: self.shown.clone(),
            operation: "use the connection",
            problem: "it is in use already (a call from inside a transaction)".into(),
        })?;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let connect = |e: postgres::Error| Error::Store {
                location: self.shown.clone(),
                operation: "connect",
                problem: describe(&e),
            };
            let mut client = match &self.tls {
                Tls::Off => self.config.connect(postgres::NoTls),
                Tls::Verified(t) => self.config.connect(t.clone()),
            }
            .map_err(connect)?;
            let id = schema::migrate(&mut client, &random_id()?).map_err(|e| match e {
                schema::MigrateError::Sql(e) => connect(e),
                schema::MigrateError::Newer(v) => Error::Store {
                    location: self.shown.clone(),
                    operation: "open the store",
                    problem: format!("schema version {v} is not the {} this sparekey understands; upgrade sparekey", schema::VERSION),
                },
            })?;
            client
                .batch_execute("LISTEN sparekey_generation")
                .map_err(connect)?;
            let mut known = self.store_id.borrow_mut();
            if !known.is_empty() && *known != id {
                return Err(Error::StoreReplaced(self.shown.clone()));
            }
            *known = id;
            self.generation.set(None);
            self.statements.clear();
            *slot = Some(client);
        }
        RefMut::filter_map(slot, Option::as_mut).map_err(|_| Error::Store {
            location: self.shown.clone(),
            operation: "connect",
            problem: "no connection".into(),
        })
    }

    /// Runs `f` in one transaction: its events are appended to the chain in it, under the
    /// chain's lock, and sent to the sink after the commit. `Ok(None)` from `f` rolls back.
    pub(super) fn transact<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Transaction<'_>, &mut Vec<AuditEvent>) -> Result<Option<T>, Error>,
    ) -> Result<Option<(T, Generations)>, Error> {
        let mut client = self.client()?;
        let fail = |e: postgres::Error| (e.is_closed(), self.error_text(operation, &e));
        let outcome = (|| {
            let mut tx = client.transaction().map_err(fail)?;
            let before = read_generation(&mut tx, &self.statements).map_err(fail)?;
            let mut events = Vec::new();
            let Some(out) = f(&mut tx, &mut events).map_err(|e| (false, e))? else {
                tx.rollback().map_err(fail)?;
                return Ok(None);
            };
            let after = read_generation(&mut tx, &self.statements).map_err(fail)?;
            append_events(&mut tx, &self.statements, &self.key, &mut events).map_err(fail)?;
            tx.commit().map_err(fail)?;
            Ok(Some((out, Generations { before, after }, events)))
        })();
        drop(client);
        match outcome {
            Ok(Some((out, generations, events))) => {
                for e in &events {
                    self.sink.emit(e);
                }
                Ok(Some((out, generations)))
            }
            Ok(None) => Ok(None),
            Err((closed, e)) => {
                if closed {
                    if let Ok(mut c) = self.client.try_borrow_mut() {
                        *c = None;
                    }
                    self.generation.set(None);
                }
                Err(e)
            }
        }
    }

    /// [`PgStore::error`] without dropping the connection (the caller holds it).
    fn error_text(&self, operation: &'static str, e: &postgres::Error) -> Error {
        if matches!(
            e.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
        ) {
            return Error::Conflict(self.shown.clone());
        }
        Error::Store {
            location: self.shown.clone(),
            operation,
            problem: describe(e),
        }
    }

    /// [`PgStore::transact`] for a body that never rolls back.
    pub(super) fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Transaction<'_>, &mut Vec<AuditEvent>) -> Result<T, Error>,
    ) -> Result<(T, Generations), Error> {
        match self.transact(operation, |tx, events| f(tx, events).map(Some))? {
            Some(out) => Ok(out),
            None => Err(Error::Conflict(self.shown.clone())),
        }
    }

    /// The generation: read again only when a NOTIFY said it moved (or nothing was read
    /// yet), else as last read.
    pub(super) fn generation_now(&self) -> Result<i64, Error> {
        let mut client = self.client()?;
        let mut moved = false;
        {
            let mut pending = client.notifications();
            let mut it = pending.iter();
            loop {
                match it.next() {
                    Ok(Some(_)) => moved = true,
                    Ok(None) => break,
                    Err(e) => {
                        drop(it);
                        drop(pending);
                        drop(client);
                        return Err(self.error("hear of changes", &e));
                    }
                }
            }
        }
        if let (Some(g), false) = (self.generation.get(), moved) {
            return Ok(g);
        }
        let read = client
            .query_one(
                "SELECT value FROM sparekey_meta WHERE key = 'generation'",
                &[],
            )
            .map(|r| r.get::<_, i64>(0));
        drop(client);
        let g = read.map_err(|e| self.error("read the generation", &e))?;
        self.generation.set(Some(g));
        Ok(g)
    }
}

pub(super) fn read_generation(
    tx: &mut Transaction<'_>,
    st: &Statements,
) -> Result<i64, postgres::Error> {
    let s = st.get(
        tx,
        "SELECT value FROM sparekey_meta WHERE key = 'generation'",
    )?;
    tx.query_one(&s, &[]).map(|r| r.get(0))
}

/// Appends `events` to the chain, under its lock: each one's HMAC over the previous one's
/// (or the anchor's, after a prune) and its canonical form, as SQLite's store does, so that
/// a store copied from SQLite keeps its chain.
fn append_events(
    tx: &mut Transaction<'_>,
    st: &Statements,
    key: &SiteKey,
    events: &mut [AuditEvent],
) -> Result<(), postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let lock = st.get(tx, "SELECT pg_advisory_xact_lock($1)")?;
    tx.execute(&lock, &[&AUDIT_LOCK])?;
    let head = st.get(tx, "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1")?;
    let last = tx.query_opt(&head, &[])?;
    let (mut seq, mut prev): (i64, Vec<u8>) = match last {
        Some(r) => (r.get(0), r.get(1)),
        None => {
            let anchor = tx.query_opt("SELECT mac FROM audit_anchor", &[])?;
            let seq = tx
                .query_one("SELECT COALESCE(MAX(value), 0) FROM sparekey_meta WHERE key = 'audit_pruned_to'", &[])?
                .get::<_, i64>(0);
            (seq, anchor.map(|r| r.get(0)).unwrap_or_default())
        }
    };
    let insert = st.get(
        tx,
        "INSERT INTO audit (seq, time, action, actor, subject, credential, service, source, reason, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )?;
    for e in events.iter_mut() {
        let mac = key.chain(&prev, &e.canonical());
        seq += 1;
        tx.execute(
            &insert,
            &[
                &seq,
                &e.time.timestamp(),
                &e.action.as_str(),
                &e.actor,
                &e.subject,
                &e.credential,
                &e.service,
                &e.source,
                &e.reason,
                &&mac[..],
            ],
        )?;
        e.seq = seq;
        prev = mac.to_vec();
    }
    Ok(())
}

/// A PostgreSQL error as one line: the server's message and detail when it sent one.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// The url as messages show it: a password in it replaced by "***".
fn shown_url(url: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for word in url.split(' ') {
        if word.starts_with("password=") {
            out.push("password=***".into());
        } else {
            out.push(word.to_string());
        }
    }
    let joined = out.join(" ");
    match (joined.find("://"), joined.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let auth = &joined[scheme + 3..at];
            match auth.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &joined[..scheme + 3],
                    &auth[..colon],
                    &joined[at..]
                ),
                None => joined,
            }
        }
        _ => joined,
    }
}

/// The password in `path`: a private file, its first line.
fn read_password(path: &Path) -> Result<zeroize::Zeroizing<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(problem) = sparekey_conf::secret_file_problem(path, &meta) {
        return Err(problem);
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

/// This node's id, kept in `path` (made with a random one when missing, mode 0600).
fn node_id(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    crate::private_file::create(path)?;
    let id = random_id().map_err(|e| e.to_string())?;
    std::fs::write(path, format!("{id}\n")).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        assert_eq!(
            shown_url("postgresql://sparekey:s3cret@db1,db2/sparekey"),
            "postgresql://sparekey:***@db1,db2/sparekey"
        );
        assert_eq!(
            shown_url("host=db1 password=s3cret dbname=sparekey"),
            "host=db1 password=*** dbname=sparekey"
        );
        assert_eq!(
            shown_url("postgresql://sparekey@db1/sparekey"),
            "postgresql://sparekey@db1/sparekey"
        );
    }
}
