//! Times as a person types them on the command line, turned into RFC 3339 UTC for the daemon.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Accepts RFC 3339 ("2026-11-22T09:00:00Z", "...+01:00") or local time as
/// "YYYY-MM-DD HH:MM", "YYYY-MM-DDTHH:MM", "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD" (midnight).
pub fn to_rfc3339(flag: &str, text: &str) -> Result<String, String> {
    let utc = parse(text).ok_or_else(|| {
        format!("{flag}: expected a time like 2026-11-22T09:00:00Z or local \"2026-11-22 09:00\" or 2026-11-22, found {text:?}")
    })?;
    Ok(utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_normalised_to_utc() {
        assert_eq!(
            to_rfc3339("--until", "2026-11-22T10:00:00+01:00").unwrap(),
            "2026-11-22T09:00:00Z"
        );
    }

    #[test]
    fn local_forms_parse() {
        for t in [
            "2026-11-22 09:00",
            "2026-11-22T09:00",
            "2026-11-22 09:00:30",
            "2026-11-22",
        ] {
            assert!(to_rfc3339("--until", t).is_ok(), "{t}");
        }
    }

    #[test]
    fn garbage_names_the_flag_and_the_forms() {
        let e = to_rfc3339("--from", "tomorrow").unwrap_err();
        assert!(e.starts_with("--from: expected a time like"), "{e}");
    }
}
