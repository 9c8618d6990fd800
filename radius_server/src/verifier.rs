//! The one step that touches the store: verifying a code and recording the outcome. Behind a
//! trait so the responder's packet handling is tested with a scripted fake.

use crate::Error;
use sparekey_conf::PolicyFile;
use sparekey_core::cached_redeem::Presented;
use sparekey_core::journal::JournalEntries;
use sparekey_core::shared_redeem::SharedRedeemer;
use sparekey_core::store::Replay;
use sparekey_core::{Code, Site, Time, Verdict};
use std::sync::Arc;
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

    /// Makes the outcomes verified since the last call outlive a crash of the process,
    /// before their answers are sent. `Err`: send none of them.
    fn settle(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// The real verifier, shared by every answering thread: the site's [`SharedRedeemer`] (the
/// cache, its writer and their store connections, users' groups from its directory). Audit
/// events of the hot path are written by [`SharedVerifier::flush`], which a background
/// thread calls every [`FLUSH_INTERVAL`], an audit read through the admin socket, and
/// sparekeyd at shutdown.
#[derive(Debug, Clone)]
pub struct SharedVerifier {
    redeemer: SharedRedeemer,
    /// Journal entries of what this thread's answers since the last settle rest on.
    turn: JournalEntries,
}

/// How often gathered audit events are written to the store (and syslog).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

impl SharedVerifier {
    /// A verifier over the site's hot path; the store is opened when first needed.
    pub fn new(site: &Site) -> Self {
        SharedVerifier {
            redeemer: site.redeemer().clone(),
            turn: JournalEntries::default(),
        }
    }

    /// Writes the audit events and failures gathered so far, in one transaction on a
    /// connection of its own (so the answering threads never wait for the disk). Everything
    /// is kept for the next try when the store fails.
    pub fn flush(&self) -> Result<usize, Error> {
        Ok(self.redeemer.flush()?)
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
            // credential or policy limited to hosts does not work over RADIUS.
            host: None,
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
}
