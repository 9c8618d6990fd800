//! The answering threads over real UDP sockets on loopback, with the real store and verifier:
//! garbage in, nothing out, and the next good request is still answered; several threads on
//! one address, each client kept on one of them; batches with bad datagrams in them.

use super::*;
use sparekey_core::audit::NoSink;
use sparekey_core::SiteKey;
use sparekey_radius_codec::MAX_PACKET_LEN;
use sparekey_radius_codec::{
    attr, Code, MessageAuthenticatorPolicy, PacketRef, RequestBuilder, SharedSecret,
};
use std::os::unix::fs::PermissionsExt;

const SECRET: &str = "listener-test-secret-0123456789";

fn site(dir: &std::path::Path) -> Arc<Site> {
    let secret = dir.join("gw.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let daemon = "[store]\npath = \"sparekey.db\"\nkey-file = \"site.key\"\n[audit]\nsyslog = false\n\
        [radius]\nlisten = [\"127.0.0.1:0\"]\n\
        [[radius.client]]\nname = \"gw\"\naddress = \"127.0.0.0/8\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n";
    std::fs::write(dir.join("sparekey.toml"), daemon).unwrap();
    std::fs::write(dir.join("policy.toml"), "enabled = true\ncontact = \"ext. 4357\"\n[[policy]]\nname = \"p\"\nusers = [\"alice\"]\nservices = [\"vpn\"]\n").unwrap();
    let path = dir.join("sparekey.toml");
    let config = sparekey_conf::load(&path).unwrap();
    let key = Arc::new(SiteKey::from_bytes(&[7; 32]));
    Site::new(
        &path,
        config,
        key,
        Arc::new(NoSink),
        Arc::new(sparekey_core::identity::Nss),
        chrono::Utc::now(),
    )
}

fn good_request(id: u8) -> Vec<u8> {
    request(id, [id; 16], b"0000000000")
}

fn request(id: u8, authenticator: [u8; 16], code: &[u8]) -> Vec<u8> {
    let s = SharedSecret::new(SECRET.as_bytes()).unwrap();
    let mut b = RequestBuilder::access_request(id, authenticator, &s);
    b.add_str(attr::USER_NAME, "alice").unwrap();
    b.add_user_password(code).unwrap();
    b.finish()
}

fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn garbage_on_the_wire_gets_no_answer_and_a_good_request_still_does() {
    let dir = tempfile::tempdir().unwrap();
    let state = site(dir.path());
    let (listeners, warnings) = prepare(&state).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        listeners.summary(),
        format!(
            "RADIUS on 127.0.0.1:0 for 1 client (gw), {} answering thread{} per address",
            threads_per_address(),
            if threads_per_address() == 1 { "" } else { "s" }
        )
    );
    let server = listeners.local_addrs()[0];
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    listeners
        .spawn(
            state,
            Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())),
        )
        .unwrap();

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let good = good_request(1);
    let mut seed = 0xfeed_u64;
    let mut sent = 0;
    for i in 0..3000u32 {
        let datagram: Vec<u8> = match i % 4 {
            0 => (0..(noise(&mut seed) % 200))
                .map(|_| noise(&mut seed) as u8)
                .collect(),
            1 => good[..(noise(&mut seed) as usize % good.len())].to_vec(),
            2 => {
                let mut d = good.clone();
                let at = noise(&mut seed) as usize % d.len();
                d[at] ^= 1 << (noise(&mut seed) % 8);
                d
            }
            _ => {
                // Oversized: a valid header claiming 4096 or more, in a longer datagram.
                let mut d = good.clone();
                d.resize(4097 + (noise(&mut seed) % 4000) as usize, 0);
                d
            }
        };
        if datagram == good {
            continue;
        }
        client.send_to(&datagram, server).unwrap();
        sent += 1;
    }
    // Replies to garbage would be waiting now; the next one read must answer the good request.
    // The server may still be working through the 3,000 datagrams on a busy machine: wait
    // long for this reply, briefly for the absence of others.
    client.send_to(&good, server).unwrap();
    let mut buf = [0u8; 4096];
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, from) = client
        .recv_from(&mut buf)
        .expect("the good request is answered");
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(from, server);
    let reply = PacketRef::decode(&buf[..n]).unwrap();
    let s = SharedSecret::new(SECRET.as_bytes()).unwrap();
    reply
        .verify_response(&[1; 16], &s, MessageAuthenticatorPolicy::Required)
        .expect("the reply answers the good request");
    // alice has no code: a reject, with the site's contact.
    assert_eq!(reply.code(), Code::AccessReject);
    assert_eq!(
        reply.attribute(attr::REPLY_MESSAGE),
        Some(&b"Code not accepted. Contact: ext. 4357"[..])
    );
    assert!(client.recv_from(&mut buf).is_err(), "exactly one reply");

    // The same request again is a retransmit: the very same bytes come back.
    let first = buf[..n].to_vec();
    client.send_to(&good, server).unwrap();
    let (m, _) = client
        .recv_from(&mut buf)
        .expect("the retransmit is answered");
    assert_eq!(&buf[..m], &first[..]);

    let lines = lines.lock().unwrap();
    assert!(sent > 2900);
    assert!(lines.len() < 10, "rate-limited log: {lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("radius: client gw (127.0.0.1:")),
        "{lines:?}"
    );
}

#[test]
fn binding_an_address_in_use_names_it() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = bind_group(addr, 2)
        .map_err(|e| Error::bind(&addr.to_string(), e))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("cannot answer RADIUS on {addr}: Address already in use (os error 98) (another process, e.g. freeradius, already uses this port; stop it or pick another port)")
    );
}

#[test]
fn a_port_held_with_so_reuseport_by_someone_else_is_refused_too() {
    // Same effective UID, so the kernel would let a reuseport socket join this one's group.
    let theirs = bind_socket("127.0.0.1:0".parse().unwrap(), true).unwrap();
    let addr = theirs.local_addr().unwrap();
    let e = bind_group(addr, 2).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    // Once it is gone the address is free, and a group binds.
    drop(theirs);
    let ours = bind_group(addr, 3).unwrap();
    assert_eq!(ours.len(), 3);
    assert!(ours.iter().all(|s| s.local_addr().unwrap() == addr));
}

#[test]
fn the_kernel_spreads_clients_over_the_group_and_keeps_each_on_one_socket() {
    let group = bind_group("127.0.0.1:0".parse().unwrap(), 4).unwrap();
    let server = group[0].local_addr().unwrap();
    let clients: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for round in 0..3u8 {
        for c in &clients {
            c.send_to(&[round], server).unwrap();
        }
    }
    // Which socket each client port reached, in each round.
    let mut seen = std::collections::HashMap::<u16, Vec<usize>>::new();
    let mut buf = [0u8; 16];
    for (i, s) in group.iter().enumerate() {
        s.set_nonblocking(true).unwrap();
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            seen.entry(from.port()).or_default().push(i);
        }
    }
    assert_eq!(seen.len(), clients.len(), "every datagram arrived");
    for (port, sockets) in &seen {
        assert_eq!(sockets.len(), 3, "client {port}: {sockets:?}");
        assert!(
            sockets.iter().all(|s| *s == sockets[0]),
            "client {port}'s datagrams went to different sockets: {sockets:?}"
        );
    }
    let used: std::collections::HashSet<usize> = seen.values().map(|s| s[0]).collect();
    assert!(used.len() > 1, "64 clients all on one socket of 4");
}

/// Issues a single-use code for alice per entry of `codes`.
fn issue(state: &Site, codes: &[String]) {
    use sparekey_core::issue::{make_credential, IssueRequest};
    let config = state.config();
    let policy = config.policy.by_name("p").unwrap();
    let mut store = state.open_store().unwrap();
    let now = chrono::Utc::now();
    for code in codes {
        let code = sparekey_core::Code::from_input(code.as_bytes()).unwrap();
        let cred = make_credential(
            policy,
            &IssueRequest::new("alice", "test"),
            &code,
            state.key(),
            now,
        )
        .unwrap();
        let origin = sparekey_core::store::Origin {
            actor: "test",
            source: "test",
        };
        store.issue(&cred, origin).unwrap();
    }
}

fn answer(client: &UdpSocket, request: &[u8]) -> (Vec<u8>, Code) {
    let mut buf = [0u8; 4096];
    let (n, _) = client.recv_from(&mut buf).expect("an answer");
    let reply = PacketRef::decode(&buf[..n]).unwrap();
    let s = SharedSecret::new(SECRET.as_bytes()).unwrap();
    let sent = PacketRef::decode(request).unwrap();
    reply
        .verify_response(
            sent.authenticator(),
            &s,
            MessageAuthenticatorPolicy::Required,
        )
        .expect("the reply answers the request");
    (buf[..n].to_vec(), reply.code())
}

#[test]
fn several_threads_answer_one_address_and_a_retransmit_reaches_the_one_that_answered() {
    let dir = tempfile::tempdir().unwrap();
    let state = site(dir.path());
    let (listeners, _) = prepare_with(&state, 4).unwrap();
    assert_eq!(listeners.threads(), 4);
    assert_eq!(
        listeners.summary(),
        "RADIUS on 127.0.0.1:0 for 1 client (gw), 4 answering threads per address"
    );
    let server = listeners.local_addrs()[0];
    let codes: Vec<String> = (0..24).map(|i| format!("{:010}", 1_000_000 + i)).collect();
    issue(&state, &codes);
    listeners.spawn(state, Arc::new(|_: &str| {})).unwrap();

    let clients: Vec<UdpSocket> = (0..codes.len())
        .map(|_| {
            let c = UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c
        })
        .collect();
    // Every client at once, each with its own single-use code.
    let requests: Vec<Vec<u8>> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| request(i as u8, [i as u8 + 1; 16], code.as_bytes()))
        .collect();
    for (c, r) in clients.iter().zip(&requests) {
        c.send_to(r, server).unwrap();
    }
    let firsts: Vec<Vec<u8>> = clients
        .iter()
        .zip(&requests)
        .map(|(c, r)| {
            let (bytes, code) = answer(c, r);
            assert_eq!(code, Code::AccessAccept);
            bytes
        })
        .collect();
    // Retransmits from the same ports: the same bytes, from the duplicate cache of the thread
    // that answered (any other would verify the spent code again and refuse it).
    for (c, r) in clients.iter().zip(&requests) {
        c.send_to(r, server).unwrap();
    }
    for ((c, r), first) in clients.iter().zip(&requests).zip(&firsts) {
        assert_eq!(&answer(c, r).0, first, "a retransmit gets the cached reply");
    }
    // A new request (another authenticator) with the same code is verified: spent.
    for (i, (c, code)) in clients.iter().zip(&codes).enumerate() {
        let again = request(i as u8, [0xee; 16], code.as_bytes());
        c.send_to(&again, server).unwrap();
        assert_eq!(answer(c, &again).1, Code::AccessReject);
    }
}

#[test]
fn a_batch_with_bad_datagrams_in_it_still_answers_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = site(dir.path());
    let (listeners, _) = prepare_with(&state, 1).unwrap();
    let server = listeners.local_addrs()[0];
    let shared = Shared {
        current: Mutex::new(listeners.snapshot.clone()),
        bound: vec!["127.0.0.1:0".into()],
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let log: Log = Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string()));
    let verifier = SharedVerifier::new(&state);
    let mut answerer =
        crate::radius_batch::Answerer::new(&state, &shared, &log, verifier, Arc::default(), None);

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut oversized = good_request(9);
    oversized.resize(MAX_PACKET_LEN + 100, 0);
    let mut bad_authenticator = good_request(8);
    let last = bad_authenticator.len() - 1;
    bad_authenticator[last] ^= 1;
    let batch = [
        good_request(1),
        b"\x01\x02 not RADIUS".to_vec(),
        good_request(2),
        oversized,
        Vec::new(),
        bad_authenticator,
        good_request(3),
    ];
    for d in &batch {
        client.send_to(d, server).unwrap();
    }
    // All seven are queued: one turn reads them in one batch and answers the three good ones.
    let socket = Arc::new(listeners.groups[0].1[0].try_clone().unwrap());
    answerer.turn(&socket, &state, &shared, &log);
    for id in [1, 2, 3] {
        let (_, code) = answer(&client, &good_request(id));
        assert_eq!(code, Code::AccessReject, "alice has no code");
    }
    let mut buf = [0u8; 4096];
    assert!(client.recv_from(&mut buf).is_err(), "three replies only");
    let lines = lines.lock().unwrap();
    assert!(
        lines.len() == 1 && lines[0].starts_with("radius: client gw (127.0.0.1:"),
        "one rate-limited line: {lines:?}"
    );
}

#[test]
fn ipv4_and_ipv6_wildcards_can_both_be_bound() {
    let v4 = bind("0.0.0.0:0".parse().unwrap()).unwrap();
    let port = v4.local_addr().unwrap().port();
    // Skipped where the host has no IPv6.
    if let Ok(v6) = bind(SocketAddr::from(([0u16; 8], port))) {
        assert_eq!(v6.local_addr().unwrap().port(), port);
    }
}

#[test]
fn a_reload_rebuilds_the_clients_once_and_keeps_them_when_a_secret_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let state = site(dir.path());
    let (listeners, _) = prepare(&state).unwrap();
    let shared = Shared {
        current: Mutex::new(listeners.snapshot.clone()),
        bound: listeners
            .addresses()
            .iter()
            .map(|a| a.to_string())
            .collect(),
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let log: Log = Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string()));
    let taken = |lines: &Mutex<Vec<String>>| std::mem::take(&mut *lines.lock().unwrap());

    // Nothing changed: nothing rebuilt.
    shared.refresh(&state, &log);
    assert!(taken(&lines).is_empty());

    // A new secret and another listen address.
    let secret = dir.path().join("gw.secret");
    std::fs::write(&secret, "the-next-secret-0123456789abcdef\n").unwrap();
    let toml = dir.path().join("sparekey.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("[\"127.0.0.1:0\"]", "[\"127.0.0.1:0\", \"[::1]:0\"]"),
    )
    .unwrap();
    state.reload("root", "test", chrono::Utc::now()).unwrap();
    let snap = shared.refresh(&state, &log);
    let client = snap.clients.lookup("127.0.0.1".parse().unwrap()).unwrap();
    let sparekey_radius::clients::ClientSecret::Shared(client_secret) = &client.secret else {
        panic!("a NAS client has its own secret");
    };
    assert_eq!(
        client_secret.as_bytes(),
        b"the-next-secret-0123456789abcdef"
    );
    assert_eq!(
        taken(&lines),
        [
            "radius: configuration reloaded: 1 client (gw)",
            "radius: [radius] listen changed; restart sparekeyd to apply it (still answering on 127.0.0.1:0)",
        ]
    );
    shared.refresh(&state, &log);
    assert!(taken(&lines).is_empty(), "built once");

    // A secret file owned by someone else passes the configuration check (it only sees the
    // mode) but not the read: the previous clients stay in force.
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(&secret, Some(nix::unistd::Uid::from_raw(4242)), None).unwrap();
        state.reload("root", "test", chrono::Utc::now()).unwrap();
        let after = shared.refresh(&state, &log);
        assert!(Arc::ptr_eq(&after.clients, &snap.clients));
        assert!(
            !Arc::ptr_eq(&after.config, &snap.config),
            "the rest of the configuration is new"
        );
        let lines = taken(&lines);
        assert!(
            lines[0].starts_with("radius: the new configuration's clients were NOT loaded, the previous ones stay in force: RADIUS client \"gw\": secret file ")
                && lines[0].contains("is owned by uid 4242; expected root or uid 0 (fix: chown root "),
            "{lines:?}"
        );
    }
}
