//! The authenticate and retire logic over [`PamHandler`]: which PAM result each situation
//! gives, what the person sees and what syslog is told. Pure apart from the store and files.

use crate::args::{self, Args, CodeSource};
use crate::handler::{HandlerError, Log, PamHandler, Secret};
use sparekey_conf::Config;
use sparekey_core::audit::NoSink;
use sparekey_core::code::CodeInputError;
use sparekey_core::decision::Availability;
use sparekey_core::identity::Directory;
use sparekey_core::redeem::{Login, LoginCheck};
use sparekey_core::store::{self, OpenMode, Origin};
use sparekey_core::{Action, AuditSink, Code, Reason, SiteKey, Store, Time, Verdict};
use std::sync::Arc;

/// The result of one call, before it becomes a libpam return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// PAM_SUCCESS: a code was accepted.
    Success,
    /// PAM_IGNORE: nothing for sparekey to decide; the next module does.
    Ignore,
    /// PAM_AUTH_ERR: a code was typed and refused.
    AuthErr,
    /// PAM_MAXTRIES: the user is locked out of temporary codes for a while.
    MaxTries,
    /// PAM_AUTHINFO_UNAVAIL: sparekey cannot check codes here (config, key, store, not root).
    Unavailable,
    /// PAM_SERVICE_ERR: the PAM line itself is wrong.
    ServiceErr,
    /// PAM_CONV_ERR: the application could not be asked.
    ConvErr,
}

/// What one call needs besides PAM: the time, the host, who runs it, where logs go.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The time of the attempt (read once, in the FFI shell).
    pub now: Time,
    /// This host's name, which policies' and credentials' `hosts` match.
    pub hostname: Option<&'a str>,
    /// The effective uid of the process running PAM.
    pub euid: u32,
    /// Syslog.
    pub log: &'a dyn Log,
    /// Where users' groups come from (NSS).
    pub directory: &'a dyn Directory,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("hostname", &self.hostname)
            .field("euid", &self.euid)
            .finish_non_exhaustive()
    }
}

/// Shown when a code is refused, whatever the precise reason (no oracle for guessing).
pub fn refused_message(contact: &str) -> String {
    format!("Temporary code not accepted. If you need a new one, contact {contact}.")
}

/// Shown when the user is locked out of temporary codes.
pub fn locked_message(contact: &str) -> String {
    format!("Too many wrong temporary codes: they are refused for a while. Use your usual second factor, or contact {contact}.")
}

/// Shown when a code is accepted: until when it works, and for a counted one (`uses_left`
/// Some) how many uses it has left.
pub fn accepted_message(not_after: Time, uses_left: Option<Option<u32>>) -> String {
    let mut text = format!(
        "Temporary code accepted. It works until {}",
        not_after.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(left) = uses_left {
        text = match left {
            None | Some(0) => "Temporary code accepted. It cannot be used again".into(),
            Some(1) => format!("{text}, for one more use"),
            Some(n) => format!("{text}, for {n} more uses"),
        };
    }
    text.push('.');
    text
}

/// Shown when a code was typed but cannot be checked now.
pub const UNAVAILABLE_MESSAGE: &str = "Temporary codes cannot be checked right now.";

/// Shown after `retire` ended codes.
pub const RETIRED_MESSAGE: &str =
    "Your usual second factor works again, so your temporary codes have been ended.";

pub use sparekey_core::redeem::RETIRE_REASON;

/// Why a call stops early.
pub(crate) enum Fail {
    /// sparekey cannot work here; the reason goes to syslog.
    Unavailable(String),
    /// The conversation failed.
    Conversation(HandlerError),
}

impl From<HandlerError> for Fail {
    fn from(e: HandlerError) -> Self {
        match e {
            HandlerError::Conversation(_) => Fail::Conversation(e),
            HandlerError::Pam(m) => Fail::Unavailable(format!("PAM refused a request: {m}")),
        }
    }
}

/// Parses the PAM line's arguments and runs `authenticate` or `retire`.
pub fn run(h: &mut dyn PamHandler, raw: &[&[u8]], cx: &Context<'_>) -> Outcome {
    match args::parse(raw) {
        Ok(args) if args.retire => retire(h, &args, cx),
        Ok(args) => authenticate(h, &args, cx),
        Err(e) => {
            let service = h.service().unwrap_or_else(|| "?".into());
            cx.log.error(&format!(
                "PAM configuration of service {service}: {e}; refusing to run (PAM_SERVICE_ERR)"
            ));
            Outcome::ServiceErr
        }
    }
}

/// The code-asking line: asks only when the user has a usable credential here, then redeems.
pub fn authenticate(h: &mut dyn PamHandler, args: &Args, cx: &Context<'_>) -> Outcome {
    let mut asked = false;
    match try_authenticate(h, args, cx, &mut asked) {
        Ok(outcome) => outcome,
        Err(Fail::Unavailable(reason)) => {
            cx.log.error(&format!(
                "temporary codes unavailable: {reason} (PAM_AUTHINFO_UNAVAIL)"
            ));
            if asked {
                let _ = h.error(UNAVAILABLE_MESSAGE);
            }
            Outcome::Unavailable
        }
        Err(Fail::Conversation(e)) => {
            debug(args, cx, &format!("{e} (PAM_CONV_ERR)"));
            Outcome::ConvErr
        }
    }
}

fn try_authenticate(
    h: &mut dyn PamHandler,
    args: &Args,
    cx: &Context<'_>,
    asked: &mut bool,
) -> Result<Outcome, Fail> {
    let user = h.user()?;
    let service = service(h, args)?;
    let config = load_config(args, cx)?;
    if let Some(member) = &config.daemon.site {
        return crate::member::authenticate(h, args, cx, &config, member, &user, &service, asked);
    }
    let Some(mut site) = open_site(config, args, cx)? else {
        return Ok(Outcome::Ignore);
    };
    let groups = if site.config.policy.names_groups() {
        cx.directory
            .groups_of(&user)
            .map_err(|e| Fail::Unavailable(e.to_string()))?
    } else {
        Vec::new()
    };
    let source = source(h, &service);
    let login = Login {
        user: &user,
        groups: &groups,
        service: &service,
        host: cx.hostname,
        source: &source,
    };
    let policies = &site.config.policy;
    let contact = policies.contact.as_str();
    let why = |e: sparekey_core::Error| Fail::Unavailable(e.to_string());
    // The user's state is read once, here; the redeem transaction decides on it again
    // unless the store changed while the person typed.
    let check = match LoginCheck::begin(&*site.store, policies, &login, cx.now).map_err(why)? {
        Ok(check) => check,
        Err(early) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: not asking for a code ({early:?})"),
            );
            return Ok(Outcome::Ignore);
        }
    };
    match check.availability() {
        Availability::Usable => {}
        Availability::LockedOut => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: locked out, not asking for a code"),
            );
            let _ = h.error(&locked_message(contact));
            return Ok(Outcome::MaxTries);
        }
        other => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: not asking for a code ({other:?})"),
            );
            return Ok(Outcome::Ignore);
        }
    }
    let code = match read_code(h, args, cx, &user, &service, contact, asked)? {
        Ok(code) => code,
        Err(outcome) => return Ok(outcome),
    };
    #[cfg(feature = "x-test-panic")]
    if args.test_panic == Some(args::TestPanic::Guarded) {
        // Unwinding from here drops (and zeroes) the code and closes the store unchanged.
        panic!("x-test-panic=guarded: a deliberate panic after the answer was read");
    }
    let redeemed = check
        .redeem(&mut *site.store, &site.key, &code)
        .map_err(why)?;
    drop(code);
    match redeemed.decision.verdict {
        Verdict::Accepted {
            credential,
            not_after,
            counted,
            ..
        } => {
            let left = counted.then_some(redeemed.decision.uses_left);
            let _ = h.info(&accepted_message(not_after, left));
            debug(
                args,
                cx,
                &format!("{user} on {service}: accepted credential {credential}"),
            );
            Ok(Outcome::Success)
        }
        Verdict::Rejected(Reason::LockedOut) => {
            let _ = h.error(&locked_message(contact));
            Ok(Outcome::MaxTries)
        }
        Verdict::Rejected(reason @ (Reason::Disabled | Reason::NotEligible)) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: {}", reason.as_str()),
            );
            Ok(Outcome::Ignore)
        }
        Verdict::Rejected(reason) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: refused: {}", reason.as_str()),
            );
            let _ = h.error(&refused_message(contact));
            Ok(Outcome::AuthErr)
        }
    }
}

/// The code the person gave, or the result when there is none to check: no answer or an
/// empty one (PAM_IGNORE), one longer than any code (refused unchecked: PAM_AUTH_ERR). What
/// was typed is zeroed before this returns.
pub(crate) fn read_code(
    h: &mut dyn PamHandler,
    args: &Args,
    cx: &Context<'_>,
    user: &str,
    service: &str,
    contact: &str,
    asked: &mut bool,
) -> Result<Result<Code, Outcome>, Fail> {
    let Some(typed) = answer(h, args, asked)? else {
        debug(args, cx, &format!("{user} on {service}: no code given"));
        return Ok(Err(Outcome::Ignore));
    };
    match Code::from_input(&typed) {
        Ok(code) => Ok(Ok(code)),
        Err(CodeInputError::Empty) => {
            debug(args, cx, &format!("{user} on {service}: empty answer"));
            Ok(Err(Outcome::Ignore))
        }
        Err(CodeInputError::TooLong(len)) => {
            cx.log.info(&format!(
                "{user} on {service}: an answer of {len} bytes is longer than any code; refused unchecked"
            ));
            let _ = h.error(&refused_message(contact));
            Ok(Err(Outcome::AuthErr))
        }
    }
}

/// The code, from the prompt or from PAM_AUTHTOK as the arguments say. None: no answer.
pub(crate) fn answer(
    h: &mut dyn PamHandler,
    args: &Args,
    asked: &mut bool,
) -> Result<Option<Secret>, HandlerError> {
    let earlier = match args.source {
        CodeSource::Prompt => None,
        CodeSource::TryFirstPass | CodeSource::UseFirstPass => {
            h.authtok()?.filter(|t| !t.is_empty())
        }
    };
    match (earlier, args.source) {
        (Some(token), _) => Ok(Some(token)),
        (None, CodeSource::UseFirstPass) => Ok(None),
        (None, _) => {
            *asked = true;
            h.prompt_hidden(&args.prompt)
        }
    }
}

/// The `retire` line: ends the user's active temporary codes. Never changes the outcome of
/// the login: every problem goes to syslog and the result is PAM_IGNORE.
pub fn retire(h: &mut dyn PamHandler, args: &Args, cx: &Context<'_>) -> Outcome {
    match try_retire(h, args, cx) {
        Ok(()) => {}
        Err(Fail::Unavailable(reason)) => {
            cx.log
                .error(&format!("retire: {reason}; temporary codes were not ended"));
        }
        Err(Fail::Conversation(e)) => cx.log.error(&format!("retire: {e}")),
    }
    Outcome::Ignore
}

fn try_retire(h: &mut dyn PamHandler, args: &Args, cx: &Context<'_>) -> Result<(), Fail> {
    let user = h.user()?;
    let service = service(h, args)?;
    let config = load_config(args, cx)?;
    if let Some(member) = &config.daemon.site {
        return crate::member::retire(h, args, cx, member, &user, &service);
    }
    let Some(mut site) = open_site(config, args, cx)? else {
        return Ok(());
    };
    let source = source(h, &service);
    let origin = Origin {
        actor: &user,
        source: &source,
    };
    let ended = site
        .store
        .revoke(
            &user,
            None,
            Action::Retire,
            cx.now,
            origin,
            Some(RETIRE_REASON),
        )
        .map_err(|e| Fail::Unavailable(e.to_string()))?;
    if ended.is_empty() {
        debug(
            args,
            cx,
            &format!("retire: {user} has no active temporary code"),
        );
    } else {
        debug(
            args,
            cx,
            &format!("retire: ended {} of {user}", ended.join(", ")),
        );
        let _ = h.info(RETIRED_MESSAGE);
    }
    Ok(())
}

/// Configuration, key and store, opened for one call and closed when dropped.
struct Site {
    config: Config,
    key: Arc<SiteKey>,
    store: Box<dyn Store>,
}

/// Loads sparekey.toml and policy.toml, as root only.
fn load_config(args: &Args, cx: &Context<'_>) -> Result<Config, Fail> {
    if cx.euid != 0 {
        return Err(Fail::Unavailable(format!(
            "running as uid {}, not root, so the key and the store cannot be read",
            cx.euid
        )));
    }
    sparekey_conf::load(&args.config).map_err(|e| {
        let lines: Vec<String> = e
            .diagnostics()
            .iter()
            .map(|d| {
                let at = if d.line == 0 {
                    d.path.display().to_string()
                } else {
                    format!("{}:{}:{}", d.path.display(), d.line, d.column)
                };
                format!("{at}: {}", d.message.replace('\n', " "))
            })
            .collect();
        Fail::Unavailable(format!("configuration unusable: {}", lines.join("; ")))
    })
}

/// Opens the site of a host that is its own. Ok(None): there is no store, so no code was
/// ever issued here.
fn open_site(config: Config, args: &Args, cx: &Context<'_>) -> Result<Option<Site>, Fail> {
    if *config.daemon.store.backend.get_ref() == sparekey_conf::StoreBackend::Postgresql {
        // A login must not wait on a database across the network, nor hold its password:
        // a host of a site on PostgreSQL asks the site (a [site] table).
        return Err(Fail::Unavailable(format!(
            "{}: [store] backend = \"postgresql\" is for the site's sparekeyd nodes; on a host, give sparekey.toml a [site] table (member mode) instead",
            config.path.display()
        )));
    }
    if !store::exists(&config.daemon.store).map_err(|e| Fail::Unavailable(e.to_string()))? {
        debug(
            args,
            cx,
            &format!(
                "store {} does not exist: no code was ever issued here",
                config.daemon.store.path.display()
            ),
        );
        return Ok(None);
    }
    let key = Arc::new(
        SiteKey::load(&config.daemon.store.key_file)
            .map_err(|e| Fail::Unavailable(e.to_string()))?,
    );
    let sink: Arc<dyn AuditSink> = if config.daemon.audit.syslog {
        cx.log.audit_sink()
    } else {
        Arc::new(NoSink)
    };
    let store = store::open(&config.daemon.store, OpenMode::Existing, key.clone(), sink)
        .map_err(|e| Fail::Unavailable(e.to_string()))?;
    Ok(Some(Site { config, key, store }))
}

/// The service policies match: `service=` or PAM_SERVICE.
pub(crate) fn service(h: &dyn PamHandler, args: &Args) -> Result<String, Fail> {
    match &args.service {
        Some(s) => Ok(s.clone()),
        None => h
            .service()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Fail::Unavailable("the application set no PAM_SERVICE".into())),
    }
}

/// The audit source: "pam service=sshd rhost=10.0.0.5 tty=ssh ruser=bob", items left out
/// when the application did not set them.
fn source(h: &dyn PamHandler, service: &str) -> String {
    let mut s = format!("pam service={}", clean(service));
    for (name, value) in [("rhost", h.rhost()), ("tty", h.tty()), ("ruser", h.ruser())] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            s.push_str(&format!(" {name}={}", clean(&v)));
        }
    }
    s
}

/// An item as one word: at most 128 characters, no spaces, quotes, `=` or control characters.
pub(crate) fn clean(v: &str) -> String {
    v.chars()
        .take(128)
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == '=' || c == '"' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

pub(crate) fn debug(args: &Args, cx: &Context<'_>, message: &str) {
    if args.debug {
        cx.log.info(message);
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
