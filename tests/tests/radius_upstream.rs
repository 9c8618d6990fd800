//! End to end: users without a code here go to the usual MFA, a private FreeRADIUS with a
//! challenge round of its own (tests/fixtures/freeradius-mfa.sh), relayed through sparekeyd.

use sparekey_tests::radius::free_udp_port;
use sparekey_tests::radius_modes::*;

#[test]
fn users_without_a_code_go_to_the_upstream_and_its_challenge_is_relayed() {
    let port = free_udp_port("127.0.0.1");
    let mfa = start_mfa(port);
    let upstream = format!(
        "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"127.0.0.1:{port}\"\nsecret-file = \"mfa.secret\"\ntimeout = \"1s\"\nretries = 1\n"
    );
    let m = modes_site(&format!("{CHALLENGE}\nupstream = \"mfa\""), &upstream);
    // carol has no code here: her password goes to the upstream, whose challenge comes back.
    let round1 = ask(&m.v4, "carol", "carol-pw", "Proxy-State = 0x6e61732d31\n");
    let r = reply(&round1, "Access-Challenge");
    assert_eq!(r.attr("Reply-Message"), Some("Enter your token"), "{r:?}");
    assert_eq!(r.attr("Proxy-State"), Some("0x6e61732d31"), "{r:?}");
    let state = r.attr("State").unwrap().to_string();
    let round2 = ask(&m.v4, "carol", "123456", &with_state(&state));
    let r = reply(&round2, "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("MFA ok"), "{r:?}");
    assert!(r.attr("Class").is_some(), "the upstream's Class: {r:?}");
    // A wrong token: the upstream's Reject, relayed.
    let state = reply(&ask(&m.v4, "carol", "carol-pw", ""), "Access-Challenge")
        .attr("State")
        .unwrap()
        .to_string();
    reply(
        &ask(&m.v4, "carol", "654321", &with_state(&state)),
        "Access-Reject",
    );
    // dave (in no policy) in one round.
    let r = reply(&ask(&m.v4, "dave", "dave-pw", ""), "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("upstream accept"), "{r:?}");
    // alice has a code: sparekeyd's own challenge, not the upstream's.
    let code = m.issue("alice", &[]);
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // Audited as passed on, never with the password.
    let audit = m.audit_text("carol");
    assert!(
        audit.contains("passed on to upstream mfa, which answered Access-Challenge"),
        "{audit}"
    );
    assert!(audit.contains("which answered Access-Accept"), "{audit}");
    assert!(
        !audit.contains("carol-pw") && !audit.contains("123456"),
        "{audit}"
    );
    // The upstream silent: no answer (the NAS tries again or elsewhere).
    drop(mfa);
    no_reply(&ask(&m.v4, "dave", "dave-pw", ""));
    assert!(
        m.log().contains("no answer from upstream mfa"),
        "{}",
        m.log()
    );
}

#[test]
fn code_only_users_without_a_code_go_to_the_upstream() {
    let port = free_udp_port("127.0.0.1");
    let _mfa = start_mfa(port);
    let upstream = format!(
        "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"127.0.0.1:{port}\"\nsecret-file = \"mfa.secret\"\n"
    );
    let m = modes_site("upstream = \"mfa\"", &upstream);
    let r = reply(&ask(&m.v4, "dave", "dave-pw", ""), "Access-Accept");
    assert_eq!(r.attr("Reply-Message"), Some("upstream accept"), "{r:?}");
    let code = m.issue("bob", &[]);
    reply(&ask(&m.v4, "bob", &code, ""), "Access-Accept");
    assert!(m.actions("dave").iter().any(|a| a == "forward"));
}
