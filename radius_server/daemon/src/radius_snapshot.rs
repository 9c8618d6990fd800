//! What sparekeyd's answering threads share besides the verifier: the snapshot of the
//! configuration in force and its client table, rebuilt once per new configuration by
//! whichever thread sees it first (threads compare `Arc` pointers once per batch).

use sparekey_core::Site;
use sparekey_radius::clients::ClientTable;
use sparekey_radius::responder::Snapshot;
use std::sync::{Arc, Mutex};

/// Where log lines go (sparekeyd's stderr, read by journald).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// The snapshot all answering threads share, rebuilt once per new configuration.
#[derive(Debug)]
pub struct Shared {
    pub(crate) current: Mutex<Snapshot>,
    pub(crate) bound: Vec<String>,
}

impl Shared {
    /// The snapshot for the configuration in force now, building its client table if no
    /// thread has yet. A table that cannot be built leaves the previous clients in force.
    pub fn refresh(&self, site: &Site, log: &Log) -> Snapshot {
        let mut current = match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Read under the lock, so a thread holding an older configuration cannot bring it back.
        let config = site.config();
        if Arc::ptr_eq(&current.config, &config) {
            return current.clone();
        }
        let clients = match ClientTable::load(&config.daemon.radius) {
            Ok((table, warnings)) => {
                table.carry_over(&current.clients);
                for w in warnings {
                    log(&w);
                }
                log(&format!(
                    "radius: configuration reloaded: {} client{} ({})",
                    table.len(),
                    if table.len() == 1 { "" } else { "s" },
                    table.names().join(", ")
                ));
                Arc::new(table)
            }
            Err(e) => {
                log(&format!(
                    "radius: the new configuration's clients were NOT loaded, the previous ones stay in force: {e}"
                ));
                current.clients.clone()
            }
        };
        let listen = config.daemon.radius.listen.iter().map(|l| l.get_ref());
        if listen.ne(self.bound.iter()) {
            log(&format!(
                "radius: [radius] listen changed; restart sparekeyd to apply it (still answering on {})",
                if self.bound.is_empty() { "nothing".to_string() } else { self.bound.join(", ") }
            ));
        }
        *current = Snapshot::new(config, clients);
        current.clone()
    }
}
