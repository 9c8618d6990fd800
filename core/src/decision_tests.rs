//! Unit tests of the verification decision, with injected time.

use super::*;
use crate::{Credential, SiteKey, Uses};
use chrono::{Duration, TimeZone, Utc};
use sparekey_conf::{Kind, PolicyFile};
use std::path::Path;

fn policies() -> PolicyFile {
    sparekey_conf::parse_policy(
        r#"enabled = true
[[policy]]
name = "staff"
users = ["alice", "bob"]
services = ["sshd", "vpn"]
hosts = ["bastion", "gw"]
kinds = ["temporary", "universal"]
lockout = { attempts = 3, window = "15m" }
"#,
        Path::new("test-policy.toml"),
    )
    .unwrap()
}

fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn key() -> SiteKey {
    SiteKey::from_bytes(&[9; 32])
}

fn cred(user: &str, code: &str) -> Credential {
    Credential {
        id: format!("id-{user}-{code}"),
        kind: Kind::Temporary,
        user: user.into(),
        policy: "staff".into(),
        services: vec![],
        hosts: vec![],
        issued_at: t0(),
        not_before: t0(),
        not_after: t0() + Duration::hours(1),
        uses: Uses::Single,
        used: 0,
        revoked_at: None,
        issued_by: "root".into(),
        reason: None,
        activation: None,
        digest: key().digest(user, code.as_bytes()),
        tampered: false,
    }
}

fn try_code(creds: &[Credential], user: &str, code: &str, now: Time) -> Verdict {
    try_with(
        creds,
        user,
        code,
        "sshd",
        Some("bastion"),
        now,
        0,
        &policies(),
    )
}

#[allow(clippy::too_many_arguments)]
fn try_with(
    creds: &[Credential],
    user: &str,
    code: &str,
    service: &str,
    host: Option<&str>,
    now: Time,
    failures: u32,
    file: &PolicyFile,
) -> Verdict {
    let policy = match eligibility(file, user, &[]) {
        Ok(p) => p,
        Err(early) => return Verdict::Rejected(early),
    };
    let attempt = Attempt {
        user,
        service,
        host,
        digest: key().digest(user, code.as_bytes()),
        universal_digest: Some(key().digest(
            &crate::credential::digest_subject(Kind::Universal, user, "staff"),
            code.as_bytes(),
        )),
        could_be_code: true,
    };
    decide(&state_of(creds), failures, policy, &attempt, now).verdict
}

fn state_of(creds: &[Credential]) -> UserState {
    UserState {
        credentials: creds.to_vec(),
        failures: Vec::new(),
    }
}

/// What the PAM module asks before prompting, with the switch and policy as a login has them.
struct Context<'a> {
    enabled: bool,
    policy: Option<&'a sparekey_conf::Policy>,
    recent_failures: u32,
    now: Time,
}

fn has_usable(
    creds: &[Credential],
    user: &str,
    service: &str,
    host: Option<&str>,
    ctx: &Context<'_>,
) -> bool {
    let Some(policy) = ctx.policy.filter(|_| ctx.enabled) else {
        return false;
    };
    let state = state_of(creds);
    availability(
        &state,
        ctx.recent_failures,
        policy,
        user,
        service,
        host,
        ctx.now,
    ) != Availability::NoCredential
}

fn rejected(v: Verdict) -> Reason {
    match v {
        Verdict::Rejected(r) => r,
        Verdict::Accepted { .. } => panic!("expected a refusal, got {v:?}"),
    }
}

#[test]
fn right_code_is_accepted_until_expiry() {
    let creds = [cred("alice", "1111111111")];
    let v = try_code(&creds, "alice", "1111111111", t0() + Duration::minutes(59));
    assert_eq!(
        v,
        Verdict::Accepted {
            credential: "id-alice-1111111111".into(),
            not_after: t0() + Duration::hours(1),
            counted: true,
            activates: false,
            uses_left: Some(0),
            policy: Some("staff".into()),
        }
    );
}

#[test]
fn wrong_code_is_refused() {
    let creds = [cred("alice", "1111111111")];
    assert_eq!(
        rejected(try_code(&creds, "alice", "1111111112", t0())),
        Reason::WrongCode
    );
}

#[test]
fn expired_code_is_refused_at_the_exact_end() {
    let creds = [cred("alice", "1111111111")];
    let end = t0() + Duration::hours(1);
    assert_eq!(
        rejected(try_code(&creds, "alice", "1111111111", end)),
        Reason::Expired
    );
    assert!(matches!(
        try_code(&creds, "alice", "1111111111", end - Duration::seconds(1)),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn not_yet_valid_code_is_refused() {
    let mut c = cred("alice", "1111111111");
    c.not_before = t0() + Duration::minutes(30);
    assert_eq!(
        rejected(try_code(&[c.clone()], "alice", "1111111111", t0())),
        Reason::NotYetValid
    );
    assert!(matches!(
        try_code(&[c], "alice", "1111111111", t0() + Duration::minutes(30)),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn used_up_code_is_refused() {
    let mut c = cred("alice", "1111111111");
    c.used = 1;
    assert_eq!(
        rejected(try_code(&[c.clone()], "alice", "1111111111", t0())),
        Reason::UsedUp
    );
    c.uses = Uses::Limited(3);
    c.used = 2;
    assert!(matches!(
        try_code(&[c.clone()], "alice", "1111111111", t0()),
        Verdict::Accepted { counted: true, .. }
    ));
    c.used = 3;
    assert_eq!(
        rejected(try_code(&[c], "alice", "1111111111", t0())),
        Reason::UsedUp
    );
}

#[test]
fn multi_use_code_is_not_counted() {
    let mut c = cred("alice", "1111111111");
    c.uses = Uses::Multi;
    c.used = 500;
    assert!(matches!(
        try_code(&[c], "alice", "1111111111", t0()),
        Verdict::Accepted { counted: false, .. }
    ));
}

#[test]
fn revoked_code_is_refused() {
    let mut c = cred("alice", "1111111111");
    c.revoked_at = Some(t0());
    assert_eq!(
        rejected(try_code(&[c], "alice", "1111111111", t0())),
        Reason::Revoked
    );
}

#[test]
fn wrong_service_and_host_are_refused() {
    let creds = [cred("alice", "1111111111")];
    let f = policies();
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "1111111111",
            "sudo",
            Some("bastion"),
            t0(),
            0,
            &f
        )),
        Reason::WrongService
    );
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "1111111111",
            "sshd",
            Some("db1"),
            t0(),
            0,
            &f
        )),
        Reason::WrongHost
    );
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "1111111111",
            "sshd",
            None,
            t0(),
            0,
            &f
        )),
        Reason::WrongHost,
        "unknown host fails closed"
    );
    let mut narrowed = cred("alice", "1111111111");
    narrowed.services = vec!["vpn".into()];
    assert_eq!(
        rejected(try_with(
            &[narrowed.clone()],
            "alice",
            "1111111111",
            "sshd",
            Some("gw"),
            t0(),
            0,
            &f
        )),
        Reason::WrongService
    );
    assert!(matches!(
        try_with(
            &[narrowed],
            "alice",
            "1111111111",
            "vpn",
            Some("gw"),
            t0(),
            0,
            &f
        ),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn another_users_code_is_refused() {
    let creds = [cred("alice", "1111111111"), cred("bob", "2222222222")];
    assert_eq!(
        rejected(try_code(&creds, "alice", "2222222222", t0())),
        Reason::WrongCode
    );
    // Even if bob's record were handed over with alice's, the digest binds the user.
    let mut stolen = cred("bob", "2222222222");
    stolen.user = "alice".into();
    assert_eq!(
        rejected(try_code(&[stolen], "alice", "2222222222", t0())),
        Reason::WrongCode
    );
}

#[test]
fn user_not_eligible_is_refused() {
    let creds = [cred("mallory", "1111111111")];
    assert_eq!(
        rejected(try_code(&creds, "mallory", "1111111111", t0())),
        Reason::NotEligible
    );
}

#[test]
fn switch_off_refuses_everything() {
    let creds = [cred("alice", "1111111111")];
    let mut f = policies();
    f.enabled = false;
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "1111111111",
            "sshd",
            Some("bastion"),
            t0(),
            0,
            &f
        )),
        Reason::Disabled
    );
    let ctx = Context {
        enabled: false,
        policy: f.policy_for("alice", &[]),
        recent_failures: 0,
        now: t0(),
    };
    assert!(!has_usable(&creds, "alice", "sshd", Some("bastion"), &ctx));
}

#[test]
fn locked_out_refuses_even_the_right_code() {
    let creds = [cred("alice", "1111111111")];
    let f = policies();
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "1111111111",
            "sshd",
            Some("bastion"),
            t0(),
            3,
            &f
        )),
        Reason::LockedOut
    );
    assert!(matches!(
        try_with(
            &creds,
            "alice",
            "1111111111",
            "sshd",
            Some("bastion"),
            t0(),
            2,
            &f
        ),
        Verdict::Accepted { .. }
    ));
}

#[test]
fn a_usable_credential_wins_over_a_spent_one_with_the_same_code() {
    let mut spent = cred("alice", "1111111111");
    spent.id = "old".into();
    spent.used = 1;
    let fresh = cred("alice", "1111111111");
    assert!(
        matches!(try_code(&[spent, fresh], "alice", "1111111111", t0()), Verdict::Accepted { credential, .. } if credential == "id-alice-1111111111")
    );
}

#[test]
fn has_usable_tells_whether_to_prompt() {
    let f = policies();
    let ctx = |now| Context {
        enabled: true,
        policy: f.policy_for("alice", &[]),
        recent_failures: 0,
        now,
    };
    let creds = [cred("alice", "1111111111")];
    assert!(has_usable(
        &creds,
        "alice",
        "sshd",
        Some("bastion"),
        &ctx(t0())
    ));
    assert!(!has_usable(
        &creds,
        "alice",
        "sudo",
        Some("bastion"),
        &ctx(t0())
    ));
    assert!(!has_usable(
        &creds,
        "alice",
        "sshd",
        Some("bastion"),
        &ctx(t0() + Duration::hours(2))
    ));
    assert!(!has_usable(
        &creds,
        "bob",
        "sshd",
        Some("bastion"),
        &ctx(t0())
    ));
    assert!(!has_usable(
        &[],
        "alice",
        "sshd",
        Some("bastion"),
        &ctx(t0())
    ));
}

fn universal(code: &str) -> Credential {
    let mut c = cred("*", code);
    c.kind = Kind::Universal;
    c.uses = Uses::Multi;
    c.id = "universal".into();
    c.digest = key().digest(
        &crate::credential::digest_subject(Kind::Universal, "*", "staff"),
        code.as_bytes(),
    );
    c
}

#[test]
fn a_universal_code_works_for_every_user_of_its_policy_only() {
    let creds = [universal("9999999999")];
    for user in ["alice", "bob"] {
        assert!(
            matches!(try_code(&creds, user, "9999999999", t0()), Verdict::Accepted { ref credential, counted: false, .. } if credential == "universal"),
            "{user}"
        );
    }
    assert_eq!(
        rejected(try_code(&creds, "mallory", "9999999999", t0())),
        Reason::NotEligible
    );
    let mut other_policy = universal("9999999999");
    other_policy.policy = "ops".into();
    assert_eq!(
        rejected(try_code(&[other_policy], "alice", "9999999999", t0())),
        Reason::WrongCode
    );
}

#[test]
fn a_universal_code_stops_when_the_policy_drops_the_kind() {
    let mut f = policies();
    f.policy[0].kinds = vec![Kind::Temporary];
    let creds = [universal("9999999999")];
    assert_eq!(
        rejected(try_with(
            &creds,
            "alice",
            "9999999999",
            "sshd",
            Some("bastion"),
            t0(),
            0,
            &f
        )),
        Reason::KindNotAllowed
    );
}

#[test]
fn activation_on_first_use_starts_the_window_then() {
    let mut c = cred("alice", "1111111111");
    c.activation = Some(3600);
    c.not_after = t0() + Duration::days(2); // redeem-by deadline
    let first = t0() + Duration::days(1);
    assert_eq!(
        try_code(&[c.clone()], "alice", "1111111111", first),
        Verdict::Accepted {
            credential: c.id.clone(),
            not_after: first + Duration::hours(1),
            counted: true,
            activates: true,
            uses_left: Some(0),
            policy: Some("staff".into()),
        }
    );
    assert_eq!(
        rejected(try_code(
            &[c.clone()],
            "alice",
            "1111111111",
            t0() + Duration::days(2)
        )),
        Reason::Expired,
        "not redeemed in time"
    );
    c.activation = Some(14 * 86_400);
    let late = t0() + Duration::days(1);
    let Verdict::Accepted { not_after, .. } = try_code(&[c], "alice", "1111111111", late) else {
        panic!()
    };
    assert_eq!(
        not_after,
        t0() + Duration::days(14),
        "never past 14 days from issue"
    );
}

#[test]
fn an_answer_that_cannot_be_a_code_is_refused_without_counting() {
    let f = policies();
    let policy = &f.policy[0];
    let key = key();
    let garbage =
        crate::Code::from_input(&[0x9b, 0x01, 0xff, 0x42, 0x13, 0x37, 0x80, 0x7f]).unwrap();
    let password = crate::Code::from_input(b"hunter2!").unwrap();
    let short = crate::Code::from_input(b"123").unwrap();
    for code in [&garbage, &password, &short] {
        let attempt = Attempt::new(&key, policy, "alice", "sshd", Some("bastion"), code);
        assert!(!attempt.could_be_code);
        let d = decide(
            &state_of(&[cred("alice", "1111111111")]),
            0,
            policy,
            &attempt,
            t0(),
        );
        assert_eq!(d.verdict, Verdict::Rejected(Reason::NotACode));
        assert_eq!(d.effects, Effects::default(), "not counted toward lockout");
    }
    // The same password is a possible fixed passcode where the policy has them.
    let mut with_fixed = policy.clone();
    with_fixed.kinds.push(Kind::Fixed);
    let attempt = Attempt::new(
        &key,
        &with_fixed,
        "alice",
        "sshd",
        Some("bastion"),
        &password,
    );
    assert!(attempt.could_be_code);
    let d = decide(&state_of(&[]), 0, &with_fixed, &attempt, t0());
    assert_eq!(d.verdict, Verdict::Rejected(Reason::WrongCode));
    assert!(d.effects.count_failure.is_some());
}
