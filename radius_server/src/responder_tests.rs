//! The responder's decisions, datagram by datagram, with a scripted verifier and fixed times.

use super::*;
use crate::dedup::TTL;
use crate::test_support::*;
use chrono::Duration as Span;
use sparekey_core::{Reason, Verdict};
use sparekey_radius_codec::{RequestBuilder, SharedSecret};
use std::cell::RefCell;
use std::time::Duration;

/// Runs one datagram; returns the reply bytes, if any.
fn run(
    r: &mut Responder<Script>,
    snap: &Snapshot,
    datagram: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<Vec<u8>> {
    r.handle(snap, datagram, from, now, wall(), &|_| {})
        .map(<[u8]>::to_vec)
}

#[test]
fn accept_carries_session_timeout_no_later_than_the_code() {
    let snap = snapshot();
    let until = wall() + Span::seconds(3600) + Span::milliseconds(900);
    let mut r = Responder::new(Script::of(vec![accepted(until)]));
    let req = request(1, 1, "alice", "12345-67890");
    let reply = run(&mut r, &snap, &req, gw(), Instant::now()).expect("a reply");
    let p = check_reply(&reply, &req);
    assert_eq!(p.code(), PacketCode::AccessAccept);
    let timeout = p
        .attributes()
        .find(|a| a.attr_type == attr::SESSION_TIMEOUT)
        .unwrap();
    assert_eq!(timeout.as_u32(), Some(3600), "rounded down");
    let msg = p
        .attributes()
        .find(|a| a.attr_type == attr::REPLY_MESSAGE)
        .unwrap();
    assert!(msg
        .as_str()
        .unwrap()
        .starts_with("Code accepted; valid until 2026-03-01T13:00:00Z"));
    let seen = &r.verifier.seen;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "alice");
    assert_eq!(seen[0].1, "vpn");
    assert_eq!(
        seen[0].2,
        "radius client=vpn-gw nas=gw1 calling-station=203.0.113.7"
    );
    assert_eq!(seen[0].3, b"1234567890", "typed dashes dropped");
    assert_eq!(r.stats.accepted, 1);
}

#[test]
fn session_timeout_rounds_down_and_is_at_least_one_second() {
    let now = wall();
    assert_eq!(session_timeout(now + Span::seconds(90), now), 90);
    assert_eq!(session_timeout(now + Span::milliseconds(1999), now), 1);
    assert_eq!(session_timeout(now + Span::milliseconds(300), now), 1);
    assert_eq!(session_timeout(now + Span::days(14), now), 14 * 86400);
}

#[test]
fn every_rejection_looks_the_same_and_carries_message_authenticator_first() {
    let snap = snapshot();
    let reasons = [
        Reason::WrongCode,
        Reason::NotEligible,
        Reason::Expired,
        Reason::UsedUp,
        Reason::LockedOut,
        Reason::Disabled,
    ];
    let mut r = Responder::new(Script::of(
        reasons.iter().map(|x| Ok(Verdict::Rejected(*x))).collect(),
    ));
    let mut messages = Vec::new();
    for (i, _) in reasons.iter().enumerate() {
        let req = request(i as u8, i as u8, "nobody-known", "0000000000");
        let reply = run(&mut r, &snap, &req, gw(), Instant::now()).expect("a reply");
        let p = check_reply(&reply, &req);
        assert_eq!(p.code(), PacketCode::AccessReject);
        assert!(p.attribute(attr::SESSION_TIMEOUT).is_none());
        messages.push(p.attribute(attr::REPLY_MESSAGE).unwrap().to_vec());
        assert_eq!(reply.len(), check_reply(&reply, &req).length());
    }
    assert!(messages
        .iter()
        .all(|m| m == b"Code not accepted. Contact: IT helpdesk, ext. 4357"));
    assert_eq!(r.stats.rejected, reasons.len() as u64);
}

#[test]
fn a_retransmit_gets_the_cached_reply_and_is_never_verified_twice() {
    let snap = snapshot();
    let mut r = Responder::new(Script::of(vec![
        accepted(wall() + Span::hours(1)),
        Ok(Verdict::Rejected(Reason::UsedUp)),
    ]));
    let t0 = Instant::now();
    let req = request(9, 9, "alice", "1234567890");
    let first = run(&mut r, &snap, &req, gw(), t0).unwrap();
    for ms in [100, 2000, 4999] {
        let again = run(&mut r, &snap, &req, gw(), t0 + Duration::from_millis(ms)).unwrap();
        assert_eq!(again, first, "the same bytes, at {ms} ms");
    }
    assert_eq!(r.verifier.seen.len(), 1, "the code is verified once");
    assert_eq!(
        r.stats.verified, 4,
        "each retransmit's Message-Authenticator is checked before the kept reply is sent"
    );
    assert_eq!(r.stats.duplicates, 3);
    // A packet with the retransmit's key (source, Identifier, Request Authenticator) but a
    // forged Message-Authenticator gets nothing, not the kept reply.
    let mut forged = req.clone();
    let at = forged
        .windows(5)
        .position(|w| w == b"alice")
        .expect("the User-Name");
    forged[at + 4] = b'f';
    let bad = r.stats.bad_authenticator;
    assert!(run(
        &mut r,
        &snap,
        &forged,
        gw(),
        t0 + Duration::from_millis(4999)
    )
    .is_none());
    assert_eq!(
        r.stats.bad_authenticator,
        bad + 1,
        "refused for its Message-Authenticator"
    );
    assert_eq!(r.stats.duplicates, 3);
    // After 5 s it is a new request: verified again (and this single-use code is now spent).
    let late = run(&mut r, &snap, &req, gw(), t0 + TTL).unwrap();
    assert_eq!(
        PacketRef::decode(&late).unwrap().code(),
        PacketCode::AccessReject
    );
    assert_eq!(r.verifier.seen.len(), 2);
    assert_eq!(r.stats.verified, 6);
}

#[test]
fn another_port_identifier_or_authenticator_is_another_request() {
    let snap = snapshot();
    let answers = (0..4)
        .map(|_| Ok(Verdict::Rejected(Reason::WrongCode)))
        .collect();
    let mut r = Responder::new(Script::of(answers));
    let t0 = Instant::now();
    run(&mut r, &snap, &request(1, 1, "alice", "1"), gw(), t0).unwrap();
    let other_port: SocketAddr = "192.0.2.10:40001".parse().unwrap();
    run(&mut r, &snap, &request(1, 1, "alice", "1"), other_port, t0).unwrap();
    run(&mut r, &snap, &request(2, 1, "alice", "1"), gw(), t0).unwrap();
    run(&mut r, &snap, &request(1, 2, "alice", "1"), gw(), t0).unwrap();
    assert_eq!(r.verifier.seen.len(), 4);
    assert_eq!(r.stats.duplicates, 0);
}

#[test]
fn missing_or_wrong_message_authenticator_gets_no_answer_and_no_verification() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let s = secret();
    let mut b = RequestBuilder::access_request_without_message_authenticator(3, [3; 16], &s);
    b.add_str(attr::USER_NAME, "alice").unwrap();
    b.add_user_password(b"1234567890").unwrap();
    let bare = b.finish();
    assert!(run(&mut r, &snap, &bare, gw(), Instant::now()).is_none());

    let wrong = SharedSecret::new(b"not-the-secret").unwrap();
    let mut b = RequestBuilder::access_request(4, [4; 16], &wrong);
    b.add_str(attr::USER_NAME, "alice").unwrap();
    b.add_user_password(b"1234567890").unwrap();
    assert!(run(&mut r, &snap, &b.finish(), gw(), Instant::now()).is_none());
    assert_eq!(r.stats.bad_authenticator, 2);
    assert!(r.verifier.seen.is_empty());
}

#[test]
fn a_client_that_may_omit_message_authenticator_is_answered_with_one() {
    let snap = snapshot();
    let mut r = Responder::new(Script::of(vec![Ok(Verdict::Rejected(Reason::WrongCode))]));
    let s = secret();
    let mut b = RequestBuilder::access_request_without_message_authenticator(3, [3; 16], &s);
    b.add_str(attr::USER_NAME, "alice").unwrap();
    b.add_user_password(b"1234567890").unwrap();
    let bare = b.finish();
    let reply = run(
        &mut r,
        &snap,
        &bare,
        "198.51.100.7:1645".parse().unwrap(),
        Instant::now(),
    )
    .unwrap();
    let p = check_reply(&reply, &bare);
    assert_eq!(p.code(), PacketCode::AccessReject);
}

#[test]
fn unknown_clients_are_dropped_and_logged_once_a_second() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let lines = RefCell::new(Vec::<String>::new());
    let log = |l: &str| lines.borrow_mut().push(l.to_string());
    let stranger: SocketAddr = "203.0.113.99:5000".parse().unwrap();
    let t0 = Instant::now();
    let req = request(1, 1, "alice", "1234567890");
    for ms in [0, 10, 900, 1000] {
        assert!(r
            .handle(
                &snap,
                &req,
                stranger,
                t0 + Duration::from_millis(ms),
                wall(),
                &log
            )
            .is_none());
    }
    let lines = lines.into_inner();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "radius: dropped a packet from 203.0.113.99:5000: no [[radius.client]] address covers it"
    );
    assert!(
        lines[1].ends_with("(2 similar lines held back)"),
        "{lines:?}"
    );
    assert_eq!(r.stats.unknown_client, 4);
    assert_eq!(r.stats.verified, 0);
}

#[test]
fn status_server_is_answered_with_message_authenticator_and_not_cached() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let s = secret();
    let req = RequestBuilder::status_server(5, [5; 16], &s).finish();
    let t0 = Instant::now();
    for _ in 0..2 {
        let reply = run(&mut r, &snap, &req, gw(), t0).unwrap();
        let p = check_reply(&reply, &req);
        assert_eq!(p.code(), PacketCode::AccessAccept);
    }
    assert_eq!(r.stats.status_server, 2);
    assert_eq!(r.stats.verified, 2);
    // Without Message-Authenticator, even from a client that may omit it: no answer (RFC 5997).
    let mut bare = vec![12, 6, 0, 20];
    bare.extend_from_slice(&[6; 16]);
    assert!(run(
        &mut r,
        &snap,
        &bare,
        "198.51.100.7:1645".parse().unwrap(),
        t0
    )
    .is_none());
}

#[test]
fn a_store_failure_sends_nothing_and_the_retransmit_is_tried_again() {
    let snap = snapshot();
    let mut r = Responder::new(Script::of(vec![
        Err("database is locked".into()),
        accepted(wall() + Span::hours(1)),
    ]));
    let lines = RefCell::new(Vec::<String>::new());
    let log = |l: &str| lines.borrow_mut().push(l.to_string());
    let req = request(1, 1, "alice", "1234567890");
    let t0 = Instant::now();
    assert!(r.handle(&snap, &req, gw(), t0, wall(), &log).is_none());
    assert!(
        lines.borrow()[0].contains(
            "no answer to user alice: store s.db: cannot redeem a code: database is locked"
        ),
        "{:?}",
        lines.borrow()
    );
    let reply = r
        .handle(&snap, &req, gw(), t0 + Duration::from_secs(1), wall(), &log)
        .map(<[u8]>::to_vec)
        .unwrap();
    assert_eq!(
        PacketRef::decode(&reply).unwrap().code(),
        PacketCode::AccessAccept
    );
    assert_eq!(r.stats.errors, 1);
}

#[test]
fn requests_without_a_usable_user_or_password_are_rejected_without_the_store() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let s = secret();
    let mut no_password = RequestBuilder::access_request(1, [1; 16], &s);
    no_password.add_str(attr::USER_NAME, "alice").unwrap();
    no_password.add(attr::CHAP_PASSWORD, &[1; 17]).unwrap();
    let mut no_user = RequestBuilder::access_request(2, [2; 16], &s);
    no_user.add_user_password(b"1234567890").unwrap();
    let mut blank = RequestBuilder::access_request(3, [3; 16], &s);
    blank.add_str(attr::USER_NAME, "alice").unwrap();
    blank.add_user_password(b" - ").unwrap();
    let mut control = RequestBuilder::access_request(4, [4; 16], &s);
    control.add_str(attr::USER_NAME, "al\nice").unwrap();
    control.add_user_password(b"1234567890").unwrap();
    for req in [
        no_password.finish(),
        no_user.finish(),
        blank.finish(),
        control.finish(),
    ] {
        let reply = run(&mut r, &snap, &req, gw(), Instant::now()).unwrap();
        let p = check_reply(&reply, &req);
        assert_eq!(p.code(), PacketCode::AccessReject);
        assert_eq!(
            p.attribute(attr::REPLY_MESSAGE),
            Some(&b"Code not accepted. Contact: IT helpdesk, ext. 4357"[..])
        );
    }
    assert!(r.verifier.seen.is_empty());
}

#[test]
fn a_full_cache_drops_new_requests_before_any_crypto() {
    let snap = snapshot();
    let answers = (0..2)
        .map(|_| Ok(Verdict::Rejected(Reason::WrongCode)))
        .collect();
    let mut r = Responder::with_cache(Script::of(answers), ReplyCache::new(2, 1 << 20, TTL));
    let t0 = Instant::now();
    for id in 0..2 {
        assert!(run(&mut r, &snap, &request(id, id, "alice", "1"), gw(), t0).is_some());
    }
    assert!(run(&mut r, &snap, &request(7, 7, "alice", "1"), gw(), t0).is_none());
    assert_eq!(r.stats.cache_full, 1);
    assert_eq!(r.stats.verified, 2);
    // Retransmits of the cached two are still answered.
    assert!(run(&mut r, &snap, &request(1, 1, "alice", "1"), gw(), t0).is_some());
}

#[test]
fn other_codes_and_malformed_packets_are_dropped() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let mut accounting = vec![4, 1, 0, 20];
    accounting.extend_from_slice(&[0; 16]);
    assert!(run(&mut r, &snap, &accounting, gw(), Instant::now()).is_none());
    let good = request(1, 1, "alice", "1");
    let mut oversized = good.clone();
    oversized.resize(4097, 0);
    let mut type_zero = good.clone();
    type_zero[20] = 0;
    let mut overflow = good.clone();
    overflow[21] = 200;
    for bad in [
        &good[..19],
        &good[..good.len() - 1],
        &oversized,
        &type_zero,
        &overflow,
    ] {
        assert!(run(&mut r, &snap, bad, gw(), Instant::now()).is_none());
    }
    assert_eq!(r.stats.unsupported, 1);
    assert_eq!(r.stats.malformed, 5);
    assert_eq!(r.stats.verified, 0);
}

/// A small deterministic generator (xorshift), so failures reproduce.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn random_truncated_and_mutated_datagrams_never_panic_or_get_answered_wrongly() {
    let snap = snapshot();
    let answers = vec![Ok(Verdict::Rejected(Reason::WrongCode))];
    let mut r = Responder::new(Script::of(answers));
    let good = request(1, 1, "alice", "1234567890");
    let mut seed = 0x5eed_u64;
    let t0 = Instant::now();
    for i in 0..20_000u32 {
        let datagram: Vec<u8> = match i % 3 {
            0 => (0..(noise(&mut seed) % 300))
                .map(|_| noise(&mut seed) as u8)
                .collect(),
            1 => good[..(noise(&mut seed) as usize % good.len())].to_vec(),
            _ => {
                let mut d = good.clone();
                for _ in 0..=(noise(&mut seed) % 4) {
                    let at = noise(&mut seed) as usize % d.len();
                    d[at] ^= 1 << (noise(&mut seed) % 8);
                }
                d
            }
        };
        if datagram == good {
            continue; // two flips of the same bit
        }
        if let Some(reply) = run(&mut r, &snap, &datagram, gw(), t0) {
            panic!("answered a damaged datagram {datagram:?} with {reply:?}");
        }
    }
    assert_eq!(r.stats.verified - r.stats.bad_authenticator, 0);
    let reply = run(&mut r, &snap, &good, gw(), t0).expect("the good request is still answered");
    check_reply(&reply, &good);
}

#[test]
fn a_status_server_without_message_authenticator_is_logged_as_always_needing_one() {
    let snap = snapshot();
    let mut r = Responder::new(Script::default());
    let lines = RefCell::new(Vec::<String>::new());
    let log = |l: &str| lines.borrow_mut().push(l.to_string());
    // From old-nas, whose requests may omit Message-Authenticator: Status-Server may not.
    let old_nas: SocketAddr = "198.51.100.7:1645".parse().unwrap();
    let mut bare = vec![12, 8, 0, 20];
    bare.extend_from_slice(&[8; 16]);
    assert!(r
        .handle(&snap, &bare, old_nas, Instant::now(), wall(), &log)
        .is_none());
    let lines = lines.into_inner();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("Status-Server always needs one (RFC 5997)"),
        "{lines:?}"
    );
    assert!(
        !lines[0].contains("require-message-authenticator = true"),
        "{lines:?}"
    );
}
