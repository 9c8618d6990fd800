//! Several sparekeyd nodes on one PostgreSQL store (issue 14), each a real sparekeyd process
//! with its own directory, journal and admin socket, against a private PostgreSQL 15 cluster
//! the test starts: a code issued through one node works through the other's RADIUS; a
//! single-use code sent to both at once is accepted once; a revoke on one is refused by the
//! other within the issue's 100 ms; lockout counts across nodes; `audit --verify` checks one
//! chain with the events of both.

use sparekey_tests::postgres::{Cluster, Pair};
use sparekey_tests::radius::{auth, free_udp_port, tools_installed, write_secret};
use sparekey_tests::require_postgres;
use sparekey_tests::site::{Daemon, Site, POLICY, ROLES};
use std::time::{Duration, Instant};

const SECRET: &str = "a-shared-secret-for-both-nodes-0123";

/// A node: a site directory whose [store] is the cluster's database, answering RADIUS on
/// its own port for the client at 127.0.0.1, and its running sparekeyd.
struct Node {
    site: Site,
    _daemon: Daemon,
    server: String,
}

/// Two nodes on `cluster`'s database, with one site key (as every node of a site has).
fn two_nodes(cluster: &Cluster) -> (Node, Node) {
    two_nodes_at(&cluster.url(), cluster)
}

/// Two nodes on the database at `url` (whose password is `cluster`'s).
fn two_nodes_at(url: &str, cluster: &Cluster) -> (Node, Node) {
    let (a, a_server) = node_site(url, cluster);
    let (b, b_server) = node_site(url, cluster);
    std::fs::copy(&a.key, &b.key).unwrap();
    let (da, db) = (a.start(), b.start());
    (
        Node {
            site: a,
            _daemon: da,
            server: a_server,
        },
        Node {
            site: b,
            _daemon: db,
            server: b_server,
        },
    )
}

/// A node's directory, not started yet, and its RADIUS address.
fn node_site(url: &str, cluster: &Cluster) -> (Site, String) {
    let server = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let extra = format!(
        "{ROLES}\n[radius]\nlisten = [{server:?}]\n\n[[radius.client]]\nname = \"vpn-gw\"\naddress = \"127.0.0.1\"\nsecret-file = \"vpn-gw.secret\"\nservice = \"vpn\"\n"
    );
    let site = Site::with_config(&extra, POLICY);
    let text = std::fs::read_to_string(&site.config).unwrap().replace(
        "[store]\n",
        &format!(
            "[store]\nbackend = \"postgresql\"\nurl = {url:?}\npassword-file = \"db.password\"\n"
        ),
    );
    std::fs::write(&site.config, text).unwrap();
    cluster.password_file(site.dir.path(), "db.password");
    write_secret(site.dir.path(), "vpn-gw.secret", SECRET);
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    std::fs::write(&site.key, key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&site.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (site, server)
}

fn code(run: &sparekey_tests::radius::Run) -> String {
    run.reply
        .as_ref()
        .map_or_else(|| format!("no reply: {}", run.text), |r| r.code.clone())
}

#[test]
fn two_nodes_share_one_store_and_a_single_use_code_is_accepted_once() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let cluster = Cluster::start();
    let (a, b) = two_nodes(&cluster);

    // Issued through node A, accepted through node B's RADIUS, and through A's.
    let (_, multi) = a.site.issue(&["alice", "--multi", "--service", "vpn"]);
    assert_eq!(
        code(&auth(&b.server, SECRET, "alice", &multi)),
        "Access-Accept"
    );
    assert_eq!(
        code(&auth(&a.server, SECRET, "alice", &multi)),
        "Access-Accept"
    );

    // A single-use code sent to both nodes at the same moment: one accept, one reject.
    for round in 0..5 {
        let (_, single) = a.site.issue(&["bob", "--service", "vpn"]);
        let (sa, sb) = (a.server.clone(), b.server.clone());
        let (ca, cb) = (single.clone(), single.clone());
        let ta = std::thread::spawn(move || code(&auth(&sa, SECRET, "bob", &ca)));
        let tb = std::thread::spawn(move || code(&auth(&sb, SECRET, "bob", &cb)));
        let mut answers = [ta.join().unwrap(), tb.join().unwrap()];
        answers.sort();
        assert_eq!(answers, ["Access-Accept", "Access-Reject"], "round {round}");
    }

    // Revoked through A: B refuses it (its cache hears of the change through NOTIFY).
    assert!(a.site.ctl(&["revoke", "alice"]).status.success());
    propagated();
    assert_eq!(
        code(&auth(&b.server, SECRET, "alice", &multi)),
        "Access-Reject"
    );

    // One chain, with the events of both nodes, checked whole from either.
    for n in [&a, &b] {
        let (rc, v) = n.site.ctl_json(&["audit", "--verify"]);
        assert_eq!((rc, v["intact"].as_bool()), (0, Some(true)), "{v}");
    }
    let (_, events) = b.site.ctl_json(&["audit", "--limit", "1000"]);
    let sources: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "redeem")
        .filter_map(|e| e["source"].as_str())
        .collect();
    assert!(sources.len() >= 7, "{events}");
}

/// Waits the 100 ms within which issue 14 has a revoke, an unlock or a lockout reach every
/// node. A node learns of another's change by NOTIFY, delivered a moment after the commit
/// (BENCHMARKS.md run L: 0.6 to 4.1 ms on loopback); on a loaded machine, a request sent
/// at once can come first and be answered from what the node knew.
fn propagated() {
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn wrong_codes_on_either_node_count_toward_one_lockout() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let cluster = Cluster::start();
    let (a, b) = two_nodes(&cluster);
    let (_, right) = a.site.issue(&["alice", "--multi", "--service", "vpn"]);
    // The policy locks out after 5 wrong codes within 15 minutes: spread over both nodes.
    for i in 0..5 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            code(&auth(&node.server, SECRET, "alice", "0000000000")),
            "Access-Reject"
        );
    }
    propagated();
    for node in [&a, &b] {
        assert_eq!(
            code(&auth(&node.server, SECRET, "alice", &right)),
            "Access-Reject",
            "locked out on every node"
        );
    }
    // Unlocked through B: A accepts again.
    assert!(b.site.ctl(&["unlock", "alice"]).status.success());
    propagated();
    assert_eq!(
        code(&auth(&a.server, SECRET, "alice", &right)),
        "Access-Accept"
    );
    let (_, events) = a
        .site
        .ctl_json(&["audit", "--user", "alice", "--limit", "100"]);
    let lockouts = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "lockout")
        .count();
    assert!(lockouts >= 1, "{events}");
}

#[test]
fn a_retransmit_that_lands_on_the_other_node_gets_the_first_answer() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let cluster = Cluster::start();
    let (a, b) = two_nodes(&cluster);
    let (_, single) = a.site.issue(&["bob", "--service", "vpn"]);
    let request = sparekey_tests::radius::capture_request(
        SECRET,
        &format!("User-Name = \"bob\"\nUser-Password = \"{single}\"\nNAS-Identifier = \"gw1.example\"\nMessage-Authenticator = 0x00\n"),
    );
    // The same datagram from the same source address and port, first to A, then to B.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut ask = |server: &str| {
        socket.send_to(&request, server).unwrap();
        let n = socket.recv(&mut buf).expect("an answer");
        assert!(n >= 20, "a RADIUS reply");
        buf[0] // the reply's code: 2 Access-Accept, 3 Access-Reject
    };
    assert_eq!(ask(&a.server), 2, "the first answer: accepted");
    assert_eq!(
        ask(&b.server),
        2,
        "the retransmit on B: the first answer again"
    );
    // A new request with the spent code is refused on both.
    for n in [&a, &b] {
        assert_eq!(
            code(&auth(&n.server, SECRET, "bob", &single)),
            "Access-Reject"
        );
    }
}

#[test]
fn through_a_failover_no_answered_redemption_is_lost_and_the_nodes_reconnect() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let pair = Pair::start();
    let (a, b) = two_nodes_at(&pair.url(), &pair.primary);
    // Single-use codes: some spent before the failover, one kept for after.
    let spent: Vec<String> = (0..4)
        .map(|_| a.site.issue(&["bob", "--service", "vpn"]).1)
        .collect();
    let (_, later) = a.site.issue(&["alice", "--service", "vpn"]);
    let (_, uncapped) = a.site.issue(&["helpdesk1", "--multi", "--service", "vpn"]);
    assert_eq!(
        code(&auth(&a.server, SECRET, "helpdesk1", &uncapped)),
        "Access-Accept"
    );
    let (_, waiting) = a
        .site
        .issue(&["carol", "--service", "vpn", "--reason", "ticket 1"]);
    for (i, c) in spent.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(code(&auth(&node.server, SECRET, "bob", c)), "Access-Accept");
    }

    // The primary dies. Until a primary is back, a request that needs a write gets no
    // answer (fail closed): the concentrator, or a member host, tries elsewhere or gives up.
    pair.kill_primary();
    let run = sparekey_tests::radius::radclient(
        &b.server,
        "auth",
        SECRET,
        &format!(
            "User-Name = \"carol\"\nUser-Password = \"{waiting}\"\nMessage-Authenticator = 0x00\n"
        ),
        1,
        2,
    );
    assert!(
        run.reply.is_none(),
        "answered without a primary: {}",
        run.text
    );
    // An uncapped code needs no write, but once a node's half-second write of what it
    // gathered has failed, it answers nothing at all until it can write again.
    std::thread::sleep(Duration::from_millis(1500));
    let run = sparekey_tests::radius::radclient(
        &a.server,
        "auth",
        SECRET,
        &format!("User-Name = \"helpdesk1\"\nUser-Password = \"{uncapped}\"\nMessage-Authenticator = 0x00\n"),
        1,
        2,
    );
    assert!(
        run.reply.is_none(),
        "an uncapped accept without a primary: {}",
        run.text
    );

    // The standby is promoted: the nodes find it by themselves (the url's second host).
    pair.promote();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answer = String::new();
    while Instant::now() < deadline {
        answer = code(&auth(&a.server, SECRET, "alice", &later));
        if answer != "no reply" && !answer.starts_with("no reply") {
            break;
        }
    }
    assert_eq!(answer, "Access-Accept", "after the failover");
    // Every code spent before the failover stays spent, on both nodes.
    for c in &spent {
        for node in [&a, &b] {
            assert_eq!(code(&auth(&node.server, SECRET, "bob", c)), "Access-Reject");
        }
    }
    // The code whose request got no answer was not spent: it works now, once.
    assert_eq!(
        code(&auth(&b.server, SECRET, "carol", &waiting)),
        "Access-Accept"
    );
    assert_eq!(
        code(&auth(&a.server, SECRET, "carol", &waiting)),
        "Access-Reject"
    );
    assert_eq!(
        code(&auth(&a.server, SECRET, "helpdesk1", &uncapped)),
        "Access-Accept"
    );
    let (rc, v) = b.site.ctl_json(&["audit", "--verify"]);
    assert_eq!((rc, v["intact"].as_bool()), (0, Some(true)), "{v}");
}

#[test]
fn a_single_nodes_sqlite_store_is_imported_whole_with_its_chain_intact() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let cluster = Cluster::start();
    // A node on SQLite with some history: codes issued and used, a wrong code, a host.
    let (old, old_server) = sparekey_tests::radius::loopback_site(POLICY, SECRET);
    let daemon = old.start();
    let (_, multi) = old.issue(&["alice", "--multi", "--service", "vpn"]);
    let (_, single) = old.issue(&["bob", "--service", "vpn"]);
    assert_eq!(
        code(&auth(&old_server, SECRET, "bob", &single)),
        "Access-Accept"
    );
    assert_eq!(
        code(&auth(&old_server, SECRET, "alice", "0000000000")),
        "Access-Reject"
    );
    let host_file = old.path("host-a.key");
    let (rc, v) = old.ctl_json(&[
        "host",
        "enroll",
        "host-a",
        "--out",
        host_file.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{v}");
    let (_, before) = old.ctl_json(&["audit", "--limit", "1000"]);
    let events_before = before["events"].as_array().unwrap().len();
    assert_eq!(daemon.stop(), Some(0));

    // A node on the (empty) database, with the old node's key.
    let (new, new_server) = node_site(&cluster.url(), &cluster);
    std::fs::copy(&old.key, &new.key).unwrap();
    let import = |from: &std::path::Path| {
        std::process::Command::new(sparekey_tests::bins::bin("sparekeyd"))
            .arg("--config")
            .arg(&new.config)
            .arg("--import-sqlite")
            .arg(from)
            .output()
            .unwrap()
    };
    let out = import(&old.store);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with(&format!(
            "imported 2 credentials, 1 failure rows, {events_before} audit events"
        )),
        "{said}"
    );
    // Into a store that is not empty: refused.
    let again = import(&old.store);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let _node = new.start();
    assert_eq!(
        code(&auth(&new_server, SECRET, "alice", &multi)),
        "Access-Accept"
    );
    assert_eq!(
        code(&auth(&new_server, SECRET, "bob", &single)),
        "Access-Reject",
        "spent before"
    );
    let (rc, v) = new.ctl_json(&["audit", "--verify"]);
    assert_eq!((rc, v["intact"].as_bool()), (0, Some(true)), "{v}");
    let (_, after) = new.ctl_json(&["audit", "--limit", "1000"]);
    let actions: Vec<&str> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"import"), "{after}");
    let (_, hosts) = new.ctl_json(&["host", "list"]);
    assert_eq!(hosts["hosts"][0]["name"], "host-a", "{hosts}");
}

#[test]
fn with_a_ca_file_the_connection_is_tls_and_a_server_the_ca_did_not_sign_is_refused() {
    require_postgres!();
    if !tools_installed() {
        eprintln!("skipped: radclient is not installed (apt-get install freeradius-utils)");
        return;
    }
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    // A node that trusts the cluster's CA: it connects over TLS and answers.
    let (site, server) = node_site(&cluster.url(), &cluster);
    std::fs::copy(&ca, site.path("db-ca.pem")).unwrap();
    let with_ca = |site: &Site| {
        let text = std::fs::read_to_string(&site.config).unwrap().replace(
            "password-file = \"db.password\"\n",
            "password-file = \"db.password\"\nca-file = \"db-ca.pem\"\n",
        );
        std::fs::write(&site.config, text).unwrap();
    };
    with_ca(&site);
    let node = site.start();
    let (_, multi) = site.issue(&["alice", "--multi", "--service", "vpn"]);
    assert_eq!(
        code(&auth(&server, SECRET, "alice", &multi)),
        "Access-Accept"
    );
    let ssl = cluster.psql("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND usename = 'sparekey'");
    assert_ne!(ssl, "0", "the node's connections use TLS");
    drop(node);

    // A node that trusts another CA: the server's certificate does not verify, and
    // sparekeyd does not start (nothing is sent to a server it cannot trust).
    let (other, _) = node_site(&cluster.url(), &cluster);
    let out = std::process::Command::new("openssl")
        .current_dir(other.dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "db-ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=another CA",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    with_ca(&other);
    let started = std::process::Command::new(sparekey_tests::bins::bin("sparekeyd"))
        .arg("--config")
        .arg(&other.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&started.stderr);
    assert!(!started.status.success(), "{err}");
    assert!(err.contains("certificate"), "{err}");
}
