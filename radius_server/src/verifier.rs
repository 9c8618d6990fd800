//! The one step that touches the store: verifying a code and recording the outcome. Behind a
//! trait so the responder's packet handling is tested with a scripted fake.

use crate::Error;
use sparekey_admin::State;
use sparekey_conf::PolicyFile;
use sparekey_core::cached_redeem::{CacheLimits, CachedRedeemer, Presented};
use sparekey_core::store::Store;
use sparekey_core::{identity, Code, Time, Verdict};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A code presented in a verified Access-Request.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    /// The RADIUS User-Name.
    pub user: &'a str,
    /// The client's `service`.
    pub service: &'a str,
    /// Client, NAS and calling station, for the audit log.
    pub source: &'a str,
    /// The code (the User-Password, normalised).
    pub code: &'a Code,
}

/// Verifies codes and records each outcome (use counts, failures, audit).
pub trait Verifier {
    /// The verdict for `request` under `policies` at `now`. `Err` when the store or the
    /// user lookup fails: then nothing is answered, and the NAS retries or fails over.
    fn verify(
        &mut self,
        policies: &PolicyFile,
        request: &CodeRequest<'_>,
        now: Time,
    ) -> Result<Verdict, Error>;
}

/// The real verifier, shared by every answering thread: sparekey-core's cached redeemer over
/// one store connection (opened on first use, reopened after a failure), with the user's
/// groups from NSS. Audit events of the hot path are written by [`SharedVerifier::flush`],
/// which a background thread calls every [`FLUSH_INTERVAL`] and sparekeyd at shutdown.
#[derive(Debug, Clone)]
pub struct SharedVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Arc<State>,
    redeemer: Mutex<Option<CachedRedeemer>>,
    /// Serialises flushes (the background thread and shutdown).
    writer: Mutex<Option<Store>>,
}

/// How often gathered audit events are written to the store (and syslog).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

impl SharedVerifier {
    /// A verifier over the daemon's state; the store is opened when first needed.
    pub fn new(state: Arc<State>) -> Self {
        SharedVerifier {
            inner: Arc::new(Inner {
                state,
                redeemer: Mutex::new(None),
                writer: Mutex::new(None),
            }),
        }
    }

    /// Writes the audit events gathered so far, in one transaction on a connection of its own
    /// (so the answering threads never wait for the disk). Events are kept for the next try
    /// when the store fails.
    pub fn flush(&self) -> Result<usize, Error> {
        let mut writer = lock(&self.inner.writer);
        let batch = match lock(&self.inner.redeemer).as_mut() {
            Some(r) if r.has_batch() => r.take_batch(),
            _ => return Ok(0),
        };
        let n = batch.events.len() + batch.failures.len();
        let written = match writer.as_mut() {
            Some(s) => Ok(s),
            None => self
                .inner
                .state
                .open_store()
                .map(|s| &mut *writer.insert(s)),
        }
        .and_then(|store| store.record_batch(&batch.failures, batch.events.clone()));
        if let Ok(generations) = &written {
            // At once, without the redeemer's lock: a recheck from now on knows this commit.
            let _ = batch.committed.set(*generations);
        }
        let mut redeemer = lock(&self.inner.redeemer);
        match written {
            Ok(generations) => {
                // The cache takes the failures just stored and carries on, unless another
                // process changed the store meanwhile; a flush of audit events alone changes
                // nothing it holds.
                if let Some(r) = redeemer.as_mut() {
                    r.written(&batch.failures, generations);
                }
                Ok(n)
            }
            Err(e) => {
                *writer = None;
                match redeemer.as_mut() {
                    Some(r) => r.restore(batch),
                    // The redeemer was dropped meanwhile (its store failed): nothing counts
                    // these failures any more, so they go to the store now or not at all.
                    None => {
                        if let Ok(mut s) = self.inner.state.open_store() {
                            let _ = s.record_batch(&batch.failures, batch.events);
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    /// Starts the thread that flushes every [`FLUSH_INTERVAL`]; failures go to `log`, at most
    /// once a minute.
    pub fn spawn_flusher(&self, log: Arc<dyn Fn(&str) + Send + Sync>) -> std::io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new().name("radius audit".into()).spawn(move || {
            let mut last_error: Option<std::time::Instant> = None;
            loop {
                std::thread::sleep(FLUSH_INTERVAL);
                if let Err(e) = me.flush() {
                    if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        last_error = Some(std::time::Instant::now());
                        log(&format!("radius: audit events could not be written yet (kept for the next try): {e}"));
                    }
                }
            }
        })?;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Verifier for SharedVerifier {
    fn verify(
        &mut self,
        policies: &PolicyFile,
        request: &CodeRequest<'_>,
        now: Time,
    ) -> Result<Verdict, Error> {
        let mut guard = lock(&self.inner.redeemer);
        let redeemer = match guard.as_mut() {
            Some(r) => r,
            None => {
                let store = self.inner.state.open_store()?;
                guard.insert(CachedRedeemer::new(
                    store,
                    self.inner.state.key().clone(),
                    CacheLimits::default(),
                ))
            }
        };
        let presented = Presented {
            user: request.user,
            service: request.service,
            // Policy `hosts` name the hosts PAM logins happen on; a VPN login has none, so a
            // credential or policy limited to hosts does not work over RADIUS.
            host: None,
            source: request.source,
            code: request.code,
        };
        let verdict = redeemer.redeem(policies, &presented, now, &identity::groups_of);
        if verdict.is_err() {
            // Start afresh next time: the connection may be what failed. Gathered audit
            // events are written first so that none is lost.
            let pending = redeemer.take_batch();
            *guard = None;
            drop(guard);
            if let Ok(mut s) = self.inner.state.open_store() {
                let _ = s.record_batch(&pending.failures, pending.events);
            }
        }
        Ok(verdict?)
    }
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
