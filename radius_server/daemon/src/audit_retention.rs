//! `[audit] keep`: a thread of sparekeyd that removes audit events older than that from the
//! store, at start and every hour, through the store's prune (which keeps the chain
//! verifiable from the last removed event's HMAC and records a `prune` event).

use sparekey_core::store::Origin;
use sparekey_core::Site;
use std::sync::Arc;
use std::time::Duration;

/// How often events past `[audit] keep` are looked for.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Removes events past the `[audit] keep` in force now, if one is set; says what it did.
pub fn prune_once(
    site: &Site,
    now: sparekey_core::Time,
) -> Result<Option<String>, sparekey_core::Error> {
    let config = site.config();
    let Some(keep) = config.daemon.audit.keep.as_ref().map(|k| *k.get_ref()) else {
        return Ok(None);
    };
    let before = sparekey_core::before(now, keep.as_secs());
    let origin = Origin {
        actor: "sparekeyd",
        source: "[audit] keep",
    };
    let removed = site.open_store()?.prune_audit(before, now, origin)?;
    Ok((removed > 0).then(|| {
        format!(
            "audit: removed {removed} events older than {} ([audit] keep = {keep})",
            sparekey_core::rfc3339(before)
        )
    }))
}

/// Starts the thread; problems and removals go to `log`.
pub fn spawn(site: Arc<Site>, log: Arc<dyn Fn(&str) + Send + Sync>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("audit retention".into())
        .spawn(move || loop {
            match prune_once(&site, chrono::Utc::now()) {
                Ok(Some(line)) => log(&line),
                Ok(None) => {}
                Err(e) => log(&format!(
                    "audit: old events could not be removed (tried again in an hour): {e}"
                )),
            }
            std::thread::sleep(EVERY);
        })?;
    Ok(())
}
