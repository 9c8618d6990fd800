//! Conversions between store rows and core types.

use crate::audit::{Action, AuditEvent};
use crate::{Credential, SiteKey, Time, Uses};
use chrono::{DateTime, Utc};
use rusqlite::Row;
use sparekey_conf::Kind;

/// The columns [`event`] reads, in order.
pub const EVENT_COLUMNS: &str =
    "seq, time, action, actor, subject, credential, service, source, reason";

pub fn time(secs: i64) -> Time {
    DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default()
}

/// Lists are stored comma-joined; names are checked at issue to hold no commas.
pub fn join(list: &[String]) -> String {
    list.join(",")
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        what.to_string().into(),
    )
}

/// The credential in `r` (the columns of `credential_columns!`), its seal checked with `key`:
/// a row whose seal does not match comes back marked [`Credential::tampered`].
pub fn credential(r: &Row<'_>, key: &SiteKey) -> rusqlite::Result<Credential> {
    let kind: String = r.get(1)?;
    let digest: Vec<u8> = r.get(15)?;
    let max_uses: Option<u32> = r.get(9)?;
    let seal: Vec<u8> = r.get(16)?;
    let mut c = Credential {
        id: r.get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| bad(1, "unknown credential kind"))?,
        user: r.get(2)?,
        policy: r.get(3)?,
        services: split(&r.get::<_, String>(4)?),
        hosts: split(&r.get::<_, String>(5)?),
        issued_at: time(r.get(6)?),
        not_before: time(r.get(7)?),
        not_after: time(r.get(8)?),
        uses: Uses::from_cap(max_uses),
        used: r.get(10)?,
        revoked_at: r.get::<_, Option<i64>>(11)?.map(time),
        issued_by: r.get(12)?,
        reason: r.get(13)?,
        activation: r.get::<_, Option<i64>>(14)?.map(|s| s.max(0) as u64),
        digest: digest
            .try_into()
            .map_err(|_| bad(15, "digest is not 32 bytes"))?,
        tampered: false,
    };
    c.tampered = !c.seal_matches(key, &seal);
    Ok(c)
}

pub fn event(r: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let action: String = r.get(2)?;
    Ok(AuditEvent {
        seq: r.get(0)?,
        time: time(r.get(1)?),
        action: Action::parse(&action).ok_or_else(|| bad(2, "unknown audit action"))?,
        actor: r.get(3)?,
        subject: r.get(4)?,
        credential: r.get(5)?,
        service: r.get(6)?,
        source: r.get(7)?,
        reason: r.get(8)?,
    })
}
