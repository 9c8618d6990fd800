//! One datagram in, at most one reply out: the RADIUS responder's decisions, without sockets.
//!
//! Order, cheapest refusal first: client by source address; structural decode; code; room
//! in the duplicate cache for a new request; Message-Authenticator; the duplicate cache (a
//! retransmit gets the stored reply, its code not verified again); User-Password; the code
//! through the [`Verifier`]. Every
//! reply carries Message-Authenticator as its first attribute (the codec puts it there).

use crate::clients::{AuthenticatorRule, ClientSecret, ClientTable, RadiusClient};
use crate::dedup::{ReplyCache, RequestKey};
use crate::deferred::{Deferred, ModeTables};
use crate::pending::Pending;
use crate::ratelimit::{LogLimiter, Verdict as LogVerdict};
use crate::source;
use crate::verifier::MemberHost;
use crate::verifier::Verifier;
use crate::Error;
use sparekey_conf::{ClientMode, Config, ReplyAttribute};
use sparekey_core::{rfc3339, Code, Time};
use sparekey_radius_codec::{
    attr, Code as PacketCode, Error as WireError, PacketRef, ReplyBuilder, SharedSecret,
    MAX_PACKET_LEN,
};

#[path = "accounting.rs"]
mod accounting;
#[path = "member.rs"]
mod member;
#[path = "modes.rs"]
mod modes;

pub(crate) use modes::{check_code, Checked};

/// A reply built, or why none could be; `None`: nothing to send.
type Built = Option<Result<Vec<u8>, WireError>>;

/// Whose secret a request is checked with.
// One on the stack per datagram, never stored: boxing the host's would cost an allocation.
#[allow(clippy::large_enum_variant)]
enum Peer<'c> {
    /// A NAS: its client's.
    Nas(&'c SharedSecret),
    /// A member host: its own.
    Member(MemberHost),
}

impl Peer<'_> {
    fn secret(&self) -> &SharedSecret {
        match self {
            Peer::Nas(s) => s,
            Peer::Member(h) => &h.secret,
        }
    }
}
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Longest text attribute value.
const MAX_TEXT: usize = 253;

/// A configuration and the clients built from it, swapped together on reload.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// Its RADIUS clients (or the previous ones, if its secret files could not be read).
    pub clients: Arc<ClientTable>,
    /// The Reply-Message of every Access-Reject, the same whatever the reason.
    pub reject_message: Arc<str>,
}

impl Snapshot {
    /// A snapshot of `config` with `clients`.
    pub fn new(config: Arc<Config>, clients: Arc<ClientTable>) -> Self {
        let text = format!("Code not accepted. Contact: {}", config.policy.contact);
        let reject_message = truncate(&text, MAX_TEXT).into();
        Snapshot {
            config,
            clients,
            reject_message,
        }
    }
}

/// What happened to datagrams, for tests and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handled.
    pub received: u64,
    /// From addresses no client covers.
    pub unknown_client: u64,
    /// Refused by the decoder.
    pub malformed: u64,
    /// Codes other than Access-Request and Status-Server.
    pub unsupported: u64,
    /// Retransmits answered from the cache.
    pub duplicates: u64,
    /// Dropped because the duplicate cache was full of live replies.
    pub cache_full: u64,
    /// Message-Authenticator checks made.
    pub verified: u64,
    /// Dropped for a missing or wrong Message-Authenticator.
    pub bad_authenticator: u64,
    /// Status-Server answered.
    pub status_server: u64,
    /// Access-Accept sent (fresh, not replayed).
    pub accepted: u64,
    /// Access-Reject sent (fresh, not replayed).
    pub rejected: u64,
    /// Dropped because the store or NSS failed, or a reply could not be built.
    pub errors: u64,
    /// From a member-hosts client, naming no enrolled host (or none at all).
    pub unknown_host: u64,
    /// Accounting-Response sent (fresh, not replayed).
    pub accounted: u64,
    /// Handed to a worker (a password check or an upstream).
    pub deferred: u64,
    /// Retransmits of requests a worker has, dropped.
    pub in_progress: u64,
}

/// The responder of one answering thread (one socket): its duplicate cache, log limiters and
/// verifier.
#[derive(Debug)]
pub struct Responder<V> {
    verifier: V,
    cache: ReplyCache,
    unknown_log: LogLimiter,
    client_log: LogLimiter,
    /// The last reply that is not cached (Status-Server), so `handle` can lend it.
    scratch: Vec<u8>,
    /// States and requests in work, shared with the other threads and the workers.
    modes: Arc<ModeTables>,
    /// Requests handed on since the last [`Responder::take_deferred`].
    deferred: Vec<Deferred>,
    /// Counters.
    pub stats: Stats,
}

impl<V: Verifier> Responder<V> {
    /// A responder verifying codes with `verifier`.
    pub fn new(verifier: V) -> Self {
        Self::with_cache(verifier, ReplyCache::default())
    }

    /// A responder with a given duplicate cache (tests use small ones).
    pub fn with_cache(verifier: V, cache: ReplyCache) -> Self {
        Responder {
            verifier,
            cache,
            unknown_log: LogLimiter::default(),
            client_log: LogLimiter::default(),
            scratch: Vec::new(),
            modes: Arc::default(),
            deferred: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Shares `tables` (one per sparekeyd) instead of tables of its own.
    pub fn with_tables(mut self, tables: Arc<ModeTables>) -> Self {
        self.modes = tables;
        self
    }

    /// The requests handed on since the last call, for the workers.
    pub fn take_deferred(&mut self) -> std::vec::Drain<'_, Deferred> {
        self.deferred.drain(..)
    }

    /// Makes the outcomes behind the replies handed out since the last call outlive a crash
    /// of the process ([`Verifier::settle`]), before they are sent. `Err`: send none of
    /// them; the duplicate cache forgets its replies, so that retransmits are decided again.
    pub fn settle(&mut self) -> Result<(), Error> {
        let settled = self.verifier.settle();
        if settled.is_err() {
            self.cache.clear();
        }
        settled
    }

    /// Handles `datagram` received from `from` at `now` (monotonic, for the cache and the
    /// log limits) and `wall` (for the codes). Returns the reply to send, if any; problems
    /// go to `log`, at most once a second per source.
    pub fn handle(
        &mut self,
        snap: &Snapshot,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
        wall: Time,
        log: &dyn Fn(&str),
    ) -> Option<&[u8]> {
        let at = Arrival {
            from,
            now,
            wall,
            log,
        };
        self.stats.received += 1;
        let Some(client) = snap.clients.lookup(from.ip()) else {
            self.stats.unknown_client += 1;
            if let LogVerdict::Log { held_back } = self.unknown_log.check(from.ip(), now) {
                log(&format!(
                    "radius: dropped a packet from {from}: no [[radius.client]] address covers it{}",
                    held(held_back)
                ));
            }
            return None;
        };
        let packet = match PacketRef::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                self.note(client, &at, &format!("malformed packet: {e}"));
                return None;
            }
        };
        let code = packet.code();
        let accounting = code == PacketCode::AccountingRequest;
        if accounting && !client.modes.accounting {
            self.stats.unsupported += 1;
            self.note(
                client,
                &at,
                "Accounting-Request is not answered: this client has no `accounting = true`",
            );
            return None;
        }
        if !accounting && !matches!(code, PacketCode::AccessRequest | PacketCode::StatusServer) {
            self.stats.unsupported += 1;
            self.note(client, &at, &format!("{code} is not answered (sparekeyd answers Access-Request, Status-Server, and Accounting-Request from clients with accounting = true)"));
            return None;
        }
        // Requests whose replies the duplicate cache keeps for their retransmits.
        let kept = code != PacketCode::StatusServer;
        let key = RequestKey {
            source: from,
            identifier: packet.identifier(),
            authenticator: *packet.authenticator(),
        };
        // Status-Server reports liveness now: answered afresh, never from the cache. A full
        // cache drops a new request before any crypto; a retransmit's kept reply is sent only
        // once its Message-Authenticator checks (below), so a packet with its key but other
        // content (no or a forged Message-Authenticator) gets nothing.
        let cached = kept && self.cache.get(&key, now).is_some();
        if kept && !cached && !self.cache.has_room(MAX_PACKET_LEN, now) {
            self.stats.cache_full += 1;
            self.note(client, &at, "dropped: the duplicate cache is full of replies from the last 5 s (a flood from this client?)");
            return None;
        }
        // The secret: the client's, or that of the member host its NAS-Identifier names.
        let peer = match &client.secret {
            ClientSecret::Shared(secret) => Peer::Nas(secret),
            ClientSecret::MemberHosts => match self.member_peer(client, &packet, &at) {
                Some(host) => Peer::Member(host),
                None => return None,
            },
        };
        let secret = peer.secret();
        self.stats.verified += 1;
        let verified = if accounting {
            packet.verify_accounting_request(secret)
        } else {
            packet.verify_request(secret, client.message_authenticator.policy())
        };
        if let Err(e) = verified {
            self.stats.bad_authenticator += 1;
            let why = match e {
                WireError::BadRequestAuthenticator => "dropped Accounting-Request with a wrong Request Authenticator: is the client's shared secret the one in the secret file?".to_string(),
                WireError::MissingMessageAuthenticator {
                    code: PacketCode::StatusServer,
                } => "dropped Status-Server without Message-Authenticator: Status-Server always needs one (RFC 5997), whatever the client's require-message-authenticator".to_string(),
                WireError::MissingMessageAuthenticator { .. } => match client.message_authenticator {
                    AuthenticatorRule::Auto { .. } => format!("dropped {code} without Message-Authenticator (require-message-authenticator = \"auto\", and this client has sent one before)"),
                    _ => format!("dropped {code} without Message-Authenticator (this client must send one: require-message-authenticator = true)"),
                },
                WireError::BadMessageAuthenticator => format!("dropped {code} with a wrong Message-Authenticator: is the client's shared secret the one in the secret file?"),
                e => format!("dropped {code}: {e}"),
            };
            self.note(client, &at, &why);
            return None;
        }
        // Learnt from Access-Requests only: Status-Server always carries one.
        if code == PacketCode::AccessRequest
            && packet.message_authenticator().is_some()
            && client.message_authenticator.carried_one()
        {
            (at.log)(&format!(
                "radius: client {} ({}) sent a Message-Authenticator: from now on its Access-Requests without one are dropped (require-message-authenticator = \"auto\")",
                source::printable(client.name.as_bytes()),
                at.from
            ));
        }
        if cached {
            self.stats.duplicates += 1;
            return self.cache.get(&key, now);
        }
        // A client whose requests may go to a worker: a retransmit of one that is there.
        if !accounting
            && (client.modes.mode != ClientMode::CodeOnly || client.modes.upstream.is_some())
        {
            match self.modes.pending.get(&key, now) {
                Pending::New => {}
                Pending::InProgress => {
                    self.stats.in_progress += 1;
                    return None;
                }
                Pending::Answered(reply) => {
                    self.stats.duplicates += 1;
                    self.scratch = reply;
                    return Some(&self.scratch);
                }
            }
        }
        let built = if accounting {
            match self.account(client, secret, &packet, &at) {
                Some(built) => built,
                None => {
                    self.stats.errors += 1;
                    return None;
                }
            }
        } else if code == PacketCode::StatusServer {
            self.stats.status_server += 1;
            status_reply(secret, &packet)
        } else {
            let deferred_before = self.deferred.len();
            let answer = match &peer {
                Peer::Nas(secret) => self.answer_nas(snap, client, secret, &packet, key, &at),
                Peer::Member(host) => self.answer_member(snap, client, host, &packet, &at),
            };
            match answer {
                Some(built) => built,
                // Handed to a worker, which answers.
                None if self.deferred.len() > deferred_before => return None,
                None => {
                    self.stats.errors += 1;
                    return None;
                }
            }
        };
        let reply = match built {
            Ok(r) => r,
            Err(e) => {
                self.stats.errors += 1;
                self.note(client, &at, &format!("no reply could be built: {e}"));
                return None;
            }
        };
        let reply = if kept {
            match self.cache.insert(key, reply, now) {
                Ok(stored) => return Some(stored),
                Err(reply) => reply,
            }
        } else {
            reply
        };
        self.scratch = reply;
        Some(&self.scratch)
    }

    /// Logs a problem with a packet from a known client, rate-limited by source address.
    fn note(&mut self, client: &RadiusClient, at: &Arrival<'_>, why: &str) {
        if let LogVerdict::Log { held_back } = self.client_log.check(at.from.ip(), at.now) {
            (at.log)(&format!(
                "radius: client {} ({}): {why}{}",
                source::printable(client.name.as_bytes()),
                at.from,
                held(held_back)
            ));
        }
    }
}

/// Where and when a datagram arrived, and where to log about it.
struct Arrival<'l> {
    from: SocketAddr,
    now: Instant,
    wall: Time,
    log: &'l dyn Fn(&str),
}

/// The user and code of a verified Access-Request, or why there are none.
fn code_request(secret: &SharedSecret, packet: &PacketRef<'_>) -> Result<(String, Code), String> {
    let user = user_name(packet)?;
    let shown = source::printable(user.as_bytes());
    let password = packet
        .user_password(secret)
        .map_err(|e| format!("User-Password of {shown}: {e}"))?
        .ok_or_else(|| format!("no User-Password for {shown} (only PAP can carry a sparekey code; CHAP and EAP cannot)"))?;
    let code = Code::from_input(password.as_bytes())
        .map_err(|e| format!("User-Password of {shown} is not a code: {e}"))?;
    Ok((user.to_string(), code))
}

/// The User-Name of a verified Access-Request, or why it has none that can be a user's.
fn user_name<'p>(packet: &PacketRef<'p>) -> Result<&'p str, String> {
    let user = packet.attribute(attr::USER_NAME).ok_or("no User-Name")?;
    std::str::from_utf8(user)
        .ok()
        .filter(|u| !u.is_empty() && !u.chars().any(char::is_control))
        .ok_or_else(|| format!("User-Name {} is not a user name", source::printable(user)))
}

/// The answer to a verified Status-Server: Access-Accept (RFC 5997), Message-Authenticator first.
fn status_reply(secret: &SharedSecret, packet: &PacketRef<'_>) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::accept(packet, secret);
    b.copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// An Access-Reject with the generic Reply-Message, whatever the reason.
pub(crate) fn reject(
    snap: &Snapshot,
    secret: &SharedSecret,
    packet: &PacketRef<'_>,
) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::reject(packet, secret);
    b.add_str(attr::REPLY_MESSAGE, &snap.reject_message)?
        .copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// An Access-Accept whose Session-Timeout ends no later than the code (at least 1 s).
/// With the reply attributes of the policy the login was decided under.
fn accept(
    secret: &SharedSecret,
    packet: &PacketRef<'_>,
    not_after: Time,
    wall: Time,
    replies: &[ReplyAttribute],
) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::accept(packet, secret);
    b.add_u32(attr::SESSION_TIMEOUT, session_timeout(not_after, wall))?
        .add_str(
            attr::REPLY_MESSAGE,
            &format!("Code accepted; valid until {}", rfc3339(not_after)),
        )?;
    for r in replies {
        let value = r.value_bytes();
        match (&r.attribute, &r.vendor, &r.vendor_type) {
            (Some(a), _, _) => b.add(a.get_ref().type_number(), &value)?,
            // Checked by sparekey-conf: 1..=u32::MAX and 1..=255.
            (None, Some(v), Some(t)) => b.add_vendor_attribute(
                u32::try_from(*v.get_ref()).unwrap_or(0),
                u8::try_from(*t.get_ref()).unwrap_or(0),
                &value,
            )?,
            _ => continue,
        };
    }
    b.copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// Whole seconds from `now` until `not_after`, rounded down so the session never outlives
/// the code; at least 1 (0 means "no limit" to many NASes).
pub fn session_timeout(not_after: Time, now: Time) -> u32 {
    let secs = (not_after - now).num_seconds();
    u32::try_from(secs)
        .unwrap_or(if secs < 0 { 0 } else { u32::MAX })
        .max(1)
}

fn held(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar lines held back)")
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
#[path = "responder_tests.rs"]
mod tests;
