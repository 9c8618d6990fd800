//! The host's side of the offline exchange, on a member host that cannot reach its site (or
//! says `offline = true`): the person types `offline` at the code prompt, reads the request
//! code to the helpdesk and types the response code read back. The host's own policy.toml
//! says who may; its ledger (its `[store]`) keeps the request, the accepted response and the
//! wrong answers, and the offline logins until the site has them.

use crate::args::Args;
use crate::auth::{answer, debug, locked_message, refused_message, Context, Fail, Outcome};
use crate::handler::PamHandler;
use crate::site_client::{self, Answer, Question};
use sparekey_conf::{Config, SiteConfig};
use sparekey_core::host_file::HostFile;
use sparekey_core::ledger::Ledger;
use sparekey_core::offline::{self, QUARTER_HOUR};
use sparekey_core::{after, before};
use sparekey_radius_codec::member::Op;

/// The word typed at the code prompt to start the exchange.
pub const OFFLINE_WORD: &str = "offline";

/// The prompt for the response code.
pub const RESPONSE_PROMPT: &str = "Response code: ";

/// Shown when a response is mistyped (its check character).
pub const MISTYPED_MESSAGE: &str =
    "Response code mistyped: its check character does not match. Read it again.";

/// Offline logins reported to the site after one login at most.
const REPORT_AT_ONCE: usize = 10;

/// What a login the site did not answer comes to: the offline exchange for a user the host's
/// policy lets log in offline, else PAM_AUTHINFO_UNAVAIL for `unreachable`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn login(
    h: &mut dyn PamHandler,
    args: &Args,
    cx: &Context<'_>,
    config: &Config,
    site: &SiteConfig,
    host: &HostFile,
    user: &str,
    service: &str,
    asked: &mut bool,
    unreachable: String,
) -> Result<Outcome, Fail> {
    let policies = &config.policy;
    let groups = if policies.names_groups() {
        cx.directory
            .groups_of(user)
            .map_err(|e| Fail::Unavailable(e.to_string()))?
    } else {
        Vec::new()
    };
    let policy = match offline::offline_policy(policies, user, &groups, service, &host.host) {
        Ok(p) => p,
        Err(why) => return Err(Fail::Unavailable(format!("{unreachable}; {why}"))),
    };
    let contact = policies.contact.as_str();
    let unavailable = |e: sparekey_core::Error| Fail::Unavailable(e.to_string());
    let mut ledger = Ledger::open(&config.daemon.store.path, cx.euid).map_err(unavailable)?;
    let window = policy.lockout.window.as_secs();
    if ledger
        .failures(user, before(cx.now, window))
        .map_err(unavailable)?
        >= policy.lockout.attempts
    {
        debug(
            args,
            cx,
            &format!("{user} on {service}: offline, locked out"),
        );
        let _ = h.error(&locked_message(contact));
        return Ok(Outcome::MaxTries);
    }
    debug(
        args,
        cx,
        &format!("{user} on {service}: {unreachable}; offline login possible"),
    );
    let Some(typed) = answer(h, args, asked)? else {
        return Ok(Outcome::Ignore);
    };
    let text = String::from_utf8_lossy(&typed).trim().to_string();
    drop(typed);
    let refuse = |h: &mut dyn PamHandler, ledger: &mut Ledger, message: &str| {
        ledger
            .count_failure(user, cx.now, before(cx.now, window))
            .map_err(unavailable)?;
        cx.log.info(&format!(
            "{user} on {service}: offline answer refused, counted toward the lockout"
        ));
        let _ = h.error(message);
        Ok(Outcome::AuthErr)
    };
    if text.is_empty() {
        return Ok(Outcome::Ignore);
    }
    if offline::looks_like_response(&text) {
        // A response accepted earlier, typed again within its validity.
        let digest = offline::grant_digest(&host.keys.offline, user, &text)
            .map_err(|e| Fail::Unavailable(e.to_string()))?;
        return match ledger
            .use_grant(user, &digest, cx.now, service)
            .map_err(unavailable)?
        {
            Some(until) => {
                cx.log.info(&format!("{user} on {service}: offline login with the response accepted earlier (valid until {})", sparekey_core::rfc3339(until)));
                let _ = h.info(&accepted(until));
                Ok(Outcome::Success)
            }
            None => refuse(h, &mut ledger, &refused_message(contact)),
        };
    }
    if !text.eq_ignore_ascii_case(OFFLINE_WORD) {
        // A site code: it cannot be checked without the site.
        return Err(Fail::Unavailable(unreachable));
    }
    let mut pool = [0u8; 256];
    getrandom::fill(&mut pool)
        .map_err(|e| Fail::Unavailable(format!("no randomness from the OS: {e}")))?;
    let mut next = pool.iter().copied().cycle();
    let keep = site.request_lifetime.get_ref().as_secs();
    let (request, new) = ledger
        .request(user, cx.now, keep, || next.next().unwrap_or(0))
        .map_err(unavailable)?;
    if new {
        cx.log.info(&format!(
            "{user} on {service}: offline request {} shown",
            request.display()
        ));
    }
    let _ = h.info(&format!("Request code: {}", request.display()));
    let Some(typed) = h.prompt_hidden(RESPONSE_PROMPT)? else {
        return Ok(Outcome::Ignore);
    };
    let response = String::from_utf8_lossy(&typed).trim().to_string();
    drop(typed);
    if response.is_empty() {
        return Ok(Outcome::Ignore);
    }
    match offline::verify_response(&host.keys.offline, &host.host, user, &request, &response) {
        Ok(quarters) => {
            let until = after(cx.now, quarters * QUARTER_HOUR);
            let digest = offline::grant_digest(&host.keys.offline, user, &response)
                .map_err(|e| Fail::Unavailable(e.to_string()))?;
            if !ledger
                .accept(user, &request, &digest, cx.now, until, service)
                .map_err(unavailable)?
            {
                return refuse(h, &mut ledger, &refused_message(contact));
            }
            cx.log.info(&format!(
                "{user} on {service}: offline response accepted for request {}, valid until {}",
                request.display(),
                sparekey_core::rfc3339(until)
            ));
            let _ = h.info(&accepted(until));
            Ok(Outcome::Success)
        }
        Err(_) if !offline::looks_like_response(&response) => {
            refuse(h, &mut ledger, MISTYPED_MESSAGE)
        }
        Err(_) => refuse(h, &mut ledger, &refused_message(contact)),
    }
}

fn accepted(until: sparekey_core::Time) -> String {
    format!(
        "Offline login accepted. The same response code works on this host until {}.",
        until.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Tells the site of the offline logins it has not heard of, now that it answers; each one
/// is forgotten once the site has recorded it. Problems go to syslog.
pub(crate) fn report(config: &Config, site: &SiteConfig, host: &HostFile, cx: &Context<'_>) {
    let path = &config.daemon.store.path;
    if !path.exists() {
        return;
    }
    let pending = Ledger::open(path, cx.euid).and_then(|l| Ok((l.unreported(REPORT_AT_ONCE)?, l)));
    let (pending, mut ledger) = match pending {
        Ok(found) => found,
        Err(e) => {
            cx.log.error(&format!(
                "offline logins cannot be reported to the site: {e}"
            ));
            return;
        }
    };
    for login in pending {
        let question = Question {
            op: Op::Report,
            user: &login.user,
            service: &login.service,
            rhost: None,
            tty: None,
            ruser: None,
            code: None,
            report: Some((
                login.at.timestamp(),
                login.not_after.timestamp(),
                &login.what,
            )),
        };
        match site_client::ask(site, host, &question) {
            Ok(Answer::Accept { .. }) => {
                if let Err(e) = ledger.reported(login.id) {
                    cx.log.error(&format!(
                        "an offline login was reported but cannot be forgotten: {e}"
                    ));
                    return;
                }
            }
            Ok(other) => {
                cx.log.error(&format!(
                    "the site did not record an offline login of {}: {other:?}",
                    login.user
                ));
                return;
            }
            Err(why) => {
                cx.log
                    .error(&format!("offline logins not reported yet: {why}"));
                return;
            }
        }
    }
}
