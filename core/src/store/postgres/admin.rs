//! The admin side of the PostgreSQL store (issue, replace, revoke, unlock, hosts, lists, the
//! audit log) and the [`Store`] implementation that joins it to the login side.

use super::login::{failed, lock_user, pg, read_failures};
use super::rows::{self, CREDENTIAL_COLUMNS, EVENT_COLUMNS};
use super::PgStore;
use crate::audit::{Action, AuditEvent};
use crate::decision::{Decision, FailureCounts, StateQuery, UserState};
use crate::host::{check_name, Host};
use crate::store::{
    events, BatchWrite, Generations, LoginSnapshot, Origin, RedeemRequest, Redeemed, Store,
    StoreCounts,
};
use crate::{Credential, Error, SiteKey, Time};
use postgres::{Client, Row, Transaction};
use sparekey_conf::Kind;

/// The credentials that could still be redeemed at $1, as [`Credential::is_active`] says.
const ACTIVE_AT_1: &str =
    "revoked_at IS NULL AND not_after > $1 AND (max_uses IS NULL OR used < max_uses)";

pub(super) fn insert_credential(
    tx: &mut Transaction<'_>,
    key: &SiteKey,
    c: &Credential,
) -> Result<(), String> {
    tx.execute(
        &format!("INSERT INTO credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"),
        &[
            &c.id,
            &c.kind.as_str(),
            &c.user,
            &c.policy,
            &rows::join(&c.services),
            &rows::join(&c.hosts),
            &c.issued_at.timestamp(),
            &c.not_before.timestamp(),
            &c.not_after.timestamp(),
            &c.uses.cap().map(i64::from),
            &i64::from(c.used),
            &c.revoked_at.map(|t| t.timestamp()),
            &c.issued_by,
            &c.reason,
            &c.activation.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            &&c.digest[..],
            &&c.seal(key)[..],
        ],
    )
    .map(|_| ())
    .map_err(pg)
}

/// Ends the active credentials of `user` (all, one id, or one kind); returns their ids.
fn end_credentials(
    tx: &mut Transaction<'_>,
    key: &SiteKey,
    user: &str,
    id: Option<&str>,
    kind: Option<Kind>,
    now: Time,
) -> Result<Vec<String>, String> {
    let candidates = tx
        .query(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_name = $1 AND not_after > $2 FOR UPDATE"),
            &[&user, &now.timestamp()],
        )
        .map_err(pg)?
        .iter()
        .map(|r| rows::credential(r, key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ended = Vec::new();
    for mut c in candidates {
        if !c.is_active(now) || id.is_some_and(|id| c.id != id) || kind.is_some_and(|k| c.kind != k)
        {
            continue;
        }
        c.revoked_at = Some(now);
        tx.execute(
            "UPDATE credentials SET revoked_at = $1, seal = $2 WHERE id = $3 AND revoked_at IS NULL",
            &[&now.timestamp(), &&c.seal(key)[..], &c.id],
        )
        .map_err(pg)?;
        ended.push(c.id);
    }
    ended.sort();
    Ok(ended)
}

fn host(r: &Row) -> Host {
    Host {
        name: r.get(0),
        serial: u32::try_from(r.get::<_, i64>(1).max(0)).unwrap_or(u32::MAX),
        enrolled_at: rows::time(r.get(2)),
        enrolled_by: r.get(3),
        revoked_at: r.get::<_, Option<i64>>(4).map(rows::time),
        last_seen: r.get::<_, Option<i64>>(5).map(rows::time),
    }
}

const HOST_COLUMNS: &str = "name, serial, enrolled_at, enrolled_by, revoked_at, last_seen";

impl PgStore {
    /// Runs a read on the connection; one that broke it is dropped, to be made anew.
    fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Client) -> Result<T, String>,
    ) -> Result<T, Error> {
        let mut client = self.client()?;
        let out = f(&mut client);
        let closed = client.is_closed();
        drop(client);
        if closed {
            if let Ok(mut c) = self.client.try_borrow_mut() {
                *c = None;
            }
            self.generation.set(None);
        }
        out.map_err(failed(self, operation))
    }

    fn credentials_in(
        &self,
        user: Option<&str>,
        active_at: Option<Time>,
    ) -> Result<Vec<Credential>, Error> {
        let key = self.key.clone();
        let rows = self.read("list credentials", |c| {
            let order = "ORDER BY issued_at DESC, ord DESC";
            let found = match (user, active_at.map(|t| t.timestamp())) {
                (Some(u), Some(t)) => c.query(
                    &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_name = $1 AND not_after > $2 {order}"),
                    &[&u, &t],
                ),
                (Some(u), None) => c.query(
                    &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_name = $1 {order}"),
                    &[&u],
                ),
                (None, Some(t)) => c.query(
                    &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE not_after > $1 {order}"),
                    &[&t],
                ),
                (None, None) => c.query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials {order}"), &[]),
            }
            .map_err(pg)?;
            found.iter().map(|r| rows::credential(r, &key)).collect::<Result<Vec<_>, _>>()
        })?;
        Ok(match active_at {
            Some(now) => rows.into_iter().filter(|c| c.is_active(now)).collect(),
            None => rows,
        })
    }
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.shown.clone()
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
        check_name(name)?;
        let fail = failed(self, "enroll a host");
        self.write("enroll a host", |tx, events| {
            let found = tx
                .query_opt(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = $1 FOR UPDATE"), &[&name])
                .map_err(pg)
                .map_err(&fail)?
                .map(|r| host(&r));
            let serial = match found {
                Some(h) if h.revoked_at.is_none() => return Err(events::enrolled_already(&h)),
                Some(h) => h.serial.saturating_add(1),
                None => 1,
            };
            tx.execute(
                "INSERT INTO hosts (name, serial, enrolled_at, enrolled_by, revoked_at, last_seen) VALUES ($1, $2, $3, $4, NULL, NULL) ON CONFLICT (name) DO UPDATE SET serial = EXCLUDED.serial, enrolled_at = EXCLUDED.enrolled_at, enrolled_by = EXCLUDED.enrolled_by, revoked_at = NULL, last_seen = NULL",
                &[&name, &i64::from(serial), &now.timestamp(), &origin.actor],
            )
            .map_err(pg)
            .map_err(&fail)?;
            events.push(events::enrolled(name, serial, now, origin));
            Ok(Host {
                name: name.to_string(),
                serial,
                enrolled_at: rows::time(now.timestamp()),
                enrolled_by: origin.actor.to_string(),
                revoked_at: None,
                last_seen: None,
            })
        })
        .map(|(h, _)| h)
    }

    fn revoke_host(
        &mut self,
        name: &str,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Host, Error> {
        let fail = failed(self, "revoke a host");
        self.write("revoke a host", |tx, events| {
            let Some(mut h) = tx
                .query_opt(
                    &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = $1 FOR UPDATE"),
                    &[&name],
                )
                .map_err(pg)
                .map_err(&fail)?
                .map(|r| host(&r))
                .filter(|h| h.revoked_at.is_none())
            else {
                return Err(events::no_such_host(name));
            };
            tx.execute(
                "UPDATE hosts SET revoked_at = $2 WHERE name = $1",
                &[&name, &now.timestamp()],
            )
            .map_err(pg)
            .map_err(&fail)?;
            let mut e =
                AuditEvent::new(now, Action::HostRevoke, origin.actor, name).source(origin.source);
            e.reason = reason.map(str::to_string);
            events.push(e);
            h.revoked_at = Some(rows::time(now.timestamp()));
            Ok(h)
        })
        .map(|(h, _)| h)
    }

    fn hosts(&self) -> Result<Vec<Host>, Error> {
        self.read("list the hosts", |c| {
            Ok(c.query(
                &format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name"),
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(host)
            .collect())
        })
    }

    fn hosts_seen(&mut self, seen: &[(String, Time)]) -> Result<(), Error> {
        if seen.is_empty() {
            return Ok(());
        }
        self.read("record when hosts last asked", |c| {
            let mut tx = c.transaction().map_err(pg)?;
            for (name, at) in seen {
                tx.execute(
                    "UPDATE hosts SET last_seen = $2 WHERE name = $1 AND (last_seen IS NULL OR last_seen < $2)",
                    &[name, &at.timestamp()],
                )
                .map_err(pg)?;
            }
            tx.commit().map_err(pg)
        })
    }

    fn generation(&self) -> Result<i64, Error> {
        self.generation_now()
    }

    fn issue(&mut self, cred: &Credential, origin: Origin<'_>) -> Result<(), Error> {
        let key = self.key.clone();
        let fail = failed(self, "store a new credential");
        self.write("store a new credential", |tx, events| {
            insert_credential(tx, &key, cred).map_err(&fail)?;
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
        let key = self.key.clone();
        let fail = failed(self, "replace a credential");
        let st = &self.statements;
        self.write("replace a credential", |tx, events| {
            lock_user(tx, st, &new.user).map_err(&fail)?;
            let ended =
                end_credentials(tx, &key, &new.user, None, Some(new.kind), now).map_err(&fail)?;
            insert_credential(tx, &key, new).map_err(&fail)?;
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
        let key = self.key.clone();
        let fail = failed(self, "end credentials");
        let st = &self.statements;
        self.write("end credentials", |tx, events| {
            lock_user(tx, st, user).map_err(&fail)?;
            let ended = end_credentials(tx, &key, user, id, kind, now).map_err(&fail)?;
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
        self.credentials_in(user, active_at)
    }

    fn failures(&self, user: &str, after: Time) -> Result<FailureCounts, Error> {
        self.read("read a user's failures", |c| read_failures(c, user, after))
    }

    fn unlock(&mut self, user: &str, now: Time, origin: Origin<'_>) -> Result<usize, Error> {
        let fail = failed(self, "clear a lockout");
        let st = &self.statements;
        self.write("clear a lockout", |tx, events| {
            lock_user(tx, st, user).map_err(&fail)?;
            let n: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(count), 0)::BIGINT FROM failures WHERE user_name = $1",
                    &[&user],
                )
                .map_err(pg)
                .map_err(&fail)?
                .get(0);
            tx.execute("DELETE FROM failures WHERE user_name = $1", &[&user])
                .map_err(pg)
                .map_err(&fail)?;
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut events = self.read("read the audit log", |c| {
            let found = match subject {
                Some(s) => c.query(
                    &format!("SELECT {EVENT_COLUMNS} FROM audit WHERE subject = $1 ORDER BY seq DESC LIMIT $2"),
                    &[&s, &limit],
                ),
                None => c.query(
                    &format!("SELECT {EVENT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT $1"),
                    &[&limit],
                ),
            }
            .map_err(pg)?;
            found.iter().map(rows::event).collect::<Result<Vec<_>, _>>()
        })?;
        events.reverse();
        Ok(events)
    }

    fn counts(&self, now: Time) -> Result<StoreCounts, Error> {
        self.read("count credentials and events", |c| {
            let n = |r: Row| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0);
            Ok(StoreCounts {
                active: n(c
                    .query_one(
                        &format!("SELECT COUNT(*) FROM credentials WHERE {ACTIVE_AT_1}"),
                        &[&now.timestamp()],
                    )
                    .map_err(pg)?),
                credentials: n(c
                    .query_one("SELECT COUNT(*) FROM credentials", &[])
                    .map_err(pg)?),
                events: n(c.query_one("SELECT COUNT(*) FROM audit", &[]).map_err(pg)?),
            })
        })
    }

    fn verify_audit_chain(&self) -> Result<Option<i64>, Error> {
        let key = self.key.clone();
        self.read("verify the audit chain", |c| {
            let mut prev: Vec<u8> = c
                .query_opt("SELECT mac FROM audit_anchor", &[])
                .map_err(pg)?
                .map(|r| r.get(0))
                .unwrap_or_default();
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(pg)?;
            let found = tx
                .query(
                    &format!("SELECT {EVENT_COLUMNS}, mac FROM audit ORDER BY seq"),
                    &[],
                )
                .map_err(pg)?;
            for row in &found {
                let mac: Vec<u8> = row.get(9);
                let Ok(event) = rows::event(row) else {
                    return Ok(Some(row.get(0)));
                };
                let expected = key.chain(&prev, &event.canonical());
                if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &mac[..])) {
                    return Ok(Some(event.seq));
                }
                prev = mac;
            }
            tx.commit().map_err(pg)?;
            Ok(None)
        })
    }

    fn prune_audit(&mut self, before: Time, now: Time, origin: Origin<'_>) -> Result<u64, Error> {
        let fail = failed(self, "prune the audit log");
        self.write("prune the audit log", |tx, events| {
            // The chain's lock: no append may slip between the anchor and what follows it.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&super::AUDIT_LOCK])
                .map_err(pg)
                .map_err(&fail)?;
            let Some(last) = tx
                .query_opt(
                    "SELECT seq, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit WHERE time < $1)",
                    &[&before.timestamp()],
                )
                .map_err(pg)
                .map_err(&fail)?
            else {
                return Ok(0);
            };
            let (seq, mac): (i64, Vec<u8>) = (last.get(0), last.get(1));
            let removed = tx
                .execute("DELETE FROM audit WHERE seq <= $1", &[&seq])
                .map_err(pg)
                .map_err(&fail)?;
            tx.execute(
                "INSERT INTO audit_anchor (only_one, mac) VALUES (true, $1) ON CONFLICT (only_one) DO UPDATE SET mac = EXCLUDED.mac",
                &[&mac],
            )
            .map_err(pg)
            .map_err(&fail)?;
            tx.execute(
                "INSERT INTO sparekey_meta (key, value) VALUES ('audit_pruned_to', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&seq],
            )
            .map_err(pg)
            .map_err(&fail)?;
            events.push(events::pruned(removed, seq, before, now, origin));
            Ok(removed)
        })
        .map(|(n, _)| n)
    }

    fn identity(&self) -> String {
        format!("postgresql:{}", self.store_id.borrow())
    }

    fn check_unchanged(&self) -> Result<(), Error> {
        // A connection made anew checks the store's id (see `PgStore::client`); one that
        // lives on cannot find another database under it.
        Ok(())
    }
}
