//! Checks of sparekey.toml's `[radius]` table as a whole: listen addresses, clients and
//! their modes, upstreams (each error with its place in the file and what was expected).

use crate::radius::{
    ClientMode, MessageAuthenticatorRule, RadiusClientConfig, RadiusConfig, MAX_UPSTREAM_RETRIES,
    UPSTREAM_TIMEOUT_RANGE,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

/// Longest `challenge-prompt`: a Reply-Message holds 253 bytes.
const MAX_PROMPT_LEN: usize = 253;

/// Checks `[radius]`; `base` is sparekey.toml's directory (secret files are relative to it).
pub(crate) fn check_radius(
    r: &RadiusConfig,
    base: &Path,
    err: &mut impl FnMut(Range<usize>, String),
) {
    let window = *r.replay_window.get_ref();
    let (shortest, longest) = crate::radius::REPLAY_WINDOW_RANGE;
    if !(shortest..=longest).contains(&window) {
        err(
            r.replay_window.span(),
            format!("replay-window {window} is out of range; expected {shortest} to {longest}"),
        );
    }
    for l in &r.listen {
        if l.get_ref().parse::<SocketAddr>().is_err() {
            err(
                l.span(),
                format!(
                    "expected an address and port like 127.0.0.1:1812 or [::1]:1812, found {:?}",
                    l.get_ref()
                ),
            );
        }
    }
    let mut clients = HashSet::new();
    let mut addresses: Vec<(crate::Cidr, &str)> = Vec::new();
    for c in &r.client {
        if let Some((_, other)) = addresses.iter().find(|(a, _)| *a == c.address) {
            err(
                c.name.span(),
                format!(
                    "RADIUS client {:?} has the same address {} as client {other:?}; expected each address block once",
                    c.name.get_ref(),
                    c.address
                ),
            );
        }
        addresses.push((c.address, c.name.get_ref()));
        let name = c.name.get_ref();
        match (&c.secret_file, c.member_hosts) {
            (Some(f), false) => {
                if let Err(problem) = crate::check_secret_file(&base.join(f.get_ref())) {
                    err(f.span(), problem);
                }
            }
            (None, false) => err(
                c.name.span(),
                format!("RADIUS client {name:?} needs a `secret-file`, e.g. \"/etc/sparekey/{name}.secret\" (or `member-hosts = true` for enrolled member hosts)"),
            ),
            (Some(f), true) => err(
                f.span(),
                format!("RADIUS client {name:?} has `member-hosts = true`, so its secrets come from the site key and each host's name; expected no `secret-file`"),
            ),
            (None, true) => {}
        }
        let rule = &c.require_message_authenticator;
        if c.member_hosts && *rule.get_ref() != MessageAuthenticatorRule::Required {
            err(
                rule.span(),
                format!("RADIUS client {name:?} has `member-hosts = true`, whose requests always carry Message-Authenticator; expected no `require-message-authenticator`"),
            );
        }
        check_mode(r, c, &mut *err);
        if !clients.insert(c.name.get_ref().as_str()) {
            err(
                c.name.span(),
                format!(
                    "RADIUS client {:?} is defined twice; names must be unique",
                    c.name.get_ref()
                ),
            );
        }
        match (&c.service, c.member_hosts) {
            (Some(service), true) => err(
                service.span(),
                format!("RADIUS client {name:?} has `member-hosts = true`, whose requests name their PAM service; expected no `service`"),
            ),
            (Some(service), false) if service.get_ref().trim().is_empty() => err(
                service.span(),
                format!("RADIUS client {name:?} needs a `service`, e.g. \"vpn\""),
            ),
            (None, false) => err(
                c.name.span(),
                format!("RADIUS client {name:?} needs a `service`, e.g. \"vpn\""),
            ),
            _ => {}
        }
    }
    check_upstreams(r, base, err);
}

/// `mode` and the keys that go with it.
fn check_mode(
    r: &RadiusConfig,
    c: &RadiusClientConfig,
    err: &mut impl FnMut(Range<usize>, String),
) {
    let name = c.name.get_ref();
    let mode = *c.mode.get_ref();
    if c.member_hosts {
        for (key, span) in [
            (
                "mode",
                (mode != ClientMode::CodeOnly).then(|| c.mode.span()),
            ),
            ("upstream", c.upstream.as_ref().map(|u| u.span())),
            ("accounting", c.accounting.then(|| c.name.span())),
        ] {
            if let Some(span) = span {
                err(span, format!("RADIUS client {name:?} has `member-hosts = true`, whose requests are pam_sparekey's own questions; expected no `{key}`"));
            }
        }
    }
    let wrong_mode = |key: &str, wants: &str| {
        format!(
            "`{key}` is for mode = {wants}; RADIUS client {name:?} has mode = \"{}\"",
            mode.as_str()
        )
    };
    if let Some(service) = &c.primary_pam_service {
        if mode == ClientMode::CodeOnly {
            err(
                service.span(),
                wrong_mode("primary-pam-service", "\"challenge\" or \"append\""),
            );
        }
        let s = service.get_ref();
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || s.starts_with('.')
        {
            err(service.span(), format!("expected a PAM service name (a file in /etc/pam.d: letters, digits, '-', '_', '.'), found {s:?}"));
        }
    }
    if let Some(prompt) = &c.challenge_prompt {
        if mode != ClientMode::Challenge {
            err(
                prompt.span(),
                wrong_mode("challenge-prompt", "\"challenge\""),
            );
        }
        let p = prompt.get_ref();
        if p.trim().is_empty()
            || p.len() > MAX_PROMPT_LEN
            || p.chars().any(|ch| ch.is_control() && ch != '\n')
        {
            err(prompt.span(), format!("expected a prompt of 1 to {MAX_PROMPT_LEN} bytes without control characters, found {p:?}"));
        }
    }
    if let Some(delimiter) = &c.append_delimiter {
        if mode != ClientMode::Append {
            err(
                delimiter.span(),
                wrong_mode("append-delimiter", "\"append\""),
            );
        }
        let d = delimiter.get_ref();
        // Codes are letters and digits, typed with spaces or dashes between groups.
        let fits = !d.is_empty()
            && d.len() <= 8
            && d.chars()
                .all(|ch| ch.is_ascii_graphic() && !ch.is_ascii_alphanumeric() && ch != '-');
        if !fits {
            err(delimiter.span(), format!("expected 1 to 8 printable characters that no code contains (not letters, digits, '-' or spaces), e.g. \",\", found {d:?}"));
        }
    }
    if let Some(upstream) = &c.upstream {
        if r.upstream(upstream.get_ref()).is_none() {
            let names: Vec<&str> = r
                .upstream
                .iter()
                .map(|u| u.name.get_ref().as_str())
                .collect();
            err(
                upstream.span(),
                format!(
                    "unknown upstream {:?}; expected the name of a [[radius.upstream]] ({})",
                    upstream.get_ref(),
                    if names.is_empty() {
                        "there is none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            );
        }
    }
}

/// `[[radius.upstream]]` entries.
fn check_upstreams(r: &RadiusConfig, base: &Path, err: &mut impl FnMut(Range<usize>, String)) {
    let mut names = HashSet::new();
    for u in &r.upstream {
        let name = u.name.get_ref();
        if name.trim().is_empty() || !names.insert(name.as_str()) {
            err(u.name.span(), format!("upstream {name:?}: expected a name of its own (names must be unique and not empty)"));
        }
        if let Err(problem) = crate::split_server(u.address.get_ref()) {
            err(u.address.span(), problem);
        }
        if let Err(problem) = crate::check_secret_file(&base.join(u.secret_file.get_ref())) {
            err(u.secret_file.span(), problem);
        }
        let timeout = *u.timeout.get_ref();
        let (shortest, longest) = UPSTREAM_TIMEOUT_RANGE;
        if !(shortest..=longest).contains(&timeout) {
            err(
                u.timeout.span(),
                format!("timeout {timeout} is out of range; expected {shortest} to {longest}"),
            );
        }
        if *u.retries.get_ref() > MAX_UPSTREAM_RETRIES {
            err(
                u.retries.span(),
                format!(
                    "retries {} is out of range; expected 0 to {MAX_UPSTREAM_RETRIES}",
                    u.retries.get_ref()
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "radius_tests.rs"]
mod tests;
