//! The PostgreSQL schema, its versions, and the migration that brings a database to this
//! build's version: one transaction under an advisory lock, so that nodes starting at once
//! migrate once.

use postgres::Client;

/// The schema version this build writes (`sparekey_meta`'s 'schema_version').
pub const VERSION: i64 = 1;

/// The lock every migration takes (pg_advisory_xact_lock), a constant of sparekey's own.
const MIGRATE_LOCK: i64 = 0x5350_4b59_0001;

/// Version 1: as SQLite's version 5, with PostgreSQL's types. Times are Unix seconds, lists
/// comma-joined, `user_name` for SQLite's `user` (a keyword here). The generation moves
/// once in every transaction that changes a row of credentials or failures, whoever makes
/// it, and the change is announced on the channel `sparekey_generation`, so that every
/// node's cache hears of it at once.
const CREATE: &str = r#"
CREATE TABLE credentials (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    policy        TEXT NOT NULL,
    services      TEXT NOT NULL,
    hosts         TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    not_before    BIGINT NOT NULL,
    not_after     BIGINT NOT NULL,
    max_uses      BIGINT,
    used          BIGINT NOT NULL DEFAULT 0,
    revoked_at    BIGINT,
    issued_by     TEXT NOT NULL,
    reason        TEXT,
    activate_secs BIGINT,
    digest        BYTEA NOT NULL,
    seal          BYTEA NOT NULL,
    ord           BIGSERIAL
);
CREATE INDEX credentials_by_user ON credentials (user_name, not_after);
CREATE TABLE failures (
    user_name TEXT NOT NULL,
    at        BIGINT NOT NULL,
    count     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX failures_by_user ON failures (user_name, at);
CREATE INDEX failures_by_time ON failures (at);
CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    time       BIGINT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    credential TEXT,
    service    TEXT,
    source     TEXT NOT NULL,
    reason     TEXT,
    mac        BYTEA NOT NULL
);
CREATE INDEX audit_by_subject ON audit (subject, seq);
CREATE TABLE replies (
    id         BIGSERIAL PRIMARY KEY,
    key        BYTEA NOT NULL UNIQUE,
    until      BIGINT NOT NULL,
    credential TEXT,
    not_after  BIGINT,
    counted    BOOLEAN NOT NULL,
    activates  BOOLEAN NOT NULL,
    reason     TEXT
);
CREATE TABLE hosts (
    name        TEXT PRIMARY KEY,
    serial      BIGINT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    enrolled_by TEXT NOT NULL,
    revoked_at  BIGINT,
    last_seen   BIGINT
);
CREATE TABLE audit_anchor (
    only_one BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_one),
    mac      BYTEA NOT NULL
);
INSERT INTO sparekey_meta (key, value) VALUES ('generation', 0) ON CONFLICT DO NOTHING;
CREATE FUNCTION sparekey_generation_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction: the generation row updated for every row changed would leave a
    -- chain of versions of it behind in a long transaction (an import), each update slower.
    IF current_setting('sparekey.generation_moved', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE sparekey_meta SET value = value + 1 WHERE key = 'generation';
        PERFORM pg_notify('sparekey_generation', '');
        PERFORM set_config('sparekey.generation_moved', txid_current()::text, true);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER credentials_generation AFTER INSERT OR UPDATE OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION sparekey_generation_moves();
CREATE TRIGGER failures_generation AFTER INSERT OR UPDATE OR DELETE ON failures
    FOR EACH ROW EXECUTE FUNCTION sparekey_generation_moves();
"#;

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum MigrateError {
    /// PostgreSQL failed.
    Sql(postgres::Error),
    /// The database is of a newer version than this build.
    Newer(i64),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Creates the schema in an empty database, or checks that it is this build's version. A
/// node that finds another one migrating waits for its lock, then finds the work done.
/// Returns the store's id (random, made with the schema), which names this store.
pub fn migrate(client: &mut Client, new_id: &str) -> Result<String, MigrateError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sparekey_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL, text TEXT)",
    )?;
    let version: i64 = tx
        .query_opt(
            "SELECT value FROM sparekey_meta WHERE key = 'schema_version'",
            &[],
        )?
        .map_or(0, |r| r.get(0));
    match version {
        0 => {
            tx.batch_execute(CREATE)?;
            tx.execute(
                "INSERT INTO sparekey_meta (key, value, text) VALUES ('schema_version', $1, NULL), ('store_id', 0, $2)",
                &[&VERSION, &new_id],
            )?;
        }
        VERSION => {}
        newer => return Err(MigrateError::Newer(newer)),
    }
    let id: Option<String> = tx
        .query_one("SELECT text FROM sparekey_meta WHERE key = 'store_id'", &[])?
        .get(0);
    tx.commit()?;
    Ok(id.unwrap_or_default())
}
