//! The login side of the PostgreSQL store: a user's state read in one snapshot, the redeem
//! transaction (under the user's advisory lock, so that nodes redeeming at once take turns),
//! the batch a cache writes, and the answers kept for retransmits.

use super::rows::{self, CREDENTIAL_COLUMNS};
use super::{read_generation, PgStore, Statements, ATTEMPTS};
use crate::decision::{Decision, FailureCounts, Reason, StateQuery, UserState};
use crate::store::{
    failure_rows, BatchWrite, Generations, LoginSnapshot, RedeemRequest, Redeemed, Replay,
};
use crate::{Error, SiteKey, Time, Verdict};
use postgres::{GenericClient, Transaction};

/// Replies kept past their time are deleted this many at a time by each redeem that keeps
/// one, as in SQLite.
const PRUNE_REPLIES: i64 = 16;

/// A store error of `operation` for a PostgreSQL or row error `e`.
pub(super) fn failed(store: &PgStore, operation: &'static str) -> impl Fn(String) -> Error {
    let location = store.shown.clone();
    move |problem| Error::Store {
        location: location.clone(),
        operation,
        problem,
    }
}

pub(super) fn pg(e: postgres::Error) -> String {
    super::describe(&e)
}

/// Takes `user`'s lock until the transaction ends: redeems, failures and unlocks of one
/// user take turns across every node.
pub(super) fn lock_user(
    tx: &mut Transaction<'_>,
    st: &Statements,
    user: &str,
) -> Result<(), String> {
    let s = st
        .get(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .map_err(pg)?;
    tx.execute(&s, &[&user]).map(|_| ()).map_err(pg)
}

/// The state `query` asks for, inside `tx`, its statements prepared once per connection.
fn read_state(
    tx: &mut Transaction<'_>,
    st: &Statements,
    key: &SiteKey,
    query: &StateQuery<'_>,
) -> Result<UserState, String> {
    let creds = st
        .get(tx, &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_name IN ($1, '*') AND not_after > $2"))
        .map_err(pg)?;
    let credentials = tx
        .query(&creds, &[&query.user, &query.ended_after.timestamp()])
        .map_err(pg)?
        .iter()
        .map(|r| rows::credential(r, key))
        .collect::<Result<Vec<_>, _>>()?;
    let fails = st
        .get(
            tx,
            "SELECT at, count FROM failures WHERE user_name = $1 AND at > $2 ORDER BY at",
        )
        .map_err(pg)?;
    let failures = tx
        .query(&fails, &[&query.user, &query.failures_after.timestamp()])
        .map_err(pg)?
        .iter()
        .map(|r| {
            (
                rows::time(r.get::<_, i64>(0)),
                u32::try_from(r.get::<_, i64>(1).max(0)).unwrap_or(u32::MAX),
            )
        })
        .collect();
    Ok(UserState {
        credentials,
        failures,
    })
}

pub(super) fn read_failures(
    c: &mut impl GenericClient,
    user: &str,
    after: Time,
) -> Result<FailureCounts, String> {
    Ok(c.query(
        "SELECT at, count FROM failures WHERE user_name = $1 AND at > $2 ORDER BY at",
        &[&user, &after.timestamp()],
    )
    .map_err(pg)?
    .iter()
    .map(|r| {
        (
            rows::time(r.get::<_, i64>(0)),
            u32::try_from(r.get::<_, i64>(1).max(0)).unwrap_or(u32::MAX),
        )
    })
    .collect())
}

/// Spends a use of credential `id` and/or starts its window, resealing the row, on the
/// condition that it is as read. Ok(false): it is not (gone, changed, spent, tampered).
fn change_credential(
    tx: &mut Transaction<'_>,
    key: &SiteKey,
    id: &str,
    spend_use: bool,
    start_window: Option<(Time, Time)>,
) -> Result<bool, String> {
    let Some(row) = tx
        .query_opt(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .map_err(pg)?
    else {
        return Ok(false);
    };
    let mut c = rows::credential(&row, key)?;
    let (seal_before, used_before) = (c.seal(key), i64::from(c.used));
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
    let activation = c.activation.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    let n = tx
        .execute(
            "UPDATE credentials SET not_before = $2, not_after = $3, activate_secs = $4, used = $5, seal = $6 WHERE id = $1 AND used = $7 AND seal = $8",
            &[
                &id,
                &c.not_before.timestamp(),
                &c.not_after.timestamp(),
                &activation,
                &i64::from(c.used),
                &&c.seal(key)[..],
                &used_before,
                &&seal_before[..],
            ],
        )
        .map_err(pg)?;
    Ok(n == 1)
}

/// Applies `decision`'s effects. Ok(false): a conditional write found its row changed.
fn apply(
    tx: &mut Transaction<'_>,
    st: &Statements,
    key: &SiteKey,
    decision: &Decision,
    user: &str,
) -> Result<bool, String> {
    let effects = &decision.effects;
    let credential = match &decision.verdict {
        Verdict::Accepted { credential, .. } => Some(credential.as_str()),
        Verdict::Rejected(_) => None,
    };
    if let Some(id) = credential.filter(|_| effects.spend_use || effects.start_window.is_some()) {
        if !change_credential(tx, key, id, effects.spend_use, effects.start_window)? {
            return Ok(false);
        }
    }
    if let Some((at, forget_to)) = effects.count_failure {
        let forget = st
            .get(tx, "DELETE FROM failures WHERE user_name = $1 AND at <= $2")
            .map_err(pg)?;
        tx.execute(&forget, &[&user, &forget_to.timestamp()])
            .map_err(pg)?;
        let count = st
            .get(tx, "INSERT INTO failures (user_name, at) VALUES ($1, $2)")
            .map_err(pg)?;
        tx.execute(&count, &[&user, &at.timestamp()]).map_err(pg)?;
    }
    Ok(true)
}

/// The answer kept for `replay`, if it is still kept at `now`.
fn replayed(
    tx: &mut Transaction<'_>,
    st: &Statements,
    replay: &Replay<'_>,
    now: Time,
) -> Result<Option<Decision>, String> {
    let kept = st
        .get(tx, "SELECT credential, not_after, counted, activates, reason FROM replies WHERE key = $1 AND until > $2")
        .map_err(pg)?;
    let Some(r) = tx
        .query_opt(&kept, &[&replay.key, &now.timestamp()])
        .map_err(pg)?
    else {
        return Ok(None);
    };
    let (credential, not_after): (Option<String>, Option<i64>) = (r.get(0), r.get(1));
    let verdict = match (credential, not_after) {
        (Some(credential), Some(not_after)) => Verdict::Accepted {
            credential,
            not_after: rows::time(not_after),
            counted: r.get(2),
            activates: r.get(3),
            uses_left: None,
            policy: None,
        },
        _ => Verdict::Rejected(
            r.get::<_, Option<String>>(4)
                .as_deref()
                .and_then(Reason::parse)
                .unwrap_or(Reason::WrongCode),
        ),
    };
    Ok(Some(Decision::replayed(verdict)))
}

/// Keeps `verdict` under `replay`'s key until its time, and prunes replies past theirs.
fn keep_reply(
    tx: &mut Transaction<'_>,
    replay: &Replay<'_>,
    verdict: &Verdict,
    now: Time,
) -> Result<(), String> {
    tx.execute(
        "DELETE FROM replies WHERE id IN (SELECT id FROM replies ORDER BY id LIMIT $1) AND until <= $2",
        &[&PRUNE_REPLIES, &now.timestamp()],
    )
    .map_err(pg)?;
    let (credential, not_after, counted, activates, reason) =
        crate::store::events::reply_columns(verdict);
    tx.execute(
        "INSERT INTO replies (key, until, credential, not_after, counted, activates, reason) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until, credential = EXCLUDED.credential, not_after = EXCLUDED.not_after, counted = EXCLUDED.counted, activates = EXCLUDED.activates, reason = EXCLUDED.reason",
        &[&replay.key, &replay.until.timestamp(), &credential, &not_after, &counted, &activates, &reason],
    )
    .map_err(pg)?;
    Ok(())
}

impl PgStore {
    pub(super) fn login_state_in(&self, query: &StateQuery<'_>) -> Result<LoginSnapshot, Error> {
        let fail = failed(self, "read a user's credentials and failures");
        let mut client = self.client()?;
        let out = (|| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(pg)?;
            let generation = read_generation(&mut tx, &self.statements).map_err(pg)?;
            let state = read_state(&mut tx, &self.statements, &self.key, query)?;
            tx.commit().map_err(pg)?;
            Ok(LoginSnapshot { state, generation })
        })();
        drop(client);
        out.map_err(fail)
    }

    pub(super) fn redeem_in(
        &mut self,
        request: &RedeemRequest<'_>,
        decide: &dyn Fn(&UserState) -> Decision,
    ) -> Result<Redeemed, Error> {
        for _ in 0..ATTEMPTS {
            let mut known = request.known.map(|k| (k.generation, decide(&k.state)));
            let key = self.key.clone();
            let fail = failed(self, "redeem a code");
            let st = &self.statements;
            let out = self.transact("redeem a code", |tx, events| {
                lock_user(tx, st, request.login.user).map_err(&fail)?;
                if let Some(replay) = &request.replay {
                    if let Some(first) = replayed(tx, st, replay, request.now).map_err(&fail)? {
                        events.extend(first.events().map(|e| request.event(e)));
                        return Ok(Some(first));
                    }
                }
                let generation = read_generation(tx, st).map_err(pg).map_err(&fail)?;
                let decision = match known.take() {
                    Some((g, d)) if g == generation => d,
                    _ => decide(&read_state(tx, st, &key, &request.query).map_err(&fail)?),
                };
                if !decision.effects.spend_use && decision.effects.start_window.is_none() {
                    // Nothing spent (a refusal, a counted wrong code, an uncapped accept):
                    // the commit need not wait for the disk or the standby. A crash of the
                    // primary can lose a moment's counted wrong codes, never a spent use.
                    tx.batch_execute("SET LOCAL synchronous_commit = off")
                        .map_err(pg)
                        .map_err(&fail)?;
                }
                if !apply(tx, st, &key, &decision, request.login.user).map_err(&fail)? {
                    return Ok(None);
                }
                if let (Some(replay), true) = (&request.replay, decision.effects.change_state()) {
                    keep_reply(tx, replay, &decision.verdict, request.now).map_err(&fail)?;
                }
                events.extend(decision.events().map(|e| request.event(e)));
                Ok(Some(decision))
            });
            match out {
                Ok(Some((decision, generations))) => {
                    return Ok(Redeemed {
                        decision,
                        generations,
                    })
                }
                Ok(None) | Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(self.shown.clone()))
    }

    pub(super) fn write_batch_in(&mut self, write: BatchWrite<'_>) -> Result<Generations, Error> {
        let BatchWrite {
            failures,
            events: batch,
            through_epoch,
            durable,
        } = write;
        if batch.is_empty() && failures.is_empty() && through_epoch.is_none() {
            let now = self.generation_now()?;
            return Ok(Generations {
                before: now,
                after: now,
            });
        }
        let oldest = failures.iter().map(|(_, t)| *t).min();
        let mut per_user: Vec<(&str, (Time, u32))> = failure_rows(failures).into_iter().collect();
        // Users' locks in one order, so that two nodes' batches never wait on each other.
        per_user.sort_by(|a, b| a.0.cmp(b.0));
        let node = self.node.clone();
        let fail = failed(self, "write a batch of failures and audit events");
        let st = &self.statements;
        let ((), generations) = self.write("write a batch of failures and audit events", |tx, events| {
            if !durable {
                // An answering turn's failures (many a second): committed without waiting
                // for the disk or the standby, as SQLite's NORMAL does; the half-second
                // write that follows waits. What a crash of the primary can lose is a
                // moment's counted wrong codes, never a spent use (a redeem always waits).
                tx.batch_execute("SET LOCAL synchronous_commit = off")
                    .map_err(pg)
                    .map_err(&fail)?;
            }
            for (user, (at, count)) in &per_user {
                lock_user(tx, st, user).map_err(&fail)?;
                let insert = st
                    .get(tx, "INSERT INTO failures (user_name, at, count) VALUES ($1, $2, $3)")
                    .map_err(pg)
                    .map_err(&fail)?;
                tx.execute(&insert, &[user, &at.timestamp(), &i64::from(*count)])
                    .map_err(pg)
                    .map_err(&fail)?;
            }
            // Old failures go with the durable half-second writes, not with every turn's.
            if let Some(oldest) = oldest.filter(|_| durable) {
                let horizon = crate::before(oldest, sparekey_conf::MAX_LIFETIME.as_secs());
                tx.execute("DELETE FROM failures WHERE at < $1", &[&horizon.timestamp()])
                    .map_err(pg)
                    .map_err(&fail)?;
            }
            if let Some(epoch) = through_epoch {
                let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO sparekey_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&format!("journal_epoch:{node}"), &epoch],
                )
                .map_err(pg)
                .map_err(&fail)?;
            }
            events.extend(batch);
            Ok(())
        })?;
        Ok(generations)
    }

    pub(super) fn journal_epoch_in(&self) -> Result<u64, Error> {
        let mut client = self.client()?;
        let read = client.query_opt(
            "SELECT value FROM sparekey_meta WHERE key = $1",
            &[&format!("journal_epoch:{}", self.node)],
        );
        drop(client);
        let row = read.map_err(|e| self.error("read the journal epoch", &e))?;
        Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }
}
