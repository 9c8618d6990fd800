//! The one step that touches the store: verifying a code and recording the outcome. Behind a
//! trait so the responder's packet handling is tested with a scripted fake.

use crate::Error;
use sparekey_conf::PolicyFile;
use sparekey_core::cached_redeem::Presented;
use sparekey_core::decision::{Availability, Login};
use sparekey_core::journal::JournalEntries;
use sparekey_core::redeem::RETIRE_REASON;
use sparekey_core::shared_redeem::SharedRedeemer;
use sparekey_core::store::Origin;
use sparekey_core::store::Replay;
use sparekey_core::{Action, AuditEvent, Code, Site, Time, Verdict};
use sparekey_radius_codec::SharedSecret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A code presented in a verified Access-Request.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    /// The RADIUS User-Name.
    pub user: &'a str,
    /// The client's `service`, or the PAM service a member host names.
    pub service: &'a str,
    /// The member host asking, if it is one (policies' and credentials' `hosts` match it).
    pub host: Option<&'a str>,
    /// Client, NAS and calling station, for the audit log.
    pub source: &'a str,
    /// The code (the User-Password, normalised).
    pub code: &'a Code,
    /// The request's identity for its retransmits: client, source, Identifier and Request
    /// Authenticator (see [`retransmit_key`]).
    pub retransmit_key: &'a [u8],
    /// How long an answer that changed state is kept for them.
    pub replay_window: u64,
}

/// The identity of a request as its retransmits repeat it (RFC 5080 section 2.2.2): the
/// client, the source address and port, the Identifier and the Request Authenticator.
pub fn retransmit_key(
    client: &str,
    from: std::net::SocketAddr,
    identifier: u8,
    authenticator: &[u8; 16],
) -> Vec<u8> {
    let ip = match from.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    let mut key = Vec::with_capacity(client.len() + 36);
    key.extend_from_slice(client.as_bytes());
    key.push(0);
    key.extend_from_slice(&ip.octets());
    key.extend_from_slice(&from.port().to_be_bytes());
    key.push(identifier);
    key.extend_from_slice(authenticator);
    key
}

/// A member host as the site knows it, with the secret of its requests.
#[derive(Debug)]
pub struct MemberHost {
    /// Its name.
    pub name: String,
    /// Whether it was revoked (its requests are refused).
    pub revoked: bool,
    /// Its RADIUS secret, derived from the site key, its name and its enrollment.
    pub secret: SharedSecret,
}

/// A member host's question about one login, before or without a code.
#[derive(Debug, Clone, Copy)]
pub struct MemberLogin<'a> {
    /// The user.
    pub user: &'a str,
    /// The PAM service.
    pub service: &'a str,
    /// The host.
    pub host: &'a str,
    /// Host, service, rhost, tty and ruser, for the audit log.
    pub source: &'a str,
}

/// An offline login a member host reports: when (by its clock), until when the response
/// works, and what happened.
#[derive(Debug, Clone, Copy)]
pub struct OfflineReport<'a> {
    /// Unix time of the login, by the host's clock.
    pub at: i64,
    /// Unix time the response it rests on stops working.
    pub until: i64,
    /// "response accepted" or "accepted response used again", printable.
    pub what: &'a str,
}

/// Verifies codes and records each outcome (use counts, failures, audit), and answers the
/// member hosts' other questions.
pub trait Verifier {
    /// The verdict for `request` under `policies` at `now`. `Err` when the store or the
    /// user lookup fails: then nothing is answered, and the NAS retries or fails over.
    fn verify(
        &mut self,
        policies: &PolicyFile,
        request: &CodeRequest<'_>,
        now: Time,
    ) -> Result<Verdict, Error>;

    /// Makes the outcomes verified since the last call outlive a crash of the process,
    /// before their answers are sent. `Err`: send none of them.
    fn settle(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// The member host `name` (enrolled, or revoked), `None` when it was never enrolled.
    fn member_host(&mut self, name: &str, now: Time) -> Result<Option<MemberHost>, Error>;

    /// Notes that member host `name` asked at `now` (`host list` shows it).
    fn host_seen(&mut self, name: &str, now: Time);

    /// Whether to ask `login`'s user for a code at all.
    fn availability(
        &mut self,
        policies: &PolicyFile,
        login: &MemberLogin<'_>,
        now: Time,
    ) -> Result<Availability, Error>;

    /// Whether `user` has a code usable on `service` (a NAS's, no host) now, from the
    /// cache: challenge and append modes ask before checking a password, and every mode
    /// with an upstream before passing a request on.
    fn usable(
        &mut self,
        policies: &PolicyFile,
        user: &str,
        service: &str,
        source: &str,
        now: Time,
    ) -> Result<Availability, Error>;

    /// Ends the user's temporary codes (their usual second factor worked on a member
    /// host); returns how many were ended.
    fn retire(&mut self, login: &MemberLogin<'_>, now: Time) -> Result<usize, Error>;

    /// Writes `event` to the audit log before the request it answers is answered
    /// (accounting's session start and stop).
    fn record(&mut self, event: AuditEvent) -> Result<(), Error>;

    /// Records an offline login that a member host let in, in the audit log.
    fn record_offline(
        &mut self,
        login: &MemberLogin<'_>,
        report: &OfflineReport<'_>,
        now: Time,
    ) -> Result<(), Error>;
}

/// The real verifier, shared by every answering thread: the site's [`SharedRedeemer`] (the
/// cache, its writer and their store connections, users' groups from its directory). Audit
/// events of the hot path are written by [`SharedVerifier::flush`], which a background
/// thread calls every [`FLUSH_INTERVAL`], an audit read through the admin socket, and
/// sparekeyd at shutdown.
#[derive(Debug)]
pub struct SharedVerifier {
    site: Arc<Site>,
    redeemer: SharedRedeemer,
    /// Journal entries of what this thread's answers since the last settle rest on.
    turn: JournalEntries,
    /// The store connection every clone writes [`Verifier::record`]'s events on, one at a
    /// time: opened when first needed and again after a failure. One per sparekeyd, not one
    /// per answering thread and worker (with PostgreSQL, 70 connections a node would count
    /// against the server's max_connections for a few events a second).
    recorder: Arc<Mutex<Option<Box<dyn sparekey_core::store::Store>>>>,
}

impl Clone for SharedVerifier {
    /// Another thread's verifier over the same hot path and recorder.
    fn clone(&self) -> Self {
        SharedVerifier {
            site: self.site.clone(),
            redeemer: self.redeemer.clone(),
            turn: JournalEntries::default(),
            recorder: self.recorder.clone(),
        }
    }
}

/// How often gathered audit events are written to the store (and syslog).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

impl SharedVerifier {
    /// A verifier over the site's hot path; the store is opened when first needed.
    pub fn new(site: &Arc<Site>) -> Self {
        SharedVerifier {
            site: site.clone(),
            redeemer: site.redeemer().clone(),
            turn: JournalEntries::default(),
            recorder: Arc::default(),
        }
    }

    /// Writes the audit events and failures gathered so far, in one transaction on a
    /// connection of its own (so the answering threads never wait for the disk). Everything
    /// is kept for the next try when the store fails.
    pub fn flush(&self) -> Result<usize, Error> {
        let written = self.redeemer.flush()?;
        self.site.member_hosts().write_seen()?;
        Ok(written)
    }

    /// Starts the thread that flushes every [`FLUSH_INTERVAL`]; failures go to `log`, at most
    /// once a minute.
    #[allow(clippy::disallowed_methods)] // a thread of the daemon's: it sleeps and tells time
    pub fn spawn_flusher(&self, log: Arc<dyn Fn(&str) + Send + Sync>) -> std::io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new().name("radius audit".into()).spawn(move || {
            let mut last_error: Option<std::time::Instant> = None;
            loop {
                std::thread::sleep(FLUSH_INTERVAL);
                let was_failing = me.redeemer.unwritable().is_some();
                match me.flush() {
                    Err(e) => {
                        if !was_failing {
                            log(&format!("radius: the store cannot be written, so code requests get no answer until it can (fail closed); what was gathered is kept: {e}"));
                            last_error = Some(std::time::Instant::now());
                        } else if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            last_error = Some(std::time::Instant::now());
                            log(&format!("radius: the store still cannot be written; code requests still get no answer: {e}"));
                        }
                    }
                    Ok(_) if was_failing => {
                        log("radius: the store can be written again: what was kept is written, code requests are answered");
                    }
                    Ok(_) => {}
                }
            }
        })?;
        Ok(())
    }
}

impl Verifier for SharedVerifier {
    fn verify(
        &mut self,
        policies: &PolicyFile,
        request: &CodeRequest<'_>,
        now: Time,
    ) -> Result<Verdict, Error> {
        let presented = Presented {
            user: request.user,
            service: request.service,
            // Policy `hosts` name the hosts PAM logins happen on; a VPN login has none, so a
            // credential or policy limited to hosts does not work over RADIUS from a NAS.
            host: request.host,
            source: request.source,
            code: request.code,
            replay: Some(Replay {
                key: request.retransmit_key,
                until: sparekey_core::after(now, request.replay_window),
            }),
        };
        Ok(self
            .redeemer
            .redeem_in_turn(policies, &presented, now, &mut self.turn)?)
    }

    fn settle(&mut self) -> Result<(), Error> {
        Ok(self.redeemer.settle(&mut self.turn)?)
    }

    fn member_host(&mut self, name: &str, now: Time) -> Result<Option<MemberHost>, Error> {
        let Some(host) = self.site.member_hosts().lookup(name, now)? else {
            return Ok(None);
        };
        let keys = self.site.key().host_keys(&host.name, host.serial);
        let secret = SharedSecret::new(keys.radius_secret().as_bytes())?;
        Ok(Some(MemberHost {
            revoked: host.revoked_at.is_some(),
            name: host.name,
            secret,
        }))
    }

    fn host_seen(&mut self, name: &str, now: Time) {
        self.site.member_hosts().seen(name, now);
    }

    fn availability(
        &mut self,
        policies: &PolicyFile,
        login: &MemberLogin<'_>,
        now: Time,
    ) -> Result<Availability, Error> {
        let login = Login {
            user: login.user,
            groups: &[],
            service: login.service,
            host: Some(login.host),
            source: login.source,
        };
        Ok(self.redeemer.availability(policies, &login, now)?)
    }

    fn usable(
        &mut self,
        policies: &PolicyFile,
        user: &str,
        service: &str,
        source: &str,
        now: Time,
    ) -> Result<Availability, Error> {
        let login = Login {
            user,
            groups: &[],
            service,
            host: None,
            source,
        };
        Ok(self.redeemer.availability(policies, &login, now)?)
    }

    fn retire(&mut self, login: &MemberLogin<'_>, now: Time) -> Result<usize, Error> {
        let origin = Origin {
            actor: login.user,
            source: login.source,
        };
        let ended = self.site.open_store()?.revoke(
            login.user,
            None,
            Action::Retire,
            now,
            origin,
            Some(RETIRE_REASON),
        )?;
        Ok(ended.len())
    }

    fn record(&mut self, event: AuditEvent) -> Result<(), Error> {
        let mut recorder = match self.recorder.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let store = match recorder.as_mut() {
            Some(store) => store,
            None => recorder.insert(self.site.open_store()?),
        };
        let written = store.record(event);
        if written.is_err() {
            *recorder = None;
        }
        Ok(written?)
    }

    fn record_offline(
        &mut self,
        login: &MemberLogin<'_>,
        report: &OfflineReport<'_>,
        now: Time,
    ) -> Result<(), Error> {
        let shown = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map_or_else(|| t.to_string(), sparekey_core::rfc3339)
        };
        let mut event = AuditEvent::new(now, Action::OfflineLogin, login.user, login.user)
            .source(login.source)
            .reason(&format!(
                "{} on {} at {} (its clock), the response valid until {}",
                report.what,
                login.host,
                shown(report.at),
                shown(report.until)
            ));
        event.service = Some(login.service.to_string());
        self.record(event)
    }
}
