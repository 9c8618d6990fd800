//! sparekey-bench-challenge: challenge-mode logins per second. Each login is two
//! Access-Requests: the password (answered with an Access-Challenge and its State), then the
//! code with that State (answered with an Access-Accept).
//!
//! ```text
//! sparekey-bench-challenge --server 127.0.0.1:18748 --secret-file bench.secret \
//!     --codes accept-codes.tsv --password pw --threads 8 --duration 5 --server-pid 1234
//! ```
//!
//! `--codes` holds `user<TAB>code` lines (multi-use codes: each login uses one line, in
//! turn). Every thread logs in one user at a time on its own socket. Exit status 3 when a
//! login was refused or an answer failed its checks.

use clap::Parser;
use sparekey_bench::procstat;
use sparekey_bench::rng::SplitMix64;
use sparekey_bench::stats::Summary;
use sparekey_radius_codec::{
    attr, Code, MessageAuthenticatorPolicy, PacketRef, RequestBuilder, SharedSecret,
};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-bench-challenge",
    version,
    about = "Challenge-mode logins per second: password, Access-Challenge, code with the State"
)]
struct Args {
    /// The RADIUS server.
    #[arg(long)]
    server: SocketAddr,
    /// A file whose first line is the shared secret.
    #[arg(long)]
    secret_file: PathBuf,
    /// user<TAB>code lines.
    #[arg(long)]
    codes: PathBuf,
    /// Every user's password (the PAM service decides whether it is right).
    #[arg(long, default_value = "bench-password")]
    password: String,
    /// Logins in flight (one thread and socket each).
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The server's process id, for its CPU time per login.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A label for the JSON line.
    #[arg(long, default_value = "challenge/sparekeyd/login")]
    label: String,
    /// Append one JSON object to this file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

/// What one thread measured: login latencies (ns) and failures.
struct Measured {
    latencies: Vec<u64>,
    failures: u64,
    first_error: Option<String>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("sparekey-bench-challenge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One round: sends a request for `user` with `password` (and `state`), returns the answer.
fn round(
    socket: &UdpSocket,
    secret: &SharedSecret,
    rng: &mut SplitMix64,
    id: u8,
    user: &str,
    password: &[u8],
    state: Option<&[u8]>,
) -> Result<(Code, Option<Vec<u8>>), String> {
    let auth = rng.authenticator();
    let mut b = RequestBuilder::access_request(id, auth, secret);
    b.add_str(attr::USER_NAME, user)
        .and_then(|b| b.add_user_password(password))
        .and_then(|b| b.add_str(attr::NAS_IDENTIFIER, "bench-vpn-gw"))
        .and_then(|b| b.add_str(attr::CALLING_STATION_ID, "203.0.113.7"))
        .map_err(|e| e.to_string())?;
    if let Some(s) = state {
        b.add(attr::STATE, s).map_err(|e| e.to_string())?;
    }
    socket.send(&b.finish()).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .map_err(|e| format!("no answer: {e}"))?;
        let Ok(p) = PacketRef::decode(&buf[..n]) else {
            continue;
        };
        if p.identifier() != id {
            continue; // a late answer to an earlier round
        }
        p.verify_response(&auth, secret, MessageAuthenticatorPolicy::Required)
            .map_err(|e| format!("a bad answer: {e}"))?;
        return Ok((p.code(), p.attribute(attr::STATE).map(<[u8]>::to_vec)));
    }
}

fn login(
    socket: &UdpSocket,
    secret: &SharedSecret,
    rng: &mut SplitMix64,
    id: &mut u8,
    (user, code): (&str, &str),
    password: &str,
) -> Result<(), String> {
    *id = id.wrapping_add(1);
    let (first, state) = round(socket, secret, rng, *id, user, password.as_bytes(), None)?;
    let state = match (first, state) {
        (Code::AccessChallenge, Some(s)) => s,
        (other, _) => {
            return Err(format!(
                "{user}: round 1 got {other}, expected Access-Challenge with a State"
            ))
        }
    };
    *id = id.wrapping_add(1);
    match round(
        socket,
        secret,
        rng,
        *id,
        user,
        code.as_bytes(),
        Some(&state),
    )? {
        (Code::AccessAccept, _) => Ok(()),
        (other, _) => Err(format!(
            "{user}: round 2 got {other}, expected Access-Accept"
        )),
    }
}

fn run(args: Args) -> Result<bool, String> {
    let text = std::fs::read_to_string(&args.secret_file)
        .map_err(|e| format!("{}: {e}", args.secret_file.display()))?;
    let secret_bytes = text.lines().next().unwrap_or_default().as_bytes().to_vec();
    let codes_text = std::fs::read_to_string(&args.codes)
        .map_err(|e| format!("{}: {e}", args.codes.display()))?;
    let codes: Vec<(String, String)> = codes_text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    if codes.is_empty() {
        return Err(format!("{}: no user<TAB>code lines", args.codes.display()));
    }
    let duration = Duration::try_from_secs_f64(args.duration).map_err(|e| e.to_string())?;
    let before = args
        .server_pid
        .map(procstat::process_cpu)
        .transpose()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let results: Vec<Measured> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads.max(1))
            .map(|t| {
                let (codes, secret_bytes, password) = (&codes, &secret_bytes, &args.password);
                scope.spawn(move || {
                    let mut m = Measured {
                        latencies: Vec::new(),
                        failures: 0,
                        first_error: None,
                    };
                    let setup = SharedSecret::new(secret_bytes)
                        .map_err(|e| e.to_string())
                        .and_then(|s| {
                            let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                            sock.connect(args.server).map_err(|e| e.to_string())?;
                            sock.set_read_timeout(Some(Duration::from_secs(2)))
                                .map_err(|e| e.to_string())?;
                            Ok((s, sock))
                        });
                    let (secret, socket) = match setup {
                        Ok(x) => x,
                        Err(e) => {
                            m.failures += 1;
                            m.first_error = Some(e);
                            return m;
                        }
                    };
                    let mut rng = SplitMix64::from_os();
                    let mut id = (t * 37) as u8;
                    let mut i = t;
                    while started.elapsed() < duration {
                        let (user, code) = &codes[i % codes.len()];
                        i += args.threads.max(1);
                        let at = Instant::now();
                        match login(&socket, &secret, &mut rng, &mut id, (user, code), password) {
                            Ok(()) => m.latencies.push(at.elapsed().as_nanos() as u64),
                            Err(e) => {
                                m.failures += 1;
                                m.first_error.get_or_insert(e);
                            }
                        }
                    }
                    m
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed();
    let cpu = match (args.server_pid, before) {
        (Some(pid), Some(b)) => Some(
            procstat::process_cpu(pid)
                .map_err(|e| e.to_string())?
                .since(&b),
        ),
        _ => None,
    };
    let mut latencies: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    let failures: u64 = results.iter().map(|r| r.failures).sum();
    let first_error = results.iter().find_map(|r| r.first_error.clone());
    let logins = latencies.len();
    let summary = Summary::of(&mut latencies);
    let per_s = logins as f64 / elapsed.as_secs_f64();
    let cpu_us = cpu
        .filter(|_| logins > 0)
        .map(|c| c.total().as_secs_f64() * 1e6 / logins as f64);
    let json = serde_json::json!({
        "label": args.label,
        "logins": logins,
        "logins_per_s": (per_s * 10.0).round() / 10.0,
        "failures": failures,
        "threads": args.threads,
        "elapsed_s": elapsed.as_secs_f64(),
        "latency_us": {"p50": summary.p50 as f64 / 1000.0, "p99": summary.p99 as f64 / 1000.0},
        "server_cpu_us_per_login": cpu_us,
        "first_error": first_error,
    });
    println!(
        "{}: {per_s:.0} logins/s, p50 {:.0} us p99 {:.0} us, {failures} failed{}",
        args.label,
        summary.p50 as f64 / 1000.0,
        summary.p99 as f64 / 1000.0,
        cpu_us.map_or(String::new(), |c| format!(
            ", server {c:.1} us CPU per login"
        ))
    );
    if let Some(e) = &first_error {
        eprintln!("sparekey-bench-challenge: first failure: {e}");
    }
    if let Some(path) = &args.jsonl {
        sparekey_bench::jsonl::append(path, &json)?;
    }
    Ok(failures == 0)
}
