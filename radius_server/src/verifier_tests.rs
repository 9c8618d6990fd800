//! The shared verifier over the real store: a flush of audit events alone keeps the cache,
//! and wrong codes are counted once toward lockout whether written yet or not.

use super::*;
use crate::listener::tests::{issue, site};
use sparekey_core::Reason;

fn try_code(v: &mut SharedVerifier, state: &State, code: &str, now: Time) -> Verdict {
    let code = Code::from_input(code.as_bytes()).unwrap();
    let request = CodeRequest {
        user: "alice",
        service: "vpn",
        source: "test",
        code: &code,
    };
    v.verify(&state.config().policy, &request, now).unwrap()
}

fn cached_users(v: &SharedVerifier) -> String {
    let shown = format!("{v:?}");
    let at = shown.find("users: ").expect("the redeemer is open");
    shown[at..].split(',').next().unwrap().to_string()
}

#[test]
fn failures_count_once_across_flushes_and_audit_alone_keeps_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let state = site(dir.path());
    issue(&state, &["1234567890".to_string()]);
    let mut v = SharedVerifier::new(state.clone());
    let t0 = chrono::Utc::now();
    let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let wrong = Verdict::Rejected(Reason::WrongCode);

    // Two wrong codes, written; two more, not yet: 4 of the 5 allowed, the code still works.
    assert_eq!(try_code(&mut v, &state, "0000000001", at(0)), wrong);
    assert_eq!(try_code(&mut v, &state, "0000000002", at(10)), wrong);
    assert_eq!(
        v.flush().unwrap(),
        2 + 1,
        "two failures, one event with a count of 2"
    );
    assert_eq!(try_code(&mut v, &state, "0000000003", at(20)), wrong);
    assert_eq!(try_code(&mut v, &state, "0000000004", at(30)), wrong);
    assert!(matches!(
        try_code(&mut v, &state, "1234567890", at(40)),
        Verdict::Accepted { .. }
    ));
    // The fifth locks alice out, written or not.
    assert_eq!(try_code(&mut v, &state, "0000000005", at(50)), wrong);
    let locked = Verdict::Rejected(Reason::LockedOut);
    assert_eq!(try_code(&mut v, &state, "0000000006", at(60)), locked);
    v.flush().unwrap();
    assert_eq!(try_code(&mut v, &state, "0000000007", at(70)), locked);
    assert_eq!(cached_users(&v), "users: 1");

    // A flush of refusals alone (no failure counted while locked out) keeps alice cached.
    assert!(v.flush().unwrap() > 0);
    assert_eq!(cached_users(&v), "users: 1");
    assert_eq!(try_code(&mut v, &state, "0000000008", at(80)), locked);
}
