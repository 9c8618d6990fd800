//! The admin side of the SQLite store (issue, replace, revoke, unlock, lists, the audit log)
//! and the [`Store`] implementation that joins it to the login side.

use super::login::read_failures;
use super::{rows, store_error, SqliteStore};
use crate::audit::{Action, AuditEvent};
use crate::decision::{Decision, FailureCounts, StateQuery, UserState};
use crate::host::Host;
use crate::store::{
    events, BatchWrite, Generations, LoginSnapshot, Origin, RedeemRequest, Redeemed, Store,
    StoreCounts,
};
use crate::{Credential, Error, SiteKey, Time};
use rusqlite::{params, OptionalExtension, Transaction};
use sparekey_conf::Kind;

/// Credentials of one user that end after ?2, newest first. Whether each is active is
/// [`Credential::is_active`]'s to say; the statement only narrows by the index.
pub(super) const USER_CREDENTIALS_ENDING_AFTER_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE user = ?1 AND not_after > ?2 ORDER BY issued_at DESC, rowid DESC"
);

/// Every credential of one user, newest first.
pub(super) const USER_CREDENTIALS_ALL_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE user = ?1 ORDER BY issued_at DESC, rowid DESC"
);

const ALL_CREDENTIALS_ENDING_AFTER_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE not_after > ?1 ORDER BY issued_at DESC, rowid DESC"
);

const ALL_CREDENTIALS_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials ORDER BY issued_at DESC, rowid DESC"
);

fn insert_credential(tx: &Transaction<'_>, key: &SiteKey, c: &Credential) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "INSERT INTO credentials (",
        credential_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    ))?
    .execute(params![
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
        c.activation.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        &c.digest[..],
        &c.seal(key)[..],
    ])?;
    Ok(())
}

/// Seals every credential row as it is (an upgrade from a store without seals, inside its
/// transaction): what the rows say when sparekey first reads them is taken as written by it.
pub(super) fn seal_all(conn: &rusqlite::Connection, key: &SiteKey) -> rusqlite::Result<()> {
    let rows = conn
        .prepare(ALL_CREDENTIALS_SQL)?
        .query_map([], |r| rows::credential(r, key))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut seal = conn.prepare("UPDATE credentials SET seal = ?1 WHERE id = ?2")?;
    for c in rows {
        seal.execute(params![&c.seal(key)[..], c.id])?;
    }
    Ok(())
}

/// Ends the active credentials of `user` (all, one id, or one kind); returns their ids.
fn end_credentials(
    tx: &Transaction<'_>,
    key: &SiteKey,
    user: &str,
    id: Option<&str>,
    kind: Option<Kind>,
    now: Time,
) -> rusqlite::Result<Vec<String>> {
    let candidates = tx
        .prepare_cached(USER_CREDENTIALS_ENDING_AFTER_SQL)?
        .query_map(params![user, now.timestamp()], |r| rows::credential(r, key))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut revoke = tx.prepare_cached(
        "UPDATE credentials SET revoked_at = ?1, seal = ?2 WHERE id = ?3 AND revoked_at IS NULL",
    )?;
    let mut ended = Vec::new();
    for mut c in candidates {
        if !c.is_active(now) || id.is_some_and(|id| c.id != id) || kind.is_some_and(|k| c.kind != k)
        {
            continue;
        }
        c.revoked_at = Some(now);
        revoke.execute(params![now.timestamp(), &c.seal(key)[..], c.id])?;
        ended.push(c.id);
    }
    ended.sort();
    Ok(ended)
}

/// The HMAC the audit chain starts from: the last pruned event's, or nothing.
fn read_anchor(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<u8>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'audit_anchor'")?
        .query_row([], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .unwrap_or_default())
}

/// The credentials that could still be redeemed at ?1, as [`Credential::is_active`] says; a
/// test holds the two to the same answer.
pub(super) const ACTIVE_AT_1: &str =
    "revoked_at IS NULL AND not_after > ?1 AND (max_uses IS NULL OR used < max_uses)";

impl SqliteStore {
    /// Everything this store holds, for another store to take over (see
    /// [`crate::store::Export`]), read in one transaction. Refused when a credential row's
    /// seal does not match or the audit chain is broken: a copy must start from a store
    /// that verifies.
    pub fn export(&self) -> Result<crate::store::Export, Error> {
        if let Some(seq) = self.verify_audit_chain()? {
            return Err(Error::Refused(format!(
                "the audit chain of {} is broken at event {seq} (sparekeyctl audit --verify); only a store that verifies is copied",
                self.path.display()
            )));
        }
        let fail = self.fail("export the store");
        let tx = self.conn.unchecked_transaction().map_err(&fail)?;
        let credentials = tx
            .prepare(ALL_CREDENTIALS_SQL)
            .and_then(|mut st| {
                st.query_map([], |r| rows::credential(r, &self.key))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&fail)?;
        if let Some(c) = credentials.iter().find(|c| c.tampered) {
            return Err(Error::Refused(format!(
                "credential {} of {} was changed without the site key (its seal does not match); only a store that verifies is copied",
                c.id, c.user
            )));
        }
        let failures = tx
            .prepare("SELECT user, at, count FROM failures ORDER BY at")
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        rows::time(r.get(1)?),
                        r.get::<_, u32>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&fail)?;
        let audit = tx
            .prepare(&format!(
                "SELECT {}, mac FROM audit ORDER BY seq",
                rows::EVENT_COLUMNS
            ))
            .and_then(|mut st| {
                st.query_map([], |r| Ok((rows::event(r)?, r.get::<_, Vec<u8>>(9)?)))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&fail)?;
        let anchor = Some(read_anchor(&tx).map_err(&fail)?).filter(|a| !a.is_empty());
        let hosts = self.hosts_in()?;
        tx.commit().map_err(&fail)?;
        Ok(crate::store::Export {
            credentials,
            failures,
            audit,
            anchor,
            hosts,
        })
    }

    /// Inserts `creds` in one transaction, without an audit event each and without the
    /// checks of issuing: only for filling a store for the benchmarks (sparekey-bench-fill).
    /// Every other path issues through [`Store::issue`].
    pub fn insert_filler(&mut self, creds: &[Credential]) -> Result<(), Error> {
        let path = self.path.clone();
        let key = self.key.clone();
        self.write("insert filler credentials", |tx, _| {
            let sql = store_error(&path, "insert filler credentials");
            for c in creds {
                insert_credential(tx, &key, c).map_err(&sql)?;
            }
            Ok(())
        })
        .map(|_| ())
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn login_state(&self, query: &StateQuery<'_>) -> Result<LoginSnapshot, Error> {
        self.login_state_in(query)
    }

    fn redeem(
        &mut self,
        request: &RedeemRequest<'_>,
        decide: &dyn Fn(&UserState) -> Decision,
    ) -> Result<Redeemed, Error> {
        self.redeem_in(request, decide)
    }

    fn write_batch(&mut self, batch: BatchWrite<'_>) -> Result<Generations, Error> {
        self.write_batch_in(batch)
    }

    fn journal_epoch(&self) -> Result<u64, Error> {
        self.journal_epoch_in()
    }

    fn enroll_host(&mut self, name: &str, now: Time, origin: Origin<'_>) -> Result<Host, Error> {
        self.enroll_host_in(name, now, origin)
    }

    fn revoke_host(
        &mut self,
        name: &str,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Host, Error> {
        self.revoke_host_in(name, now, origin, reason)
    }

    fn hosts(&self) -> Result<Vec<Host>, Error> {
        self.hosts_in()
    }

    fn hosts_seen(&mut self, seen: &[(String, Time)]) -> Result<(), Error> {
        self.hosts_seen_in(seen)
    }

    fn generation(&self) -> Result<i64, Error> {
        self.generation_in()
    }

    fn issue(&mut self, cred: &Credential, origin: Origin<'_>) -> Result<(), Error> {
        let path = self.path.clone();
        let key = self.key.clone();
        self.write("store a new credential", |tx, events| {
            insert_credential(tx, &key, cred)
                .map_err(store_error(&path, "store a new credential"))?;
            events.push(events::issued(cred, Action::Issue, origin, &[]));
            Ok(())
        })
        .map(|_| ())
    }

    fn replace(
        &mut self,
        new: &Credential,
        now: Time,
        origin: Origin<'_>,
    ) -> Result<Vec<String>, Error> {
        let path = self.path.clone();
        let key = self.key.clone();
        self.write("replace a credential", |tx, events| {
            let sql = store_error(&path, "replace a credential");
            let ended =
                end_credentials(tx, &key, &new.user, None, Some(new.kind), now).map_err(&sql)?;
            insert_credential(tx, &key, new).map_err(&sql)?;
            events.push(events::issued(new, Action::Replace, origin, &ended));
            Ok(ended)
        })
        .map(|(ended, _)| ended)
    }

    fn revoke(
        &mut self,
        user: &str,
        id: Option<&str>,
        action: Action,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let kind = (action == Action::Retire).then_some(Kind::Temporary);
        let path = self.path.clone();
        let key = self.key.clone();
        self.write("end credentials", |tx, events| {
            let ended = end_credentials(tx, &key, user, id, kind, now)
                .map_err(store_error(&path, "end credentials"))?;
            if let (Some(id), true) = (id, ended.is_empty()) {
                return Err(events::no_such_credential(user, id));
            }
            events.extend(events::ended(user, &ended, action, now, origin, reason));
            Ok(ended)
        })
        .map(|(ended, _)| ended)
    }

    fn credentials(
        &self,
        user: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<Credential>, Error> {
        let fail = self.fail("list credentials");
        let at = active_at.map(|t| t.timestamp());
        // One statement per shape, each answerable from the (user, not_after) index.
        let rows = match (user, at) {
            (Some(u), Some(t)) => self
                .conn
                .prepare_cached(USER_CREDENTIALS_ENDING_AFTER_SQL)
                .and_then(|mut s| {
                    s.query_map(params![u, t], |r| rows::credential(r, &self.key))?
                        .collect()
                }),
            (Some(u), None) => {
                self.conn
                    .prepare_cached(USER_CREDENTIALS_ALL_SQL)
                    .and_then(|mut s| {
                        s.query_map(params![u], |r| rows::credential(r, &self.key))?
                            .collect()
                    })
            }
            (None, Some(t)) => self
                .conn
                .prepare_cached(ALL_CREDENTIALS_ENDING_AFTER_SQL)
                .and_then(|mut s| {
                    s.query_map(params![t], |r| rows::credential(r, &self.key))?
                        .collect()
                }),
            (None, None) => self
                .conn
                .prepare_cached(ALL_CREDENTIALS_SQL)
                .and_then(|mut s| {
                    s.query_map([], |r| rows::credential(r, &self.key))?
                        .collect()
                }),
        };
        let rows: Vec<Credential> = rows.map_err(&fail)?;
        Ok(match active_at {
            Some(now) => rows.into_iter().filter(|c| c.is_active(now)).collect(),
            None => rows,
        })
    }

    fn failures(&self, user: &str, after: Time) -> Result<FailureCounts, Error> {
        read_failures(&self.conn, user, after).map_err(self.fail("read a user's failures"))
    }

    fn unlock(&mut self, user: &str, now: Time, origin: Origin<'_>) -> Result<usize, Error> {
        let path = self.path.clone();
        self.write("clear a lockout", |tx, events| {
            let sql = store_error(&path, "clear a lockout");
            let n: i64 = tx
                .prepare_cached("SELECT COALESCE(SUM(count), 0) FROM failures WHERE user = ?1")
                .and_then(|mut s| s.query_row(params![user], |r| r.get(0)))
                .map_err(&sql)?;
            tx.prepare_cached("DELETE FROM failures WHERE user = ?1")
                .and_then(|mut s| s.execute(params![user]))
                .map_err(&sql)?;
            events.push(
                AuditEvent::new(now, Action::Unlock, origin.actor, user).source(origin.source),
            );
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .map(|(n, _)| n)
    }

    fn record(&mut self, event: AuditEvent) -> Result<(), Error> {
        self.write("append an audit event", |_, events| {
            events.push(event);
            Ok(())
        })
        .map(|_| ())
    }

    fn audit(&self, subject: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, Error> {
        let filter = if subject.is_some() {
            "WHERE subject = ?1"
        } else {
            "WHERE ?1 = ?1"
        };
        let sql = format!(
            "SELECT {} FROM audit {filter} ORDER BY seq DESC LIMIT ?2",
            rows::EVENT_COLUMNS
        );
        let fail = self.fail("read the audit log");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut events = self
            .conn
            .prepare(&sql)
            .and_then(|mut stmt| {
                stmt.query_map(params![subject.unwrap_or(""), limit], rows::event)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(fail)?;
        events.reverse();
        Ok(events)
    }

    fn counts(&self, now: Time) -> Result<StoreCounts, Error> {
        let fail = self.fail("count credentials and events");
        let count = |sql: &str| {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(&fail)
        };
        let active = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM credentials WHERE {ACTIVE_AT_1}"),
                [now.timestamp()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(&fail)?;
        Ok(StoreCounts {
            active,
            credentials: count("SELECT COUNT(*) FROM credentials")?,
            events: count("SELECT COUNT(*) FROM audit")?,
        })
    }

    fn prune_audit(&mut self, before: Time, now: Time, origin: Origin<'_>) -> Result<u64, Error> {
        let path = self.path.clone();
        self.write("prune the audit log", |tx, events| {
            let sql = store_error(&path, "prune the audit log");
            let last: Option<(i64, Vec<u8>)> = tx
                .prepare_cached(
                    "SELECT seq, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit WHERE time < ?1)",
                )
                .and_then(|mut st| {
                    st.query_row(params![before.timestamp()], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(&sql)?;
            let Some((seq, mac)) = last else {
                return Ok(0);
            };
            let removed = tx
                .prepare_cached("DELETE FROM audit WHERE seq <= ?1")
                .and_then(|mut st| st.execute(params![seq]))
                .map_err(&sql)?;
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_anchor', ?1)")
                .and_then(|mut st| st.execute(params![mac]))
                .map_err(&sql)?;
            let removed = u64::try_from(removed).unwrap_or(0);
            events.push(events::pruned(removed, seq, before, now, origin));
            Ok(removed)
        })
        .map(|(n, _)| n)
    }

    fn identity(&self) -> String {
        format!("{}:{}", self.file_id.0, self.file_id.1)
    }

    fn check_unchanged(&self) -> Result<(), Error> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.file_id => Ok(()),
            _ => Err(Error::StoreReplaced(self.location())),
        }
    }

    fn verify_audit_chain(&self) -> Result<Option<i64>, Error> {
        let fail = self.fail("verify the audit chain");
        let sql = format!(
            "SELECT {}, mac FROM audit ORDER BY seq",
            rows::EVENT_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql).map_err(&fail)?;
        let mut rows = stmt.query([]).map_err(&fail)?;
        let mut prev: Vec<u8> = read_anchor(&self.conn).map_err(&fail)?;
        while let Some(row) = rows.next().map_err(&fail)? {
            let mac: Vec<u8> = row.get(9).map_err(&fail)?;
            let Ok(event) = rows::event(row) else {
                return Ok(Some(row.get(0).map_err(&fail)?));
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
