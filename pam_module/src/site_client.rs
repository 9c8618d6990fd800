//! A member host's questions to its site over RADIUS (the member protocol of
//! sparekey-radius-codec's `member` module): one request, sent again unchanged to each of
//! the `[site] servers` in turn until one answers with a reply that checks, or the
//! `[site] timeout` has passed in all, name lookups included.

use sparekey_conf::{split_server as daemon_split_server, SiteConfig};
use sparekey_core::host_file::HostFile;
use sparekey_radius_codec::member::{self, vsa, Op, Refusal};
use sparekey_radius_codec::{
    attr, Code, MessageAuthenticatorPolicy, PacketRef, RequestBuilder, SharedSecret, MAX_PACKET_LEN,
};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What is asked about one login.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// Probe, code or retire.
    pub op: Op,
    /// The user.
    pub user: &'a str,
    /// The PAM service policies match.
    pub service: &'a str,
    /// PAM_RHOST, PAM_TTY, PAM_RUSER, each at most 128 characters.
    pub rhost: Option<&'a str>,
    /// PAM_TTY.
    pub tty: Option<&'a str>,
    /// PAM_RUSER.
    pub ruser: Option<&'a str>,
    /// The code, for [`Op::Code`].
    pub code: Option<&'a [u8]>,
    /// For [`Op::Report`]: when the offline login was, until when its response works (Unix
    /// times), and what happened.
    pub report: Option<(i64, i64, &'a str)>,
}

/// The site's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Access-Challenge: ask the user for a code.
    Challenge,
    /// Access-Accept: with a code's end (Unix time) and uses left, or a retire's count.
    Accept {
        /// When the code stops working.
        not_after: Option<u32>,
        /// Its uses left, when counted.
        uses_left: Option<u32>,
        /// Credentials a retire ended.
        ended: Option<u32>,
    },
    /// Access-Reject, saying what it stands for.
    Reject(Refusal),
}

/// Asks `question` of the site `site` as the host of `host_file`. `Err`: no answer that
/// checks came within the timeout (or nothing could be sent); it says what was tried.
#[allow(clippy::disallowed_methods)] // the network's deadline is the module's own clock
pub fn ask(site: &SiteConfig, host: &HostFile, question: &Question<'_>) -> Result<Answer, String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(site.timeout.get_ref().as_secs());
    let secret = SharedSecret::new(host.keys.radius_secret().as_bytes())
        .map_err(|e| format!("the host file's key: {e}"))?;
    let mut authenticator = [0u8; 16];
    let mut id = [0u8; 1];
    getrandom::fill(&mut authenticator)
        .and_then(|()| getrandom::fill(&mut id))
        .map_err(|e| format!("no randomness from the OS: {e}"))?;
    let request = build(&secret, id[0], authenticator, &host.host, question)?;
    let entries: Vec<&str> = site.servers.iter().map(|s| s.get_ref().as_str()).collect();
    let targets = resolve(&entries, deadline);
    if targets.is_empty() {
        return Err(format!(
            "none of the site's servers ({}) could be found by name within {}",
            entries.join(", "),
            site.timeout.get_ref()
        ));
    }
    let socket = socket().map_err(|e| format!("no UDP socket: {e}"))?;
    // Sends spread over the timeout: each server at least twice, at least three in all.
    let sends = (2 * targets.len()).max(3) as u32;
    let step =
        (deadline.saturating_duration_since(Instant::now()) / sends).max(Duration::from_millis(50));
    let mut next_send = Instant::now();
    let mut sent = 0usize;
    let mut problems: Vec<String> = Vec::new();
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_send && sent < sends as usize {
            let to = targets[sent % targets.len()];
            if let Err(e) = socket.send_to(&request, mapped(to)) {
                note(&mut problems, format!("{to}: {e}"));
            }
            sent += 1;
            next_send = now + step;
        }
        let wait = next_send
            .min(deadline)
            .saturating_duration_since(Instant::now());
        let wait = if sent >= sends as usize {
            deadline.saturating_duration_since(Instant::now())
        } else {
            wait
        };
        if wait.is_zero() {
            continue;
        }
        if socket.set_read_timeout(Some(wait)).is_err() {
            break;
        }
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            // An ICMP port unreachable from one server: the others may answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                note(&mut problems, format!("connection refused ({e})"));
                continue;
            }
            Err(e) => {
                note(&mut problems, e.to_string());
                continue;
            }
        };
        if !targets.iter().any(|t| mapped(*t) == mapped(from)) {
            continue;
        }
        match read_reply(&buf[..len], id[0], &authenticator, &secret) {
            Ok(answer) => return Ok(answer),
            Err(why) => note(&mut problems, format!("{from}: {why}")),
        }
    }
    let tried: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let mut why = format!(
        "no answer from the site ({}) within {}",
        tried.join(", "),
        site.timeout.get_ref()
    );
    if !problems.is_empty() {
        why.push_str(&format!(" ({})", problems.join("; ")));
    }
    Err(why)
}

/// Keeps at most a few distinct problems for the message.
fn note(problems: &mut Vec<String>, p: String) {
    if problems.len() < 4 && !problems.contains(&p) {
        problems.push(p);
    }
}

fn build(
    secret: &SharedSecret,
    id: u8,
    authenticator: [u8; 16],
    host: &str,
    q: &Question<'_>,
) -> Result<Vec<u8>, String> {
    let wire = |e: sparekey_radius_codec::Error| format!("the request cannot be encoded: {e}");
    let mut b = RequestBuilder::access_request(id, authenticator, secret);
    b.add_str(attr::USER_NAME, q.user)
        .and_then(|b| b.add_str(attr::NAS_IDENTIFIER, host))
        .and_then(|b| b.add_vendor(vsa::OP, &q.op.as_u32().to_be_bytes()))
        .and_then(|b| b.add_vendor(vsa::SERVICE, q.service.as_bytes()))
        .map_err(wire)?;
    if let Some(rhost) = q.rhost {
        b.add_str(attr::CALLING_STATION_ID, rhost).map_err(wire)?;
    }
    if let Some(tty) = q.tty {
        b.add_vendor(vsa::TTY, tty.as_bytes()).map_err(wire)?;
    }
    if let Some(ruser) = q.ruser {
        b.add_vendor(vsa::RUSER, ruser.as_bytes()).map_err(wire)?;
    }
    if let Some(code) = q.code {
        b.add_user_password(code).map_err(wire)?;
    }
    if let Some((at, until, what)) = q.report {
        let secs = |t: i64| u32::try_from(t).unwrap_or(0).to_be_bytes();
        b.add_vendor(vsa::OFFLINE_AT, &secs(at))
            .and_then(|b| b.add_vendor(vsa::OFFLINE_UNTIL, &secs(until)))
            .and_then(|b| b.add_vendor(vsa::OFFLINE_WHAT, what.as_bytes()))
            .map_err(wire)?;
    }
    Ok(b.finish())
}

/// A reply that answers our request, checked: its Identifier, Response Authenticator and
/// Message-Authenticator (required).
fn read_reply(
    datagram: &[u8],
    id: u8,
    authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> Result<Answer, String> {
    let packet = PacketRef::decode(datagram).map_err(|e| format!("malformed reply: {e}"))?;
    if packet.identifier() != id {
        return Err("a reply to another request".into());
    }
    packet
        .verify_response(authenticator, secret, MessageAuthenticatorPolicy::Required)
        .map_err(|e| format!("a reply that does not check ({e}): is this host's host file the one the site enrolled?"))?;
    match packet.code() {
        Code::AccessChallenge => Ok(Answer::Challenge),
        Code::AccessAccept => Ok(Answer::Accept {
            not_after: member::vendor_u32(&packet, vsa::NOT_AFTER),
            uses_left: member::vendor_u32(&packet, vsa::USES_LEFT),
            ended: member::vendor_u32(&packet, vsa::ENDED),
        }),
        Code::AccessReject => member::vendor_u32(&packet, vsa::REFUSAL)
            .and_then(Refusal::from_u32)
            .map(Answer::Reject)
            .ok_or_else(|| "an Access-Reject that says no sparekey refusal: do [site] servers name sparekeyd with a member-hosts client?".into()),
        other => Err(format!("an unexpected {other}")),
    }
}

/// The servers' addresses, names looked up without waiting past `deadline` (a lookup
/// still running then is left to finish on its own; what it finds is not used).
#[allow(clippy::disallowed_methods)]
fn resolve(entries: &[&str], deadline: Instant) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for entry in entries {
        let Ok((host, port)) = daemon_split_server(entry) else {
            continue;
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.push(SocketAddr::new(ip, port));
            continue;
        }
        let (tx, rx) = mpsc::channel();
        let name = format!("{host}:{port}");
        let spawned = std::thread::Builder::new()
            .name("sparekey resolve".into())
            .spawn(move || {
                let found: Vec<SocketAddr> = name
                    .to_socket_addrs()
                    .map(|a| a.collect())
                    .unwrap_or_default();
                let _ = tx.send(found);
            });
        if spawned.is_err() {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(found) = rx.recv_timeout(left) {
            out.extend(found.into_iter().take(2));
        }
    }
    out
}

/// One socket for IPv4 and IPv6 servers alike (IPv4 as mapped addresses), or an IPv4 one
/// where the kernel has no IPv6.
fn socket() -> std::io::Result<UdpSocket> {
    UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).or_else(|_| UdpSocket::bind(("0.0.0.0", 0)))
}

/// `a` as the dual-stack socket addresses it (IPv4 mapped into IPv6), or unchanged when the
/// socket is IPv4 only. Replies are compared the same way.
fn mapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) if ipv6_socket() => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        other => other,
    }
}

fn ipv6_socket() -> bool {
    static V6: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V6.get_or_init(|| UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok())
}
