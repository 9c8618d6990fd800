//! The RADIUS service in sparekeyd: binds every `[radius] listen` address at startup, then
//! answers on each with several threads (see [`threads_per_address`]), each with its own
//! socket in one SO_REUSEPORT group, its own duplicate cache and buffers (the loop is in
//! [`crate::radius_batch`]). The threads share one verifier (the site's hot path) and pick up
//! a reloaded configuration through [`crate::radius_snapshot`].

use crate::radius_snapshot::{Log, Shared};
use crate::radius_workers::Workers;
use crate::Error;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};
use sparekey_core::Site;
use sparekey_radius::clients::ClientTable;
use sparekey_radius::deferred::ModeTables;
use sparekey_radius::responder::Snapshot;
use sparekey_radius::verifier::SharedVerifier;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Receive buffer asked for per socket: bursts of logins wait here instead of being dropped.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// Most answering threads per listen address.
pub const MAX_THREADS: usize = 4;

/// Answering threads (and sockets) per listen address: one per CPU this process may run on
/// (`available_parallelism`, which follows affinity masks and cgroup quotas), at least 1 and
/// at most [`MAX_THREADS`]. More would only add threads waiting for the one verifier.
pub fn threads_per_address() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
}

/// The bound sockets and first client table, made at startup before any thread runs.
#[derive(Debug)]
pub struct Listeners {
    /// Each listen address as configured, with its sockets (one per answering thread).
    groups: Vec<(String, Vec<UdpSocket>)>,
    snapshot: Snapshot,
}

/// Reads the clients' secrets and binds every listen address of the configuration in force,
/// [`threads_per_address`] sockets each. Fails, naming the client or the address and the fix,
/// when any of it cannot be done. Returns warnings to log (weak secrets, clients without
/// listen addresses).
pub fn prepare(site: &Site) -> Result<(Listeners, Vec<String>), Error> {
    prepare_with(site, threads_per_address())
}

/// [`prepare`] with `threads` sockets per address (tests choose).
pub fn prepare_with(site: &Site, threads: usize) -> Result<(Listeners, Vec<String>), Error> {
    let config = site.config();
    let (clients, mut warnings) = ClientTable::load(&config.daemon.radius)?;
    let mut groups = Vec::new();
    for address in &config.daemon.radius.listen {
        let text = address.get_ref();
        // Checked by sparekey-conf; refused here too rather than trusted.
        let addr: SocketAddr = text.parse().map_err(|_| {
            Error::bind(text, std::io::Error::from(std::io::ErrorKind::InvalidInput))
        })?;
        let sockets = bind_group(addr, threads).map_err(|e| Error::bind(text, e))?;
        groups.push((text.clone(), sockets));
    }
    if groups.is_empty() && !clients.is_empty() {
        warnings.push(
            "radius: clients are configured but [radius] listen is empty, so RADIUS is off".into(),
        );
    }
    let snapshot = Snapshot::new(config, Arc::new(clients));
    Ok((Listeners { groups, snapshot }, warnings))
}

/// A UDP socket bound to `addr`, alone (no SO_REUSEPORT): it fails if anything else holds the
/// address. IPv6 sockets are IPv6-only, so "0.0.0.0:1812" and "[::]:1812" can both be listed.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    bind_socket(addr, false)
}

/// `count` UDP sockets bound to `addr` in one SO_REUSEPORT group: the kernel gives each
/// datagram to one of them by a hash of its source and destination addresses and ports, so a
/// client's retransmits (same source port) reach the same socket, and so the same thread and
/// duplicate cache, as long as the group does not change (its sockets live as long as
/// sparekeyd).
///
/// A group can be joined by any socket that sets SO_REUSEPORT, though Linux only lets sockets
/// of the same effective UID join one. So that another process (say a second sparekeyd on
/// the same port) cannot silently take a share of the requests, the address is first bound
/// alone, which fails if anyone holds it, with or without SO_REUSEPORT; that socket is then
/// closed and the group bound to the same port (the chosen one, for port 0).
pub fn bind_group(addr: SocketAddr, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    let probe = bind(addr)?;
    let addr = probe.local_addr()?;
    drop(probe);
    (0..count.max(1)).map(|_| bind_socket(addr, true)).collect()
}

fn bind_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<UdpSocket> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    if reuse_port {
        socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
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
        self.groups.iter().map(|(a, _)| a.as_str()).collect()
    }

    /// The addresses the sockets are bound to (with the port the system chose for port 0),
    /// one per listen address.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.groups
            .iter()
            .filter_map(|(_, s)| s.first()?.local_addr().ok())
            .collect()
    }

    /// Answering threads per listen address.
    pub fn threads(&self) -> usize {
        self.groups.first().map_or(0, |(_, s)| s.len())
    }

    /// One line for the daemon's "ready" message.
    pub fn summary(&self) -> String {
        if self.groups.is_empty() {
            return "RADIUS off".into();
        }
        let clients = &self.snapshot.clients;
        let threads = self.threads();
        format!(
            "RADIUS on {} for {} client{} ({}), {threads} answering thread{} per address",
            self.addresses().join(", "),
            clients.len(),
            if clients.len() == 1 { "" } else { "s" },
            clients.names().join(", "),
            if threads == 1 { "" } else { "s" },
        )
    }

    /// Starts one answering thread per socket. Call after the signal mask is set: the
    /// threads inherit it.
    /// Returns the verifier they share, whose [`SharedVerifier::flush`] writes the audit
    /// events still gathered (sparekeyd calls it before it exits).
    pub fn spawn(self, site: Arc<Site>, log: Log) -> Result<SharedVerifier, Error> {
        // The writer runs with or without RADIUS: refused admin requests are gathered too.
        let verifier = SharedVerifier::new(&site);
        verifier
            .spawn_flusher(log.clone())
            .map_err(|source| Error::Thread {
                address: "audit writer".into(),
                source,
            })?;
        let bound: Vec<String> = self.groups.iter().map(|(a, _)| a.clone()).collect();
        let shared = Arc::new(Shared {
            current: Mutex::new(self.snapshot),
            bound,
        });
        let tables = Arc::new(ModeTables::default());
        let workers = if self.groups.is_empty() {
            None
        } else {
            Some(Workers::spawn(&site, &shared, &tables, &verifier, &log)?)
        };
        for (address, sockets) in self.groups {
            let count = sockets.len();
            for (i, socket) in sockets.into_iter().enumerate() {
                let (site, shared, log) = (site.clone(), shared.clone(), log.clone());
                let (verifier, tables, workers) =
                    (verifier.clone(), tables.clone(), workers.clone());
                let socket = Arc::new(socket);
                let name = format!("{address} (thread {} of {count})", i + 1);
                std::thread::Builder::new()
                    .name(format!("radius {i} {address}"))
                    .spawn(move || loop {
                        let Some(workers) = workers.clone() else { return };
                        // A panic would be a bug; it must not silence RADIUS for good.
                        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            crate::radius_batch::serve(&socket, &site, &shared, &log, verifier.clone(), tables.clone(), workers)
                        }));
                        if run.is_err() {
                            log(&format!("radius: the thread answering on {name} failed (a bug, please report it); restarting it"));
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    })
                    .map_err(|source| Error::Thread {
                        address: address.clone(),
                        source,
                    })?;
            }
        }
        Ok(verifier)
    }
}

#[cfg(test)]
#[path = "radius_listener_tests.rs"]
mod tests;
