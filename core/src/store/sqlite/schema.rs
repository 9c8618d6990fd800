//! The SQLite schema, its versions and the migration between them.

/// The schema version this build writes (PRAGMA user_version).
pub const VERSION: i64 = 5;

/// The replies table (version 3), in a macro so that [`CREATE`] and [`UPGRADE_FROM_2`]
/// share one text.
macro_rules! replies_table {
    () => {
        "
-- replies: the outcome of a RADIUS request that changed state (a use spent, a window
-- started), kept until `until` under the request's key (client, source, Identifier, Request
-- Authenticator), so that a retransmit long after the first answer gets that answer again
-- and spends nothing twice. Pruned oldest first (by id) as new ones come.
CREATE TABLE IF NOT EXISTS replies (
    id          INTEGER PRIMARY KEY,
    key         BLOB NOT NULL UNIQUE,
    until       INTEGER NOT NULL,
    credential  TEXT,
    not_after   INTEGER,
    counted     INTEGER NOT NULL,
    activates   INTEGER NOT NULL,
    reason      TEXT
);
"
    };
}

/// The hosts table (version 5), in a macro as [`replies_table`] is.
macro_rules! hosts_table {
    () => {
        "
-- hosts: the member hosts of a site. A host's keys are derived from the site key, its name
-- and its serial (the number of its enrollments), so nothing secret is kept here.
CREATE TABLE IF NOT EXISTS hosts (
    name        TEXT PRIMARY KEY,
    serial      INTEGER NOT NULL,
    enrolled_at INTEGER NOT NULL,
    enrolled_by TEXT NOT NULL,
    revoked_at  INTEGER,
    last_seen   INTEGER
);
"
    };
}

/// The triggers of version 4, in a macro as [`replies_table`] is. Any writer's change to a
/// credential bumps the generation, a hand-made `sqlite3` revoke or delete included, so that
/// sparekeyd's cache sees it within its recheck. Only on credentials: three short triggers
/// cost every connection's schema parse (a PAM login's) a few microseconds, and a change to
/// failures by hand can only keep a user locked out longer.
macro_rules! generation_triggers {
    () => {
        "
CREATE TRIGGER IF NOT EXISTS generation_on_credential_insert AFTER INSERT ON credentials
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS generation_on_credential_update AFTER UPDATE ON credentials
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
CREATE TRIGGER IF NOT EXISTS generation_on_credential_delete AFTER DELETE ON credentials
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
"
    };
}

/// Creates the tables of the current version.
pub const CREATE: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS credentials (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user        TEXT NOT NULL,
    policy      TEXT NOT NULL,
    services    TEXT NOT NULL,
    hosts       TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    max_uses    INTEGER,
    used        INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER,
    issued_by   TEXT NOT NULL,
    reason      TEXT,
    activate_secs INTEGER,
    digest      BLOB NOT NULL,
    seal        BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials(user, not_after);
-- failures: wrong codes that count toward lockout; one row may stand for `count` of them
-- (sparekeyd writes a flood of guesses for one user as one row per batch, at its last time).
CREATE TABLE IF NOT EXISTS failures (
    user  TEXT NOT NULL,
    at    INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS failures_by_user ON failures(user, at);
CREATE TABLE IF NOT EXISTS audit (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    credential TEXT,
    service    TEXT,
    source     TEXT NOT NULL,
    reason     TEXT,
    mac        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit(subject, seq);
-- generation: bumped by every transaction that changes credentials or failures (the store
-- does it, seeing row changes through SQLite's update hook; the triggers do it for any
-- writer's change to credentials), so a long-running reader can tell with one small read
-- whether what it cached is still true. Audit appends do not bump it.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
",
    replies_table!(),
    generation_triggers!(),
    hosts_table!(),
    "PRAGMA user_version = 5;
"
);

/// Brings a version 1 store to version 2: failures gained `count`; the generation triggers
/// went (they were parsed by every connection and fired per row; the store bumps the
/// generation once per transaction instead).
pub const UPGRADE_FROM_1: &str = "
ALTER TABLE failures ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
DROP TRIGGER IF EXISTS credentials_inserted;
DROP TRIGGER IF EXISTS credentials_updated;
DROP TRIGGER IF EXISTS credentials_deleted;
DROP TRIGGER IF EXISTS failures_inserted;
DROP TRIGGER IF EXISTS failures_deleted;
PRAGMA user_version = 2;
";

/// Brings a version 2 store to version 3: the replies kept for RADIUS retransmits.
pub const UPGRADE_FROM_2: &str = concat!(replies_table!(), "PRAGMA user_version = 3;\n");

/// Brings a version 3 store to version 4: credentials gained their seal (the rows found are
/// sealed as they are, by [`migrate`], in the same transaction), and the generation
/// triggers.
pub const UPGRADE_FROM_3: &str = concat!(
    "ALTER TABLE credentials ADD COLUMN seal BLOB NOT NULL DEFAULT x'';\n",
    generation_triggers!(),
    "PRAGMA user_version = 4;\n"
);

/// Brings a version 4 store to version 5: the member hosts.
pub const UPGRADE_FROM_4: &str = concat!(hosts_table!(), "PRAGMA user_version = 5;\n");

/// Why [`migrate`] failed.
pub enum MigrateError {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// The store is of a newer version than this build.
    Newer(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Creates the schema in a new store, or brings an older one to [`VERSION`], each in one
/// IMMEDIATE transaction that checks the version again: another process may have done it.
/// `seal_rows` seals the credentials an upgrade from before version 4 finds, inside that
/// transaction.
pub fn migrate(
    conn: &rusqlite::Connection,
    seal_rows: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<()>,
) -> Result<(), MigrateError> {
    let version = |c: &rusqlite::Connection| -> rusqlite::Result<i64> {
        c.pragma_query_value(None, "user_version", |r| r.get(0))
    };
    match version(conn)? {
        VERSION => Ok(()),
        0..=4 => {
            conn.execute_batch("BEGIN IMMEDIATE;")?;
            let found = version(conn);
            let step = match found {
                Ok(0) => CREATE.to_string(),
                Ok(1) => {
                    format!("{UPGRADE_FROM_1}{UPGRADE_FROM_2}{UPGRADE_FROM_3}{UPGRADE_FROM_4}")
                }
                Ok(2) => format!("{UPGRADE_FROM_2}{UPGRADE_FROM_3}{UPGRADE_FROM_4}"),
                Ok(3) => format!("{UPGRADE_FROM_3}{UPGRADE_FROM_4}"),
                Ok(4) => UPGRADE_FROM_4.to_string(),
                Ok(_) => String::new(),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK;");
                    return Err(e.into());
                }
            };
            let upgraded = conn.execute_batch(&step).and_then(|()| match found {
                Ok(1..=3) => seal_rows(conn),
                _ => Ok(()),
            });
            match upgraded.and_then(|()| conn.execute_batch("COMMIT;")) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK;");
                    Err(e.into())
                }
            }
        }
        newer => Err(MigrateError::Newer(newer)),
    }
}
