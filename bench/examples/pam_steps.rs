//! pam_steps CONFIG CODE [N]: times each step of what pam_sparekey does for one
//! authentication (read the configuration, the key, open the store, NSS, decide whether to
//! ask, redeem, close), N times in one process, and prints the median and p90 of each. The
//! code must be a valid multi-use code of `pamuser` on service `sk-bench`, as bench.sh
//! issues it. Run as root: the key and the store are root's.

use sparekey_core::audit::NoSink;
use sparekey_core::decision::Availability;
use sparekey_core::redeem::{Login, LoginCheck};
use sparekey_core::store::{self, OpenMode};
use sparekey_core::{identity, AuditSink, Code, SiteKey, Verdict};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

const STEPS: [&str; 7] = ["config", "key", "open", "groups", "ask?", "redeem", "close"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(config), Some(code)) = (args.first(), args.get(1)) else {
        eprintln!("usage: pam_steps CONFIG CODE [N]");
        return ExitCode::from(2);
    };
    let n = match args.get(2).map(|s| s.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("pam_steps: N must be a positive number");
            return ExitCode::from(2);
        }
    };
    match run(&PathBuf::from(config), code, n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pam_steps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &std::path::Path, code: &str, n: usize) -> Result<(), String> {
    let code = Code::from_input(code.as_bytes()).map_err(|e| e.to_string())?;
    let mut times = vec![Vec::with_capacity(n); STEPS.len()];
    for _ in 0..n {
        let now = chrono::Utc::now();
        let mut lap = Lap(Instant::now());
        let config = sparekey_conf::load(config).map_err(|e| e.to_string())?;
        lap.to(&mut times[0]);
        let key =
            Arc::new(SiteKey::load(&config.daemon.store.key_file).map_err(|e| e.to_string())?);
        lap.to(&mut times[1]);
        let sink: Arc<dyn AuditSink> = Arc::new(NoSink);
        let mut store = store::open(&config.daemon.store, OpenMode::Existing, key.clone(), sink)
            .map_err(|e| e.to_string())?;
        lap.to(&mut times[2]);
        let groups = if config.policy.names_groups() {
            identity::groups_of("pamuser").map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        lap.to(&mut times[3]);
        let login = Login {
            user: "pamuser",
            groups: &groups,
            service: "sk-bench",
            host: None,
            source: "pam_steps",
        };
        let check = LoginCheck::begin(&*store, &config.policy, &login, now)
            .map_err(|e| e.to_string())?
            .map_err(|early| format!("not asked: {early:?}"))?;
        let asked = check.availability();
        lap.to(&mut times[4]);
        let verdict = check
            .redeem(&mut *store, &key, &code)
            .map_err(|e| e.to_string())?
            .decision
            .verdict;
        lap.to(&mut times[5]);
        drop(store);
        lap.to(&mut times[6]);
        if asked != Availability::Usable || !matches!(verdict, Verdict::Accepted { .. }) {
            return Err(format!(
                "expected a usable, accepted code; got {asked:?}, {verdict:?}"
            ));
        }
    }
    for (name, t) in STEPS.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        println!(
            "{name:8} median {:8.1} us  p90 {:8.1} us",
            t[t.len() / 2],
            t[t.len() * 9 / 10]
        );
    }
    Ok(())
}

/// Time since the last lap, in microseconds.
struct Lap(Instant);

impl Lap {
    fn to(&mut self, into: &mut Vec<f64>) {
        into.push(self.0.elapsed().as_secs_f64() * 1e6);
        self.0 = Instant::now();
    }
}
