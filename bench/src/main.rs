//! sparekey-bench: a RADIUS load generator for sparekeyd and FreeRADIUS alike.
//!
//! ```text
//! sparekey-bench --server 127.0.0.1:18740 --secret-file vpn.secret \
//!     --requests accept.tsv --sockets 4 --window 32 --duration 5 --server-pid 1234 --json
//! ```
//!
//! Exit status: 0 when every reply passed its checks, 3 when some reply was invalid or
//! had a verdict other than the one expected, 1 for usage and setup errors. Lost requests
//! alone do not fail the run: they are reported.

use clap::{Parser, ValueEnum};
use serde_json::json;
use sparekey_bench::load::{self, LoadConfig, Report, Stop};
use sparekey_bench::requests::{self, Expect, NasAttributes, RequestSpec};
use sparekey_radius_codec::{MessageAuthenticatorPolicy, SharedSecret};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Most packets built ahead of a run in total, by default (about 130 bytes each).
const DEFAULT_POOL_CAP: usize = 1 << 20;

/// The rate assumed for sizing the pool of a closed-loop run.
const ASSUMED_MAX_RATE: f64 = 150_000.0;

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-bench",
    version,
    about = "RADIUS load generator: Access-Requests with Message-Authenticator, many in flight, every reply checked",
    args_override_self = true
)]
struct Args {
    /// The RADIUS server, e.g. 127.0.0.1:1812.
    #[arg(long, value_name = "ADDR:PORT")]
    server: SocketAddr,
    /// The shared secret.
    #[arg(
        long,
        conflicts_with = "secret_file",
        required_unless_present = "secret_file"
    )]
    secret: Option<String>,
    /// A file whose first line is the shared secret.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// The mix: lines `user<TAB>code[<TAB>accept|reject]`, sent in turn.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["user_prefix", "user"])]
    requests: Option<PathBuf>,
    /// One user for every request (with --code).
    #[arg(long, conflicts_with = "user_prefix", requires = "code")]
    user: Option<String>,
    /// Generated mix: users PREFIX0 .. PREFIX(N-1) (with --users and --code).
    #[arg(long, value_name = "PREFIX", requires = "code")]
    user_prefix: Option<String>,
    /// Generated mix: how many users.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// The code every request carries (with --requests: replaces the file's codes).
    #[arg(long)]
    code: Option<String>,
    /// The verdict every request should get (replaces the file's third column).
    #[arg(long, value_enum)]
    expect: Option<ExpectArg>,
    /// UDP sockets (source ports), each with 256 Identifiers.
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// Generator threads (the sockets are shared out among them). One drives well over
    /// 100,000 requests/s on a 2-core machine (BENCHMARKS.md).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Requests outstanding per socket at most (1..=256).
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// A request without a reply after this many milliseconds is lost (no retransmits).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Open loop at this many requests/s; without it, closed loop (maximum throughput).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to measure (after the warm-up).
    #[arg(long, conflicts_with = "count")]
    duration: Option<f64>,
    /// Requests to measure (after the warm-up).
    #[arg(long)]
    count: Option<u64>,
    /// Seconds of warm-up load before measuring (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Packets built ahead per socket (default: enough for 6 s at the rate).
    #[arg(long)]
    pool: Option<usize>,
    /// The server's process id: its CPU time (utime + stime, all threads) is read from
    /// /proc/PID/stat before and after.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// A label for the report (e.g. "sparekeyd accept").
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON object instead of the human line.
    #[arg(long)]
    json: bool,
    /// Also append the JSON object as one line to this file.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Whether replies must carry a Message-Authenticator.
    #[arg(long, value_enum, default_value_t = ReplyMa::Required)]
    reply_ma: ReplyMa,
    /// NAS-Identifier of every request.
    #[arg(long, default_value = "bench-vpn-gw")]
    nas_identifier: String,
    /// Send every line of the mix exactly once, each built when it is sent, and stop
    /// (for single-use codes). Implies --count of the mix's length and no warm-up.
    #[arg(long, conflicts_with_all = ["duration", "count"])]
    each_once: bool,
    /// Calling-Station-Id of every request.
    #[arg(long, default_value = "203.0.113.7")]
    calling_station: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExpectArg {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReplyMa {
    Required,
    IfPresent,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sparekey-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let secret = match (&args.secret, &args.secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        (None, None) => return Err("give --secret or --secret-file".into()),
    };
    let secret = SharedSecret::new(secret.as_bytes()).map_err(|e| format!("secret: {e}"))?;
    let expect = args.expect.map(|e| match e {
        ExpectArg::Accept => Expect::Accept,
        ExpectArg::Reject => Expect::Reject,
    });
    let mut specs: Vec<RequestSpec> =
        match (&args.requests, &args.user_prefix) {
            (None, None) if args.user.is_some() => vec![RequestSpec {
                user: args.user.clone().unwrap_or_default(),
                password: args.code.clone().unwrap_or_default(),
                expect: None,
            }],
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                requests::parse_requests(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            (None, Some(prefix)) => {
                let code = args.code.as_deref().unwrap_or_default();
                requests::generated(prefix, args.users.max(1), code, None)
            }
            (None, None) => return Err(
                "give --requests FILE, --user NAME --code C, or --user-prefix P --users N --code C"
                    .into(),
            ),
        };
    for s in specs.iter_mut() {
        if let Some(code) = &args.code {
            s.password.clone_from(code);
        }
        if expect.is_some() {
            s.expect = expect;
        }
    }
    let stop = match (args.duration, args.count) {
        (_, Some(n)) => Stop::Count(n),
        (Some(d), None) => Stop::After(secs(d, "--duration")?),
        (None, None) => Stop::After(Duration::from_secs(5)),
    };
    let stop = if args.each_once {
        Stop::Count(specs.len() as u64)
    } else {
        stop
    };
    let warmup = if args.each_once {
        Duration::ZERO
    } else {
        secs(args.warmup, "--warmup")?
    };
    let pool = args.pool.unwrap_or_else(|| {
        let rate = args.rate.unwrap_or(ASSUMED_MAX_RATE);
        let run = match stop {
            Stop::After(d) => d + warmup,
            Stop::Count(n) => Duration::from_secs_f64(n as f64 / rate) + warmup,
        };
        LoadConfig::pool_for(rate, run, args.sockets, DEFAULT_POOL_CAP)
    });
    let cfg = LoadConfig {
        target: args.server,
        secret,
        nas: NasAttributes {
            nas_identifier: args.nas_identifier.clone(),
            calling_station: args.calling_station.clone(),
        },
        sockets: args.sockets,
        threads: args.threads,
        window: args.window,
        timeout: Duration::from_millis(args.timeout_ms),
        rate: args.rate,
        stop,
        warmup,
        pool,
        reply_policy: match args.reply_ma {
            ReplyMa::Required => MessageAuthenticatorPolicy::Required,
            ReplyMa::IfPresent => MessageAuthenticatorPolicy::IfPresent,
        },
        server_pid: args.server_pid,
        each_once: args.each_once,
    };
    let report = load::run(cfg, specs)?;
    let json = to_json(&args, &report);
    if args.json {
        println!("{json}");
    } else {
        println!("{}", human(&args, &report));
    }
    if let Some(path) = &args.jsonl {
        sparekey_bench::jsonl::append(path, &json)?;
    }
    let c = &report.counts;
    if c.invalid > 0 || c.unexpected_verdict > 0 {
        if let Some(e) = &report.first_error {
            eprintln!("sparekey-bench: replies failed their checks; first: {e}");
        }
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn secs(s: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{what} {s} is not a number of seconds"))
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn to_json(args: &Args, r: &Report) -> serde_json::Value {
    let c = &r.counts;
    let l = &r.latency;
    json!({
        "label": args.label,
        "server": args.server.to_string(),
        "server_pid": args.server_pid,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "rate_target": args.rate,
        "sockets": args.sockets,
        "threads": args.threads.min(args.sockets),
        "window": args.window,
        "timeout_ms": args.timeout_ms,
        "elapsed_s": round(r.elapsed.as_secs_f64(), 4),
        "requests_per_s": round(r.throughput(), 1),
        "sent": c.sent,
        "replies": c.replies(),
        "accepts": c.accepts,
        "rejects": c.rejects,
        "invalid": c.invalid,
        "unexpected_verdict": c.unexpected_verdict,
        "lost": c.lost,
        "lost_in_warmup": c.lost_in_warmup,
        "late": c.late,
        "stray": c.stray,
        "send_errors": c.send_errors,
        "rebuilt": c.rebuilt,
        "window_full": c.window_full,
        "behind_schedule": c.behind_schedule,
        "max_lag_us": round(us(c.max_lag_ns), 1),
        "latency_us": {
            "min": round(us(l.min), 1),
            "mean": round(l.mean / 1000.0, 1),
            "p50": round(us(l.p50), 1),
            "p90": round(us(l.p90), 1),
            "p99": round(us(l.p99), 1),
            "p999": round(us(l.p999), 1),
            "max": round(us(l.max), 1),
        },
        "server_cpu_us_per_req": r.server_us_per_request().map(|x| round(x, 2)),
        "server_cpu_us_per_sent": r.server_cpu.filter(|_| c.sent > 0).map(|cpu| round(cpu.total().as_secs_f64() * 1e6 / c.sent as f64, 2)),
        "server_cpu_s": r.server_cpu.map(|c| round(c.total().as_secs_f64(), 3)),
        "server_cpu_sched_us_per_req": r.server_sched_us_per_request().map(|x| round(x, 2)),
        "server_cpu_user_s": r.server_cpu.map(|c| round(c.user.as_secs_f64(), 3)),
        "server_cpu_system_s": r.server_cpu.map(|c| round(c.system.as_secs_f64(), 3)),
        "server_cores": r.server_cpu.map(|c| round(c.total().as_secs_f64() / r.cpu_window.as_secs_f64().max(1e-9), 3)),
        "cpu_window_s": round(r.cpu_window.as_secs_f64(), 4),
        "generator_cpu_us_per_req": r.own_us_per_request().map(|x| round(x, 2)),
        "generator_cpu_user_s": round(r.own_cpu.user.as_secs_f64(), 3),
        "generator_cpu_system_s": round(r.own_cpu.system.as_secs_f64(), 3),
        "generator_cores": round(r.own_cpu.total().as_secs_f64() / r.cpu_window.as_secs_f64().max(1e-9), 3),
        "first_error": r.first_error,
    })
}

fn human(args: &Args, r: &Report) -> String {
    let c = &r.counts;
    let l = &r.latency;
    let mut s = String::new();
    if !args.label.is_empty() {
        s.push_str(&format!("{}: ", args.label));
    }
    s.push_str(&format!(
        "{:.0} req/s, latency p50 {:.0} us p99 {:.0} us max {:.0} us, {} sent, {} accept, {} reject, {} lost",
        r.throughput(),
        us(l.p50),
        us(l.p99),
        us(l.max),
        c.sent,
        c.accepts,
        c.rejects,
        c.lost
    ));
    if c.lost_in_warmup > 0 {
        s.push_str(&format!(" (and {} in the warm-up)", c.lost_in_warmup));
    }
    if c.invalid + c.unexpected_verdict + c.late + c.stray + c.send_errors > 0 {
        s.push_str(&format!(
            ", {} invalid, {} unexpected verdict, {} late, {} stray, {} send errors",
            c.invalid, c.unexpected_verdict, c.late, c.stray, c.send_errors
        ));
    }
    if let Some(x) = r.server_us_per_request() {
        let cores = r.server_cpu.map_or(0.0, |c| {
            c.total().as_secs_f64() / r.cpu_window.as_secs_f64().max(1e-9)
        });
        s.push_str(&format!(", server {x:.1} us CPU/req ({cores:.2} cores)"));
    }
    if let Some(x) = r.own_us_per_request() {
        s.push_str(&format!(", generator {x:.1} us CPU/req"));
    }
    if args.rate.is_some() && c.behind_schedule > 0 {
        s.push_str(&format!(
            " [generator behind schedule {} times, up to {:.0} us]",
            c.behind_schedule,
            us(c.max_lag_ns)
        ));
    }
    if c.rebuilt > 0 {
        s.push_str(&format!(" [{} packets rebuilt: raise --pool]", c.rebuilt));
    }
    s
}
