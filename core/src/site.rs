//! What a long-running process (sparekeyd) holds while it runs, shared by its admin socket
//! and its RADIUS responder without either knowing the other: the configuration (swapped
//! whole on reload), the site key, the audit sink, the user directory and the hot path that
//! redeems codes ([`SharedRedeemer`]), whose gathered events an audit read writes first.

use crate::audit::{Action, AuditEvent, AuditSink};
use crate::cached_redeem::CacheLimits;
use crate::identity::Directory;
use crate::member_hosts::MemberHosts;
use crate::shared_redeem::{SharedRedeemer, StoreOpener};
use crate::store::{self, OpenMode, Store};
use crate::{Error, SiteKey, Time};
use sparekey_conf::Config;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The daemon's shared state.
pub struct Site {
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    key: Arc<SiteKey>,
    store: Arc<StoreAccess>,
    directory: Arc<dyn Directory>,
    redeemer: SharedRedeemer,
    hosts: MemberHosts,
    started: Time,
}

/// How a long-running process opens its store: the first time (at start) creating it when
/// missing, and from then on only the store it first opened. A store deleted or replaced
/// meanwhile is refused ([`Error::StoreReplaced`]), never made anew: the admin side would
/// otherwise write to a new empty file while connections still held open read the old one.
struct StoreAccess {
    /// `[store]` as at start ([`Site::reload`] refuses a change).
    config: sparekey_conf::StoreConfig,
    key: Arc<SiteKey>,
    sink: Arc<dyn AuditSink>,
    /// What the first connection opened.
    identity: std::sync::OnceLock<String>,
}

impl StoreAccess {
    fn open(&self) -> Result<Box<dyn Store>, Error> {
        let location = || self.config.path.display().to_string();
        let Some(first) = self.identity.get() else {
            let store = store::open(
                &self.config,
                OpenMode::Create,
                self.key.clone(),
                self.sink.clone(),
            )?;
            let _ = self.identity.set(store.identity());
            return Ok(store);
        };
        if !store::exists(&self.config)? {
            return Err(Error::StoreReplaced(location()));
        }
        let store = store::open(
            &self.config,
            OpenMode::Existing,
            self.key.clone(),
            self.sink.clone(),
        )?;
        if store.identity() != *first {
            return Err(Error::StoreReplaced(location()));
        }
        Ok(store)
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// The state over a loaded configuration and key. The store is opened when first needed.
    pub fn new(
        config_path: &Path,
        config: Config,
        key: Arc<SiteKey>,
        sink: Arc<dyn AuditSink>,
        directory: Arc<dyn Directory>,
        started: Time,
    ) -> Arc<Self> {
        // [store] cannot change without a restart (see [`Site::reload`]): the hot path's
        // connections are opened through the same access as the admin side's.
        let store = Arc::new(StoreAccess {
            config: config.daemon.store.clone(),
            key: key.clone(),
            sink,
            identity: std::sync::OnceLock::new(),
        });
        let access = store.clone();
        let open: StoreOpener = Arc::new(move || access.open());
        Arc::new(Site {
            hosts: MemberHosts::new(open.clone()),
            config_path: config_path.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            redeemer: SharedRedeemer::new(
                open,
                key.clone(),
                directory.clone(),
                CacheLimits::default(),
            ),
            key,
            store,
            directory,
            started,
        })
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The site key.
    pub fn key(&self) -> &Arc<SiteKey> {
        &self.key
    }

    /// Where users' groups come from.
    pub fn directory(&self) -> &dyn Directory {
        &*self.directory
    }

    /// The hot path that redeems codes for RADIUS, and writes what it gathered.
    pub fn redeemer(&self) -> &SharedRedeemer {
        &self.redeemer
    }

    /// The member hosts, as the RADIUS responder checks them.
    pub fn member_hosts(&self) -> &MemberHosts {
        &self.hosts
    }

    /// When the daemon started.
    pub fn started(&self) -> Time {
        self.started
    }

    /// Opens the store: the first time creating it when missing, from then on only the
    /// store first opened ([`Error::StoreReplaced`] when it was deleted or replaced).
    pub fn open_store(&self) -> Result<Box<dyn Store>, Error> {
        self.store.open()
    }

    /// Writes what the hot path gathered and has not written yet (failures that decide a
    /// lockout, audit events), so that a read of the store sees them.
    pub fn flush(&self) -> Result<usize, Error> {
        self.redeemer.flush()
    }

    /// Re-reads the configuration. A bad file leaves the running one in force and says why.
    /// A changed store or admin socket path takes a restart; that is refused too.
    pub fn reload(&self, actor: &str, source: &str, now: Time) -> Result<Arc<Config>, Error> {
        let new = sparekey_conf::load(&self.config_path)?;
        let old = self.config();
        if new.daemon.store != old.daemon.store
            || new.daemon.admin.socket != old.daemon.admin.socket
        {
            return Err(Error::RestartNeeded(
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
