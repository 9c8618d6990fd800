//! sparekey-bench-propagation: how long a change made through one site node takes to show
//! in another node's RADIUS answers.
//!
//! ```text
//! sparekey-bench-propagation --ctl-config a/sparekey.toml --via 127.0.0.1:18746 \
//!     --to 127.0.0.1:18747 --secret-file bench.secret --user prop --trials 20
//! ```
//!
//! Each trial, with the real sparekeyctl against node A's admin socket and RADIUS requests
//! (one at a time, each answer awaited) to node B:
//! - **issue**: a multi-use code issued through A; time until B first accepts it.
//! - **lockout**: `--attempts` wrong codes sent to A (each answered); time until B first
//!   refuses the right code.
//! - **unlock**: `sparekeyctl unlock` through A; time until B first accepts again.
//! - **revoke**: `sparekeyctl revoke` through A; time until B first refuses.
//!
//! Times run from the moment A answered (sparekeyctl returned, or A's last reject arrived)
//! to B's first answer that shows the change; `stale` counts B's answers before it. One JSON
//! line per kind goes to --jsonl. Exit status 3 when a change did not show within --give-up.

use clap::Parser;
use sparekey_bench::check::check_reply;
use sparekey_bench::requests::{build_request, Expect, NasAttributes, RequestSpec};
use sparekey_bench::rng::SplitMix64;
use sparekey_radius_codec::{MessageAuthenticatorPolicy, SharedSecret};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-bench-propagation",
    version,
    about = "Measures how soon a change made through one sparekeyd node shows at another"
)]
struct Args {
    /// sparekey.toml of node A (sparekeyctl --config).
    #[arg(long)]
    ctl_config: PathBuf,
    /// sparekeyctl.
    #[arg(long, default_value = "sparekeyctl")]
    ctl: PathBuf,
    /// Node A's RADIUS address (the wrong codes go there).
    #[arg(long)]
    via: SocketAddr,
    /// Node B's RADIUS address (where the change is looked for).
    #[arg(long)]
    to: SocketAddr,
    /// A file whose first line is the shared secret of both nodes' client.
    #[arg(long)]
    secret_file: PathBuf,
    /// The user (in a policy with service vpn, multi-use codes and a lockout).
    #[arg(long)]
    user: String,
    /// The service the codes are issued for.
    #[arg(long, default_value = "vpn")]
    service: String,
    /// Wrong codes that lock the user out (the policy's lockout attempts).
    #[arg(long, default_value_t = 5)]
    attempts: u32,
    /// Trials.
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// A change not seen after this many milliseconds fails the run.
    #[arg(long, default_value_t = 2000)]
    give_up_ms: u64,
    /// Append one JSON object per kind to this file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// A label prefix for the JSON lines.
    #[arg(long, default_value = "propagation")]
    label: String,
}

/// A RADIUS client that sends one request and waits for its answer.
struct Client {
    socket: UdpSocket,
    secret: SharedSecret,
    nas: NasAttributes,
    rng: SplitMix64,
    id: u8,
}

impl Client {
    fn ask(&mut self, to: SocketAddr, user: &str, code: &str) -> Result<Expect, String> {
        self.id = self.id.wrapping_add(1);
        let auth = self.rng.authenticator();
        let spec = RequestSpec {
            user: user.into(),
            password: code.into(),
            expect: None,
        };
        let packet = build_request(&spec, &self.nas, self.id, auth, &self.secret)
            .map_err(|e| format!("cannot build a request: {e}"))?;
        self.socket
            .send_to(&packet, to)
            .map_err(|e| format!("cannot send to {to}: {e}"))?;
        let mut buf = [0u8; 4096];
        loop {
            let (len, from) = self
                .socket
                .recv_from(&mut buf)
                .map_err(|e| format!("no answer from {to}: {e}"))?;
            if from != to || buf.get(1) != Some(&self.id) {
                continue; // a late answer to an earlier request
            }
            return check_reply(
                &buf[..len],
                &auth,
                &self.secret,
                MessageAuthenticatorPolicy::Required,
            )
            .map_err(|e| format!("a bad answer from {to}: {e:?}"));
        }
    }
}

/// What one kind of change measured over the trials.
#[derive(Default)]
struct Kind {
    micros: Vec<f64>,
    stale: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("sparekey-bench-propagation: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ctl(args: &Args, words: &[&str]) -> Result<String, String> {
    let out = Command::new(&args.ctl)
        .arg("--config")
        .arg(&args.ctl_config)
        .arg("--json")
        .args(words)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.ctl.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("sparekeyctl {words:?} failed: {text}"));
    }
    Ok(text)
}

/// Asks B until its answer is `want`; the time since `from` and the answers before it.
fn until(
    client: &mut Client,
    args: &Args,
    code: &str,
    want: Expect,
    from: Instant,
) -> Result<Option<(f64, u64)>, String> {
    let mut stale = 0;
    while from.elapsed() < Duration::from_millis(args.give_up_ms) {
        if client.ask(args.to, &args.user, code)? == want {
            return Ok(Some((from.elapsed().as_secs_f64() * 1e6, stale)));
        }
        stale += 1;
    }
    Ok(None)
}

fn run(args: Args) -> Result<bool, String> {
    let secret = std::fs::read_to_string(&args.secret_file)
        .map_err(|e| format!("cannot read {}: {e}", args.secret_file.display()))?;
    let secret = SharedSecret::new(secret.lines().next().unwrap_or_default().as_bytes())
        .map_err(|e| format!("secret: {e}"))?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("cannot bind: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut client = Client {
        socket,
        secret,
        nas: NasAttributes::default(),
        rng: SplitMix64::from_os(),
        id: 0,
    };
    let names = ["issue", "lockout", "unlock", "revoke"];
    let mut kinds: Vec<Kind> = names.iter().map(|_| Kind::default()).collect();
    let mut all_seen = true;
    let mut record = |k: usize, got: Option<(f64, u64)>, kinds: &mut Vec<Kind>| match got {
        Some((us, stale)) => {
            kinds[k].micros.push(us);
            kinds[k].stale += stale;
        }
        None => {
            eprintln!(
                "sparekey-bench-propagation: {} did not show at {} within {} ms",
                names[k], args.to, args.give_up_ms
            );
            all_seen = false;
        }
    };
    for _ in 0..args.trials {
        let issued = ctl(
            &args,
            &[
                "issue",
                &args.user,
                "--for",
                "1h",
                "--multi",
                "--service",
                &args.service,
                "--reason",
                "propagation benchmark",
            ],
        )?;
        let at = Instant::now();
        let json: serde_json::Value = serde_json::from_str(&issued)
            .map_err(|e| format!("sparekeyctl issue printed {issued:?}: {e}"))?;
        let code = json
            .get("code")
            .and_then(|c| c.as_str())
            .ok_or_else(|| format!("no code in {issued}"))?
            .to_string();
        record(
            0,
            until(&mut client, &args, &code, Expect::Accept, at)?,
            &mut kinds,
        );

        for _ in 0..args.attempts {
            client.ask(args.via, &args.user, "00000-00000")?;
        }
        let at = Instant::now();
        record(
            1,
            until(&mut client, &args, &code, Expect::Reject, at)?,
            &mut kinds,
        );

        ctl(&args, &["unlock", &args.user])?;
        let at = Instant::now();
        record(
            2,
            until(&mut client, &args, &code, Expect::Accept, at)?,
            &mut kinds,
        );

        ctl(
            &args,
            &["revoke", &args.user, "--reason", "propagation benchmark"],
        )?;
        let at = Instant::now();
        record(
            3,
            until(&mut client, &args, &code, Expect::Reject, at)?,
            &mut kinds,
        );
    }
    for (name, kind) in names.iter().zip(&mut kinds) {
        kind.micros.sort_by(f64::total_cmp);
        let pick = |q: f64| -> f64 {
            let v = &kind.micros;
            if v.is_empty() {
                return f64::NAN;
            }
            v[((v.len() - 1) as f64 * q).round() as usize]
        };
        let line = serde_json::json!({
            "label": format!("{}/{name}", args.label),
            "trials": kind.micros.len(),
            "stale": kind.stale,
            "p50_us": (pick(0.5) * 10.0).round() / 10.0,
            "max_us": (pick(1.0) * 10.0).round() / 10.0,
        });
        println!(
            "{name:8} {} trials: first right answer at the other node after p50 {:.0} us, max {:.0} us; {} stale answers",
            kind.micros.len(),
            pick(0.5),
            pick(1.0),
            kind.stale
        );
        if let Some(path) = &args.jsonl {
            sparekey_bench::jsonl::append(path, &line)?;
        }
    }
    Ok(all_seen)
}
