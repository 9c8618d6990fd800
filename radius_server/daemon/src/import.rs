//! `sparekeyd --import-sqlite PATH`: copies a single node's SQLite store into the PostgreSQL
//! store that sparekey.toml names, whole and in one transaction, after replaying what its
//! journal still holds. How a one-node site grows into several nodes.

use sparekey_core::audit::NoSink;
use sparekey_core::journal::Journal;
use sparekey_core::store::{node_file, Origin, PgStore, SqliteStore};
use sparekey_core::SiteKey;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn say(line: &str) {
    eprintln!("sparekeyd: {line}");
}

/// Runs the import; the summary goes to stdout, problems to stderr.
pub fn run(config: &sparekey_conf::Config, from: &Path) -> ExitCode {
    match import(config, from) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            say(&format!("{why}; nothing was imported"));
            ExitCode::FAILURE
        }
    }
}

fn import(config: &sparekey_conf::Config, from: &Path) -> Result<String, String> {
    let store = &config.daemon.store;
    if *store.backend.get_ref() != sparekey_conf::StoreBackend::Postgresql {
        return Err(format!(
            "--import-sqlite copies into the PostgreSQL store that [store] names; {} has backend = \"sqlite\"",
            config.path.display()
        ));
    }
    let key = Arc::new(SiteKey::load(&store.key_file).map_err(|e| {
        format!("{e} (the site key of the store being imported, which every node shares)")
    })?);
    let mut sqlite = SqliteStore::open_existing(from, key.clone(), Arc::new(NoSink))
        .map_err(|e| e.to_string())?;
    // What a sparekeyd stopped before writing it left in the journal goes in first; the
    // journal's lock refuses while a sparekeyd still runs on the store.
    let (journal, replayed) = Journal::open(from, key.clone(), &mut sqlite).map_err(|e| {
        format!(
            "{e} (stop the sparekeyd that uses {} first)",
            from.display()
        )
    })?;
    let export = sqlite.export().map_err(|e| e.to_string())?;
    let mut pg = PgStore::open(store, &node_file(store), key, Arc::new(NoSink))
        .map_err(|e| e.to_string())?;
    let source = format!(
        "sparekeyd --import-sqlite uid={}",
        nix::unistd::getuid().as_raw()
    );
    let origin = Origin {
        actor: "root",
        source: &source,
    };
    let shown = from.display().to_string();
    #[allow(clippy::disallowed_methods)] // the import's one reading of the clock
    let now = chrono::Utc::now();
    let imported = pg
        .import(&export, &shown, now, origin)
        .map_err(|e| e.to_string())?;
    drop(journal);
    Ok(format!(
        "imported {} credentials, {} failure rows, {} audit events ({} of them from the journal) and {} member hosts from {} into {}; the audit chain verifies",
        imported.credentials,
        imported.failures,
        imported.events,
        replayed.events,
        imported.hosts,
        shown,
        sparekey_core::Store::location(&pg)
    ))
}
