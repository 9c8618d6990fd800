//! The thin shell over libpam: the PAM entry points, the real [`PamHandler`], syslog, the
//! clock, and the guard that turns a panic into PAM_AUTHINFO_UNAVAIL instead of a crash.

use crate::auth::{self, Context, Outcome};
use crate::handler::{HandlerError, Log, PamHandler, Secret};
use pam::constants::{
    PamFlag, PamResultCode, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_SILENT, PAM_TEXT_INFO,
};
use pam::conv::Conv;
use pam::items::{AuthTok, RHost, RUser, Service, Tty};
use pam::module::{PamHandle, PamHooks};
use sparekey_core::audit::SyslogSink;
use sparekey_core::AuditSink;
use std::ffi::CStr;
use std::sync::{Arc, Once};
use zeroize::Zeroizing;

/// The type `pam_hooks!` generates the `pam_sm_*` entry points for.
#[derive(Debug)]
pub struct PamSparekey;

impl PamHooks for PamSparekey {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        entry(pamh, &args, flags)
    }

    /// Sets no credentials, and says so with success: returning PAM_IGNORE here could make
    /// pam_setcred fail (and sshd then drops the login) when this module was the one that
    /// authenticated and the remaining modules' setcred fails (see README.md).
    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn acct_mgmt(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }

    fn sm_open_session(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }

    fn sm_close_session(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }

    fn sm_chauthtok(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }
}

/// pam_sm_authenticate: one authentication, start to end, with the store opened and closed
/// inside it.
fn entry(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    quiet_panics();
    let raw: Vec<&[u8]> = args.iter().map(|a| a.to_bytes()).collect();
    #[cfg(feature = "x-test-panic")]
    if raw.contains(&crate::args::UNGUARDED_PANIC_ARG) {
        // Only pam-bindings' own catch_unwind stands between this and the host process.
        panic!("x-test-panic=unguarded: a deliberate panic outside the module's guard");
    }
    let log = Syslog(Arc::new(SyslogSink::connect("pam_sparekey")));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok());
        let cx = Context {
            // The one place pam_sparekey reads the clock: everything below takes `now`.
            #[allow(clippy::disallowed_methods)]
            now: chrono::Utc::now(),
            hostname: hostname.as_deref(),
            euid: nix::unistd::geteuid().as_raw(),
            log: &log,
            directory: &sparekey_core::identity::Nss,
        };
        let mut handler = LibPam {
            pamh,
            silent: flags & PAM_SILENT != 0,
        };
        auth::run(&mut handler, &raw, &cx)
    }));
    match outcome {
        Ok(outcome) => result_code(outcome),
        Err(payload) => {
            // The panic hook already put the message in syslog. The payload is our own
            // message; should dropping it panic, pam-bindings' guard returns PAM_ABORT.
            drop(payload);
            log.error("internal error (a bug in pam_sparekey): temporary codes unavailable (PAM_AUTHINFO_UNAVAIL)");
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
    }
}

/// The libpam return code of an outcome.
pub fn result_code(outcome: Outcome) -> PamResultCode {
    match outcome {
        Outcome::Success => PamResultCode::PAM_SUCCESS,
        Outcome::Ignore => PamResultCode::PAM_IGNORE,
        Outcome::AuthErr => PamResultCode::PAM_AUTH_ERR,
        Outcome::MaxTries => PamResultCode::PAM_MAXTRIES,
        Outcome::Unavailable => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Outcome::ServiceErr => PamResultCode::PAM_SERVICE_ERR,
        Outcome::ConvErr => PamResultCode::PAM_CONV_ERR,
    }
}

/// Sends panic messages to syslog instead of the host's stderr (a login terminal, for su or
/// login). Set once per load of this library: the hook lives in this cdylib's own copy of
/// std, so the host process and other modules keep theirs. It holds no data.
fn quiet_panics() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            SyslogSink::connect("pam_sparekey").error(&format!("panic: {info}"));
        }));
    });
}

/// Operational messages and audit events to syslog (LOG_AUTHPRIV) over one connection.
struct Syslog(Arc<SyslogSink>);

impl Log for Syslog {
    fn error(&self, message: &str) {
        self.0.error(message);
    }

    fn info(&self, message: &str) {
        self.0.info(message);
    }

    fn audit_sink(&self) -> Arc<dyn AuditSink> {
        self.0.clone()
    }
}

/// The real handler: libpam items and the application's conversation, through pam-bindings,
/// which checks every pointer, and copies every answer into memory zeroed on drop after
/// zeroing libpam's response buffer and before freeing it (pam-bindings 0.4 `Conv::send`).
struct LibPam<'a> {
    pamh: &'a mut PamHandle,
    /// PAM_SILENT: show no messages (prompts are still asked).
    silent: bool,
}

fn code_name(code: PamResultCode) -> String {
    format!("{code:?}")
}

impl LibPam<'_> {
    fn send(&mut self, style: i32, text: &str) -> Result<Option<Secret>, HandlerError> {
        let conv = self
            .pamh
            .get_item::<Conv>()
            .map_err(|c| HandlerError::Conversation(format!("no PAM_CONV ({})", code_name(c))))?
            .ok_or_else(|| {
                HandlerError::Conversation("the application set no conversation".into())
            })?;
        let answer = conv
            .send(style, text)
            .map_err(|c| HandlerError::Conversation(code_name(c)))?;
        Ok(answer.map(|a| Zeroizing::new(a.as_bytes().to_vec())))
    }
}

/// An item's text; a non-UTF-8 byte becomes U+FFFD.
fn lossy(c: &CStr) -> String {
    String::from_utf8_lossy(c.to_bytes()).into_owned()
}

impl PamHandler for LibPam<'_> {
    fn user(&mut self) -> Result<String, HandlerError> {
        self.pamh.get_user(None).map_err(|c| match c {
            PamResultCode::PAM_CONV_ERR => {
                HandlerError::Conversation("asking for the user name".into())
            }
            other => HandlerError::Pam(format!("pam_get_user: {}", code_name(other))),
        })
    }

    fn service(&self) -> Option<String> {
        self.pamh
            .get_item::<Service>()
            .ok()
            .flatten()
            .map(|i| lossy(i.0))
    }

    fn rhost(&self) -> Option<String> {
        self.pamh
            .get_item::<RHost>()
            .ok()
            .flatten()
            .map(|i| lossy(i.0))
    }

    fn tty(&self) -> Option<String> {
        self.pamh
            .get_item::<Tty>()
            .ok()
            .flatten()
            .map(|i| lossy(i.0))
    }

    fn ruser(&self) -> Option<String> {
        self.pamh
            .get_item::<RUser>()
            .ok()
            .flatten()
            .map(|i| lossy(i.0))
    }

    fn authtok(&self) -> Result<Option<Secret>, HandlerError> {
        let token = self
            .pamh
            .get_item::<AuthTok>()
            .map_err(|c| HandlerError::Pam(format!("PAM_AUTHTOK: {}", code_name(c))))?;
        Ok(token.map(|t| Zeroizing::new(t.as_bytes().to_vec())))
    }

    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, HandlerError> {
        self.send(PAM_PROMPT_ECHO_OFF, prompt)
    }

    fn info(&mut self, text: &str) -> Result<(), HandlerError> {
        if !self.silent {
            self.send(PAM_TEXT_INFO, text)?;
        }
        Ok(())
    }

    fn error(&mut self, text: &str) -> Result<(), HandlerError> {
        if !self.silent {
            self.send(PAM_ERROR_MSG, text)?;
        }
        Ok(())
    }
}
