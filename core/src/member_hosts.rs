//! The site's view of its member hosts while it runs: who is enrolled (read from the store
//! at most once a second, and again at once after an enroll or revoke made here), and when
//! each last asked (written every few seconds, at most once a minute per host).

use crate::host::Host;
use crate::shared_redeem::StoreOpener;
use crate::store::Store;
use crate::{Error, Time};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How long the enrolled hosts as read are trusted: a revoke made with sqlite3 or on
/// another node is seen within this time.
pub const RELOAD_AFTER: chrono::Duration = chrono::Duration::seconds(1);

/// How often one host's `last_seen` is written at most.
pub const SEEN_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The member hosts of a site, shared by the answering threads.
#[derive(Clone)]
pub struct MemberHosts {
    open: StoreOpener,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    store: Option<Box<dyn Store>>,
    hosts: HashMap<String, Host>,
    loaded_at: Option<Time>,
    /// When each host last asked, as not yet written.
    seen: HashMap<String, Time>,
    /// What was last written for each host.
    written: HashMap<String, Time>,
}

impl std::fmt::Debug for MemberHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberHosts").finish_non_exhaustive()
    }
}

impl MemberHosts {
    /// The hosts of the store `open` connects to; nothing is read until asked.
    pub fn new(open: StoreOpener) -> Self {
        MemberHosts {
            open,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                g.store = None;
                g.loaded_at = None;
                g
            }
        }
    }

    /// Host `name` as the store has it (enrolled or revoked), `None` if it was never
    /// enrolled. `Err` when the store cannot be read.
    pub fn lookup(&self, name: &str, now: Time) -> Result<Option<Host>, Error> {
        let mut s = self.state();
        let due = s
            .loaded_at
            .is_none_or(|t| now - t >= RELOAD_AFTER || now < t);
        if due {
            if s.store.is_none() {
                s.store = Some((self.open)()?);
            }
            let read = s.store.as_ref().map(|st| st.hosts());
            match read {
                Some(Ok(hosts)) => {
                    s.hosts = hosts.into_iter().map(|h| (h.name.clone(), h)).collect();
                    s.loaded_at = Some(now);
                }
                Some(Err(e)) => {
                    s.store = None;
                    return Err(e);
                }
                None => {}
            }
        }
        Ok(s.hosts.get(name).cloned())
    }

    /// Reads the hosts again at the next lookup (after an enroll or revoke).
    pub fn invalidate(&self) {
        self.state().loaded_at = None;
    }

    /// Notes that `name` asked at `now`, for [`MemberHosts::write_seen`].
    pub fn seen(&self, name: &str, now: Time) {
        let mut s = self.state();
        let due = s
            .written
            .get(name)
            .is_none_or(|t| now - *t >= SEEN_EVERY || now < *t);
        if due {
            s.seen.insert(name.to_string(), now);
        }
    }

    /// Writes the times noted since the last call; returns how many. Kept for the next call
    /// when the store fails.
    pub fn write_seen(&self) -> Result<usize, Error> {
        let mut s = self.state();
        if s.seen.is_empty() {
            return Ok(0);
        }
        if s.store.is_none() {
            s.store = Some((self.open)()?);
        }
        let seen: Vec<(String, Time)> = s.seen.iter().map(|(n, t)| (n.clone(), *t)).collect();
        let written = match s.store.as_mut() {
            Some(store) => store.hosts_seen(&seen),
            None => Ok(()),
        };
        if let Err(e) = written {
            s.store = None;
            return Err(e);
        }
        s.seen.clear();
        for (name, at) in &seen {
            s.written.insert(name.clone(), *at);
        }
        Ok(seen.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::NoSink;
    use crate::store::{self, OpenMode, Origin};
    use crate::SiteKey;

    const ORIGIN: Origin<'static> = Origin {
        actor: "root",
        source: "test",
    };

    fn t(secs: i64) -> Time {
        chrono::DateTime::from_timestamp(1_796_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn revokes_are_seen_after_a_second_or_at_once_when_invalidated_and_seen_times_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let config = sparekey_conf::StoreConfig {
            path: dir.path().join("s.db"),
            key_file: dir.path().join("k"),
            ..Default::default()
        };
        let key = Arc::new(SiteKey::from_bytes(&[4; 32]));
        let open_config = config.clone();
        let open_key = key.clone();
        let open: StoreOpener = Arc::new(move || {
            store::open(
                &open_config,
                OpenMode::Create,
                open_key.clone(),
                Arc::new(NoSink),
            )
        });
        let mut admin = open().unwrap();
        admin.enroll_host("host-a", t(0), ORIGIN).unwrap();
        let hosts = MemberHosts::new(open);
        assert_eq!(hosts.lookup("host-a", t(0)).unwrap().unwrap().serial, 1);
        assert!(hosts.lookup("host-b", t(0)).unwrap().is_none());
        admin.revoke_host("host-a", t(0), ORIGIN, None).unwrap();
        // Trusted for a second, then read again.
        assert!(hosts
            .lookup("host-a", t(0))
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none());
        assert!(hosts
            .lookup("host-a", t(1))
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some());
        admin.enroll_host("host-a", t(1), ORIGIN).unwrap();
        hosts.invalidate();
        let again = hosts.lookup("host-a", t(1)).unwrap().unwrap();
        assert_eq!((again.serial, again.revoked_at), (2, None));

        hosts.seen("host-a", t(2));
        assert_eq!(hosts.write_seen().unwrap(), 1);
        // Within a minute: nothing more to write.
        hosts.seen("host-a", t(30));
        assert_eq!(hosts.write_seen().unwrap(), 0);
        hosts.seen("host-a", t(62));
        assert_eq!(hosts.write_seen().unwrap(), 1);
        assert_eq!(admin.hosts().unwrap()[0].last_seen, Some(t(62)));
    }
}
