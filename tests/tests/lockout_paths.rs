//! One lockout across both paths: wrong codes guessed in turn over RADIUS (radclient against
//! sparekeyd) and over PAM (real libpam under pam_wrapper) count together, so that the
//! guesses counted stay within the policy's attempts plus one.

use sparekey_tests::pam::{self, Services, Transaction, PAM_AUTH_ERR, PAM_MAXTRIES};
use sparekey_tests::radius::{loopback_site, radclient, tools_installed};
use sparekey_tests::require_pam;
use sparekey_tests::site::POLICY;

/// The child process's entry point (see sparekey_tests::pam); does nothing in a normal run.
#[test]
fn pam_child() {
    pam::child_main();
}

const SECRET: &str = "bG9ja291dC1wYXRocy10ZXN0LXNlY3JldC0zMmJ5dGVz";

/// The policy's attempts (POLICY: lockout = { attempts = 5, window = "15m" }).
const ATTEMPTS: u64 = 5;

/// sparekeyd's answering threads per listen address: one per CPU, at most 4
/// (radius_listener::threads_per_address).
fn answering_threads() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u64)
}

#[test]
fn guesses_alternating_between_radius_and_pam_share_one_lockout() {
    require_pam!();
    assert!(tools_installed(), "apt-get install freeradius-utils");
    let (site, server) = loopback_site(POLICY, SECRET);
    let _daemon = site.start();
    let (_, code) = site.issue(&["alice", "--multi"]);
    let services = Services::new(&site);
    services.add("sshd", "auth [default=done] {sparekey}\n");

    // Twelve guesses in turn, each answered before the next: six over each path, well
    // within the half second in which sparekeyd used to keep its counted failures to itself.
    let mut pam_results = Vec::new();
    let mut radius_results = Vec::new();
    for _ in 0..6 {
        let run = radclient(
            &server,
            "auth",
            SECRET,
            "User-Name = \"alice\"\nUser-Password = \"00000-00000\"\nMessage-Authenticator = 0x00\n",
            1,
            2,
        );
        radius_results.push(run.reply.map(|r| r.code));
        let o = pam::run(
            &site,
            &services,
            &Transaction::new("sshd", "alice", &["00000-00000"]),
        );
        pam_results.push(o.rc);
    }
    eprintln!("radius: {radius_results:?}\npam: {pam_results:?}");
    assert!(
        radius_results
            .iter()
            .all(|r| r.as_deref() == Some("Access-Reject")),
        "{radius_results:?}"
    );
    assert!(
        pam_results
            .iter()
            .all(|rc| [PAM_AUTH_ERR, PAM_MAXTRIES].contains(rc)),
        "{pam_results:?}"
    );
    assert!(
        pam_results.contains(&PAM_MAXTRIES),
        "PAM saw the lockout: {pam_results:?}"
    );

    // What counted: the failures with reason "wrong code", however batched.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (rc, v) = site.ctl_json(&["audit", "--user", "alice", "--limit", "1000"]);
    assert_eq!(rc, 0, "{v}");
    let counted: u64 = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "failure")
        .filter_map(|e| e["reason"].as_str())
        .filter(|r| r.starts_with("wrong code"))
        .map(|r| {
            r.split_once(" times")
                .and_then(|(head, _)| head.rsplit('(').next()?.parse().ok())
                .unwrap_or(1)
        })
        .sum();
    // The bound asked for is the attempts plus one per answering thread; sparekeyd keeps at
    // most one counted failure of a user unwritten at a time, so it promises one more at most
    // (and guesses answered one after another, as here, count exactly the attempts).
    let bound = (ATTEMPTS + 1).min(ATTEMPTS + answering_threads());
    eprintln!("counted wrong codes: {counted} (policy attempts {ATTEMPTS}, bound {bound})");
    assert!(
        (ATTEMPTS..=bound).contains(&counted),
        "{counted} wrong codes counted across RADIUS and PAM; expected {ATTEMPTS} to {bound}: {v}"
    );
    // Locked out on both paths, even for the right code.
    let o = pam::run(
        &site,
        &services,
        &Transaction::new("sshd", "alice", &[&code]),
    );
    assert_eq!(o.rc, PAM_MAXTRIES, "{o:#?}");
    let input = format!(
        "User-Name = \"alice\"\nUser-Password = \"{code}\"\nMessage-Authenticator = 0x00\n"
    );
    let run = radclient(&server, "auth", SECRET, &input, 1, 2);
    assert_eq!(
        run.reply.map(|r| r.code).as_deref(),
        Some("Access-Reject"),
        "{}",
        run.text
    );
}
