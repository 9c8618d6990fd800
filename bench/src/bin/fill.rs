//! sparekey-bench-fill: puts credentials into a sparekey store for the benchmarks.
//!
//! ```text
//! sparekey-bench-fill issue --config sparekey.toml --policy bench --prefix u --users 100 --out accept.tsv
//! sparekey-bench-fill fill  --config sparekey.toml --total 1000000
//! ```
//!
//! `issue` makes real codes (multi-use, or `--single-use`) through sparekey-core (`issue::make_credential` and
//! `Store::issue`, one transaction and one audit event each, as sparekeyctl's issue does)
//! and writes `user<TAB>code` lines for the load generator and FreeRADIUS's users file.
//!
//! `fill` adds filler credentials (users `filler0000000`, ... in no policy, one multi-use
//! code each) until the store holds `--total` credentials. `--method issue` goes through
//! `Store::issue` one transaction at a time (about as fast as the disk syncs); `--method
//! bulk` (the default) makes each credential with `issue::make_credential` and inserts the
//! rows in large transactions, with the column list of the store's schema, then reads a
//! sample back through `Store` to check that the rows are what core wrote itself.

use clap::{Parser, Subcommand, ValueEnum};
use sparekey_core::audit::NoSink;
use sparekey_core::issue::{make_credential, IssueRequest};
use sparekey_core::store::Origin;
use sparekey_core::store::{SqliteStore, Store};
use sparekey_core::{Code, Credential, SiteKey, Uses};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Filler user names.
const FILLER_PREFIX: &str = "filler";

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-bench-fill",
    version,
    about = "Puts credentials into a sparekey store for the benchmarks"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Issues codes (one multi-use code each by default) to each of PREFIX0 .. PREFIX(N-1)
    /// (or to each --user) and writes user<TAB>code lines.
    Issue {
        /// sparekey.toml (the store, key and policies are taken from it).
        #[arg(long)]
        config: PathBuf,
        /// The policy to issue under.
        #[arg(long)]
        policy: String,
        /// User names are PREFIX0, PREFIX1, ...
        #[arg(long, required_unless_present = "user", requires = "users")]
        prefix: Option<String>,
        /// How many users.
        #[arg(long, default_value_t = 0)]
        users: usize,
        /// A user by name (repeatable), instead of --prefix and --users.
        #[arg(long, conflicts_with = "prefix")]
        user: Vec<String>,
        /// Where to write the user<TAB>code lines.
        #[arg(long)]
        out: PathBuf,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        lifetime: u64,
        /// Single-use codes instead of multi-use ones.
        #[arg(long)]
        single_use: bool,
        /// Codes per user; the lines go round by round (every user's first code, then
        /// every user's second, ...).
        #[arg(long, default_value_t = 1)]
        codes_per_user: usize,
    },
    /// Adds filler credentials until the store holds --total credentials.
    Fill {
        /// sparekey.toml.
        #[arg(long)]
        config: PathBuf,
        /// Credentials the store should hold afterwards.
        #[arg(long)]
        total: u64,
        /// How to insert them.
        #[arg(long, value_enum, default_value_t = Method::Bulk)]
        method: Method,
        /// Rows per transaction (bulk).
        #[arg(long, default_value_t = 100_000)]
        batch: usize,
        /// The policy whose terms the filler credentials get (it need not cover the filler users).
        #[arg(long, default_value = "bench")]
        policy: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Method {
    /// make_credential + multi-row transactions.
    Bulk,
    /// Store::issue, one transaction each.
    Issue,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sparekey-bench-fill: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Site {
    config: sparekey_conf::Config,
    key: Arc<SiteKey>,
}

fn site(path: &Path) -> Result<Site, String> {
    let config = sparekey_conf::load(path).map_err(|e| e.to_string())?;
    let (key, _) =
        SiteKey::load_or_create(&config.daemon.store.key_file).map_err(|e| e.to_string())?;
    Ok(Site {
        config,
        key: Arc::new(key),
    })
}

fn open_store(site: &Site) -> Result<SqliteStore, String> {
    SqliteStore::open(
        &site.config.daemon.store.path,
        site.key.clone(),
        Arc::new(NoSink),
    )
    .map_err(|e| e.to_string())
}

fn request(user: &str, lifetime: u64, uses: Uses) -> IssueRequest {
    IssueRequest {
        lifetime: Some(sparekey_conf::Duration::from_secs(lifetime)),
        uses,
        reason: Some("benchmark".into()),
        ..IssueRequest::new(user, "sparekey-bench")
    }
}

const ORIGIN: Origin<'static> = Origin {
    actor: "sparekey-bench",
    source: "sparekey-bench-fill",
};

fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Issue {
            config,
            policy,
            prefix,
            users,
            user,
            out,
            lifetime,
            single_use,
            codes_per_user,
        } => {
            let names: Vec<String> = match prefix {
                Some(p) => (0..users).map(|i| format!("{p}{i}")).collect(),
                None => user,
            };
            let (uses, kind) = if single_use {
                (Uses::Single, "single-use")
            } else {
                (Uses::Multi, "multi-use")
            };
            let count = names.len() * codes_per_user;
            let site = site(&config)?;
            let pol = site
                .config
                .policy
                .by_name(&policy)
                .ok_or_else(|| format!("no policy {policy:?} in the policy file"))?;
            let mut store = open_store(&site)?;
            let mut lines = String::new();
            let started = Instant::now();
            let now = chrono::Utc::now();
            for user in (0..codes_per_user).flat_map(|_| &names) {
                let code = Code::generate(&pol.code).map_err(|e| e.to_string())?;
                let req = request(user, lifetime, uses);
                let cred = make_credential(pol, &req, &code, &site.key, now)
                    .map_err(|e| format!("{user}: {e}"))?;
                store.issue(&cred, ORIGIN).map_err(|e| e.to_string())?;
                lines.push_str(&format!("{user}\t{}\n", &*code.display()));
            }
            let took = started.elapsed();
            let mut f =
                std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            f.write_all(lines.as_bytes())
                .map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!(
                "issued {count} {kind} codes under policy {policy:?} in {:.2} s ({:.0} us each, Store::issue); codes in {}",
                took.as_secs_f64(),
                took.as_secs_f64() * 1e6 / count.max(1) as f64,
                out.display()
            );
            Ok(())
        }
        Command::Fill {
            config,
            total,
            method,
            batch,
            policy,
        } => {
            let site = site(&config)?;
            let pol = site
                .config
                .policy
                .by_name(&policy)
                .ok_or_else(|| format!("no policy {policy:?} in the policy file"))?
                .clone();
            let mut store = open_store(&site)?;
            let existing = store
                .counts(chrono::Utc::now())
                .map_err(|e| e.to_string())?
                .credentials;
            if existing >= total {
                eprintln!("the store already holds {existing} credentials (>= {total})");
                return Ok(());
            }
            // Fillers are numbered on from the store's count: names need not be unique, the
            // ids (random below) must.
            let first = existing;

            let n = total - existing;
            let started = Instant::now();
            let now = chrono::Utc::now();
            // Random 48-bit base for the ids, so that repeated fills never collide.
            let mut base = [0u8; 8];
            getrandom::fill(&mut base[..6]).map_err(|e| e.to_string())?;
            let base = u64::from_le_bytes(base) & 0xffff_ffff_ff00_0000;
            let make = |i: u64| -> Result<Credential, String> {
                let user = format!("{FILLER_PREFIX}{:07}", first + i);
                let code = Code::from_input(format!("{:010}", first + i).as_bytes())
                    .map_err(|e| e.to_string())?;
                let mut cred = make_credential(
                    &pol,
                    &request(&user, 86_400, Uses::Multi),
                    &code,
                    &site.key,
                    now,
                )
                .map_err(|e| e.to_string())?;
                cred.id = format!("{:012x}", (base + first + i) & 0xffff_ffff_ffff);
                Ok(cred)
            };
            match method {
                Method::Issue => {
                    for i in 0..n {
                        store.issue(&make(i)?, ORIGIN).map_err(|e| e.to_string())?;
                    }
                }
                Method::Bulk => {
                    let mut i = 0;
                    while i < n {
                        let end = (i + batch as u64).min(n);
                        let creds = (i..end).map(make).collect::<Result<Vec<_>, _>>()?;
                        store.insert_filler(&creds).map_err(|e| e.to_string())?;
                        i = end;
                    }

                    // Leave the WAL empty, as the store's own commits keep it small.
                    store.checkpoint().map_err(|e| e.to_string())?;
                    // Read a sample back through core: same row, same digest.
                    for i in [0, n / 2, n - 1] {
                        let expected = make(i)?;
                        let got = store
                            .credentials(Some(&expected.user), None)
                            .map_err(|e| e.to_string())?;
                        let ok = got.len() == 1
                            && got[0].digest == expected.digest
                            && got[0].uses == Uses::Multi
                            && got[0].not_after.timestamp() == expected.not_after.timestamp();
                        if !ok {
                            return Err(format!(
                                "row of {} did not read back as written: {got:?}",
                                expected.user
                            ));
                        }
                    }
                }
            }
            let took = started.elapsed();
            let after = store
                .counts(chrono::Utc::now())
                .map_err(|e| e.to_string())?
                .credentials;
            eprintln!(
                "added {n} filler credentials in {:.2} s ({:.1} us each, {}); the store holds {after}",
                took.as_secs_f64(),
                took.as_secs_f64() * 1e6 / n as f64,
                match method {
                    Method::Bulk => "make_credential + bulk insert",
                    Method::Issue => "Store::issue",
                }
            );
            Ok(())
        }
    }
}
