//! The member hosts in the SQLite store: enroll, revoke, list.

use super::{rows, store_error, SqliteStore};
use crate::audit::{Action, AuditEvent};
use crate::host::{check_name, Host};
use crate::store::{events, Origin};
use crate::{Error, Time};
use rusqlite::{params, OptionalExtension, Transaction};

const HOST_COLUMNS: &str = "name, serial, enrolled_at, enrolled_by, revoked_at, last_seen";

fn host(r: &rusqlite::Row<'_>) -> rusqlite::Result<Host> {
    Ok(Host {
        name: r.get(0)?,
        serial: r.get(1)?,
        enrolled_at: rows::time(r.get(2)?),
        enrolled_by: r.get(3)?,
        revoked_at: r.get::<_, Option<i64>>(4)?.map(rows::time),
        last_seen: r.get::<_, Option<i64>>(5)?.map(rows::time),
    })
}

fn read_host(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<Host>> {
    tx.prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = ?1"))?
        .query_row(params![name], host)
        .optional()
}

impl SqliteStore {
    pub(super) fn enroll_host_in(
        &mut self,
        name: &str,
        now: Time,
        origin: Origin<'_>,
    ) -> Result<Host, Error> {
        check_name(name)?;
        let path = self.path.clone();
        self.write("enroll a host", |tx, events| {
            let sql = store_error(&path, "enroll a host");
            let serial = match read_host(tx, name).map_err(&sql)? {
                Some(h) if h.revoked_at.is_none() => return Err(events::enrolled_already(&h)),
                Some(h) => h.serial.saturating_add(1),
                None => 1,
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO hosts (name, serial, enrolled_at, enrolled_by, revoked_at, last_seen) VALUES (?1, ?2, ?3, ?4, NULL, NULL)",
            )
            .and_then(|mut st| st.execute(params![name, serial, now.timestamp(), origin.actor]))
            .map_err(&sql)?;
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

    pub(super) fn revoke_host_in(
        &mut self,
        name: &str,
        now: Time,
        origin: Origin<'_>,
        reason: Option<&str>,
    ) -> Result<Host, Error> {
        let path = self.path.clone();
        self.write("revoke a host", |tx, events| {
            let sql = store_error(&path, "revoke a host");
            let Some(mut h) = read_host(tx, name)
                .map_err(&sql)?
                .filter(|h| h.revoked_at.is_none())
            else {
                return Err(events::no_such_host(name));
            };
            tx.prepare_cached("UPDATE hosts SET revoked_at = ?2 WHERE name = ?1")
                .and_then(|mut st| st.execute(params![name, now.timestamp()]))
                .map_err(&sql)?;
            let mut e =
                AuditEvent::new(now, Action::HostRevoke, origin.actor, name).source(origin.source);
            e.reason = reason.map(str::to_string);
            events.push(e);
            h.revoked_at = Some(rows::time(now.timestamp()));
            Ok(h)
        })
        .map(|(h, _)| h)
    }

    pub(super) fn hosts_seen_in(&mut self, seen: &[(String, Time)]) -> Result<(), Error> {
        if seen.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        self.write_with(false, "record when hosts last asked", |tx, _| {
            let sql = store_error(&path, "record when hosts last asked");
            let mut st = tx
                .prepare_cached(
                    "UPDATE hosts SET last_seen = ?2 WHERE name = ?1 AND (last_seen IS NULL OR last_seen < ?2)",
                )
                .map_err(&sql)?;
            for (name, at) in seen {
                st.execute(params![name, at.timestamp()]).map_err(&sql)?;
            }
            Ok(())
        })
        .map(|_| ())
    }

    pub(super) fn hosts_in(&self) -> Result<Vec<Host>, Error> {
        self.conn
            .prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name"))
            .and_then(|mut st| st.query_map([], host)?.collect())
            .map_err(self.fail("list the hosts"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{t0, Fixture, ORIGIN};
    use crate::store::Store;
    use crate::{Action, Error};

    #[test]
    fn a_host_is_enrolled_once_revoked_and_enrolled_again_with_a_new_serial() {
        let mut f = Fixture::new();
        let h = f.store.enroll_host("host-a", t0(), ORIGIN).unwrap();
        assert_eq!((h.serial, h.revoked_at, h.last_seen), (1, None, None));
        let again = f.store.enroll_host("host-a", t0(), ORIGIN).unwrap_err();
        assert!(
            matches!(&again, Error::Refused(m) if m.contains("enrolled already")),
            "{again}"
        );
        f.store.enroll_host("host-b", t0(), ORIGIN).unwrap();
        let revoked = f
            .store
            .revoke_host("host-a", t0(), ORIGIN, Some("stolen"))
            .unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(
            f.store.revoke_host("host-a", t0(), ORIGIN, None),
            Err(Error::NotFound(_))
        ));
        assert_eq!(
            f.store.enroll_host("host-a", t0(), ORIGIN).unwrap().serial,
            2
        );
        let names: Vec<_> = f
            .store
            .hosts()
            .unwrap()
            .into_iter()
            .map(|h| (h.name, h.serial, h.revoked_at.is_some()))
            .collect();
        assert_eq!(
            names,
            [("host-a".into(), 2, false), ("host-b".into(), 1, false)]
        );
        let actions: Vec<_> = f
            .store
            .audit(Some("host-a"), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [Action::Enroll, Action::HostRevoke, Action::Enroll]
        );
        assert!(f.store.enroll_host("Host_A", t0(), ORIGIN).is_err());
    }

    #[test]
    fn last_seen_only_moves_forward_and_unknown_names_are_passed_over() {
        let mut f = Fixture::new();
        f.store.enroll_host("host-a", t0(), ORIGIN).unwrap();
        let later = t0() + chrono::Duration::seconds(90);
        let seen = [("host-a".to_string(), later), ("nobody".to_string(), later)];
        f.store.hosts_seen(&seen).unwrap();
        f.store.hosts_seen(&[("host-a".to_string(), t0())]).unwrap();
        let hosts = f.store.hosts().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].last_seen, Some(later));
    }
}
