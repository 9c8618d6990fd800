//! sparekeyd's life: check or load the configuration, make the site key and store when
//! missing, serve the admin socket and RADIUS, reload on SIGHUP, stop cleanly on SIGTERM.

use clap::Parser;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::{umask, Mode};
use sparekey_core::audit::{AuditSink, NoSink, SyslogSink};
use sparekey_core::identity::Nss;
use sparekey_core::{Site, SiteKey};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit status for a configuration error (EX_CONFIG), as ntpd-rs and sysexits use it.
pub const EXIT_CONFIG: u8 = 78;

/// Serves sparekey's admin socket and answers RADIUS for temporary codes.
#[derive(Debug, Parser)]
#[command(name = "sparekeyd", version, long_about = None)]
pub struct Args {
    /// The daemon's configuration; policy.toml is read from beside it unless it says otherwise.
    #[arg(long, value_name = "PATH", default_value = sparekey_conf::DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Check sparekey.toml and policy.toml, print every error, and exit (0 valid, 78 not).
    #[arg(long)]
    pub check: bool,
    /// Copy the SQLite store at PATH (stopped) into the PostgreSQL store that
    /// sparekey.toml names (new and empty), with the same site key, then exit.
    #[arg(long, value_name = "PATH")]
    pub import_sqlite: Option<PathBuf>,
}

fn say(line: &str) {
    eprintln!("sparekeyd: {line}");
}

/// Runs sparekeyd until SIGTERM or SIGINT.
pub fn run(args: Args) -> ExitCode {
    let config = match sparekey_conf::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            say(&format!(
                "{} errors; nothing was started",
                e.diagnostics().len()
            ));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        println!("{}", config.summary());
        return ExitCode::SUCCESS;
    }
    if let Some(from) = &args.import_sqlite {
        return crate::import::run(&config, from);
    }
    if config.daemon.site.is_some() {
        // Started, it would make a site key here: a member host must never hold one.
        say(&format!(
            "{} has a [site] table: it is a member host's configuration, whose PAM module asks the site; a member host runs no sparekeyd and holds no site key (systemctl disable --now sparekeyd); not started",
            args.config.display()
        ));
        return ExitCode::from(EXIT_CONFIG);
    }
    // Everything sparekeyd creates (key, store, socket) is private unless made otherwise.
    umask(Mode::from_bits_truncate(0o077));
    let (key, created) = match SiteKey::load_or_create(&config.daemon.store.key_file) {
        Ok(k) => k,
        Err(e) => {
            say(&format!("{e}; not started"));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if created {
        say(&format!(
            "created a new site key {}",
            config.daemon.store.key_file.display()
        ));
    }
    let sink: Arc<dyn AuditSink> = if config.daemon.audit.syslog {
        Arc::new(SyslogSink::connect("sparekeyd"))
    } else {
        Arc::new(NoSink)
    };
    let socket = config.daemon.admin.socket.clone();
    let group = config.daemon.admin.socket_group.clone();
    let site = Site::new(
        &args.config,
        config,
        Arc::new(key),
        sink,
        Arc::new(Nss),
        chrono::Utc::now(),
    );
    // Held open while sparekeyd runs: besides proving the store usable at start, a connection
    // that stays open keeps SQLite's WAL index (the -shm file) alive, so a PAM login, which
    // opens the store alone in its own process, does not rebuild it from the WAL each time.
    let _keeper = match site.open_store() {
        Ok(store) => store,
        Err(e) => {
            say(&format!("{e}; not started"));
            return ExitCode::FAILURE;
        }
    };
    // Before any request: what a sparekeyd killed before writing it left in the journal.
    match site
        .redeemer()
        .open_journal(&site.config().daemon.store.path)
    {
        Ok(replayed) => {
            if replayed.events > 0 {
                say(&format!(
                    "wrote {} audit events from the journal of a sparekeyd that stopped before writing them",
                    replayed.events
                ));
            }
            if replayed.skipped_bytes > 0 {
                say(&format!(
                    "skipped {} bytes at the end of the journal that were not a whole record with a matching HMAC (a write cut short by a power loss, or not written by sparekeyd)",
                    replayed.skipped_bytes
                ));
            }
        }
        Err(e) => {
            say(&format!("{e}; not started"));
            return ExitCode::FAILURE;
        }
    }
    let radius = match crate::radius_listener::prepare(&site) {
        Ok((radius, warnings)) => {
            warnings.iter().for_each(|w| say(w));
            radius
        }
        Err(e) => {
            say(&format!("{e}; not started"));
            return match e {
                crate::Error::Radius(sparekey_radius::Error::Secret { .. }) => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::FAILURE,
            };
        }
    };
    // Signals are taken synchronously by this thread; every thread started later inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        say(&format!("cannot block signals: {e}; not started"));
        return ExitCode::FAILURE;
    }
    let listener = match crate::admin_socket::bind(&socket, &group) {
        Ok((l, warning)) => {
            if let Some(w) = warning {
                say(&w);
            }
            l
        }
        Err(e) => {
            say(&format!("{e}; not started"));
            return ExitCode::FAILURE;
        }
    };
    let admin_state = site.clone();
    let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|l: &str| say(l));
    let radius_log = log.clone();
    let log_for_retention = log.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || crate::admin_socket::serve(listener, admin_state, log))
    {
        say(&format!("cannot start the admin socket thread: {e}"));
        return ExitCode::FAILURE;
    }
    if let Err(e) = crate::audit_retention::spawn(site.clone(), log_for_retention) {
        say(&format!("cannot start the audit retention thread: {e}"));
        return ExitCode::FAILURE;
    }
    let radius_summary = radius.summary();
    let radius = match radius.spawn(site.clone(), radius_log) {
        Ok(verifier) => verifier,
        Err(e) => {
            say(&format!("{e}; not started"));
            return ExitCode::FAILURE;
        }
    };
    let cfg = site.config();
    say(&format!(
        "ready: admin socket {}, store {}, {radius_summary}, temporary codes {}",
        socket.display(),
        cfg.daemon.store.path.display(),
        if cfg.policy.enabled {
            "enabled"
        } else {
            "disabled"
        }
    ));
    crate::notify::ready(say);
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                crate::notify::reloading(say);
                match site.reload("root", "signal SIGHUP", chrono::Utc::now()) {
                    Ok(c) => say(&format!(
                        "configuration reloaded: {} policies, temporary codes {}",
                        c.policy.policy.len(),
                        if c.policy.enabled {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    )),
                    Err(e) => say(&format!(
                        "configuration NOT reloaded, the running one stays in force:\n{e}"
                    )),
                }
                crate::notify::ready(say);
            }
            Ok(s) => {
                say(&format!("{s} received, stopping"));
                if let Err(e) = radius.flush() {
                    say(&format!(
                        "radius: the last audit events could not be written: {e}"
                    ));
                }
                let _ = std::fs::remove_file(&socket);
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                say(&format!("waiting for signals failed: {e}"));
                return ExitCode::FAILURE;
            }
        }
    }
}
