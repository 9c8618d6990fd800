//! End to end: the real sparekeyd answering the real radclient and radtest (freeradius-utils)
//! on loopback, IPv4 and IPv6, with codes issued through the real sparekeyctl.

use sparekey_tests::bins::bin;
use sparekey_tests::radius::{
    auth, capture_request, exchange, expect_reply, free_udp_port, radclient, radtest, section,
    tools_installed, write_secret, ClientEntry,
};
use sparekey_tests::site::{Daemon, Site, POLICY};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtc2VjcmV0Cg";
const GENERIC: &str = "Code not accepted. Contact: IT helpdesk, ext. 4357";
const SOURCE: &str = "radius client=vpn-gw nas=gw1.example calling-station=203.0.113.7";

/// A site answering RADIUS on 127.0.0.1 and [::1] for one client each (same secret).
struct Radius {
    site: Site,
    daemon: Daemon,
    v4: String,
    v6: String,
}

fn clients() -> [ClientEntry<'static>; 2] {
    [
        ClientEntry {
            name: "vpn-gw",
            address: "127.0.0.1",
            secret_file: "vpn-gw.secret",
            service: "vpn",
        },
        ClientEntry {
            name: "vpn-gw6",
            address: "::1/128",
            secret_file: "vpn-gw.secret",
            service: "vpn",
        },
    ]
}

fn radius_site() -> Radius {
    assert!(
        tools_installed(),
        "radclient and radtest are needed: apt-get install freeradius-utils"
    );
    let v4 = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let v6 = format!("[::1]:{}", free_udp_port("::1"));
    let site = Site::with_config(&section(&[&v4, &v6], &clients()), POLICY);
    write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
    let daemon = site.start();
    Radius {
        site,
        daemon,
        v4,
        v6,
    }
}

impl Radius {
    /// Issues a code for `user` through sparekeyctl; returns the whole JSON answer.
    fn issue(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["issue"];
        full.extend_from_slice(args);
        let (rc, v) = self.site.ctl_json(&full);
        assert_eq!(rc, 0, "issue failed: {v}");
        v
    }

    /// The newest `n` audit events about `user`, oldest first.
    fn audit(&self, user: &str, n: usize) -> Vec<serde_json::Value> {
        let (rc, v) = self
            .site
            .ctl_json(&["audit", "--user", user, "--limit", &n.to_string()]);
        assert_eq!(rc, 0, "{v}");
        v["events"].as_array().unwrap().clone()
    }
}

fn code_of(v: &serde_json::Value) -> String {
    v["code"].as_str().unwrap().to_string()
}

fn expect_no_reply(run: &sparekey_tests::radius::Run) {
    assert!(run.reply.is_none(), "expected no answer:\n{}", run.text);
    assert!(run.text.contains("No reply from server"), "{}", run.text);
}

fn seconds_until(rfc3339: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds()
}

#[test]
fn a_code_is_accepted_with_a_session_timeout_and_a_single_use_code_only_once() {
    let r = radius_site();
    let issued = r.issue(&["alice", "--service", "vpn"]);
    let first = radtest("alice", &code_of(&issued), &r.v4, SECRET);
    let reply = expect_reply(&first, "Access-Accept");
    let timeout: i64 = reply
        .attr("Session-Timeout")
        .expect("Session-Timeout")
        .parse()
        .unwrap();
    let left = seconds_until(issued["not_after"].as_str().unwrap());
    assert!(
        timeout >= 1 && timeout <= left + 1,
        "Session-Timeout {timeout} vs {left} s left"
    );
    assert!(timeout >= 86_400 - 60, "the default 1d lifetime: {timeout}");

    let again = auth(&r.v4, SECRET, "alice", &code_of(&issued));
    let reply = expect_reply(&again, "Access-Reject");
    assert_eq!(reply.attr("Reply-Message"), Some(GENERIC));
    assert!(reply.attr("Session-Timeout").is_none());

    let events = r.audit("alice", 2);
    assert_eq!(events[0]["action"], "redeem", "{events:?}");
    assert!(
        events[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("radius client=vpn-gw nas="),
        "{events:?}"
    );
    assert_eq!(events[1]["action"], "failure");
    assert_eq!(events[1]["reason"], "code already used");
    assert_eq!(events[1]["source"], SOURCE);
    assert_eq!(events[1]["service"], "vpn");
}

#[test]
fn wrong_code_and_unknown_user_get_the_same_generic_reject() {
    let r = radius_site();
    let issued = r.issue(&["bob", "--service", "vpn"]);
    let wrong = auth(&r.v4, SECRET, "bob", "0000000000");
    let unknown = auth(&r.v4, SECRET, "mallory", &code_of(&issued));
    let a = expect_reply(&wrong, "Access-Reject");
    let b = expect_reply(&unknown, "Access-Reject");
    assert_eq!(a.attr("Reply-Message"), Some(GENERIC));
    assert_eq!(a.attrs.len(), b.attrs.len());
    assert_eq!(
        a.attr("Reply-Message"),
        b.attr("Reply-Message"),
        "no oracle"
    );
    assert_eq!(r.audit("bob", 1)[0]["reason"], "wrong code");
    let m = r.audit("mallory", 1);
    assert_eq!(m[0]["reason"], "user is in no policy");
    assert_eq!(m[0]["source"], SOURCE);
    // bob's code still works: a wrong guess does not spend it.
    expect_reply(
        &auth(&r.v4, SECRET, "bob", &code_of(&issued)),
        "Access-Accept",
    );
}

#[test]
fn expired_and_revoked_codes_are_rejected() {
    let r = radius_site();
    let until = chrono::Utc::now() + chrono::Duration::seconds(3);
    let until = sparekey_core::rfc3339(until);
    let short = r.issue(&["alice", "--service", "vpn", "--multi", "--until", &until]);
    let accepted = expect_reply(
        &auth(&r.v4, SECRET, "alice", &code_of(&short)),
        "Access-Accept",
    );
    let timeout: i64 = accepted.attr("Session-Timeout").unwrap().parse().unwrap();
    assert!(
        (1..=3).contains(&timeout),
        "Session-Timeout {timeout} must end with the code"
    );

    let revoked = r.issue(&["bob", "--service", "vpn"]);
    let (rc, v) = r.site.ctl_json(&["revoke", "bob", "--reason", "test"]);
    assert_eq!(rc, 0, "{v}");
    let reply = expect_reply(
        &auth(&r.v4, SECRET, "bob", &code_of(&revoked)),
        "Access-Reject",
    );
    assert_eq!(reply.attr("Reply-Message"), Some(GENERIC));
    assert_eq!(r.audit("bob", 1)[0]["reason"], "code revoked");

    let wait = seconds_until(&until) + 1;
    std::thread::sleep(Duration::from_secs(wait.clamp(0, 4) as u64));
    let reply = expect_reply(
        &auth(&r.v4, SECRET, "alice", &code_of(&short)),
        "Access-Reject",
    );
    assert_eq!(reply.attr("Reply-Message"), Some(GENERIC));
    assert_eq!(r.audit("alice", 1)[0]["reason"], "code expired");
}

#[test]
fn wrong_secret_gets_no_answer_and_is_logged() {
    let r = radius_site();
    let issued = r.issue(&["alice", "--service", "vpn"]);
    let input = format!(
        "User-Name = alice\nUser-Password = \"{}\"\nMessage-Authenticator = 0x00\n",
        code_of(&issued)
    );
    expect_no_reply(&radclient(&r.v4, "auth", "not-the-secret", &input, 1, 1));
    assert!(r.daemon.log_text().contains("dropped Access-Request with a wrong Message-Authenticator: is the client's shared secret the one in the secret file?"), "{}", r.daemon.log_text());
    // Nothing was tried: the code still works.
    expect_reply(
        &auth(&r.v4, SECRET, "alice", &code_of(&issued)),
        "Access-Accept",
    );
}

#[test]
fn missing_message_authenticator_gets_no_answer() {
    let r = radius_site();
    let issued = r.issue(&["alice", "--service", "vpn"]);
    let input = format!(
        "User-Name = alice\nUser-Password = \"{}\"\n",
        code_of(&issued)
    );
    expect_no_reply(&radclient(&r.v4, "auth", SECRET, &input, 1, 1));
    assert!(
        r.daemon
            .log_text()
            .contains("dropped Access-Request without Message-Authenticator"),
        "{}",
        r.daemon.log_text()
    );
    expect_reply(
        &auth(&r.v4, SECRET, "alice", &code_of(&issued)),
        "Access-Accept",
    );
}

#[test]
fn unknown_client_gets_no_answer_and_is_logged_once_a_second() {
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let v4 = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let v6 = format!("[::1]:{}", free_udp_port("::1"));
    // Listening on [::1] too, but only 127.0.0.1 is a client.
    let site = Site::with_config(&section(&[&v4, &v6], &clients()[..1]), POLICY);
    write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
    let daemon = site.start();
    let status = "Message-Authenticator = 0x00\n";
    expect_no_reply(&radclient(&v6, "status", SECRET, status, 1, 1));
    for _ in 0..5 {
        assert!(exchange("[::1]:0", &v6, &[1; 40], Duration::from_millis(50)).is_none());
    }
    let log = daemon.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("no [[radius.client]] address covers it"))
        .count();
    assert!(
        (1..=3).contains(&lines),
        "one line a second per source, not one per packet:\n{log}"
    );
    assert!(
        log.contains("sparekeyd: radius: dropped a packet from [::1]:"),
        "{log}"
    );
    // The known client is answered.
    expect_reply(
        &radclient(&v4, "status", SECRET, status, 3, 2),
        "Access-Accept",
    );
}

#[test]
fn status_server_is_answered_with_message_authenticator() {
    let r = radius_site();
    for server in [&r.v4, &r.v6] {
        let run = radclient(
            server,
            "status",
            SECRET,
            "Message-Authenticator = 0x00\n",
            3,
            2,
        );
        let reply = expect_reply(&run, "Access-Accept");
        assert!(reply
            .attr("Message-Authenticator")
            .unwrap()
            .starts_with("0x"));
    }
    // RFC 5997: without Message-Authenticator it is not answered.
    expect_no_reply(&radclient(
        &r.v4,
        "status",
        SECRET,
        "NAS-Identifier = x\n",
        1,
        1,
    ));
}

#[test]
fn an_ipv6_listener_accepts_a_code() {
    let r = radius_site();
    let issued = r.issue(&["carol", "--service", "vpn", "--reason", "lost phone"]);
    let reply = expect_reply(
        &radtest("carol", &code_of(&issued), &r.v6, SECRET),
        "Access-Accept",
    );
    assert!(reply.attr("Session-Timeout").is_some());
    let events = r.audit("carol", 1);
    assert_eq!(events[0]["action"], "redeem");
    assert!(
        events[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("radius client=vpn-gw6 "),
        "{events:?}"
    );
}

/// A single-use code for alice, the exact Access-Request radclient makes for it, and a
/// socket to send it from (one source port, so that resending it is a retransmit).
fn single_use_request(r: &Radius) -> (serde_json::Value, Vec<u8>, std::net::UdpSocket) {
    let issued = r.issue(&["alice", "--service", "vpn"]);
    let input = format!(
        "User-Name = alice\nUser-Password = \"{}\"\nMessage-Authenticator = 0x00\n",
        code_of(&issued)
    );
    let request = capture_request(SECRET, &input);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    (issued, request, s)
}

/// Sends `request` from `s` and returns the answer.
fn send(s: &std::net::UdpSocket, request: &[u8], server: &str) -> Vec<u8> {
    s.send_to(request, server).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("an answer");
    buf[..n].to_vec()
}

#[test]
fn a_retransmit_gets_the_same_reply_and_the_code_is_redeemed_once() {
    let r = radius_site();
    let (_, request, s) = single_use_request(&r);
    // Same source port, identifier and authenticator: one socket sends it three times.
    let replies: Vec<Vec<u8>> = (0..3).map(|_| send(&s, &request, &r.v4)).collect();
    assert_eq!(replies[0][0], 2, "Access-Accept");
    assert!(
        replies.iter().all(|x| *x == replies[0]),
        "byte-identical replies"
    );
    let events = r.audit("alice", 5);
    let redeems = events.iter().filter(|e| e["action"] == "redeem").count();
    let failures = events.iter().filter(|e| e["action"] == "failure").count();
    assert_eq!((redeems, failures), (1, 0), "verified once: {events:?}");
    // From another source port it is a new request: the single-use code is spent.
    let other =
        exchange("127.0.0.1:0", &r.v4, &request, Duration::from_secs(3)).expect("an answer");
    assert_eq!(other[0], 3, "Access-Reject");
}

/// A small deterministic generator (xorshift), so failures reproduce.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn garbage_datagrams_do_not_stop_a_good_login() {
    let r = radius_site();
    let issued = r.issue(&["alice", "--service", "vpn"]);
    let input = format!(
        "User-Name = alice\nUser-Password = \"{}\"\nMessage-Authenticator = 0x00\n",
        code_of(&issued)
    );
    let good = capture_request(SECRET, &input);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0xbad_5eed_u64;
    for i in 0..2000u32 {
        let d: Vec<u8> = match i % 4 {
            0 => (0..noise(&mut seed) % 300)
                .map(|_| noise(&mut seed) as u8)
                .collect(),
            1 => good[..noise(&mut seed) as usize % good.len()].to_vec(),
            2 => {
                let mut d = good.clone();
                let at = noise(&mut seed) as usize % d.len();
                d[at] ^= 1 << (noise(&mut seed) % 8);
                d
            }
            _ => {
                let mut d = good.clone();
                d.resize(4097 + (noise(&mut seed) % 2000) as usize, 0);
                d
            }
        };
        if d != good {
            s.send_to(&d, &r.v4).unwrap();
        }
    }
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(s.recv(&mut buf).is_err(), "no garbage is answered");
    expect_reply(
        &auth(&r.v4, SECRET, "alice", &code_of(&issued)),
        "Access-Accept",
    );
    assert_eq!(r.audit("alice", 1)[0]["action"], "redeem");
    let log = r.daemon.log_text();
    assert!(
        log.lines().count() < 30,
        "the log stays short under garbage:\n{log}"
    );
}

/// Runs sparekeyd on `site` expecting it to refuse to start; returns (exit code, stderr).
fn refuses_to_start(site: &Site) -> (Option<i32>, String) {
    let mut child = Command::new(bin("sparekeyd"))
        .arg("--config")
        .arg(&site.config)
        .envs(site.nss_env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sparekeyd started although it should have refused");
}

#[test]
fn a_secret_file_readable_by_others_keeps_sparekeyd_from_starting() {
    use std::os::unix::fs::PermissionsExt;
    let v4 = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let site = Site::with_config(&section(&[&v4], &clients()[..1]), POLICY);
    let secret = write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = refuses_to_start(&site);
    assert_eq!(code, Some(78), "{err}");
    let shown = secret.display();
    assert!(
        err.contains(&format!("secret file {shown} has mode 0644, which lets group or others read or write it; expected 0600 (fix: chmod 600 {shown})")),
        "{err}"
    );
}

#[test]
fn a_listen_address_in_use_keeps_sparekeyd_from_starting() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v4 = taken.local_addr().unwrap().to_string();
    let site = Site::with_config(&section(&[&v4], &clients()[..1]), POLICY);
    write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
    let (code, err) = refuses_to_start(&site);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "sparekeyd: cannot answer RADIUS on {v4}: Address already in use"
        )),
        "{err}"
    );
}

#[test]
fn a_reload_takes_a_new_secret_and_refuses_an_unsafe_one() {
    use std::os::unix::fs::PermissionsExt;
    let r = radius_site();
    let status = "Message-Authenticator = 0x00\n";
    expect_reply(
        &radclient(&r.v4, "status", SECRET, status, 3, 2),
        "Access-Accept",
    );

    // A new secret, then SIGHUP: the old one gets no answer, the new one does.
    let secret = write_secret(
        r.site.dir.path(),
        "vpn-gw.secret",
        "a-brand-new-secret-for-vpn-gw-01",
    );
    r.daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r.daemon.log_text().contains("configuration reloaded") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    expect_reply(
        &radclient(
            &r.v4,
            "status",
            "a-brand-new-secret-for-vpn-gw-01",
            status,
            3,
            2,
        ),
        "Access-Accept",
    );
    expect_no_reply(&radclient(&r.v4, "status", SECRET, status, 1, 1));
    assert!(
        r.daemon
            .log_text()
            .contains("radius: configuration reloaded: 2 clients (vpn-gw6, vpn-gw)"),
        "{}",
        r.daemon.log_text()
    );

    // An unsafe secret file: the reload is refused and the running configuration answers on.
    std::fs::write(&secret, "leaked\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (rc, v) = r.site.ctl_json(&["reload"]);
    assert_ne!(rc, 0, "{v}");
    assert!(v.to_string().contains("has mode 0644"), "{v}");
    expect_reply(
        &radclient(
            &r.v4,
            "status",
            "a-brand-new-secret-for-vpn-gw-01",
            status,
            3,
            2,
        ),
        "Access-Accept",
    );
}

#[test]
fn a_retransmit_after_the_duplicate_cache_gets_the_first_accept_and_spends_nothing() {
    let r = radius_site();
    let (issued, request, s) = single_use_request(&r);
    // Beside it, bob's wrong code, whose retransmit must not count as a second guess.
    r.issue(&["bob", "--multi", "--service", "vpn"]);
    let wrong = capture_request(
        SECRET,
        "User-Name = bob\nUser-Password = \"00000-00000\"\nMessage-Authenticator = 0x00\n",
    );
    let s2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(send(&s2, &wrong, &r.v4)[0], 3, "Access-Reject");
    // The first Access-Accept is lost on its way back (the test ignores it) ...
    assert_eq!(send(&s, &request, &r.v4)[0], 2, "Access-Accept");
    // ... and the NAS retransmits after 10 s, past the 5 s duplicate cache (radcli's
    // default timeout): the same Accept, the single-use code not spent twice.
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        send(&s, &request, &r.v4)[0],
        2,
        "Access-Accept again, not Access-Reject"
    );
    assert_eq!(send(&s2, &wrong, &r.v4)[0], 3, "the same Access-Reject");
    std::thread::sleep(Duration::from_millis(700));
    let bob = r.audit("bob", 10);
    let counted: Vec<_> = bob
        .iter()
        .filter(|e| e["action"] == "failure")
        .filter(|e| e["reason"] == "wrong code")
        .collect();
    assert_eq!(counted.len(), 1, "one guess, counted once: {bob:?}");
    assert!(
        bob.iter()
            .any(|e| e["reason"].as_str().unwrap_or("").contains("retransmit")),
        "{bob:?}"
    );
    let events = r.audit("alice", 5);
    let redeems: Vec<_> = events.iter().filter(|e| e["action"] == "redeem").collect();
    assert_eq!(redeems.len(), 2, "{events:?}");
    assert!(
        redeems[1]["reason"]
            .as_str()
            .unwrap()
            .contains("retransmit"),
        "{events:?}"
    );
    // A new request with the code is refused: it was used once.
    let fresh = auth(&r.v4, SECRET, "alice", &code_of(&issued));
    expect_reply(&fresh, "Access-Reject");
}
