//! The login side of the SQLite store: a user's state read in one snapshot, the redeem
//! transaction that applies a decision, and the batch a cache writes.

use super::{read_generation, rows, store_error, SqliteStore};
use crate::decision::{Decision, FailureCounts, Reason, StateQuery, UserState};
use crate::store::{
    failure_rows, BatchWrite, Generations, LoginSnapshot, RedeemRequest, Redeemed, Replay,
};
use crate::{Error, SiteKey, Time, Verdict};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A user's credentials and the universal ones, ended after ?2.
pub(super) const USER_CREDENTIALS_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE user IN (?1, '*') AND not_after > ?2"
);

/// `user`'s failure rows after ?2: time and count, oldest first.
pub(super) const RECENT_FAILURES_SQL: &str =
    "SELECT at, count FROM failures WHERE user = ?1 AND at > ?2 ORDER BY at";

/// How often a redeem transaction is tried when a conditional write finds its row changed.
/// SQLite's IMMEDIATE transaction excludes that; a backend with weaker locking may need it.
const ATTEMPTS: usize = 3;

/// The state `query` asks for, inside whatever transaction `conn` is in.
pub(super) fn read_state(
    conn: &Connection,
    key: &SiteKey,
    query: &StateQuery<'_>,
) -> rusqlite::Result<UserState> {
    let credentials = conn
        .prepare_cached(USER_CREDENTIALS_SQL)?
        .query_map(params![query.user, query.ended_after.timestamp()], |r| {
            rows::credential(r, key)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let failures = read_failures(conn, query.user, query.failures_after)?;
    Ok(UserState {
        credentials,
        failures,
    })
}

pub(super) fn read_failures(
    conn: &Connection,
    user: &str,
    after: Time,
) -> rusqlite::Result<FailureCounts> {
    conn.prepare_cached(RECENT_FAILURES_SQL)?
        .query_map(params![user, after.timestamp()], |r| {
            Ok((rows::time(r.get::<_, i64>(0)?), r.get::<_, u32>(1)?))
        })?
        .collect()
}

/// One credential by id, its seal checked.
const CREDENTIAL_BY_ID_SQL: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM credentials WHERE id = ?1"
);

/// Spends a use of credential `id` and/or starts its window, resealing the row. Ok(false):
/// the row is not as the decision saw it (gone, changed, its uses spent, its seal broken).
fn change_credential(
    tx: &Transaction<'_>,
    key: &SiteKey,
    id: &str,
    spend_use: bool,
    start_window: Option<(Time, Time)>,
) -> rusqlite::Result<bool> {
    let Some(mut c) = tx
        .prepare_cached(CREDENTIAL_BY_ID_SQL)?
        .query_row(params![id], |r| rows::credential(r, key))
        .optional()?
    else {
        return Ok(false);
    };
    let (seal_before, used_before) = (c.seal(key), c.used);
    if c.tampered || (spend_use && c.is_used_up()) {
        return Ok(false);
    }
    if let Some((from, until)) = start_window {
        if c.activation.is_none() {
            return Ok(false);
        }
        (c.not_before, c.not_after, c.activation) = (from, until, None);
    }
    if spend_use {
        c.used = c.used.saturating_add(1);
    }
    let n = tx
        .prepare_cached(
            "UPDATE credentials SET not_before = ?2, not_after = ?3, activate_secs = ?4, used = ?5, seal = ?6 WHERE id = ?1 AND used = ?7 AND seal = ?8",
        )?
        .execute(params![
            id,
            c.not_before.timestamp(),
            c.not_after.timestamp(),
            c.activation.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            c.used,
            &c.seal(key)[..],
            used_before,
            &seal_before[..],
        ])?;
    Ok(n == 1)
}

/// Applies `decision`'s effects. Ok(false): a conditional write found its row changed.
fn apply(
    tx: &Transaction<'_>,
    key: &SiteKey,
    decision: &Decision,
    user: &str,
) -> rusqlite::Result<bool> {
    let effects = &decision.effects;
    let credential = match &decision.verdict {
        crate::Verdict::Accepted { credential, .. } => Some(credential.as_str()),
        crate::Verdict::Rejected(_) => None,
    };
    if let Some(id) = credential.filter(|_| effects.spend_use || effects.start_window.is_some()) {
        if !change_credential(tx, key, id, effects.spend_use, effects.start_window)? {
            return Ok(false);
        }
    }
    if let Some((at, forget_to)) = effects.count_failure {
        tx.prepare_cached("DELETE FROM failures WHERE user = ?1 AND at <= ?2")?
            .execute(params![user, forget_to.timestamp()])?;
        tx.prepare_cached("INSERT INTO failures (user, at) VALUES (?1, ?2)")?
            .execute(params![user, at.timestamp()])?;
    }
    Ok(true)
}

/// Replies kept past their time are deleted this many at a time, oldest first, by each
/// redeem that keeps one: the table stays as small as the window's traffic.
const PRUNE_REPLIES: i64 = 16;

/// The answer kept for `replay`, if it is still kept at `now`, as a decision that changes
/// nothing and says so in its audit event.
fn replayed(
    tx: &Transaction<'_>,
    replay: &Replay<'_>,
    now: Time,
) -> rusqlite::Result<Option<Decision>> {
    let row = tx
        .prepare_cached(
            "SELECT credential, not_after, counted, activates, reason FROM replies WHERE key = ?1 AND until > ?2",
        )?
        .query_row(params![replay.key, now.timestamp()], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    let Some((credential, not_after, counted, activates, reason)) = row else {
        return Ok(None);
    };
    let verdict = match (credential, not_after) {
        (Some(credential), Some(not_after)) => Verdict::Accepted {
            credential,
            not_after: rows::time(not_after),
            counted,
            activates,
            uses_left: None,
            policy: None,
        },
        _ => Verdict::Rejected(
            reason
                .as_deref()
                .and_then(Reason::parse)
                .unwrap_or(Reason::WrongCode),
        ),
    };
    Ok(Some(Decision::replayed(verdict)))
}

/// Keeps `verdict` under `replay`'s key until its time, and prunes replies past theirs.
fn keep_reply(
    tx: &Transaction<'_>,
    replay: &Replay<'_>,
    verdict: &Verdict,
    now: Time,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM replies WHERE id IN (SELECT id FROM replies ORDER BY id LIMIT ?1) AND until <= ?2",
    )?
    .execute(params![PRUNE_REPLIES, now.timestamp()])?;
    let (credential, not_after, counted, activates, reason) =
        crate::store::events::reply_columns(verdict);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO replies (key, until, credential, not_after, counted, activates, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        replay.key,
        replay.until.timestamp(),
        credential,
        not_after,
        counted,
        activates,
        reason
    ])?;
    Ok(())
}

impl SqliteStore {
    pub(super) fn login_state_in(&self, query: &StateQuery<'_>) -> Result<LoginSnapshot, Error> {
        let fail = self.fail("read a user's credentials and failures");
        let tx = self.conn.unchecked_transaction().map_err(&fail)?;
        let generation = read_generation(&tx).map_err(&fail)?;
        let state = read_state(&tx, &self.key, query).map_err(&fail)?;
        tx.commit().map_err(&fail)?;
        Ok(LoginSnapshot { state, generation })
    }

    pub(super) fn redeem_in(
        &mut self,
        request: &RedeemRequest<'_>,
        decide: &dyn Fn(&UserState) -> Decision,
    ) -> Result<Redeemed, Error> {
        // Decided once on what was read before: whether the commit must wait for the disk.
        // The transaction stays authoritative: when the generation moved, it reads again.
        let mut guess = request.known.map(|k| (k.generation, decide(&k.state)));
        let mut durable = guess.as_ref().is_none_or(|(_, d)| d.effects.change_state());
        for _ in 0..ATTEMPTS {
            self.set_durable(durable)?;
            let known = &mut guess;
            let path = self.path.clone();
            let key = self.key.clone();
            let out = self.transact(true, "redeem a code", |tx, events| {
                let sql = store_error(&path, "redeem a code");
                if let Some(replay) = &request.replay {
                    if let Some(first) = replayed(tx, replay, request.now).map_err(&sql)? {
                        events.extend(first.events().map(|e| request.event(e)));
                        return Ok(Some(first));
                    }
                }
                let generation = read_generation(tx).map_err(&sql)?;
                let decision = match known.take() {
                    Some((g, d)) if g == generation => d,
                    _ => decide(&read_state(tx, &key, &request.query).map_err(&sql)?),
                };
                // It changes state after all, or a conditional write found its row changed:
                // roll back, and try again reading afresh and committing durably.
                if !durable && decision.effects.change_state() {
                    return Ok(None);
                }
                if !apply(tx, &key, &decision, request.login.user).map_err(&sql)? {
                    return Ok(None);
                }
                if let (Some(replay), true) = (&request.replay, decision.effects.change_state()) {
                    keep_reply(tx, replay, &decision.verdict, request.now).map_err(&sql)?;
                }
                events.extend(decision.events().map(|e| request.event(e)));
                Ok(Some(decision))
            })?;
            if let Some((decision, generations)) = out {
                return Ok(Redeemed {
                    decision,
                    generations,
                });
            }
            durable = true;
        }
        Err(Error::Conflict(self.path.display().to_string()))
    }

    pub(super) fn write_batch_in(&mut self, write: BatchWrite<'_>) -> Result<Generations, Error> {
        let BatchWrite {
            failures,
            events: batch,
            through_epoch,
            durable,
        } = write;
        if batch.is_empty() && failures.is_empty() && through_epoch.is_none() {
            let now = self.generation_in()?;
            return Ok(Generations {
                before: now,
                after: now,
            });
        }
        let oldest = failures.iter().map(|(_, t)| *t).min();
        let per_user = failure_rows(failures);
        let path = self.path.clone();
        let ((), generations) = self.write_with(
            durable,
            "write a batch of failures and audit events",
            |tx, events| {
                let sql = store_error(&path, "write a batch of failures and audit events");
                if !per_user.is_empty() {
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO failures (user, at, count) VALUES (?1, ?2, ?3)",
                        )
                        .map_err(&sql)?;
                    for (user, (at, count)) in &per_user {
                        insert
                            .execute(params![user, at.timestamp(), count])
                            .map_err(&sql)?;
                    }
                }
                // The prune reads the whole table (no index leads with `at`): only with the
                // durable half-second writes, not with every answering turn's.
                if let Some(oldest) = oldest.filter(|_| durable) {
                    let horizon = crate::before(oldest, sparekey_conf::MAX_LIFETIME.as_secs());
                    tx.prepare_cached("DELETE FROM failures WHERE at < ?1")
                        .and_then(|mut st| st.execute(params![horizon.timestamp()]))
                        .map_err(&sql)?;
                }
                if let Some(epoch) = through_epoch {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('journal_epoch', ?1)",
                    )
                    .and_then(|mut st| {
                        st.execute(params![i64::try_from(epoch).unwrap_or(i64::MAX)])
                    })
                    .map_err(&sql)?;
                }
                events.extend(batch);
                Ok(())
            },
        )?;
        Ok(generations)
    }

    pub(super) fn journal_epoch_in(&self) -> Result<u64, Error> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'journal_epoch'")
            .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)).optional())
            .map(|v| v.map_or(0, |e| u64::try_from(e).unwrap_or(0)))
            .map_err(self.fail("read the journal epoch"))
    }

    pub(super) fn generation_in(&self) -> Result<i64, Error> {
        read_generation(&self.conn).map_err(self.fail("read the generation"))
    }
}
