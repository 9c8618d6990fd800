//! Taking over a SQLite store whole (`sparekeyd --import-sqlite`), in one transaction: how a
//! single-node site grows into several nodes. The audit log keeps its seq numbers and
//! HMACs, so its chain stays intact; credentials are sealed again under the same key.

use super::admin::insert_credential;
use super::login::{failed, pg};
use super::PgStore;
use crate::audit::{Action, AuditEvent};
use crate::store::{Export, Origin, Store};
use crate::{Error, Time};

/// What an import copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Credentials.
    pub credentials: usize,
    /// Failure rows.
    pub failures: usize,
    /// Audit events (the import's own event not counted).
    pub events: usize,
    /// Member hosts.
    pub hosts: usize,
}

impl PgStore {
    /// Copies `export` into this store, which must be empty (no credential, event or host),
    /// and records an `import` event naming `from`; then checks the whole chain.
    pub fn import(
        &mut self,
        export: &Export,
        from: &str,
        now: Time,
        origin: Origin<'_>,
    ) -> Result<Imported, Error> {
        let counts = self.counts(now)?;
        if counts.credentials > 0 || counts.events > 0 || !self.hosts()?.is_empty() {
            return Err(Error::Refused(format!(
                "{} is not empty ({} credentials, {} audit events): an import goes into a new database only",
                self.shown, counts.credentials, counts.events
            )));
        }
        let key = self.key.clone();
        let fail = failed(self, "import a store");
        let imported = Imported {
            credentials: export.credentials.len(),
            failures: export.failures.len(),
            events: export.audit.len(),
            hosts: export.hosts.len(),
        };
        self.write("import a store", |tx, events| {
            for c in &export.credentials {
                insert_credential(tx, &key, c).map_err(&fail)?;
            }
            for (user, at, count) in &export.failures {
                tx.execute(
                    "INSERT INTO failures (user_name, at, count) VALUES ($1, $2, $3)",
                    &[user, &at.timestamp(), &i64::from(*count)],
                )
                .map_err(pg)
                .map_err(&fail)?;
            }
            for (e, mac) in &export.audit {
                tx.execute(
                    "INSERT INTO audit (seq, time, action, actor, subject, credential, service, source, reason, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        &e.seq,
                        &e.time.timestamp(),
                        &e.action.as_str(),
                        &e.actor,
                        &e.subject,
                        &e.credential,
                        &e.service,
                        &e.source,
                        &e.reason,
                        mac,
                    ],
                )
                .map_err(pg)
                .map_err(&fail)?;
            }
            if let Some(anchor) = &export.anchor {
                tx.execute("INSERT INTO audit_anchor (only_one, mac) VALUES (true, $1)", &[anchor])
                    .map_err(pg)
                    .map_err(&fail)?;
            }
            for h in &export.hosts {
                tx.execute(
                    "INSERT INTO hosts (name, serial, enrolled_at, enrolled_by, revoked_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &h.name,
                        &i64::from(h.serial),
                        &h.enrolled_at.timestamp(),
                        &h.enrolled_by,
                        &h.revoked_at.map(|t| t.timestamp()),
                        &h.last_seen.map(|t| t.timestamp()),
                    ],
                )
                .map_err(pg)
                .map_err(&fail)?;
            }
            events.push(
                AuditEvent::new(now, Action::Import, origin.actor, "-")
                    .source(origin.source)
                    .reason(&format!(
                        "from {from}: {} credentials, {} failure rows, {} audit events (seq {} to {}), {} hosts",
                        imported.credentials,
                        imported.failures,
                        imported.events,
                        export.audit.first().map_or(0, |(e, _)| e.seq),
                        export.audit.last().map_or(0, |(e, _)| e.seq),
                        imported.hosts
                    )),
            );
            Ok(())
        })?;
        if let Some(seq) = self.verify_audit_chain()? {
            return Err(Error::Store {
                location: self.shown.clone(),
                operation: "import a store",
                problem: format!("the imported chain does not verify at event {seq}"),
            });
        }
        Ok(imported)
    }
}
