//! The load generator: many Access-Requests in flight over several UDP sockets, every reply
//! checked, latencies and the server's CPU time recorded.
//!
//! Each socket has its own 256 Identifiers and keeps at most `window` requests outstanding.
//! Requests are built before the run starts (a pool of packets per socket, each with its
//! own random Request Authenticator), so that the measured loop only sends, receives and
//! checks. A pool packet is never sent twice within [`REUSE_GUARD`]: if the pool is too
//! small for the rate, the packet is rebuilt with a fresh authenticator (counted as
//! `rebuilt`), so the servers' 5 s duplicate caches never answer a request from the cache.
//!
//! Two modes: closed loop (each reply, or timeout, lets the next request go: the maximum
//! throughput with `sockets * window` in flight) and open loop (`rate` requests/s on a
//! fixed schedule whatever the replies do, to measure latency at a given load). There are
//! no retransmits: a request without a reply after `timeout` is lost.

use crate::check::{check_reply, identifier};
use crate::procstat::{self, CpuTime};
use crate::requests::{build_request, Expect, NasAttributes, RequestSpec};
use crate::rng::SplitMix64;
use crate::stats::Summary;
use nix::poll::{PollFd, PollFlags};
use nix::sys::socket::{setsockopt, sockopt};
use sparekey_radius_codec::{MessageAuthenticatorPolicy, SharedSecret, MAX_PACKET_LEN};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

/// A pool packet is rebuilt rather than sent again sooner than this after its last use:
/// longer than the 5 s for which sparekeyd and FreeRADIUS replay replies to retransmits.
pub const REUSE_GUARD: Duration = Duration::from_millis(5_500);

/// Receive buffer asked for on each generator socket.
const SOCKET_BUFFER: usize = 4 << 20;

/// How often outstanding requests are checked for timeouts.
const TIMEOUT_SCAN: Duration = Duration::from_millis(1);

/// When to stop sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long (after the warm-up).
    After(Duration),
    /// After this many requests (after the warm-up).
    Count(u64),
}

/// What to run.
#[derive(Debug)]
pub struct LoadConfig {
    /// The server.
    pub target: SocketAddr,
    /// The shared secret.
    pub secret: SharedSecret,
    /// NAS attributes every request carries.
    pub nas: NasAttributes,
    /// UDP sockets (source ports), each with its own 256 Identifiers.
    pub sockets: usize,
    /// Generator threads; the sockets are shared out among them.
    pub threads: usize,
    /// Requests outstanding per socket at most (1..=256).
    pub window: usize,
    /// A request without a reply after this is lost.
    pub timeout: Duration,
    /// Open loop at this many requests/s in total; None: closed loop.
    pub rate: Option<f64>,
    /// When to stop.
    pub stop: Stop,
    /// Requests sent before measuring starts (not counted, not in the CPU times).
    pub warmup: Duration,
    /// Packets built ahead per socket (rounded up to a multiple of 256).
    pub pool: usize,
    /// Whether replies must carry a Message-Authenticator.
    pub reply_policy: MessageAuthenticatorPolicy,
    /// The server's process, for its CPU time.
    pub server_pid: Option<u32>,
    /// Send every request of the mix exactly once, in order, each built when it is sent
    /// (for single-use codes: a retransmit or a second send would measure the duplicate
    /// cache or a refusal, not a redemption). Needs `Stop::Count` of the mix's length and
    /// no warm-up.
    pub each_once: bool,
}

impl LoadConfig {
    /// A pool size that avoids rebuilding at `rate` requests/s over `sockets` sockets for a
    /// run of `run` (warm-up included), capped at `cap` packets in total.
    pub fn pool_for(rate: f64, run: Duration, sockets: usize, cap: usize) -> usize {
        let span = run.min(REUSE_GUARD + Duration::from_millis(500));
        let total = (rate * span.as_secs_f64()).ceil() as usize;
        (total.min(cap) / sockets.max(1)).max(256)
    }
}

/// Counters of one run (or one thread of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Measured requests sent.
    pub sent: u64,
    /// Access-Accepts that passed every check.
    pub accepts: u64,
    /// Access-Rejects that passed every check.
    pub rejects: u64,
    /// Replies that failed a check (malformed, wrong code, wrong authenticators).
    pub invalid: u64,
    /// Verified replies whose verdict was not the one expected for the request.
    pub unexpected_verdict: u64,
    /// Requests without a reply within the timeout.
    pub lost: u64,
    /// Requests sent during the warm-up without a reply within the timeout (not measured,
    /// but each held a window slot for the whole timeout, maybe into the measured time).
    pub lost_in_warmup: u64,
    /// Replies that came after their request had timed out.
    pub late: u64,
    /// Replies whose Identifier matched no outstanding request.
    pub stray: u64,
    /// Sends that failed (e.g. ECONNREFUSED: nothing listens on the port).
    pub send_errors: u64,
    /// Pool packets rebuilt with a fresh authenticator because the pool was too small.
    pub rebuilt: u64,
    /// Open loop: scheduled sends that found every socket's window full.
    pub window_full: u64,
    /// Open loop: measured sends more than 1 ms behind their schedule.
    pub behind_schedule: u64,
    /// Open loop: the most a send was behind its schedule, in nanoseconds.
    pub max_lag_ns: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.accepts += o.accepts;
        self.rejects += o.rejects;
        self.invalid += o.invalid;
        self.unexpected_verdict += o.unexpected_verdict;
        self.lost += o.lost;
        self.lost_in_warmup += o.lost_in_warmup;
        self.late += o.late;
        self.stray += o.stray;
        self.send_errors += o.send_errors;
        self.rebuilt += o.rebuilt;
        self.window_full += o.window_full;
        self.behind_schedule += o.behind_schedule;
        self.max_lag_ns = self.max_lag_ns.max(o.max_lag_ns);
    }

    /// Verified replies.
    pub fn replies(&self) -> u64 {
        self.accepts + self.rejects
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Counters.
    pub counts: Counts,
    /// Round-trip times of the measured, verified replies (nanoseconds).
    pub latency: Summary,
    /// From the start of measuring to the last measured reply.
    pub elapsed: Duration,
    /// The server's CPU time while measuring (from /proc/PID/stat), if a pid was given.
    pub server_cpu: Option<CpuTime>,
    /// The same from /proc/PID/task/*/schedstat (finer, live threads only).
    pub server_sched: Option<Duration>,
    /// From the start of measuring until every measured request was answered or timed out.
    pub cpu_window: Duration,
    /// The generator's own CPU time over the same window.
    pub own_cpu: CpuTime,
    /// The first check failure seen, to say what was wrong.
    pub first_error: Option<String>,
}

impl Report {
    /// Verified replies per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.counts.replies() as f64 / secs
        } else {
            0.0
        }
    }

    /// Server CPU time per verified reply, in microseconds.
    pub fn server_us_per_request(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        per_request_us(cpu.total(), self.counts.replies())
    }

    /// Server CPU per verified reply from schedstat, in microseconds.
    pub fn server_sched_us_per_request(&self) -> Option<f64> {
        per_request_us(self.server_sched?, self.counts.replies())
    }

    /// Generator CPU time per request sent, in microseconds.
    pub fn own_us_per_request(&self) -> Option<f64> {
        per_request_us(self.own_cpu.total(), self.counts.sent)
    }
}

fn per_request_us(cpu: Duration, n: u64) -> Option<f64> {
    (n > 0).then(|| cpu.as_secs_f64() * 1e6 / n as f64)
}

/// Runs the load described by `cfg` with the mix `specs` and reports.
pub fn run(cfg: LoadConfig, specs: Vec<RequestSpec>) -> Result<Report, String> {
    if specs.is_empty() {
        return Err("no requests to send".into());
    }
    if !(1..=256).contains(&cfg.window) {
        return Err(format!("window {} is not in 1..=256", cfg.window));
    }
    if cfg.sockets == 0 || cfg.threads == 0 {
        return Err("sockets and threads must be at least 1".into());
    }
    if let Some(r) = cfg.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err(format!("rate {r} is not a positive number"));
        }
    }
    let threads = cfg.threads.min(cfg.sockets);
    let mut sockets: Vec<Vec<(usize, UdpSocket)>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..cfg.sockets {
        let local: SocketAddr = if cfg.target.is_ipv4() {
            "0.0.0.0:0".parse().expect("address")
        } else {
            "[::]:0".parse().expect("address")
        };
        let s = UdpSocket::bind(local).map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
        s.connect(cfg.target)
            .map_err(|e| format!("cannot connect a UDP socket to {}: {e}", cfg.target))?;
        s.set_nonblocking(true)
            .map_err(|e| format!("cannot make a socket non-blocking: {e}"))?;
        // Best effort: the kernel caps it at net.core.rmem_max.
        let _ = setsockopt(&s, sockopt::RcvBuf, &SOCKET_BUFFER);
        let _ = setsockopt(&s, sockopt::SndBuf, &SOCKET_BUFFER);
        sockets[i % threads].push((i, s));
    }
    let shared = Arc::new(Shared {
        cfg,
        specs,
        start: OnceLock::new(),
        remaining: AtomicU64::new(0),
        next_spec: AtomicUsize::new(0),
        ready: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
    });
    if let Stop::Count(n) = shared.cfg.stop {
        shared.remaining.store(n, Ordering::SeqCst);
    }
    let mut handles = Vec::new();
    for (t, socks) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("gen {t}"))
            .spawn(move || worker(&shared, t, threads, socks))
            .map_err(|e| format!("cannot start a generator thread: {e}"))?;
        handles.push(h);
    }
    // Every pool is built; start the clock.
    shared.ready.wait();
    let start = Instant::now();
    let measure_start = start + shared.cfg.warmup;
    let _ = shared.start.set(start);
    shared.go.wait();
    std::thread::sleep(measure_start.saturating_duration_since(Instant::now()));
    let server_before = match shared.cfg.server_pid {
        Some(pid) => Some(
            procstat::process_cpu(pid)
                .map_err(|e| format!("cannot read the CPU time of process {pid}: {e}"))?,
        ),
        None => None,
    };
    let sched_before = shared.cfg.server_pid.and_then(procstat::sched_runtime);
    let own_before = procstat::own_cpu();
    let cpu_from = Instant::now();
    let mut counts = Counts::default();
    let mut latencies = Vec::new();
    // The measuring window ends with the last measured reply or send, and lasts at least
    // the duration asked for (a server that stops answering does not shorten it).
    let mut last_event = match shared.cfg.stop {
        Stop::After(d) => measure_start + d,
        Stop::Count(_) => measure_start,
    };
    let mut first_error = None;
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a generator thread panicked".to_string())??;
        counts.add(&r.counts);
        latencies.extend_from_slice(&r.latencies);
        last_event = last_event
            .max(r.last_reply.unwrap_or(measure_start))
            .max(r.last_send.unwrap_or(measure_start));
        first_error = first_error.or(r.first_error);
    }
    let cpu_window = cpu_from.elapsed();
    let own_cpu = procstat::own_cpu().since(&own_before);
    let server_cpu = match (shared.cfg.server_pid, server_before) {
        (Some(pid), Some(before)) => Some(
            procstat::process_cpu(pid)
                .map_err(|e| format!("cannot read the CPU time of process {pid}: {e}"))?
                .since(&before),
        ),
        _ => None,
    };
    let server_sched = match (
        shared.cfg.server_pid.and_then(procstat::sched_runtime),
        sched_before,
    ) {
        (Some(after), Some(before)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(Report {
        counts,
        latency: Summary::of(&mut latencies),
        elapsed: last_event.saturating_duration_since(measure_start),
        server_cpu,
        server_sched,
        cpu_window,
        own_cpu,
        first_error,
    })
}

struct Shared {
    cfg: LoadConfig,
    specs: Vec<RequestSpec>,
    start: OnceLock<Instant>,
    /// Count mode: measured requests still to send.
    remaining: AtomicU64,
    /// Each-once mode: the next spec to send.
    next_spec: AtomicUsize,
    ready: Barrier,
    go: Barrier,
}

impl Shared {
    /// Takes one measured request from the quota (count mode); false when it is used up.
    fn take(&self) -> bool {
        match self.cfg.stop {
            Stop::After(_) => true,
            Stop::Count(_) => self
                .remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                .is_ok(),
        }
    }
}

/// What one thread measured.
struct ThreadResult {
    counts: Counts,
    latencies: Vec<u64>,
    last_reply: Option<Instant>,
    last_send: Option<Instant>,
    first_error: Option<String>,
}

/// Precomputed requests of one socket: `rounds` packets for each of the 256 Identifiers.
struct Pool {
    bytes: Vec<u8>,
    stride: usize,
    lens: Vec<u16>,
    auths: Vec<[u8; 16]>,
    specs: Vec<u32>,
    /// Nanoseconds since the thread's epoch of the last send, 0 when never sent.
    last_used: Vec<u64>,
    rounds: usize,
    next_round: [u32; 256],
}

impl Pool {
    fn build(shared: &Shared, socket: usize, rng: &mut SplitMix64) -> Result<Pool, String> {
        let cfg = &shared.cfg;
        let rounds = cfg.pool.div_ceil(256).max(1);
        let n = rounds * 256;
        let stride = max_request_len(&shared.specs, &cfg.nas);
        let mut pool = Pool {
            bytes: vec![0; n * stride],
            stride,
            lens: vec![0; n],
            auths: vec![[0; 16]; n],
            specs: vec![0; n],
            last_used: vec![0; n],
            rounds,
            next_round: [0; 256],
        };
        let nspecs = shared.specs.len();
        // Every socket cycles through the whole mix, each from its own offset.
        let offset = socket * (nspecs / cfg.sockets.max(1)).max(1);
        for idx in 0..n {
            let spec = (idx + offset) % nspecs;
            pool.specs[idx] = spec as u32;
            pool.fill(shared, idx, rng)?;
        }
        Ok(pool)
    }

    /// (Re)builds packet `idx` with a fresh authenticator.
    fn fill(&mut self, shared: &Shared, idx: usize, rng: &mut SplitMix64) -> Result<(), String> {
        let auth = rng.authenticator();
        let spec = &shared.specs[self.specs[idx] as usize];
        let id = (idx % 256) as u8;
        let p = build_request(spec, &shared.cfg.nas, id, auth, &shared.cfg.secret)
            .map_err(|e| format!("cannot build the request for user {:?}: {e}", spec.user))?;
        if p.len() > self.stride {
            return Err(format!(
                "request of {} bytes over the pool stride {}",
                p.len(),
                self.stride
            ));
        }
        let at = idx * self.stride;
        self.bytes[at..at + p.len()].copy_from_slice(&p);
        self.lens[idx] = p.len() as u16;
        self.auths[idx] = auth;
        Ok(())
    }

    fn packet(&self, idx: usize) -> &[u8] {
        let at = idx * self.stride;
        &self.bytes[at..at + usize::from(self.lens[idx])]
    }
}

/// The longest request any spec makes (an upper bound, checked when building).
fn max_request_len(specs: &[RequestSpec], nas: &NasAttributes) -> usize {
    let user = specs.iter().map(|s| s.user.len()).max().unwrap_or(0);
    let password = specs.iter().map(|s| s.password.len()).max().unwrap_or(0);
    let hidden = password.div_ceil(16).max(1) * 16;
    let len = 20
        + 18
        + (2 + user)
        + (2 + hidden)
        + (2 + nas.nas_identifier.len())
        + 6
        + (2 + nas.calling_station.len());
    len.min(MAX_PACKET_LEN)
}

/// One socket's outstanding requests.
struct Sock {
    socket: UdpSocket,
    pool: Pool,
    busy: [bool; 256],
    sent_at: [u64; 256],
    auth: [[u8; 16]; 256],
    expect: [Option<Expect>; 256],
    measured: [bool; 256],
    /// The authenticator of the last request with this Identifier that timed out, to tell
    /// a late reply from a bad one.
    timed_out: [Option<[u8; 16]>; 256],
    free: VecDeque<u8>,
    outstanding: usize,
}

fn worker(
    shared: &Shared,
    thread: usize,
    threads: usize,
    sockets: Vec<(usize, UdpSocket)>,
) -> Result<ThreadResult, String> {
    let cfg = &shared.cfg;
    let mut rng = SplitMix64::from_os();
    let built: Result<Vec<Sock>, String> = sockets
        .into_iter()
        .map(|(index, socket)| {
            Ok(Sock {
                socket,
                pool: Pool::build(shared, index, &mut rng)?,
                busy: [false; 256],
                sent_at: [0; 256],
                auth: [[0; 16]; 256],
                expect: [None; 256],
                measured: [false; 256],
                timed_out: [None; 256],
                free: (0..=255u8).collect(),
                outstanding: 0,
            })
        })
        .collect();
    // Reach the barriers even on failure, or the main thread would wait for ever.
    shared.ready.wait();
    shared.go.wait();
    let mut socks = built?;
    let epoch = *shared.start.get().expect("start set before go");
    let clock = || epoch.elapsed().as_nanos() as u64;
    let ns = |d: Duration| d.as_nanos() as u64;
    let measure_from = ns(cfg.warmup);
    let send_until = match cfg.stop {
        Stop::After(d) => Some(measure_from + ns(d)),
        Stop::Count(_) => None,
    };
    let timeout = ns(cfg.timeout);
    let guard = ns(REUSE_GUARD);
    // Open loop: this thread's share of the rate, offset so threads interleave.
    let interval = cfg.rate.map(|r| (1e9 * threads as f64 / r).max(1.0));
    let mut next_due = interval.map_or(0.0, |i| i * thread as f64 / threads as f64);
    let mut rr = 0usize; // open loop: next socket to try

    let mut counts = Counts::default();
    let capacity = match (cfg.stop, cfg.rate) {
        (Stop::Count(n), _) => n as usize / threads + 1,
        (Stop::After(d), Some(r)) => (r * d.as_secs_f64()) as usize / threads + 1,
        (Stop::After(d), None) => (d.as_secs_f64() * 50_000.0) as usize,
    };
    let mut latencies: Vec<u64> = Vec::with_capacity(capacity.min(50_000_000));
    let mut last_reply: Option<u64> = None;
    let mut last_send: Option<u64> = None;
    let mut first_error: Option<String> = None;
    let mut quota_done = false;
    let mut next_scan = 0u64;
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];

    loop {
        let now = clock();
        let measuring = now >= measure_from;
        let stopping = quota_done || send_until.is_some_and(|u| now >= u);

        // Requests that will not be answered any more.
        if now >= next_scan {
            next_scan = now + ns(TIMEOUT_SCAN);
            for s in socks.iter_mut() {
                if s.outstanding == 0 {
                    continue;
                }
                for id in 0..256usize {
                    if s.busy[id] && now.saturating_sub(s.sent_at[id]) >= timeout {
                        s.busy[id] = false;
                        s.timed_out[id] = Some(s.auth[id]);
                        s.outstanding -= 1;
                        s.free.push_back(id as u8);
                        if s.measured[id] {
                            counts.lost += 1;
                        } else {
                            counts.lost_in_warmup += 1;
                        }
                    }
                }
            }
        }

        // Send.
        let sent_before = counts.sent;
        if !stopping {
            match interval {
                None => {
                    'sockets: for s in socks.iter_mut() {
                        while s.outstanding < cfg.window {
                            if measuring && !shared.take() {
                                quota_done = true;
                                break 'sockets;
                            }
                            if !send_one(s, shared, now, measuring, guard, &mut rng, &mut counts)? {
                                break;
                            }
                        }
                    }
                }
                Some(iv) => {
                    while next_due <= now as f64 {
                        let n = socks.len();
                        let Some(k) = (0..n)
                            .map(|j| (rr + j) % n)
                            .find(|&k| socks[k].outstanding < cfg.window)
                        else {
                            counts.window_full += u64::from(measuring);
                            break;
                        };
                        rr = (k + 1) % n;
                        if measuring && !shared.take() {
                            quota_done = true;
                            break;
                        }
                        if !send_one(
                            &mut socks[k],
                            shared,
                            now,
                            measuring,
                            guard,
                            &mut rng,
                            &mut counts,
                        )? {
                            break;
                        }
                        if measuring {
                            let lag = now.saturating_sub(next_due as u64);
                            counts.max_lag_ns = counts.max_lag_ns.max(lag);
                            if lag > 1_000_000 {
                                counts.behind_schedule += 1;
                            }
                        }
                        next_due += iv;
                    }
                }
            }
        }

        if counts.sent > sent_before {
            last_send = Some(now);
        }

        // Receive everything that is there.
        let mut got = false;
        for s in socks.iter_mut() {
            loop {
                let len = match s.socket.recv(&mut buf) {
                    Ok(len) => len,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // ECONNREFUSED from an earlier send: counted there.
                    Err(_) => break,
                };
                got = true;
                let at = clock();
                handle_reply(
                    s,
                    shared,
                    &buf[..len],
                    at,
                    &mut counts,
                    &mut latencies,
                    &mut last_reply,
                    &mut first_error,
                );
            }
        }

        let outstanding: usize = socks.iter().map(|s| s.outstanding).sum();
        let now = clock();
        if (stopping || quota_done || send_until.is_some_and(|u| now >= u)) && outstanding == 0 {
            break;
        }
        if got {
            continue;
        }
        // Nothing arrived: sleep until a reply, the next send, the next timeout scan or the end.
        let mut wake = u64::MAX;
        let sending = !(quota_done || send_until.is_some_and(|u| now >= u));
        if sending {
            match interval {
                Some(_) => wake = wake.min(next_due as u64),
                None => {
                    if socks.iter().any(|s| s.outstanding < cfg.window) {
                        // A send failed (e.g. nothing listening): try again shortly.
                        wake = wake.min(now + 1_000_000);
                    }
                }
            }
            if let Some(u) = send_until {
                wake = wake.min(u);
            }
            if now < measure_from {
                wake = wake.min(measure_from);
            }
        }
        if outstanding > 0 {
            wake = wake.min(next_scan);
        }
        if wake <= now {
            continue;
        }
        let wait = Duration::from_nanos(wake - now).min(Duration::from_millis(100));
        let mut fds: Vec<PollFd<'_>> = socks
            .iter()
            .map(|s| PollFd::new(s.socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let ts = nix::sys::time::TimeSpec::from_duration(wait);
        // ppoll, not poll: poll's timeout is in whole milliseconds.
        let _ = nix::poll::ppoll(&mut fds, Some(ts), None);
    }
    Ok(ThreadResult {
        counts,
        latencies,
        last_reply: last_reply.map(|ns| epoch + Duration::from_nanos(ns)),
        last_send: last_send.map(|ns| epoch + Duration::from_nanos(ns)),
        first_error,
    })
}

/// Sends the next request on `s`. Returns false when nothing could be sent now.
fn send_one(
    s: &mut Sock,
    shared: &Shared,
    now: u64,
    measuring: bool,
    guard: u64,
    rng: &mut SplitMix64,
    counts: &mut Counts,
) -> Result<bool, String> {
    let Some(id) = s.free.pop_front() else {
        return Ok(false);
    };
    let i = usize::from(id);
    if shared.cfg.each_once {
        return send_once(s, shared, id, now, measuring, rng, counts);
    }
    let round = s.pool.next_round[i] as usize;
    s.pool.next_round[i] = ((round + 1) % s.pool.rounds) as u32;
    let idx = round * 256 + i;
    let last = s.pool.last_used[idx];
    if last != 0 && now.saturating_sub(last) < guard {
        s.pool.fill(shared, idx, rng)?;
        counts.rebuilt += u64::from(measuring);
    }
    match s.socket.send(s.pool.packet(idx)) {
        Ok(_) => {}
        Err(_) => {
            s.free.push_front(id);
            counts.send_errors += u64::from(measuring);
            return Ok(false);
        }
    }
    s.pool.last_used[idx] = now.max(1);
    s.busy[i] = true;
    s.sent_at[i] = now;
    s.auth[i] = s.pool.auths[idx];
    s.expect[i] = shared.specs[s.pool.specs[idx] as usize].expect;
    s.measured[i] = measuring;
    s.timed_out[i] = None;
    s.outstanding += 1;
    counts.sent += u64::from(measuring);
    Ok(true)
}

/// Each-once mode: builds the next spec of the mix with Identifier `id` and sends it.
fn send_once(
    s: &mut Sock,
    shared: &Shared,
    id: u8,
    now: u64,
    measuring: bool,
    rng: &mut SplitMix64,
    counts: &mut Counts,
) -> Result<bool, String> {
    let k = shared.next_spec.fetch_add(1, Ordering::Relaxed);
    let Some(spec) = shared.specs.get(k) else {
        s.free.push_front(id);
        return Ok(false);
    };
    let auth = rng.authenticator();
    let packet = build_request(spec, &shared.cfg.nas, id, auth, &shared.cfg.secret)
        .map_err(|e| format!("cannot build the request for user {:?}: {e}", spec.user))?;
    if s.socket.send(&packet).is_err() {
        // That line is not sent again: the run reports it as a send error.
        s.free.push_front(id);
        counts.send_errors += u64::from(measuring);
        return Ok(false);
    }
    let i = usize::from(id);
    s.busy[i] = true;
    s.sent_at[i] = now;
    s.auth[i] = auth;
    s.expect[i] = spec.expect;
    s.measured[i] = measuring;
    s.timed_out[i] = None;
    s.outstanding += 1;
    counts.sent += u64::from(measuring);
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn handle_reply(
    s: &mut Sock,
    shared: &Shared,
    reply: &[u8],
    at: u64,
    counts: &mut Counts,
    latencies: &mut Vec<u64>,
    last_reply: &mut Option<u64>,
    first_error: &mut Option<String>,
) {
    let cfg = &shared.cfg;
    let Some(id) = identifier(reply) else {
        counts.invalid += 1;
        first_error.get_or_insert_with(|| format!("a datagram of {} bytes", reply.len()));
        return;
    };
    let i = usize::from(id);
    let is_late = |s: &Sock| {
        s.timed_out[i]
            .is_some_and(|a| check_reply(reply, &a, &cfg.secret, cfg.reply_policy).is_ok())
    };
    if !s.busy[i] {
        if is_late(s) {
            counts.late += 1;
        } else {
            counts.stray += 1;
        }
        return;
    }
    match check_reply(reply, &s.auth[i], &cfg.secret, cfg.reply_policy) {
        Ok(verdict) => {
            s.busy[i] = false;
            s.outstanding -= 1;
            s.free.push_back(id);
            if !s.measured[i] {
                return;
            }
            latencies.push(at.saturating_sub(s.sent_at[i]));
            *last_reply = Some(last_reply.map_or(at, |l| l.max(at)));
            match verdict {
                Expect::Accept => counts.accepts += 1,
                Expect::Reject => counts.rejects += 1,
            }
            if s.expect[i].is_some_and(|e| e != verdict) {
                counts.unexpected_verdict += 1;
                first_error.get_or_insert_with(|| {
                    format!(
                        "expected {:?} but got {verdict:?}",
                        s.expect[i].unwrap_or(verdict)
                    )
                });
            }
        }
        Err(e) => {
            if is_late(s) {
                counts.late += 1;
            } else {
                // The request stays outstanding: its real reply may still come.
                counts.invalid += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparekey_radius_codec::{PacketRef, ReplyBuilder};

    /// A tiny RADIUS server on loopback: accepts user "good", rejects the rest, drops
    /// every `drop_every`-th request, and answers with a wrong secret when asked.
    fn server(drop_every: u64, wrong_secret: bool) -> (SocketAddr, std::thread::JoinHandle<u64>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let secret = SharedSecret::new(if wrong_secret {
                b"other"
            } else {
                b"bench-secret"
            })
            .unwrap();
            let check_secret = SharedSecret::new(b"bench-secret").unwrap();
            let mut buf = [0u8; 4096];
            let mut n = 0u64;
            while let Ok((len, from)) = sock.recv_from(&mut buf) {
                n += 1;
                let p = PacketRef::decode(&buf[..len]).unwrap();
                p.verify_request(&check_secret, MessageAuthenticatorPolicy::Required)
                    .unwrap();
                if n.checked_rem(drop_every) == Some(0) {
                    continue;
                }
                let user = p.attribute(sparekey_radius_codec::attr::USER_NAME).unwrap();
                let reply = if user == b"good" {
                    ReplyBuilder::accept(&p, &secret).finish()
                } else {
                    ReplyBuilder::reject(&p, &secret).finish()
                };
                sock.send_to(&reply, from).unwrap();
            }
            n
        });
        (addr, h)
    }

    fn config(target: SocketAddr, stop: Stop) -> LoadConfig {
        LoadConfig {
            target,
            secret: SharedSecret::new(b"bench-secret").unwrap(),
            nas: NasAttributes::default(),
            sockets: 2,
            threads: 2,
            window: 8,
            timeout: Duration::from_millis(200),
            rate: None,
            stop,
            warmup: Duration::ZERO,
            pool: 256,
            reply_policy: MessageAuthenticatorPolicy::Required,
            server_pid: None,
            each_once: false,
        }
    }

    fn specs() -> Vec<RequestSpec> {
        vec![
            RequestSpec {
                user: "good".into(),
                password: "1".into(),
                expect: Some(Expect::Accept),
            },
            RequestSpec {
                user: "bad".into(),
                password: "2".into(),
                expect: Some(Expect::Reject),
            },
        ]
    }

    #[test]
    fn each_once_sends_every_line_once() {
        let (addr, h) = server(0, false);
        let specs: Vec<RequestSpec> = (0..3000).map(|i| specs()[i % 2].clone()).collect();
        let cfg = LoadConfig {
            each_once: true,
            ..config(addr, Stop::Count(3000))
        };
        let r = run(cfg, specs).unwrap();
        assert_eq!(r.counts.sent, 3000);
        // Exactly half are the accepted user's: every line went once, none twice.
        assert_eq!((r.counts.accepts, r.counts.rejects), (1500, 1500));
        assert_eq!(r.counts.rebuilt, 0);
        assert_eq!(h.join().unwrap(), 3000);
    }

    #[test]
    fn counts_every_verified_reply() {
        let (addr, h) = server(0, false);
        let r = run(config(addr, Stop::Count(2000)), specs()).unwrap();
        assert_eq!(r.counts.sent, 2000);
        assert_eq!(r.counts.replies(), 2000);
        // Which requests go out depends on which Identifiers come free first.
        assert!(
            r.counts.accepts > 800 && r.counts.rejects > 800,
            "{:?}",
            r.counts
        );
        assert_eq!(
            r.counts.invalid + r.counts.lost + r.counts.unexpected_verdict,
            0
        );
        assert_eq!(r.latency.count, 2000);
        assert!(r.latency.p50 > 0 && r.latency.p50 <= r.latency.p99);
        assert!(
            r.counts.rebuilt > 0,
            "a 256-packet pool is reused within 5 s"
        );
        assert_eq!(h.join().unwrap(), 2000);
    }

    #[test]
    fn lost_requests_and_wrong_verdicts_are_counted() {
        let (addr, h) = server(10, false);
        let mut wrong = specs();
        wrong[0].expect = Some(Expect::Reject);
        let r = run(config(addr, Stop::Count(500)), wrong).unwrap();
        assert_eq!(r.counts.sent, 500);
        assert_eq!(r.counts.lost, 50);
        assert_eq!(r.counts.replies(), 450);
        assert_eq!(r.counts.unexpected_verdict, r.counts.accepts);
        assert!(r.first_error.unwrap().contains("expected Reject"));
        h.join().unwrap();
    }

    #[test]
    fn replies_under_another_secret_are_invalid() {
        let (addr, h) = server(0, true);
        let r = run(config(addr, Stop::Count(40)), specs()).unwrap();
        assert_eq!(r.counts.replies(), 0);
        assert_eq!(r.counts.invalid, 40);
        assert_eq!(r.counts.lost, 40);
        assert!(r.first_error.unwrap().contains("verification"));
        h.join().unwrap();
    }

    #[test]
    fn open_loop_keeps_the_rate() {
        let (addr, h) = server(0, false);
        let mut cfg = config(addr, Stop::After(Duration::from_millis(500)));
        cfg.rate = Some(2000.0);
        let r = run(cfg, specs()).unwrap();
        // 2000/s for 0.5 s; a busy machine (CI) may hold the thread up at the very end, and
        // may delay some sends by more than 1 ms.
        assert!(
            (800..=1050).contains(&r.counts.sent),
            "sent {}",
            r.counts.sent
        );
        assert_eq!(r.counts.replies(), r.counts.sent);
        assert!(
            r.counts.behind_schedule < r.counts.sent / 2,
            "{:?}",
            r.counts
        );
        h.join().unwrap();
    }

    #[test]
    fn pool_size() {
        assert_eq!(
            LoadConfig::pool_for(1000.0, Duration::from_secs(1), 4, 1 << 20),
            256
        );
        assert_eq!(
            LoadConfig::pool_for(100_000.0, Duration::from_secs(60), 4, 1 << 30),
            150_000
        );
        assert_eq!(
            LoadConfig::pool_for(100_000.0, Duration::from_secs(60), 4, 400_000),
            100_000
        );
    }
}
