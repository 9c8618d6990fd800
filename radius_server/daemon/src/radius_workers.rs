//! The workers that answer what the answering threads hand on (sparekey-radius's
//! [`Deferred`]): [`PASSWORD_WORKERS`] threads checking passwords through PAM
//! (sparekey-primary) and [`UPSTREAM_WORKERS`] threads waiting for upstreams, each pool fed
//! by a bounded queue. A worker sends its answer itself, on the socket the request came in on.

use crate::radius_snapshot::{Log, Shared};
use crate::Error;
use sparekey_core::Site;
use sparekey_radius::clients::Upstream;
use sparekey_radius::deferred::{
    Deferred, Finisher, ModeTables, PasswordChecker, PasswordRefusal, UpstreamLink,
};
use sparekey_radius::verifier::SharedVerifier;
use std::net::{SocketAddr, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Threads checking passwords through PAM at once (each check blocks its thread; pam_unix
/// takes milliseconds, pam_sss or pam_ldap a network round trip).
pub const PASSWORD_WORKERS: usize = 4;
/// Threads waiting for upstreams at once (each waits up to its timeout times its sends; a
/// push to a phone holds one for as long as the person takes).
pub const UPSTREAM_WORKERS: usize = 64;
/// Requests waiting for a worker, per pool; past it, new ones are dropped (the NAS sends
/// them again).
pub const QUEUE: usize = 256;

/// One request for a worker, with the socket its answer goes out on.
struct Job {
    deferred: Deferred,
    socket: Arc<UdpSocket>,
}

/// The two pools' queues.
#[derive(Debug, Clone)]
pub struct Workers {
    password: SyncSender<Job>,
    upstream: SyncSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("deferred", &self.deferred)
            .finish()
    }
}

impl Workers {
    /// Starts both pools. Each worker has its own verifier (store connection).
    pub fn spawn(
        site: &Arc<Site>,
        shared: &Arc<Shared>,
        tables: &Arc<ModeTables>,
        verifier: &SharedVerifier,
        log: &Log,
    ) -> Result<Self, Error> {
        let start = |kind: &'static str, count: usize| -> Result<SyncSender<Job>, Error> {
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..count {
                let (site, shared, log, rx) =
                    (site.clone(), shared.clone(), log.clone(), rx.clone());
                let mut finisher = Finisher {
                    verifier: verifier.clone(),
                    checker: PamChecker,
                    link: UdpLink,
                    tables: tables.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("radius {kind} {i}"))
                    .spawn(move || work(&rx, &site, &shared, &log, &mut finisher))
                    .map_err(|source| Error::Thread {
                        address: format!("{kind} worker"),
                        source,
                    })?;
            }
            Ok(tx)
        };
        Ok(Workers {
            password: start("password", PASSWORD_WORKERS)?,
            upstream: start("upstream", UPSTREAM_WORKERS)?,
        })
    }

    /// Queues `deferred`, answered on `socket`; `Err` gives it back when its pool's queue
    /// is full.
    pub fn submit(&self, deferred: Deferred, socket: &Arc<UdpSocket>) -> Result<(), Box<Deferred>> {
        let queue = if deferred.is_upstream() {
            &self.upstream
        } else {
            &self.password
        };
        let job = Job {
            deferred,
            socket: socket.clone(),
        };
        match queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                Err(Box::new(job.deferred))
            }
        }
    }
}

fn work(
    rx: &Mutex<Receiver<Job>>,
    site: &Site,
    shared: &Shared,
    log: &Log,
    finisher: &mut Finisher<SharedVerifier, PamChecker, UdpLink>,
) {
    loop {
        let job = {
            let rx = match rx.lock() {
                Ok(rx) => rx,
                Err(poisoned) => poisoned.into_inner(),
            };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // sparekeyd is stopping
            }
        };
        let Job { deferred, socket } = job;
        let (key, from) = (deferred.key, deferred.from);
        let snapshot = shared.refresh(site, log);
        let mut random = || {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).ok().map(|()| b)
        };
        // A panic would be a bug; it must not take the worker with it.
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            finisher.finish(&snapshot, deferred, Instant::now(), &mut random, &**log)
        }));
        match answered {
            Ok(Some(reply)) => {
                if let Err(e) = socket.send_to(&reply, from) {
                    log(&format!("radius: sending to {from} failed: {e}"));
                }
            }
            Ok(None) => {}
            Err(_) => {
                finisher.tables.pending.forget(&key);
                log(&format!("radius: a worker failed on a request from {from} (a bug, please report it); it was not answered"));
            }
        }
    }
}

/// Passwords through sparekey-primary (libpam).
#[derive(Debug, Clone, Copy)]
struct PamChecker;

impl PasswordChecker for PamChecker {
    fn check(
        &self,
        service: &str,
        user: &str,
        password: &[u8],
        rhost: Option<&str>,
    ) -> Result<(), PasswordRefusal> {
        let check = sparekey_primary::PasswordCheck {
            service,
            user,
            password,
            rhost,
        };
        sparekey_primary::check_password(&check).map_err(|r| match r {
            sparekey_primary::Refusal::Refused { .. } => PasswordRefusal::Refused(r.to_string()),
            sparekey_primary::Refusal::Unavailable { .. } => {
                PasswordRefusal::Unavailable(r.to_string())
            }
        })
    }
}

/// Upstreams over UDP: a socket of its own per request (its source port tells the answers
/// apart), sent again after each timeout.
#[derive(Debug, Clone, Copy)]
struct UdpLink;

impl UpstreamLink for UdpLink {
    fn exchange(
        &self,
        upstream: &Upstream,
        request: &[u8],
        accept: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, String> {
        let any: SocketAddr = match upstream.address {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        }
        .parse()
        .map_err(|e| format!("{e}"))?;
        let socket = UdpSocket::bind(any).map_err(|e| format!("cannot bind a socket: {e}"))?;
        socket
            .connect(upstream.address)
            .map_err(|e| format!("cannot reach {}: {e}", upstream.address))?;
        let mut buf = vec![0u8; sparekey_radius_codec::MAX_PACKET_LEN + 1];
        for _ in 0..=upstream.retries {
            socket
                .send(request)
                .map_err(|e| format!("cannot send to {}: {e}", upstream.address))?;
            let deadline = Instant::now() + upstream.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                socket
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .map_err(|e| e.to_string())?;
                match socket.recv(&mut buf) {
                    Ok(n) if accept(&buf[..n]) => return Ok(Some(buf[..n].to_vec())),
                    // Not the answer (a forged or late datagram): wait on.
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    // ECONNREFUSED: nothing listens there now; the next send may find it.
                    Err(_) => std::thread::sleep(left.min(Duration::from_millis(100))),
                }
            }
        }
        Ok(None)
    }
}
