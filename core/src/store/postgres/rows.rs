//! Conversions between PostgreSQL rows and core types (the columns of [`CREDENTIAL_COLUMNS`]
//! and [`EVENT_COLUMNS`], in order).

use crate::audit::{Action, AuditEvent};
use crate::{Credential, SiteKey, Time, Uses};
use chrono::{DateTime, Utc};
use postgres::Row;
use sparekey_conf::Kind;

/// A credential's columns, as [`credential`] reads them.
pub const CREDENTIAL_COLUMNS: &str = "id, kind, user_name, policy, services, hosts, issued_at, not_before, not_after, max_uses, used, revoked_at, issued_by, reason, activate_secs, digest, seal";

/// An event's columns, as [`event`] reads them.
pub const EVENT_COLUMNS: &str =
    "seq, time, action, actor, subject, credential, service, source, reason";

pub fn time(secs: i64) -> Time {
    DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default()
}

/// Lists are stored comma-joined, as in SQLite; names are checked at issue to hold none.
pub fn join(list: &[String]) -> String {
    list.join(",")
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Why a row could not be read as what it should be.
pub type RowError = String;

/// The credential in `r`, its seal checked with `key`: a row whose seal does not match comes
/// back marked [`Credential::tampered`], as from SQLite.
pub fn credential(r: &Row, key: &SiteKey) -> Result<Credential, RowError> {
    let get = |e: postgres::Error| format!("a credential row: {e}");
    let kind: String = r.try_get(1).map_err(get)?;
    let digest: Vec<u8> = r.try_get(15).map_err(get)?;
    let seal: Vec<u8> = r.try_get(16).map_err(get)?;
    let max_uses: Option<i64> = r.try_get(9).map_err(get)?;
    let mut c = Credential {
        id: r.try_get(0).map_err(get)?,
        kind: Kind::parse(&kind).ok_or("a credential row: unknown credential kind")?,
        user: r.try_get(2).map_err(get)?,
        policy: r.try_get(3).map_err(get)?,
        services: split(&r.try_get::<_, String>(4).map_err(get)?),
        hosts: split(&r.try_get::<_, String>(5).map_err(get)?),
        issued_at: time(r.try_get(6).map_err(get)?),
        not_before: time(r.try_get(7).map_err(get)?),
        not_after: time(r.try_get(8).map_err(get)?),
        uses: Uses::from_cap(max_uses.map(count)),
        used: count(r.try_get(10).map_err(get)?),
        revoked_at: r.try_get::<_, Option<i64>>(11).map_err(get)?.map(time),
        issued_by: r.try_get(12).map_err(get)?,
        reason: r.try_get(13).map_err(get)?,
        activation: r
            .try_get::<_, Option<i64>>(14)
            .map_err(get)?
            .map(|s| s.max(0) as u64),
        digest: digest
            .try_into()
            .map_err(|_| "a credential row: digest is not 32 bytes".to_string())?,
        tampered: false,
    };
    c.tampered = !c.seal_matches(key, &seal);
    Ok(c)
}

/// The audit event in `r`.
pub fn event(r: &Row) -> Result<AuditEvent, RowError> {
    let get = |e: postgres::Error| format!("an audit row: {e}");
    let action: String = r.try_get(2).map_err(get)?;
    Ok(AuditEvent {
        seq: r.try_get(0).map_err(get)?,
        time: time(r.try_get(1).map_err(get)?),
        action: Action::parse(&action).ok_or("an audit row: unknown audit action")?,
        actor: r.try_get(3).map_err(get)?,
        subject: r.try_get(4).map_err(get)?,
        credential: r.try_get(5).map_err(get)?,
        service: r.try_get(6).map_err(get)?,
        source: r.try_get(7).map_err(get)?,
        reason: r.try_get(8).map_err(get)?,
    })
}
