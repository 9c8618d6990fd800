//! A member host's own small ledger for the offline exchange, in the SQLite file its
//! `[store]` names: the request shown to each user, the responses it accepted (as keyed
//! hashes, with their validity), wrong answers toward the lockout, and the offline logins
//! still to be reported to the site. Never a digest of a site code.

use crate::offline::RequestCode;
use crate::{Error, Time};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;
use subtle::ConstantTimeEq;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_requests (
    user TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_grants (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    digest BLOB NOT NULL,
    not_after INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_failures (
    user TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_failures_user ON ledger_failures (user, at);
CREATE TABLE IF NOT EXISTS ledger_logins (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    at INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    service TEXT NOT NULL,
    what TEXT NOT NULL
);
";

/// An offline login the site has not been told of yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineLogin {
    /// Its row, for [`Ledger::reported`].
    pub id: i64,
    /// Who logged in.
    pub user: String,
    /// When.
    pub at: Time,
    /// Until when the response it rests on works.
    pub not_after: Time,
    /// The PAM service.
    pub service: String,
    /// "response accepted" or "accepted response used again".
    pub what: String,
}

/// The ledger of one host, opened for one PAM call.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn time(secs: i64) -> Time {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl Ledger {
    /// Opens the ledger at `path`, creating the file (0600) and its directory (0700) when
    /// missing. A file that group or others can read, or that another user owns, is refused.
    pub fn open(path: &Path, euid: u32) -> Result<Self, Error> {
        let fail = |p: String| Error::Store {
            location: path.display().to_string(),
            operation: "open the host's ledger",
            problem: p,
        };
        crate::private_file::create(path).map_err(fail)?;
        crate::private_file::check(path, euid).map_err(fail)?;
        let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> Error {
        let location = self.path.display().to_string();
        move |e| Error::Store {
            location: location.clone(),
            operation,
            problem: e.to_string(),
        }
    }

    /// The request shown to `user`: the one made within `keep_secs` before `now`, else a new
    /// one from `random` (kept from now on). Second: whether it is new.
    pub fn request(
        &mut self,
        user: &str,
        now: Time,
        keep_secs: u64,
        random: impl FnMut() -> u8,
    ) -> Result<(RequestCode, bool), Error> {
        let fail = self.fail("keep an offline request");
        let kept: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT request, created_at FROM ledger_requests WHERE user = ?1",
                params![user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&fail)?;
        let fresh_after = crate::before(now, keep_secs).timestamp();
        if let Some((text, created)) = kept {
            if created > fresh_after && created <= now.timestamp() {
                if let Ok(request) = RequestCode::parse(&text) {
                    return Ok((request, false));
                }
            }
        }
        let request = RequestCode::from_random(random);
        self.conn
            .execute(
                "INSERT OR REPLACE INTO ledger_requests (user, request, created_at) VALUES (?1, ?2, ?3)",
                params![user, request.display(), now.timestamp()],
            )
            .map_err(&fail)?;
        Ok((request, true))
    }

    /// Wrong answers of `user` after `since`.
    pub fn failures(&self, user: &str, since: Time) -> Result<u32, Error> {
        self.conn
            .query_row(
                "SELECT count(*) FROM ledger_failures WHERE user = ?1 AND at > ?2",
                params![user, since.timestamp()],
                |r| r.get(0),
            )
            .map_err(self.fail("count wrong answers"))
    }

    /// Counts a wrong answer of `user` toward the lockout, forgetting those before
    /// `forget_before`.
    pub fn count_failure(
        &mut self,
        user: &str,
        now: Time,
        forget_before: Time,
    ) -> Result<(), Error> {
        let fail = self.fail("count a wrong answer");
        let tx = self.conn.transaction().map_err(&fail)?;
        tx.execute(
            "DELETE FROM ledger_failures WHERE at <= ?1",
            params![forget_before.timestamp()],
        )
        .and_then(|_| {
            tx.execute(
                "INSERT INTO ledger_failures (user, at) VALUES (?1, ?2)",
                params![user, now.timestamp()],
            )
        })
        .map_err(&fail)?;
        tx.commit().map_err(&fail)
    }

    /// Accepts a response to `request` of `user` (verified by the caller), valid until
    /// `not_after`, in one transaction: the request must still be the one kept (else
    /// `Ok(false)`: it was used or replaced meanwhile), and it is consumed; the response's
    /// `digest` is kept for its validity; the login is kept for the site.
    pub fn accept(
        &mut self,
        user: &str,
        request: &RequestCode,
        digest: &[u8; 32],
        now: Time,
        not_after: Time,
        service: &str,
    ) -> Result<bool, Error> {
        let fail = self.fail("accept an offline response");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&fail)?;
        let consumed = tx
            .execute(
                "DELETE FROM ledger_requests WHERE user = ?1 AND request = ?2",
                params![user, request.display()],
            )
            .map_err(&fail)?;
        if consumed != 1 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM ledger_grants WHERE not_after <= ?1",
            params![now.timestamp()],
        )
        .and_then(|_| {
            tx.execute(
                "INSERT INTO ledger_grants (user, digest, not_after) VALUES (?1, ?2, ?3)",
                params![user, &digest[..], not_after.timestamp()],
            )
        })
        .and_then(|_| {
            tx.execute(
                "INSERT INTO ledger_logins (user, at, not_after, service, what) VALUES (?1, ?2, ?3, ?4, 'response accepted')",
                params![user, now.timestamp(), not_after.timestamp(), service],
            )
        })
        .map_err(&fail)?;
        tx.commit().map_err(&fail)?;
        Ok(true)
    }

    /// Whether `user` holds a response with `digest` that still works at `now`: its end, and
    /// the login kept for the site. Every live one of the user's is compared in constant time.
    pub fn use_grant(
        &mut self,
        user: &str,
        digest: &[u8; 32],
        now: Time,
        service: &str,
    ) -> Result<Option<Time>, Error> {
        let fail = self.fail("check an accepted response");
        let grants: Vec<(Vec<u8>, i64)> = self
            .conn
            .prepare(
                "SELECT digest, not_after FROM ledger_grants WHERE user = ?1 AND not_after > ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![user, now.timestamp()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .map_err(&fail)?;
        let mut found = None;
        for (d, until) in &grants {
            if bool::from(d.as_slice().ct_eq(&digest[..])) {
                found = Some(*until);
            }
        }
        let Some(until) = found else {
            return Ok(None);
        };
        self.conn
            .execute(
                "INSERT INTO ledger_logins (user, at, not_after, service, what) VALUES (?1, ?2, ?3, ?4, 'accepted response used again')",
                params![user, now.timestamp(), until, service],
            )
            .map_err(&fail)?;
        Ok(Some(time(until)))
    }

    /// Offline logins not yet reported, oldest first, at most `limit`.
    pub fn unreported(&self, limit: usize) -> Result<Vec<OfflineLogin>, Error> {
        self.conn
            .prepare("SELECT id, user, at, not_after, service, what FROM ledger_logins ORDER BY id LIMIT ?1")
            .and_then(|mut st| {
                st.query_map(params![limit as i64], |r| {
                    Ok(OfflineLogin {
                        id: r.get(0)?,
                        user: r.get(1)?,
                        at: time(r.get(2)?),
                        not_after: time(r.get(3)?),
                        service: r.get(4)?,
                        what: r.get(5)?,
                    })
                })?
                .collect()
            })
            .map_err(self.fail("read the offline logins"))
    }

    /// Forgets offline login `id`: the site recorded it.
    pub fn reported(&mut self, id: i64) -> Result<(), Error> {
        self.conn
            .execute("DELETE FROM ledger_logins WHERE id = ?1", params![id])
            .map(|_| ())
            .map_err(self.fail("forget a reported offline login"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Time {
        time(1_796_000_000 + secs)
    }

    fn ledger(dir: &tempfile::TempDir) -> Ledger {
        Ledger::open(
            &dir.path().join("var/ledger.db"),
            nix::unistd::geteuid().as_raw(),
        )
        .unwrap()
    }

    #[test]
    fn a_request_is_kept_for_its_time_and_consumed_by_one_response() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(&dir);
        let mut n = 0u8;
        let mut random = || {
            n = n.wrapping_add(37);
            n
        };
        let (first, new) = l.request("alice", t(0), 3600, &mut random).unwrap();
        assert!(new);
        let (again, new) = l.request("alice", t(3599), 3600, &mut random).unwrap();
        assert_eq!((again.clone(), new), (first.clone(), false));
        let (bob, _) = l.request("bob", t(0), 3600, &mut random).unwrap();
        assert_ne!(bob, first);
        let d = [7u8; 32];
        assert!(l
            .accept("alice", &first, &d, t(10), t(3610), "sshd")
            .unwrap());
        // Consumed: the same request cannot be accepted twice.
        assert!(!l
            .accept("alice", &first, &d, t(11), t(3611), "sshd")
            .unwrap());
        // The grant works for its validity, for its user only.
        assert_eq!(
            l.use_grant("alice", &d, t(100), "sshd").unwrap(),
            Some(t(3610))
        );
        assert_eq!(l.use_grant("bob", &d, t(100), "sshd").unwrap(), None);
        assert_eq!(
            l.use_grant("alice", &[8; 32], t(100), "sshd").unwrap(),
            None
        );
        assert_eq!(l.use_grant("alice", &d, t(3610), "sshd").unwrap(), None);
        let logins = l.unreported(10).unwrap();
        assert_eq!(logins.len(), 2);
        assert_eq!(logins[0].what, "response accepted");
        l.reported(logins[0].id).unwrap();
        assert_eq!(l.unreported(10).unwrap().len(), 1);
        // After an hour a new request is made.
        let (later, new) = l.request("alice", t(7200), 3600, &mut random).unwrap();
        assert!(new);
        assert_ne!(later, first);
        // It all survives a reopen (a reboot).
        drop(l);
        let l = ledger(&dir);
        assert_eq!(l.unreported(10).unwrap().len(), 1);
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(dir.path().join("var/ledger.db"))
            .unwrap()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn wrong_answers_count_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(&dir);
        for i in 0..3 {
            l.count_failure("alice", t(i), t(-900)).unwrap();
        }
        assert_eq!(l.failures("alice", t(0)).unwrap(), 2);
        assert_eq!(l.failures("alice", t(-1)).unwrap(), 3);
        assert_eq!(l.failures("bob", t(-1)).unwrap(), 0);
    }
}
