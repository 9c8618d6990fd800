//! Unit tests of issuing: lifetimes, the ceiling, uses, scope and reasons.

use super::*;
use chrono::{Duration, TimeZone, Utc};
use sparekey_conf::PolicyFile;
use std::path::Path;

fn file(extra: &str) -> PolicyFile {
    let src = format!("enabled = true\n[[policy]]\nname = \"staff\"\nusers = [\"alice\"]\nservices = [\"sshd\", \"vpn\"]\n{extra}");
    sparekey_conf::parse_policy(&src, Path::new("p.toml")).unwrap()
}

fn now() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn request() -> IssueRequest {
    IssueRequest::new("alice", "root")
}

fn issue(f: &PolicyFile, req: &IssueRequest) -> Result<Credential, Error> {
    let code = Code::from_input(b"1234567890").unwrap();
    make_credential(
        &f.policy[0],
        req,
        &code,
        &SiteKey::from_bytes(&[1; 32]),
        now(),
    )
}

fn refusal(f: &PolicyFile, req: &IssueRequest) -> String {
    match issue(f, req) {
        Err(Error::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn defaults_come_from_policy() {
    let c = issue(&file("default-lifetime = \"8h\""), &request()).unwrap();
    assert_eq!(c.not_before, now());
    assert_eq!(c.not_after, now() + Duration::hours(8));
    assert_eq!(c.uses, Uses::Single);
    assert_eq!(c.id.len(), 12);
}

#[test]
fn every_preset_up_to_14d_is_accepted() {
    let f = file("");
    for p in [
        "15m", "30m", "1h", "2h", "4h", "8h", "1d", "2d", "5d", "14d",
    ] {
        let mut r = request();
        r.lifetime = Some(p.parse().unwrap());
        let c = issue(&f, &r).unwrap();
        assert_eq!(
            (c.not_after - c.not_before).num_seconds() as u64,
            p.parse::<sparekey_conf::Duration>().unwrap().as_secs()
        );
    }
}

#[test]
fn past_14_days_is_refused_naming_the_maximum() {
    let mut r = request();
    r.lifetime = Some("15d".parse().unwrap());
    let msg = refusal(&file(""), &r);
    assert_eq!(
        msg,
        "a credential ending 15d after issue is too long: the maximum is 14 days after issue (14d)"
    );
}

#[test]
fn a_late_start_cannot_stretch_past_the_ceiling() {
    let mut r = request();
    r.not_before = Some(now() + Duration::days(1));
    r.lifetime = Some("14d".parse().unwrap());
    assert!(refusal(&file(""), &r).contains("the maximum is 14 days"));
    r.lifetime = Some("13d".parse().unwrap());
    let c = issue(&file(""), &r).unwrap();
    assert_eq!(c.not_after, now() + Duration::days(14));
}

#[test]
fn policy_max_lifetime_lowers_the_ceiling() {
    let mut r = request();
    r.lifetime = Some("2d".parse().unwrap());
    let msg = refusal(
        &file("max-lifetime = \"1d\"\ndefault-lifetime = \"1h\""),
        &r,
    );
    assert!(
        msg.contains("policy \"staff\" allows at most 1d after issue"),
        "{msg}"
    );
}

#[test]
fn custom_window_with_until() {
    let mut r = request();
    r.not_before = Some(now() + Duration::hours(2));
    r.not_after = Some(now() + Duration::hours(5));
    let c = issue(&file(""), &r).unwrap();
    assert_eq!(
        (c.not_before, c.not_after),
        (now() + Duration::hours(2), now() + Duration::hours(5))
    );
    r.not_after = Some(now() + Duration::hours(1));
    assert!(refusal(&file(""), &r).contains("ends"));
    r.lifetime = Some("1h".parse().unwrap());
    assert!(refusal(&file(""), &r).contains("not both"));
}

#[test]
fn a_start_in_the_past_starts_now() {
    let mut r = request();
    r.not_before = Some(now() - Duration::hours(3));
    assert_eq!(issue(&file(""), &r).unwrap().not_before, now());
}

#[test]
fn multi_use_follows_policy() {
    let mut r = request();
    r.uses = Uses::Multi;
    assert_eq!(issue(&file(""), &r).unwrap().uses, Uses::Multi);
    assert!(refusal(&file("multi-use = false"), &r).contains("only single-use"));
    r.uses = Uses::Limited(3);
    assert!(refusal(&file("multi-use = false"), &r).contains("only single-use"));
    r.uses = Uses::Limited(0);
    assert!(refusal(&file(""), &r).contains("at least 1"));
}

#[test]
fn services_and_hosts_narrow_within_policy() {
    let mut r = request();
    r.services = vec!["vpn".into()];
    assert_eq!(
        issue(&file(""), &r).unwrap().services,
        vec!["vpn".to_string()]
    );
    r.services = vec!["sudo".into()];
    assert_eq!(
        refusal(&file(""), &r),
        "service \"sudo\" is not allowed by policy \"staff\"; expected one of: sshd, vpn"
    );
    r.services = vec![];
    r.hosts = vec!["db1".into()];
    assert!(refusal(&file("hosts = [\"web1\"]"), &r).contains("host \"db1\" is not allowed"));
}

#[test]
fn reasons_are_required_when_policy_says_and_kept_one_line() {
    assert!(
        refusal(&file("require-reason = true"), &request()).contains("requires a justification")
    );
    let mut r = request();
    r.reason = Some("lost phone, ticket 4711".into());
    assert_eq!(
        issue(&file("require-reason = true"), &r)
            .unwrap()
            .reason
            .as_deref(),
        Some("lost phone, ticket 4711")
    );
    r.reason = Some("two\nlines".into());
    assert!(refusal(&file(""), &r).contains("one line"));
}

#[test]
fn kinds_follow_policy() {
    let mut r = request();
    r.kind = Kind::Fixed;
    assert!(refusal(&file(""), &r).contains("does not allow fixed credentials"));
}

#[test]
fn the_code_is_stored_only_as_its_digest() {
    let c = issue(&file(""), &request()).unwrap();
    assert_eq!(
        c.digest,
        SiteKey::from_bytes(&[1; 32]).digest("alice", b"1234567890")
    );
    assert!(!format!("{c:?}").contains("1234567890"));
}

fn kinds_file(extra: &str) -> PolicyFile {
    file(&format!(
        "kinds = [\"temporary\", \"fixed\", \"universal\"]\n{extra}"
    ))
}

#[test]
fn fixed_passcodes_need_the_policy_minimum_length() {
    let f = kinds_file("fixed-min-length = 12");
    let mut r = request();
    r.kind = Kind::Fixed;
    r.uses = Uses::Multi;
    let short = make_credential(
        &f.policy[0],
        &r,
        &Code::from_input(b"horse-staple").unwrap(),
        &SiteKey::from_bytes(&[1; 32]),
        now(),
    );
    assert!(
        matches!(short, Err(Error::Refused(ref m)) if m.contains("at least 12 characters")),
        "{short:?}"
    );
    let ok = make_credential(
        &f.policy[0],
        &r,
        &Code::from_input(b"correct horse battery").unwrap(),
        &SiteKey::from_bytes(&[1; 32]),
        now(),
    )
    .unwrap();
    assert_eq!((ok.kind, ok.uses), (Kind::Fixed, Uses::Multi));
}

#[test]
fn universal_codes_default_to_an_hour_and_bind_to_the_policy() {
    let f = kinds_file("");
    let mut r = request();
    r.kind = Kind::Universal;
    r.user = crate::credential::UNIVERSAL_USER.into();
    r.uses = Uses::Multi;
    let c = issue(&f, &r).unwrap();
    assert_eq!(c.not_after - c.not_before, Duration::hours(1));
    let key = SiteKey::from_bytes(&[1; 32]);
    assert_eq!(
        c.digest,
        key.digest(
            &crate::credential::digest_subject(Kind::Universal, "*", "staff"),
            b"1234567890"
        )
    );
    assert_ne!(c.digest, key.digest("*", b"1234567890"));
    r.lifetime = Some("15d".parse().unwrap());
    assert!(refusal(&f, &r).contains("14 days"));
}

#[test]
fn activate_on_first_use_keeps_both_windows_under_the_ceiling() {
    let mut r = request();
    r.lifetime = Some("8h".parse().unwrap());
    r.activate_within = Some("5d".parse().unwrap());
    let c = issue(&file(""), &r).unwrap();
    assert_eq!(
        (c.not_before, c.not_after, c.activation),
        (now(), now() + Duration::days(5), Some(8 * 3600))
    );
    r.activate_within = Some("15d".parse().unwrap());
    assert_eq!(
        refusal(&file(""), &r),
        "a first use due 15d after issue is too long: the maximum is 14 days after issue (14d)"
    );
    r.activate_within = Some("1d".parse().unwrap());
    r.not_after = Some(now() + Duration::hours(3));
    assert!(refusal(&file(""), &r).contains("starts at its first use"));
}
