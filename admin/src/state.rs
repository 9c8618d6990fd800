//! What sparekeyd holds while it runs: the configuration (swapped whole on reload), the site
//! key and the audit sink. Shared by the admin socket and the RADIUS responder.

use sparekey_conf::Config;
use sparekey_core::audit::{Action, AuditEvent, AuditSink};
use sparekey_core::store::{OpenMode, Store};
use sparekey_core::{SiteKey, Time};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Writes gathered audit events; see [`State::set_audit_flush`].
pub type AuditFlush = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The daemon's shared state.
pub struct State {
    audit_flush: RwLock<Option<AuditFlush>>,
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
    started: Time,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl State {
    /// State over a loaded configuration and key.
    pub fn new(
        config_path: &Path,
        config: Config,
        key: Arc<SiteKey>,
        sink: Arc<dyn AuditSink>,
        started: Time,
    ) -> Self {
        State {
            audit_flush: RwLock::new(None),
            config_path: config_path.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            key,
            sink,
            started,
        }
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Registers what writes audit events that a hot path gathered and has not written yet
    /// (the RADIUS responder's batch), so that reading the audit log can write them first.
    pub fn set_audit_flush(&self, flush: AuditFlush) {
        match self.audit_flush.write() {
            Ok(mut f) => *f = Some(flush),
            Err(poisoned) => *poisoned.into_inner() = Some(flush),
        }
    }

    /// Writes gathered audit events now, if a hot path registered a flush.
    pub fn flush_audit(&self) -> Result<(), String> {
        let flush = match self.audit_flush.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        flush.map_or(Ok(()), |f| f())
    }

    /// The site key.
    pub fn key(&self) -> &Arc<SiteKey> {
        &self.key
    }

    /// When the daemon started.
    pub fn started(&self) -> Time {
        self.started
    }

    /// Opens the store named by the configuration in force.
    pub fn open_store(&self) -> Result<Box<dyn Store>, sparekey_core::Error> {
        let config = self.config();
        sparekey_core::store::open(
            &config.daemon.store,
            OpenMode::Create,
            self.key.clone(),
            self.sink.clone(),
        )
    }

    /// Re-reads the configuration. A bad file leaves the running one in force and says why.
    /// A changed store or key path takes a restart; that is refused too.
    pub fn reload(
        &self,
        actor: &str,
        source: &str,
        now: Time,
    ) -> Result<Arc<Config>, crate::Error> {
        let new = sparekey_conf::load(&self.config_path)?;
        let old = self.config();
        if new.daemon.store != old.daemon.store
            || new.daemon.admin.socket != old.daemon.admin.socket
        {
            return Err(crate::Error::Protocol(
                "the new configuration changes [store] or the admin socket path, which takes a restart (systemctl restart sparekeyd); the running configuration stays in force".into(),
            ));
        }
        let new = Arc::new(new);
        match self.config.write() {
            Ok(mut c) => *c = new.clone(),
            Err(poisoned) => *poisoned.into_inner() = new.clone(),
        }
        let why = format!(
            "enabled={} policies={}",
            new.policy.enabled,
            new.policy.policy.len()
        );
        let event = AuditEvent::new(now, Action::Reload, actor, "-")
            .source(source)
            .reason(&why);
        self.open_store()?.record(event)?;
        Ok(new)
    }
}
