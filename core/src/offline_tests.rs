//! Tests of the offline codes: the check character against every single error and swap,
//! the look-alikes, the binding of a response to its host, user, request and validity, and
//! the test vectors docs/hosts.md quotes.

use super::*;

fn request(seed: u8) -> RequestCode {
    let mut n = seed;
    RequestCode::from_random(|| {
        n = n.wrapping_mul(73).wrapping_add(41);
        n
    })
}

const KEY: [u8; 32] = [7; 32];

#[test]
fn the_check_character_catches_every_single_error_and_every_swap_of_neighbours() {
    for seed in 0..=255u8 {
        let good = request(seed).values;
        assert!(check_holds(&good));
        for i in 0..good.len() {
            for v in 0..31u8 {
                if v != good[i] {
                    let mut bad = good.clone();
                    bad[i] = v;
                    assert!(!check_holds(&bad), "{good:?}: {i} -> {v}");
                }
            }
            if i + 1 < good.len() && good[i] != good[i + 1] {
                let mut swapped = good.clone();
                swapped.swap(i, i + 1);
                assert!(!check_holds(&swapped), "{good:?}: swap {i}");
            }
        }
    }
}

#[test]
fn a_request_reads_back_with_look_alikes_dashes_and_spaces() {
    let r = request(1);
    let shown = r.display();
    assert_eq!(shown.len(), 11, "{shown}");
    assert_eq!(RequestCode::parse(&shown).unwrap(), r);
    let typed = shown
        .to_lowercase()
        .replace('-', " ")
        .replace('0', "o")
        .replace('1', "l");
    assert_eq!(RequestCode::parse(&typed).unwrap(), r, "{typed}");
    let mut wrong = shown.into_bytes();
    wrong[0] = if wrong[0] == b'2' { b'3' } else { b'2' };
    let e = RequestCode::parse(std::str::from_utf8(&wrong).unwrap()).unwrap_err();
    assert!(e.to_string().contains("check character"), "{e}");
    assert!(RequestCode::parse("ABC")
        .unwrap_err()
        .to_string()
        .contains("expected 9"));
    assert!(RequestCode::parse("ABC-DEF-GH!").is_err());
}

#[test]
fn a_response_is_bound_to_its_host_user_request_and_validity() {
    let r = request(2);
    let q = quarters_of(8 * 3600).unwrap();
    assert_eq!(q, 32);
    let resp = response(&KEY, "host-a", "alice", &r, q);
    assert_eq!(resp.len(), 14, "{resp}");
    assert_eq!(
        verify_response(&KEY, "host-a", "alice", &r, &resp).unwrap(),
        q
    );
    for (host, user, req, key) in [
        ("host-b", "alice", request(2), KEY),
        ("host-a", "bob", request(2), KEY),
        ("host-a", "alice", request(3), KEY),
        ("host-a", "alice", request(2), [8; 32]),
    ] {
        assert!(
            verify_response(&key, host, user, &req, &resp).is_err(),
            "{host} {user}"
        );
    }
    // Another validity with the same HMAC symbols: refused (and its check would differ).
    let other = response(&KEY, "host-a", "alice", &r, q + 1);
    assert_ne!(other[..4], resp[..4]);
    assert!(quarters_of(14 * 86_400 + 1).is_err());
    assert!(quarters_of(0).is_err());
    assert_eq!(quarters_of(14 * 86_400).unwrap(), MAX_QUARTERS);
}

/// The vectors of docs/hosts.md: offline key 32 bytes of 0x07, host "host-a", user
/// "alice", request symbols "23456789" with their check, 8 hours (32 quarter hours).
#[test]
fn the_documented_vectors_hold() {
    let r = RequestCode::parse(&format!(
        "23456789{}",
        ALPHABET[usize::from(check_value(&[2, 3, 4, 5, 6, 7, 8, 9]))] as char
    ))
    .unwrap();
    let shown = r.display();
    let resp = response(&KEY, "host-a", "alice", &r, 32);
    // Computed independently (a few lines of Python with hmac and hashlib) when written.
    assert_eq!(shown, "234-567-897");
    assert_eq!(resp, "0110-5FH7-2AFB");
    assert_eq!(
        verify_response(&KEY, "host-a", "alice", &r, &resp).unwrap(),
        32
    );
}

#[test]
fn an_accepted_response_is_kept_as_a_hash_of_its_symbols_bound_to_its_user() {
    let resp = "0110-5FH7-2AFB";
    assert!(looks_like_response(resp));
    assert!(
        looks_like_response("0110 5fh7 2afb"),
        "case and spaces do not matter"
    );
    assert!(!looks_like_response("0110-5FH7-2AFC"), "check character");
    assert!(!looks_like_response("1234567890"), "a site code");
    let d = grant_digest(&KEY, "alice", resp).unwrap();
    assert_eq!(grant_digest(&KEY, "alice", "0110 5fh7 2afb").unwrap(), d);
    assert_ne!(grant_digest(&KEY, "bob", resp).unwrap(), d);
    assert_ne!(grant_digest(&[8; 32], "alice", resp).unwrap(), d);
    assert!(grant_digest(&KEY, "alice", "offline").is_err());
}

#[test]
fn who_may_log_in_offline_is_the_host_policy_kind_service_and_hosts() {
    let policies = sparekey_conf::parse_policy(
        r#"enabled = true
contact = "x"
[[policy]]
name = "staff"
users = ["alice"]
services = ["sshd"]
kinds = ["temporary", "offline"]
hosts = ["host-a"]
[[policy]]
name = "others"
users = ["bob"]
services = ["sshd"]
"#,
        std::path::Path::new("policy.toml"),
    )
    .unwrap();
    assert!(offline_policy(&policies, "alice", &[], "sshd", "host-a").is_ok());
    for (user, service, host, why) in [
        ("alice", "login", "host-a", "service"),
        ("alice", "sshd", "host-b", "host"),
        ("bob", "sshd", "host-a", "offline"),
        ("carol", "sshd", "host-a", "in no policy"),
    ] {
        let e = offline_policy(&policies, user, &[], service, host).unwrap_err();
        assert!(e.contains(why), "{user} {service} {host}: {e}");
    }
}
