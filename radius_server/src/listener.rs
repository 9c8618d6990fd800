//! The RADIUS service in sparekeyd: binds every `[radius] listen` address at startup, then
//! answers on each with one thread (blocking UDP on a std thread; every write to the store is
//! one serialised SQLite transaction anyway). Each thread has its own store connection and
//! duplicate cache, and picks up a reloaded configuration by comparing `Arc` pointers per
//! datagram; the client table of a new configuration is built once, by whichever thread sees
//! it first.

use crate::clients::ClientTable;
use crate::responder::{Responder, Snapshot};
use crate::verifier::SharedVerifier;
use crate::Error;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};
use sparekey_admin::State;
use sparekey_radius_codec::MAX_PACKET_LEN;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where log lines go (sparekeyd's stderr, read by journald).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Receive buffer asked for per socket: bursts of logins wait here instead of being dropped.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// The bound sockets and first client table, made at startup before any thread runs.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<(String, UdpSocket)>,
    snapshot: Snapshot,
}

/// Reads the clients' secrets and binds every listen address of the configuration in force.
/// Fails, naming the client or the address and the fix, when any of it cannot be done.
/// Returns warnings to log (weak secrets, clients without listen addresses).
pub fn prepare(state: &State) -> Result<(Listeners, Vec<String>), Error> {
    let config = state.config();
    let (clients, mut warnings) = ClientTable::load(&config.daemon.radius)?;
    let mut sockets = Vec::new();
    for address in &config.daemon.radius.listen {
        let text = address.get_ref();
        // Checked by sparekey-conf; refused here too rather than trusted.
        let addr: SocketAddr = text.parse().map_err(|_| {
            Error::bind(text, std::io::Error::from(std::io::ErrorKind::InvalidInput))
        })?;
        let socket = bind(addr).map_err(|e| Error::bind(text, e))?;
        sockets.push((text.clone(), socket));
    }
    if sockets.is_empty() && !clients.is_empty() {
        warnings.push(
            "radius: clients are configured but [radius] listen is empty, so RADIUS is off".into(),
        );
    }
    let snapshot = Snapshot::new(config, Arc::new(clients));
    Ok((Listeners { sockets, snapshot }, warnings))
}

/// A UDP socket bound to `addr`. IPv6 sockets are IPv6-only, so "0.0.0.0:1812" and
/// "[::]:1812" can both be listed.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    match addr {
        SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => {
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?
        }
    }
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &RECEIVE_BUFFER);
    Ok(UdpSocket::from(fd))
}

impl Listeners {
    /// The addresses bound, as configured.
    pub fn addresses(&self) -> Vec<&str> {
        self.sockets.iter().map(|(a, _)| a.as_str()).collect()
    }

    /// The addresses the sockets are bound to (with the port the system chose for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|(_, s)| s.local_addr().ok())
            .collect()
    }

    /// One line for the daemon's "ready" message.
    pub fn summary(&self) -> String {
        if self.sockets.is_empty() {
            return "RADIUS off".into();
        }
        let clients = &self.snapshot.clients;
        format!(
            "RADIUS on {} for {} client{} ({})",
            self.addresses().join(", "),
            clients.len(),
            if clients.len() == 1 { "" } else { "s" },
            clients.names().join(", ")
        )
    }

    /// Starts one answering thread per socket. Call after the signal mask is set: the
    /// threads inherit it.
    /// Returns the verifier they share, whose [`SharedVerifier::flush`] writes the audit
    /// events still gathered (sparekeyd calls it before it exits).
    pub fn spawn(self, state: Arc<State>, log: Log) -> Result<SharedVerifier, Error> {
        let verifier = SharedVerifier::new(state.clone());
        if !self.sockets.is_empty() {
            verifier
                .spawn_flusher(log.clone())
                .map_err(|source| Error::Thread {
                    address: "audit writer".into(),
                    source,
                })?;
            let flusher = verifier.clone();
            state.set_audit_flush(Arc::new(move || {
                flusher.flush().map(|_| ()).map_err(|e| e.to_string())
            }));
        }
        let bound: Vec<String> = self.sockets.iter().map(|(a, _)| a.clone()).collect();
        let shared = Arc::new(Shared {
            current: Mutex::new(self.snapshot),
            bound,
        });
        for (address, socket) in self.sockets {
            let (state, shared, log) = (state.clone(), shared.clone(), log.clone());
            let verifier = verifier.clone();
            let name = address.clone();
            std::thread::Builder::new()
                .name(format!("radius {address}"))
                .spawn(move || loop {
                    // A panic would be a bug; it must not silence RADIUS for good.
                    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        serve(&socket, &state, &shared, &log, verifier.clone())
                    }));
                    if run.is_err() {
                        log(&format!("radius: the thread answering on {name} failed (a bug, please report it); restarting it"));
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
                .map_err(|source| Error::Thread { address, source })?;
        }
        Ok(verifier)
    }
}

/// The snapshot all answering threads share, rebuilt once per new configuration.
#[derive(Debug)]
struct Shared {
    current: Mutex<Snapshot>,
    bound: Vec<String>,
}

impl Shared {
    /// The snapshot for the configuration in force now, building its client table if no
    /// thread has yet. A table that cannot be built leaves the previous clients in force.
    fn refresh(&self, state: &State, log: &Log) -> Snapshot {
        let mut current = match self.current.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Read under the lock, so a thread holding an older configuration cannot bring it back.
        let config = state.config();
        if Arc::ptr_eq(&current.config, &config) {
            return current.clone();
        }
        let clients = match ClientTable::load(&config.daemon.radius) {
            Ok((table, warnings)) => {
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

/// Answers datagrams on `socket` until the process ends.
fn serve(
    socket: &UdpSocket,
    state: &Arc<State>,
    shared: &Shared,
    log: &Log,
    verifier: SharedVerifier,
) {
    let mut snapshot = shared.refresh(state, log);
    let mut responder = Responder::new(verifier);
    // One byte more than the largest packet, so an oversized datagram is seen (and dropped).
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    let mut last_error: Option<Instant> = None;
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                quiet_error(
                    &mut last_error,
                    log,
                    &format!("radius: receiving failed: {e}"),
                );
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if !Arc::ptr_eq(&snapshot.config, &state.config()) {
            snapshot = shared.refresh(state, log);
        }
        let now = Instant::now();
        let wall = chrono::Utc::now();
        if let Some(reply) = responder.handle(&snapshot, &buf[..len], from, now, wall, &**log) {
            if let Err(e) = socket.send_to(reply, from) {
                quiet_error(
                    &mut last_error,
                    log,
                    &format!("radius: sending to {from} failed: {e}"),
                );
            }
        }
    }
}

/// Logs a socket error at most once a second.
fn quiet_error(last: &mut Option<Instant>, log: &Log, line: &str) {
    let now = Instant::now();
    if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
        *last = Some(now);
        log(line);
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
