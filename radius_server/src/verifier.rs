//! The one step that touches the store: verifying a code and recording the outcome. Behind a
//! trait so the responder's packet handling is tested with a scripted fake.

use crate::Error;
use sparekey_admin::State;
use sparekey_conf::PolicyFile;
use sparekey_core::redeem::{redeem, Login};
use sparekey_core::store::Store;
use sparekey_core::{identity, Code, Time, Verdict};
use std::sync::Arc;

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
}

/// The real verifier: sparekey-core's redeem against the store, with the user's groups from
/// NSS. Holds one store connection, opened on first use and reopened after a failure.
#[derive(Debug)]
pub struct StoreVerifier {
    state: Arc<State>,
    store: Option<Store>,
}

impl StoreVerifier {
    /// A verifier over the daemon's state; the store is opened when first needed.
    pub fn new(state: Arc<State>) -> Self {
        StoreVerifier { state, store: None }
    }
}

impl Verifier for StoreVerifier {
    fn verify(
        &mut self,
        policies: &PolicyFile,
        request: &CodeRequest<'_>,
        now: Time,
    ) -> Result<Verdict, Error> {
        let groups = identity::groups_of(request.user)?;
        let store = match &mut self.store {
            Some(s) => s,
            None => self.store.insert(self.state.open_store()?),
        };
        let login = Login {
            user: request.user,
            groups: &groups,
            service: request.service,
            // Policy `hosts` name the hosts PAM logins happen on; a VPN login has none, so a
            // credential or policy limited to hosts does not work over RADIUS.
            host: None,
            source: request.source,
        };
        let verdict = redeem(store, self.state.key(), policies, &login, request.code, now);
        if verdict.is_err() {
            // Start afresh next time: the connection may be what failed.
            self.store = None;
        }
        Ok(verdict?)
    }
}
