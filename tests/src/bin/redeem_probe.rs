//! redeem_probe CONFIG USER SERVICE CODE: tries one code exactly as a PAM login does (the
//! user's state read once to decide whether to ask, then one redeem transaction), in its own
//! process, and prints the verdict. Test helper for
//! races between processes before and beside the PAM module.

use sparekey_core::audit::NoSink;
use sparekey_core::decision::Availability;
use sparekey_core::redeem::{Login, LoginCheck};
use sparekey_core::store::{self, OpenMode};
use sparekey_core::{identity, Code, SiteKey, Verdict};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, user, service, code] = args.as_slice() else {
        eprintln!("usage: redeem_probe CONFIG USER SERVICE CODE");
        return ExitCode::from(2);
    };
    match run(Path::new(config), user, service, code) {
        Ok((line, ok)) => {
            println!("{line}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("redeem_probe: {e}");
            ExitCode::from(3)
        }
    }
}

fn run(config: &Path, user: &str, service: &str, code: &str) -> Result<(String, bool), String> {
    let cfg = sparekey_conf::load(config).map_err(|e| e.to_string())?;
    let key = Arc::new(SiteKey::load(&cfg.daemon.store.key_file).map_err(|e| e.to_string())?);
    let mut store = store::open(
        &cfg.daemon.store,
        OpenMode::Existing,
        key.clone(),
        Arc::new(NoSink),
    )
    .map_err(|e| e.to_string())?;
    let groups = identity::groups_of(user).map_err(|e| e.to_string())?;
    let login = Login {
        user,
        groups: &groups,
        service,
        host: None,
        source: "redeem_probe",
    };
    let now = chrono::Utc::now();
    let check = match LoginCheck::begin(&*store, &cfg.policy, &login, now) {
        Ok(Ok(check)) => check,
        Ok(Err(early)) => return Ok((format!("not asked: {early:?}"), false)),
        Err(e) => return Err(e.to_string()),
    };
    match check.availability() {
        Availability::Usable => {}
        other => return Ok((format!("not asked: {other:?}"), false)),
    }
    let Ok(code) = Code::from_input(code.as_bytes()) else {
        return Ok(("not asked: empty code".into(), false));
    };
    let redeemed = check
        .redeem(&mut *store, &key, &code)
        .map_err(|e| e.to_string())?;
    match redeemed.decision.verdict {
        Verdict::Accepted {
            credential,
            not_after,
            ..
        } => Ok((
            format!(
                "accepted {credential} until {}",
                sparekey_core::rfc3339(not_after)
            ),
            true,
        )),
        Verdict::Rejected(reason) => Ok((format!("rejected: {}", reason.as_str()), false)),
    }
}
