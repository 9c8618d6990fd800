//! sparekey-primary: the first factor of sparekeyd's `challenge` and `append` modes, a user's
//! password checked through a PAM service on the sparekeyd host (so pam_unix, pam_sss,
//! pam_ldap and winbind all serve). The project's only PAM client code.
//!
//! [`check_password`] is the API and says what it does; `transaction` owns the libpam handle
//! (pam_start to pam_end), `conversation` the callback that answers prompts with the
//! password, and `ffi` the C declarations. This crate is the PAM boundary, so unlike the rest
//! of the workspace it has `unsafe` code, each block with the reason it is sound.

#![deny(unsafe_op_in_unsafe_fn)]

mod conversation;
mod ffi;
mod transaction;

use conversation::Conversation;
use ffi::{
    code_name, PAM_ACCT_EXPIRED, PAM_AUTH_ERR, PAM_CRED_INSUFFICIENT, PAM_DISALLOW_NULL_AUTHTOK,
    PAM_MAXTRIES, PAM_NEW_AUTHTOK_REQD, PAM_PERM_DENIED, PAM_RHOST, PAM_SILENT, PAM_SUCCESS,
    PAM_USER_UNKNOWN,
};
use std::ffi::{c_int, CString};
use std::fmt;
use transaction::Transaction;

/// One password to check: `user`'s `password` against the PAM service `service`.
#[derive(Clone, Copy)]
pub struct PasswordCheck<'a> {
    /// The PAM service: the name of a file in /etc/pam.d.
    pub service: &'a str,
    /// The user name, as PAM_USER.
    pub user: &'a str,
    /// The password, in whatever bytes the user sent.
    pub password: &'a [u8],
    /// PAM_RHOST, when known (e.g. the VPN client's address).
    pub rhost: Option<&'a str>,
}

impl fmt::Debug for PasswordCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCheck")
            .field("service", &self.service)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("rhost", &self.rhost)
            .finish()
    }
}

/// Why a password check did not pass. No message contains the password.
///
/// `step` is where it stopped: `"request"` (refused before PAM), `"start"` (pam_start or
/// setting an item), `"authenticate"` (pam_authenticate) or `"account"` (pam_acct_mgmt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// PAM said no: wrong password, unknown user, account expired, locked or not allowed,
    /// password expired. `why` is pam_strerror's text and the code's name.
    ///
    /// One code is ambiguous: PAM_PERM_DENIED is both a module's "not allowed" (pam_access,
    /// pam_time, pam_sss) and libpam's answer for a step no module decided, such as a
    /// service file without `account` lines. It counts as Refused, and says both.
    Refused {
        /// The step that refused.
        step: &'static str,
        /// What PAM said.
        why: String,
    },
    /// PAM could not decide (service file or module missing, a module's error, its backend
    /// unreachable, a question the stack asked that a password check cannot answer). The
    /// check fails closed; the cause is on the host (its auth log), not the user's.
    Unavailable {
        /// The step that failed.
        step: &'static str,
        /// What went wrong.
        why: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Refused { step, why } => {
                write!(f, "password refused (PAM {step} step): {why}")
            }
            Refusal::Unavailable { step, why } => write!(
                f,
                "password not checked, refused to fail closed (PAM {step} step): {why}; \
                 see the PAM service file and the host's auth log"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// The steps, as [`Refusal`]'s `step` names them.
const REQUEST: &str = "request";
const START: &str = "start";
const AUTHENTICATE: &str = "authenticate";
const ACCOUNT: &str = "account";

/// Checks `req.user`'s `req.password` through the PAM service `req.service`: pam_start,
/// PAM_RHOST (when given), pam_authenticate(PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK),
/// pam_acct_mgmt(PAM_SILENT), pam_end. Ok only when both steps return PAM_SUCCESS.
///
/// - The conversation answers every hidden prompt (PAM_PROMPT_ECHO_OFF) with the password,
///   ignores error and info messages, and fails on anything else: a stack that asks a
///   visible question (a user name, a one-time code) is not one a password check can
///   answer, and gives [`Refusal::Unavailable`].
/// - An empty password, an empty user name, and a password, user or rhost with a NUL byte
///   are refused before PAM.
/// - PAM's failure delay is switched off (PAM_FAIL_DELAY is set to a function that does not
///   wait): pam_unix asks for 2 s after a wrong password, and libpam would otherwise sleep
///   that long inside this call, holding one of the caller's checking threads. Pacing
///   refusals is the caller's job.
/// - Every copy of the password this crate makes (one malloc'd answer per prompt, which
///   libpam or the module zeroes and frees) is zeroed if it is not handed over.
///
/// Blocking (PAM modules may ask the network) and safe to call from many threads at once:
/// each call has its own PAM handle. The modules of the stack must be thread-safe too, as
/// the usual ones (pam_unix, pam_sss, pam_ldap, pam_winbind) are.
pub fn check_password(req: &PasswordCheck<'_>) -> Result<(), Refusal> {
    let refused = |why: &str| Refusal::Refused {
        step: REQUEST,
        why: why.into(),
    };
    let service = CString::new(req.service).map_err(|_| Refusal::Unavailable {
        step: START,
        why: "the PAM service name contains a NUL byte".into(),
    })?;
    if req.user.is_empty() {
        return Err(refused("the user name is empty"));
    }
    let user = CString::new(req.user).map_err(|_| refused("the user name contains a NUL byte"))?;
    if req.password.is_empty() {
        return Err(refused("the password is empty"));
    }
    if req.password.contains(&0) {
        return Err(refused("the password contains a NUL byte"));
    }
    let rhost = req
        .rhost
        .map(CString::new)
        .transpose()
        .map_err(|_| refused("the remote host contains a NUL byte"))?;

    let conversation = Conversation::new(req.password);
    let mut tx =
        Transaction::start(&service, &user, &conversation).map_err(|rc| Refusal::Unavailable {
            step: START,
            why: format!(
                "pam_start: {} ({})",
                transaction::strerror(std::ptr::null_mut(), rc),
                code_name(rc)
            ),
        })?;
    let start_failed = |what: &str, rc: c_int, tx: &Transaction<'_>| Refusal::Unavailable {
        step: START,
        why: format!("{what}: {} ({})", tx.strerror(rc), code_name(rc)),
    };
    if let Some(rhost) = &rhost {
        let rc = tx.set_text(PAM_RHOST, rhost);
        if rc != PAM_SUCCESS {
            return Err(start_failed("setting PAM_RHOST", rc, &tx));
        }
    }
    let rc = tx.set_no_fail_delay();
    if rc != PAM_SUCCESS {
        return Err(start_failed("setting PAM_FAIL_DELAY", rc, &tx));
    }

    let rc = tx.authenticate(PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if rc != PAM_SUCCESS {
        return Err(judge(AUTHENTICATE, rc, &tx, &conversation));
    }
    let rc = tx.acct_mgmt(PAM_SILENT);
    if rc != PAM_SUCCESS {
        return Err(judge(ACCOUNT, rc, &tx, &conversation));
    }
    Ok(())
}

/// The refusal for a step that returned `rc` (not PAM_SUCCESS). A step that failed after the
/// conversation refused a question is Unavailable whatever code the stack returned: it was
/// not a judgement of the password.
fn judge(
    step: &'static str,
    rc: c_int,
    tx: &Transaction<'_>,
    conversation: &Conversation<'_>,
) -> Refusal {
    let mut why = format!("{} ({})", tx.strerror(rc), code_name(rc));
    if rc == PAM_PERM_DENIED {
        why.push_str(
            "; libpam answers so too when the service has no modules for this step, \
             or none of them decided",
        );
    }
    if let Some(question) = conversation.take_unanswerable() {
        return Refusal::Unavailable {
            step,
            why: format!("{why}: {question}"),
        };
    }
    if is_refusal(rc) {
        Refusal::Refused { step, why }
    } else {
        Refusal::Unavailable { step, why }
    }
}

/// Whether a step's code means PAM decided against the user (rather than could not decide).
fn is_refusal(rc: c_int) -> bool {
    matches!(
        rc,
        PAM_AUTH_ERR
            | PAM_USER_UNKNOWN
            | PAM_MAXTRIES
            | PAM_ACCT_EXPIRED
            | PAM_NEW_AUTHTOK_REQD
            | PAM_PERM_DENIED
            | PAM_CRED_INSUFFICIENT
    )
}
