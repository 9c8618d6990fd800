//! Member mode: a host whose sparekey.toml has a `[site]` table holds no site key and no
//! digests, and asks the site ([`crate::site_client`]) whether to prompt, then about the
//! code. The PAM results and messages are those of a host that is its own site.

use crate::args::Args;
use crate::auth::{
    accepted_message, clean, debug, locked_message, read_code, refused_message, Context, Fail,
    Outcome, RETIRED_MESSAGE,
};
use crate::handler::PamHandler;
use crate::site_client::{self, Answer, Question};
use sparekey_conf::{Config, SiteConfig};
use sparekey_core::host_file::HostFile;
use sparekey_radius_codec::member::{Op, Refusal};

/// The PAM items a question carries, cleaned as the audit log wants them.
struct Items {
    rhost: Option<String>,
    tty: Option<String>,
    ruser: Option<String>,
}

impl Items {
    fn of(h: &dyn PamHandler) -> Self {
        let item = |v: Option<String>| v.filter(|v| !v.is_empty()).map(|v| clean(&v));
        Items {
            rhost: item(h.rhost()),
            tty: item(h.tty()),
            ruser: item(h.ruser()),
        }
    }

    fn question<'a>(&'a self, op: Op, user: &'a str, service: &'a str) -> Question<'a> {
        Question {
            op,
            user,
            service,
            rhost: self.rhost.as_deref(),
            tty: self.tty.as_deref(),
            ruser: self.ruser.as_deref(),
            code: None,
            report: None,
        }
    }
}

fn host_file(site: &SiteConfig, cx: &Context<'_>) -> Result<HostFile, Fail> {
    HostFile::load(site.host_file.get_ref(), cx.euid).map_err(|e| Fail::Unavailable(e.to_string()))
}

/// What an answer that should not come for this question means: the site is not speaking
/// the member protocol as this module does.
fn unexpected(op: &str, answer: Answer) -> Fail {
    Fail::Unavailable(format!(
        "the site answered a {op} with {answer:?}, which this module does not expect; are the site and this host on the same sparekey version?"
    ))
}

fn host_refused(host: &HostFile) -> Fail {
    Fail::Unavailable(format!(
        "the site refuses this host ({:?}, enrollment {}): it was revoked; enroll it again on the site (sparekeyctl host enroll {} --out FILE) and install the new host file",
        host.host, host.serial, host.host
    ))
}

/// The code-asking line in member mode.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authenticate(
    h: &mut dyn PamHandler,
    args: &Args,
    cx: &Context<'_>,
    config: &Config,
    site: &SiteConfig,
    user: &str,
    service: &str,
    asked: &mut bool,
) -> Result<Outcome, Fail> {
    let contact = config.policy.contact.as_str();
    let host = host_file(site, cx)?;
    let items = Items::of(h);
    let probe = items.question(Op::Probe, user, service);
    let asked_site = if site.offline {
        Err("[site] offline = true, so the site is not asked".to_string())
    } else {
        site_client::ask(site, &host, &probe)
    };
    let answered = match asked_site {
        Ok(answered) => answered,
        Err(why) => {
            return crate::offline::login(
                h, args, cx, config, site, &host, user, service, asked, why,
            )
        }
    };
    // The site answers: tell it of the offline logins it missed meanwhile.
    crate::offline::report(config, site, &host, cx);
    match answered {
        Answer::Challenge => {}
        Answer::Reject(Refusal::NothingHere) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: the site has no usable code here; not asking"),
            );
            return Ok(Outcome::Ignore);
        }
        Answer::Reject(Refusal::LockedOut) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: locked out, not asking for a code"),
            );
            let _ = h.error(&locked_message(contact));
            return Ok(Outcome::MaxTries);
        }
        Answer::Reject(Refusal::HostRefused) => return Err(host_refused(&host)),
        other => return Err(unexpected("probe", other)),
    }
    let code = match read_code(h, args, cx, user, service, contact, asked)? {
        Ok(code) => code,
        Err(outcome) => return Ok(outcome),
    };
    let mut question = items.question(Op::Code, user, service);
    question.code = Some(code.as_bytes());
    let answered = site_client::ask(site, &host, &question).map_err(Fail::Unavailable);
    drop(code);
    match answered? {
        Answer::Accept {
            not_after: Some(not_after),
            uses_left,
            ..
        } => {
            let until = chrono::DateTime::from_timestamp(i64::from(not_after), 0).unwrap_or(cx.now);
            let _ = h.info(&accepted_message(until, uses_left.map(Some)));
            debug(
                args,
                cx,
                &format!("{user} on {service}: the site accepted the code"),
            );
            Ok(Outcome::Success)
        }
        Answer::Reject(Refusal::Refused) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: the site refused the code"),
            );
            let _ = h.error(&refused_message(contact));
            Ok(Outcome::AuthErr)
        }
        Answer::Reject(Refusal::LockedOut) => {
            let _ = h.error(&locked_message(contact));
            Ok(Outcome::MaxTries)
        }
        Answer::Reject(Refusal::NothingHere) => {
            debug(
                args,
                cx,
                &format!("{user} on {service}: the site has nothing for this login now"),
            );
            Ok(Outcome::Ignore)
        }
        Answer::Reject(Refusal::HostRefused) => Err(host_refused(&host)),
        other => Err(unexpected("code", other)),
    }
}

/// The `retire` line in member mode: asks the site to end the user's codes.
pub(crate) fn retire(
    h: &mut dyn PamHandler,
    args: &Args,
    cx: &Context<'_>,
    site: &SiteConfig,
    user: &str,
    service: &str,
) -> Result<(), Fail> {
    let host = host_file(site, cx)?;
    let items = Items::of(h);
    let question = items.question(Op::Retire, user, service);
    match site_client::ask(site, &host, &question).map_err(Fail::Unavailable)? {
        Answer::Accept { ended: Some(0), .. } => {
            debug(
                args,
                cx,
                &format!("retire: {user} has no active temporary code"),
            );
            Ok(())
        }
        Answer::Accept { ended: Some(n), .. } => {
            debug(
                args,
                cx,
                &format!("retire: the site ended {n} of {user}'s codes"),
            );
            let _ = h.info(RETIRED_MESSAGE);
            Ok(())
        }
        Answer::Reject(Refusal::HostRefused) => Err(host_refused(&host)),
        other => Err(unexpected("retire", other)),
    }
}
