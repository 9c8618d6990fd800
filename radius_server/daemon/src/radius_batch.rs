//! One answering thread's loop: up to [`BATCH`] datagrams read with one `recvmmsg` (waiting
//! for the first, then taking whatever is queued), each answered in turn by the thread's
//! [`Responder`], the replies of the batch sent with one `sendmmsg`, and what waits for a
//! password check or an upstream handed to [`crate::radius_workers`].

use crate::radius_snapshot::{Log, Shared};
use crate::radius_workers::Workers;
use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use sparekey_core::Site;
use sparekey_radius::deferred::ModeTables;
use sparekey_radius::responder::{Responder, Snapshot};
use sparekey_radius::verifier::SharedVerifier;
use sparekey_radius_codec::MAX_PACKET_LEN;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most datagrams read (and replies sent) per system call.
pub const BATCH: usize = 32;

/// Received datagrams: one buffer of `MAX_PACKET_LEN + 1` bytes per slot, so that an
/// oversized datagram is seen (and dropped by the decoder) rather than cut to a valid length.
#[derive(Debug)]
pub struct Inbox {
    buffers: Vec<Box<[u8]>>,
    /// Length and source of each datagram of the last batch.
    got: Vec<(usize, Option<SocketAddr>)>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            buffers: (0..BATCH)
                .map(|_| vec![0u8; MAX_PACKET_LEN + 1].into_boxed_slice())
                .collect(),
            got: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Inbox {
    /// Waits for at least one datagram on `fd`, then takes up to [`BATCH`] of those queued.
    /// Returns how many it holds now.
    pub fn receive(&mut self, fd: RawFd) -> nix::Result<usize> {
        let mut slots: Vec<[IoSliceMut<'_>; 1]> = self
            .buffers
            .iter_mut()
            .map(|b| [IoSliceMut::new(b)])
            .collect();
        // MSG_WAITFORONE: block for the first datagram only, as MSG_DONTWAIT does for the rest.
        let results = recvmmsg(
            fd,
            &mut self.headers,
            slots.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        self.got.clear();
        for m in results {
            self.got
                .push((m.bytes, m.address.as_ref().and_then(std_addr)));
        }
        Ok(self.got.len())
    }

    /// Datagram `i` of the last batch and its source (`None` if the kernel gave none).
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let (len, from) = self.got[i];
        (&self.buffers[i][..len.min(MAX_PACKET_LEN + 1)], from)
    }
}

/// Replies waiting to be sent with one `sendmmsg`.
#[derive(Debug)]
pub struct Outbox {
    replies: Vec<Vec<u8>>,
    to: Vec<Option<SockaddrStorage>>,
    len: usize,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            replies: vec![Vec::new(); BATCH],
            to: vec![None; BATCH],
            len: 0,
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Outbox {
    /// Queues a copy of `reply` for `to`. At most [`BATCH`] between two sends.
    pub fn push(&mut self, reply: &[u8], to: SocketAddr) {
        let slot = &mut self.replies[self.len];
        slot.clear();
        slot.extend_from_slice(reply);
        self.to[self.len] = Some(SockaddrStorage::from(to));
        self.len += 1;
    }

    /// Forgets the queued replies.
    pub fn discard(&mut self) {
        self.len = 0;
    }

    /// Sends every queued reply on `fd`. The kernel stops a `sendmmsg` at the first reply it
    /// cannot send; that one is reported to `failed` and skipped, and the rest are sent.
    pub fn send(&mut self, fd: RawFd, mut failed: impl FnMut(SocketAddr, std::io::Error)) {
        let mut start = 0;
        while start < self.len {
            let slices: Vec<[IoSlice<'_>; 1]> = self.replies[start..self.len]
                .iter()
                .map(|r| [IoSlice::new(r)])
                .collect();
            let to = &self.to[start..self.len];
            match sendmmsg(fd, &mut self.headers, &slices, to, [], MsgFlags::empty()) {
                // One item per reply sent (nix counts them this way in its own tests).
                Ok(sent) => match sent.count() {
                    0 => break,
                    n => start += n,
                },
                Err(Errno::EINTR) => {}
                Err(e) => {
                    if let Some(addr) = self.to[start].as_ref().and_then(std_addr) {
                        failed(addr, e.into());
                    }
                    start += 1;
                }
            }
        }
        self.len = 0;
    }
}

fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    a.as_sockaddr_in()
        .map(|v4| SocketAddr::from(*v4))
        .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
}

/// An answering thread's state: its responder (duplicate cache, log limits), buffers and the
/// configuration it last saw.
#[derive(Debug)]
pub struct Answerer {
    responder: Responder<SharedVerifier>,
    snapshot: Snapshot,
    inbox: Inbox,
    outbox: Outbox,
    last_error: Option<Instant>,
    workers: Option<Workers>,
    tables: Arc<ModeTables>,
}

impl Answerer {
    /// A thread's state, with the configuration in force now; requests for a password
    /// check or an upstream go to `workers` (none: they get no answer).
    pub fn new(
        site: &Site,
        shared: &Shared,
        log: &Log,
        verifier: SharedVerifier,
        tables: Arc<ModeTables>,
        workers: Option<Workers>,
    ) -> Self {
        Answerer {
            responder: Responder::new(verifier).with_tables(tables.clone()),
            snapshot: shared.refresh(site, log),
            inbox: Inbox::default(),
            outbox: Outbox::default(),
            last_error: None,
            workers,
            tables,
        }
    }

    /// One batch: waits for datagrams on `socket`, answers them, sends the replies, and
    /// hands what needs a password check or an upstream to the workers. A new
    /// configuration is picked up once per batch.
    pub fn turn(&mut self, socket: &Arc<UdpSocket>, site: &Site, shared: &Shared, log: &Log) {
        let fd = socket.as_raw_fd();
        let n = match self.inbox.receive(fd) {
            Ok(n) => n,
            Err(Errno::EINTR) => return,
            Err(e) => {
                let e = std::io::Error::from(e);
                quiet_error(
                    &mut self.last_error,
                    log,
                    &format!("radius: receiving failed: {e}"),
                );
                std::thread::sleep(Duration::from_millis(10));
                return;
            }
        };
        if !Arc::ptr_eq(&self.snapshot.config, &site.config()) {
            self.snapshot = shared.refresh(site, log);
        }
        for i in 0..n {
            let (datagram, from) = self.inbox.get(i);
            let Some(from) = from else { continue };
            let (now, wall) = (Instant::now(), chrono::Utc::now());
            if let Some(reply) =
                self.responder
                    .handle(&self.snapshot, datagram, from, now, wall, &**log)
            {
                self.outbox.push(reply, from);
            }
        }
        // What the replies rest on (counted failures, audit events) must outlive a crash of
        // this process before any of them is sent: else fail closed, and the NAS retries.
        if let Err(e) = self.responder.settle() {
            self.outbox.discard();
            quiet_error(
                &mut self.last_error,
                log,
                &format!("radius: {n} replies not sent, what they rest on cannot be recorded: {e}"),
            );
            return;
        }
        let last_error = &mut self.last_error;
        self.outbox.send(fd, |to, e| {
            quiet_error(
                last_error,
                log,
                &format!("radius: sending to {to} failed: {e}"),
            )
        });
        for deferred in self.responder.take_deferred() {
            let refused = match &self.workers {
                Some(w) => w.submit(deferred, socket).err(),
                None => Some(Box::new(deferred)),
            };
            if let Some(d) = refused {
                self.tables.pending.forget(&d.key);
                quiet_error(
                    &mut self.last_error,
                    log,
                    &format!("radius: a request from {} was dropped: every worker for password checks or upstreams is busy (the NAS sends it again)", d.from),
                );
            }
        }
    }
}

/// Answers datagrams on `socket` until the process ends.
pub fn serve(
    socket: &Arc<UdpSocket>,
    site: &Arc<Site>,
    shared: &Shared,
    log: &Log,
    verifier: SharedVerifier,
    tables: Arc<ModeTables>,
    workers: Workers,
) {
    let mut answerer = Answerer::new(site, shared, log, verifier, tables, Some(workers));
    loop {
        answerer.turn(socket, site, shared, log);
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
