//! End to end: sparekeyd as a VPN's only RADIUS server (issue 15). The real sparekeyd under
//! pam_wrapper checks passwords through real libpam (pam_wrapper's pam_matrix), answers the
//! real radclient in challenge and append modes, adds policy reply attributes, answers
//! accounting, and switches an "auto" client to requiring Message-Authenticator.

use sparekey_tests::radius::{capture_request, free_udp_port, radclient};
use sparekey_tests::radius_modes::*;
use std::net::UdpSocket;
use std::time::Duration;

#[test]
fn challenge_mode_takes_the_password_then_the_code_with_its_state() {
    let m = modes_site(CHALLENGE, "");
    let code = m.issue("alice", &["--multi"]);
    let state = challenge(&m.v4, "alice", "alice-pw");
    assert!(state.starts_with("0x"), "{state}");
    let accept = reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // The policy's reply attributes: Class, Fortinet-Group-Name, Idle-Timeout.
    assert_eq!(
        accept.attr("Class"),
        Some("0x4f553d76706e2d73746166663b"),
        "{accept:?}"
    );
    let fortinet = accept
        .attrs
        .iter()
        .find(|(n, _)| n.contains("Fortinet-Group-Name") || n.contains("26.12356.1"));
    assert!(
        fortinet.is_some_and(|(_, v)| v.contains("vpn-staff") || v == "0x76706e2d7374616666"),
        "{accept:?}"
    );
    assert_eq!(accept.attr("Idle-Timeout"), Some("900"), "{accept:?}");
    assert!(accept.attr("Session-Timeout").is_some(), "{accept:?}");

    // The State works once: replayed, refused.
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // Another user's name with alice's State: refused, and the State is gone for alice too.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "bob", &code, &with_state(&state)),
        "Access-Reject",
    );
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // From another source (and client): refused.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v6, "alice", &code, &with_state(&state)),
        "Access-Reject",
    );
    // A State sparekeyd never made (its prefix, random bytes of its own): refused.
    let forged = format!("0x{}{}", hex(b"sparekey1:"), "00".repeat(16));
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&forged)),
        "Access-Reject",
    );
    // A State that is not sparekeyd's, and no upstream: refused.
    reply(
        &ask(&m.v4, "alice", &code, "State = 0x0102030405\n"),
        "Access-Reject",
    );
    // A fresh State with a wrong code: refused, counted as a wrong code.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", "00000-00000", &with_state(&state)),
        "Access-Reject",
    );
    let log = m.log();
    assert!(
        log.contains("a State made for another client, source address or user"),
        "{log}"
    );
    assert!(
        log.contains("a State that sparekeyd did not make or that was used already"),
        "{log}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "redeem").count(),
        1,
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "failure"), "{actions:?}");
}

#[test]
fn a_wrong_password_spends_and_counts_nothing() {
    let m = modes_site(CHALLENGE, "");
    let code = m.issue("alice", &[]);
    // Four wrong passwords, more than the policy's three wrong codes before a lockout.
    for _ in 0..4 {
        reply(
            &ask(&m.v4, "alice", "not-her-password", ""),
            "Access-Reject",
        );
    }
    let audit = m.audit_text("alice");
    assert!(
        !audit.contains("not-her-password"),
        "the password is never audited: {audit}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "password-refused").count(),
        4,
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "failure" || a == "lockout"),
        "{actions:?}"
    );
    // The single-use code is still there, and no lockout stands in the way.
    let state = challenge(&m.v4, "alice", "alice-pw");
    reply(
        &ask(&m.v4, "alice", &code, &with_state(&state)),
        "Access-Accept",
    );
    // A user without a usable code gets a Reject without a password check.
    reply(&ask(&m.v4, "bob", "bob-pw", ""), "Access-Reject");
    assert!(!m.actions("bob").iter().any(|a| a == "password-refused"));
    assert!(
        m.log().contains("no usable code for this user here"),
        "{}",
        m.log()
    );
}

#[test]
fn a_retransmit_of_a_first_round_gets_the_same_challenge() {
    let m = modes_site(CHALLENGE, "");
    m.issue("alice", &[]);
    let datagram = capture_request(
        SECRET,
        "User-Name = \"alice\"\nUser-Password = \"alice-pw\"\nMessage-Authenticator = 0x00\n",
    );
    let port = free_udp_port("127.0.0.1");
    let send = || {
        let s = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&datagram, &m.v4).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).expect("an answer");
        buf[..n].to_vec()
    };
    let first = send();
    assert_eq!(first[0], 11, "Access-Challenge");
    assert_eq!(
        send(),
        first,
        "the retransmit gets the same Access-Challenge (one PAM check)"
    );
}

#[test]
fn append_mode_takes_password_delimiter_and_code() {
    let m = modes_site("mode = \"append\"\nprimary-pam-service = \"sk-radius\"", "");
    let code = m.issue("alice", &[]);
    // A wrong password with the right code: refused, the single-use code not spent.
    reply(
        &ask(&m.v4, "alice", &format!("wrong,{code}"), ""),
        "Access-Reject",
    );
    // No delimiter: refused without a check.
    reply(&ask(&m.v4, "alice", "alice-pw", ""), "Access-Reject");
    let accept = reply(
        &ask(&m.v4, "alice", &format!("alice-pw,{code}"), ""),
        "Access-Accept",
    );
    assert!(accept.attr("Class").is_some(), "{accept:?}");
    // Spent: once only.
    reply(
        &ask(&m.v4, "alice", &format!("alice-pw,{code}"), ""),
        "Access-Reject",
    );
    // The last delimiter splits: carol's password has a comma in it.
    let code = m.issue("carol", &[]);
    reply(
        &ask(&m.v4, "carol", &format!("pa,ss,{code}"), ""),
        "Access-Accept",
    );
    let actions = m.actions("alice");
    assert!(
        actions.iter().any(|a| a == "password-refused"),
        "{actions:?}"
    );
}

#[test]
fn reply_attributes_come_with_a_code_only_accept() {
    let m = modes_site("", "");
    let code = m.issue("alice", &[]);
    let accept = reply(
        &ask(&m.v4, "alice", &code, "Proxy-State = 0x686f702d31\n"),
        "Access-Accept",
    );
    assert_eq!(
        accept.attr("Class"),
        Some("0x4f553d76706e2d73746166663b"),
        "{accept:?}"
    );
    assert_eq!(
        accept.attr("Proxy-State"),
        Some("0x686f702d31"),
        "{accept:?}"
    );
}

#[test]
fn accounting_is_answered_and_recorded_when_asked_for() {
    let m = modes_site("accounting = true", "");
    let start = "User-Name = \"alice\"\nAcct-Status-Type = Start\nAcct-Session-Id = \"s-42\"\nFramed-IP-Address = 10.8.0.6\nNAS-Identifier = \"gw1.example\"\n";
    let r = radclient(&m.v4, "acct", SECRET, start, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    let stop = "User-Name = \"alice\"\nAcct-Status-Type = Stop\nAcct-Session-Id = \"s-42\"\nAcct-Session-Time = 3600\nAcct-Terminate-Cause = User-Request\nNAS-Identifier = \"gw1.example\"\nMessage-Authenticator = 0x00\n";
    let r = radclient(&m.v4, "acct", SECRET, stop, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    let interim =
        "User-Name = \"alice\"\nAcct-Status-Type = Interim-Update\nAcct-Session-Id = \"s-42\"\n";
    let r = radclient(&m.v4, "acct", SECRET, interim, 1, 3);
    assert_eq!(
        r.reply.as_ref().map(|r| r.code.as_str()),
        Some("Accounting-Response"),
        "{}",
        r.text
    );
    // A wrong secret: no answer.
    no_reply(&radclient(&m.v4, "acct", "not-the-secret", start, 1, 1));
    let audit = m.audit_text("alice");
    assert!(
        audit.contains("session start, Acct-Session-Id=s-42 Framed-IP-Address=10.8.0.6"),
        "{audit}"
    );
    assert!(
        audit.contains("Acct-Session-Time=3600s Acct-Terminate-Cause=User-Request"),
        "{audit}"
    );
    let actions = m.actions("alice");
    assert_eq!(
        actions.iter().filter(|a| *a == "accounting").count(),
        2,
        "interim not recorded: {actions:?}"
    );

    // Without accounting = true: dropped, logged.
    let plain = modes_site("", "");
    no_reply(&radclient(&plain.v4, "acct", SECRET, start, 1, 1));
    assert!(
        plain.log().contains("no `accounting = true`"),
        "{}",
        plain.log()
    );
}

#[test]
fn an_auto_client_requires_message_authenticator_once_it_sent_one() {
    let m = modes_site("require-message-authenticator = \"auto\"", "");
    let code = m.issue("alice", &["--multi"]);
    let bare = format!("User-Name = \"alice\"\nUser-Password = \"{code}\"\n");
    reply_without_ma_check(
        &radclient(&m.v4, "auth", SECRET, &bare, 1, 3),
        "Access-Accept",
    );
    reply(&ask(&m.v4, "alice", &code, ""), "Access-Accept");
    assert!(
        m.log()
            .contains("from now on its Access-Requests without one are dropped"),
        "{}",
        m.log()
    );
    no_reply(&radclient(&m.v4, "auth", SECRET, &bare, 1, 1));
    // The other client has not sent one: still answered without.
    reply_without_ma_check(
        &radclient(&m.v6, "auth", SECRET, &bare, 1, 3),
        "Access-Accept",
    );
}
