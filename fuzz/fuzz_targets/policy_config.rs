//! Fuzz target: arbitrary text as policy.toml through sparekey-conf's parse_policy: errors located in the text, accepted files holding what the checks promise, and the queries logins and sparekeyd make.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sparekey_conf::{parse_policy, Duration, Error, Kind, PolicyFile, MAX_LIFETIME};

mod diagnostics;

const ORIGIN: &str = "/etc/sparekey/policy.toml";

fuzz_target!(|data: &[u8]| {
    // Callers read the file with read_to_string: only UTF-8 reaches the parser.
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match parse_policy(src, Path::new(ORIGIN)) {
        Ok(file) => accepted(&file),
        Err(e) => refused(src, &e),
    }
});

/// Every error names the file, a line and column in it (a syntax error too), the line itself,
/// and a reason.
fn refused(src: &str, e: &Error) {
    assert!(!e.diagnostics().is_empty(), "a refusal says why");
    for d in e.diagnostics() {
        assert!(
            d.line >= 1,
            "every error in a policy file has a place: {d:?}"
        );
        diagnostics::check(d, Path::new(ORIGIN), Some(src));
    }
    assert!(!e.to_string().is_empty());
}

/// What check_policy refuses is not in an accepted file, and the lookups agree with each other.
fn accepted(file: &PolicyFile) {
    let mut names = std::collections::HashSet::new();
    for p in &file.policy {
        assert!(!p.name().trim().is_empty());
        assert!(names.insert(p.name()), "names are unique");
        assert!(std::ptr::eq(
            file.by_name(p.name()).expect("by_name finds it"),
            p
        ));
        assert!(!p.users.is_empty() || !p.groups.is_empty());
        assert!(!p.services.is_empty() && !p.kinds.is_empty());
        let (max, default) = (*p.max_lifetime.get_ref(), *p.default_lifetime.get_ref());
        assert!(max <= MAX_LIFETIME && default <= max);
        for d in [max, default, p.lockout.window] {
            assert_eq!(
                d.to_string().parse::<Duration>(),
                Ok(d),
                "a duration shows as it parses"
            );
        }
        let len = *p.code.length.get_ref();
        assert!((p.code.alphabet.min_length()..=64).contains(&len));
        assert!((6..=128).contains(p.fixed_min_length.get_ref()));
        assert!(p.lockout.attempts >= 1 && p.lockout.window <= MAX_LIFETIME);
        for kind in [Kind::Temporary, Kind::Fixed, Kind::Universal] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(p.allows_kind(kind), p.kinds.contains(&kind));
        }
        for service in p
            .services
            .iter()
            .map(String::as_str)
            .chain(["sshd", "vpn", ""])
        {
            let _ = p.allows_service(service);
        }
        assert!(p.services.iter().all(|s| p.allows_service(s)));
    }
    assert_eq!(
        file.names_groups(),
        file.policy.iter().any(|p| !p.groups.is_empty())
    );

    // policy_for by scan (a PAM login) and through the index (sparekeyd) pick the same policy.
    let indexed = file.clone();
    indexed.index_users();
    let mut users: Vec<&str> = vec!["", "alice", "root"];
    let mut groups: Vec<Vec<String>> = vec![Vec::new(), vec!["staff".to_string()]];
    for p in file.policy.iter().take(8) {
        users.extend(p.users.iter().take(2).map(String::as_str));
        groups.push(p.groups.iter().take(2).cloned().collect());
    }
    for user in &users {
        for g in &groups {
            let scanned = file.policy_for(user, g).map(|p| p.name());
            let looked_up = indexed.policy_for(user, g).map(|p| p.name());
            assert_eq!(scanned, looked_up, "user {user:?}, groups {g:?}");
            if let Some(name) = scanned {
                let p = file
                    .by_name(name)
                    .expect("policy_for returns a policy of the file");
                assert!(p.matches(user, g));
            }
        }
    }
}
