//! Requests answered off the answering threads: a password checked through the client's
//! PAM service (challenge's first round, append), or a request passed to an upstream. The
//! daemon's workers run [`Finisher::finish`] and send what it returns; the password check
//! and the upstream exchange are behind traits, so this is tested without PAM or sockets.

use crate::clients::{ClientSecret, RadiusClient, Upstream};
use crate::dedup::RequestKey;
use crate::pending::PendingTable;
use crate::responder::{check_code, reject, Checked, Snapshot};
use crate::source;
use crate::state_table::{Binding, StateTable, STATE_LIFETIME};
use crate::upstream::{forward_request, relay_reply, verify_reply, Legs};
use crate::verifier::Verifier;
use sparekey_conf::ClientMode;
use sparekey_core::{Action, AuditEvent, Code, Time};
use sparekey_radius_codec::{attr, PacketRef, ReplyBuilder, SharedSecret};
use std::net::SocketAddr;
use std::time::Instant;
use zeroize::Zeroizing;

/// What the answering threads and the workers share: the States and the requests in work.
#[derive(Debug, Default)]
pub struct ModeTables {
    /// Challenge mode's States.
    pub states: StateTable,
    /// Requests handed to a worker, and their answers.
    pub pending: PendingTable,
}

/// What a deferred request needs.
#[derive(Debug)]
pub enum Work {
    /// Check `password` through the client's PAM service; then, in challenge mode, an
    /// Access-Challenge, in append mode `code`.
    Password {
        /// The user.
        user: String,
        /// The password (zeroed when dropped).
        password: Zeroizing<Vec<u8>>,
        /// Append mode: the code after the delimiter.
        code: Option<Code>,
    },
    /// Pass the request to the client's upstream and its answer back.
    Upstream,
}

/// A request handed to a worker.
#[derive(Debug)]
pub struct Deferred {
    /// Its key in the duplicate and pending tables.
    pub key: RequestKey,
    /// Where it came from (and the answer goes).
    pub from: SocketAddr,
    /// The client's name.
    pub client: String,
    /// The request as received (verified).
    pub datagram: Vec<u8>,
    /// What to do.
    pub work: Work,
    /// When it arrived.
    pub wall: Time,
}

impl Deferred {
    /// Whether it waits for an upstream (else for a password check).
    pub fn is_upstream(&self) -> bool {
        matches!(self.work, Work::Upstream)
    }
}

/// Why a password did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRefusal {
    /// PAM said no (wrong password, unknown user, account expired or locked): Access-Reject.
    Refused(String),
    /// PAM could not decide: no answer (fail closed), the NAS retries.
    Unavailable(String),
}

/// Checks passwords through PAM (sparekey-primary in sparekeyd).
pub trait PasswordChecker {
    /// Checks `user`'s `password` through PAM service `service`; `rhost` is where the
    /// login comes from, when known.
    fn check(
        &self,
        service: &str,
        user: &str,
        password: &[u8],
        rhost: Option<&str>,
    ) -> Result<(), PasswordRefusal>;
}

/// Sends a request to an upstream and waits for its answer (UDP in sparekeyd).
pub trait UpstreamLink {
    /// Sends `request` to `upstream`, again after each timeout up to its retries, and
    /// returns the first datagram `accept` takes as the answer; `None` when it stayed silent.
    fn exchange(
        &self,
        upstream: &Upstream,
        request: &[u8],
        accept: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, String>;
}

/// The request a worker answers, with what it is answered under.
#[derive(Clone, Copy)]
struct Job<'a> {
    snap: &'a Snapshot,
    client: &'a RadiusClient,
    secret: &'a SharedSecret,
    packet: &'a PacketRef<'a>,
    job: &'a Deferred,
    /// Log lines about it.
    say: &'a dyn Fn(&str),
}

/// A worker's state: its own verifier (store connection, journal turn), the PAM checker,
/// the upstream link and the shared tables.
#[derive(Debug)]
pub struct Finisher<V, P, U> {
    /// Codes (append, and audit records).
    pub verifier: V,
    /// Passwords.
    pub checker: P,
    /// Upstreams.
    pub link: U,
    /// Shared with the answering threads.
    pub tables: std::sync::Arc<ModeTables>,
}

impl<V: Verifier, P: PasswordChecker, U: UpstreamLink> Finisher<V, P, U> {
    /// Answers `job` under `snap`: the reply to send to `job.from` (already recorded as the
    /// answer to its retransmits), or `None` (nothing is sent; a retransmit starts afresh).
    /// `random` gives fresh bytes (States, upstream authenticators); `None` from it means no
    /// answer (never a guessable State).
    pub fn finish(
        &mut self,
        snap: &Snapshot,
        job: Deferred,
        now: Instant,
        random: &mut dyn FnMut() -> Option<[u8; 16]>,
        log: &dyn Fn(&str),
    ) -> Option<Vec<u8>> {
        let reply = self.answer(snap, &job, now, random, log);
        match &reply {
            Some(r) => self.tables.pending.answered(job.key, r, now),
            None => self.tables.pending.forget(&job.key),
        }
        reply
    }

    fn answer(
        &mut self,
        snap: &Snapshot,
        job: &Deferred,
        now: Instant,
        random: &mut dyn FnMut() -> Option<[u8; 16]>,
        log: &dyn Fn(&str),
    ) -> Option<Vec<u8>> {
        let Some(client) = snap.clients.by_name(&job.client) else {
            log(&format!("radius: client {} is gone from the configuration; its request waiting for an answer is dropped", source::printable(job.client.as_bytes())));
            return None;
        };
        let ClientSecret::Shared(secret) = &client.secret else {
            return None;
        };
        let packet = PacketRef::decode(&job.datagram).ok()?;
        let say = |why: &str| {
            log(&format!(
                "radius: client {} ({}): {why}",
                source::printable(client.name.as_bytes()),
                job.from
            ))
        };
        let at = Job {
            snap,
            client,
            secret,
            packet: &packet,
            job,
            say: &say,
        };
        let built = match &job.work {
            Work::Upstream => self.forward(&at, random),
            Work::Password {
                user,
                password,
                code,
            } => self.password(&at, user, password, code.as_ref(), now, random),
        };
        match built? {
            Ok(reply) => Some(reply),
            Err(e) => {
                say(&format!("no reply could be built: {e}"));
                None
            }
        }
    }

    fn password(
        &mut self,
        at: &Job<'_>,
        user: &str,
        password: &[u8],
        code: Option<&Code>,
        now: Instant,
        random: &mut dyn FnMut() -> Option<[u8; 16]>,
    ) -> Option<Result<Vec<u8>, sparekey_radius_codec::Error>> {
        let Job {
            snap,
            client,
            secret,
            packet,
            job,
            say,
        } = *at;
        let rhost = packet
            .attribute(attr::CALLING_STATION_ID)
            .and_then(|c| std::str::from_utf8(c).ok());
        let service = &client.modes.primary_pam_service;
        match self.checker.check(service, user, password, rhost) {
            Ok(()) => {}
            Err(PasswordRefusal::Refused(why)) => {
                let event = AuditEvent::new(job.wall, Action::PasswordRefused, user, user)
                    .service(&client.service)
                    .source(&source::describe(&client.name, packet))
                    .reason(&format!(
                        "PAM service {service}: {why}; no code was checked"
                    ));
                if let Err(e) = self.verifier.record(event) {
                    say(&format!(
                        "no answer to user {}: the refused password cannot be recorded: {e}",
                        source::printable(user.as_bytes())
                    ));
                    return None;
                }
                return Some(reject(snap, secret, packet));
            }
            Err(PasswordRefusal::Unavailable(why)) => {
                say(&format!("no answer to user {}: PAM service {service} could not check the password (fail closed): {why}", source::printable(user.as_bytes())));
                return None;
            }
        }
        if client.modes.mode == ClientMode::Challenge {
            let binding = Binding {
                client: client.name.clone(),
                source: job.from.ip(),
                user: user.to_string(),
            };
            let Some(random) = random() else {
                say("no answer: no random bytes for a State");
                return None;
            };
            let Some(state) = self.tables.states.make(binding, now, random) else {
                say("no answer: the table of challenge States is full");
                return None;
            };
            let mut b = ReplyBuilder::challenge(packet, secret);
            // Session-Timeout in an Access-Challenge: how long the NAS waits for the answer
            // (RFC 2865 §5.27), the State's lifetime.
            let built = b
                .add(attr::STATE, &state)
                .and_then(|b| b.add_u32(attr::SESSION_TIMEOUT, STATE_LIFETIME.as_secs() as u32))
                .and_then(|b| b.add_str(attr::REPLY_MESSAGE, &client.modes.challenge_prompt))
                .and_then(|b| b.copy_proxy_state(packet))
                .map(|_| ());
            return Some(built.map(|()| b.finish()));
        }
        let code = code?;
        match check_code(
            &mut self.verifier,
            snap,
            client,
            secret,
            packet,
            job.from,
            job.wall,
            user,
            code,
        ) {
            Checked::Accepted(r) | Checked::Rejected(r) => {
                if let Err(e) = self.verifier.settle() {
                    say(&format!(
                        "no answer to user {}: {e}",
                        source::printable(user.as_bytes())
                    ));
                    return None;
                }
                Some(r)
            }
            Checked::Failed(why) => {
                say(&why);
                None
            }
        }
    }

    fn forward(
        &mut self,
        at: &Job<'_>,
        random: &mut dyn FnMut() -> Option<[u8; 16]>,
    ) -> Option<Result<Vec<u8>, sparekey_radius_codec::Error>> {
        let Job {
            snap,
            client,
            secret,
            packet,
            job,
            say,
        } = *at;
        let name = client.modes.upstream.as_deref()?;
        let Some(upstream) = snap.clients.upstream(name) else {
            say(&format!("no answer: upstream {name:?} is not configured"));
            return None;
        };
        let Some(authenticator) = random() else {
            say("not passed on: no random bytes for the Request Authenticator");
            return None;
        };
        let request = match forward_request(
            packet,
            secret,
            &upstream.secret,
            authenticator[0],
            authenticator,
        ) {
            Ok(r) => r,
            Err(e) => {
                say(&format!("not passed on to upstream {name}: {e}"));
                return None;
            }
        };
        let accept = |reply: &[u8]| {
            reply.get(1) == Some(&authenticator[0])
                && verify_reply(
                    reply,
                    &authenticator,
                    &upstream.secret,
                    upstream.requires_message_authenticator(),
                )
                .is_ok()
        };
        let answer = match self.link.exchange(upstream, &request, &accept) {
            Ok(Some(answer)) => answer,
            Ok(None) => {
                say(&format!(
                    "no answer from upstream {name} ({}), so none to the NAS (it sends again)",
                    upstream.address
                ));
                return None;
            }
            Err(e) => {
                say(&format!("not passed on to upstream {name}: {e}"));
                return None;
            }
        };
        let Ok(verified) = verify_reply(&answer, &authenticator, &upstream.secret, false) else {
            return None;
        };
        upstream.saw_reply(&verified);
        let user = packet
            .attribute(attr::USER_NAME)
            .map_or_else(|| "-".into(), source::printable);
        let event = AuditEvent::new(job.wall, Action::Forward, &user, &user)
            .service(&client.service)
            .source(&source::describe(&client.name, packet))
            .reason(&format!(
                "passed on to upstream {name}, which answered {}",
                verified.code()
            ));
        if let Err(e) = self.verifier.record(event) {
            say(&format!(
                "no answer to user {user}: the forward cannot be recorded: {e}"
            ));
            return None;
        }
        let legs = Legs {
            upstream_secret: &upstream.secret,
            sent_authenticator: &authenticator,
            nas_secret: secret,
        };
        Some(relay_reply(&verified, packet, &legs))
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
#[path = "deferred_tests.rs"]
mod tests;
