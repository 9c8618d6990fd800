//! How sparekeyctl shows answers to a person, and errors in either form.

use sparekey_admin_protocol::{CredentialView, EventView, HostView, Issued, Response, StatusView};
use sparekey_conf::Config;

/// Prints an error: a sentence on stderr, or with --json one object on stdout.
pub fn error(message: &str, json: bool) {
    if json {
        let body = serde_json::json!({ "result": "error", "error": message });
        println!("{body}");
    } else {
        eprintln!("sparekeyctl: {message}");
    }
}

/// Prints the result of check-config.
pub fn config_ok(c: &Config, json: bool) {
    if json {
        let body = serde_json::json!({
            "result": "config-ok",
            "config": c.path.display().to_string(),
            "policy-file": c.policy_path.display().to_string(),
            "enabled": c.policy.enabled,
            "policies": c.policy.policy.len(),
        });
        println!("{body}");
    } else {
        println!("{}", c.summary());
    }
}

/// Prints an answer for a person.
pub fn human(response: &Response) {
    match response {
        Response::Issued(i) => issued(i),
        Response::Credentials {
            credentials,
            lockouts,
        } => {
            if credentials.is_empty() {
                println!("No credentials.");
            }
            for c in credentials {
                credential(c);
            }
            for l in lockouts {
                println!(
                    "LOCKED OUT  {}  ({} recent failures; sparekeyctl unlock {} clears it)",
                    l.user, l.failures, l.user
                );
            }
        }
        Response::FixedSet {
            id,
            user,
            not_before,
            not_after,
            policy,
            replaced,
        } => {
            println!("Fixed passcode set for {user} (id {id}, policy {policy}), valid {not_before} until {not_after}.");
            if !replaced.is_empty() {
                println!("It replaces {}.", replaced.join(", "));
            }
        }
        Response::Revoked { user, ids } => println!(
            "Revoked {} credential(s) of {user}: {}",
            ids.len(),
            ids.join(", ")
        ),
        Response::Unlocked { user, cleared } => {
            println!("Unlocked {user} ({cleared} recent failures cleared).")
        }
        Response::Events { events } => {
            if events.is_empty() {
                println!("No audit events.");
            }
            for e in events {
                event(e);
            }
        }
        Response::Verified {
            intact,
            first_broken,
            tampered,
        } => {
            if *intact {
                println!("Audit log intact: every event's HMAC chain matches.");
            } else {
                let at = first_broken.map_or("?".to_string(), |s| s.to_string());
                eprintln!("sparekeyctl: audit log BROKEN: event {at} does not match its HMAC chain; it or an earlier one was altered or removed");
            }
            if tampered.is_empty() {
                println!("Credentials intact: every row's seal matches.");
            } else {
                eprintln!(
                    "sparekeyctl: credentials TAMPERED: {} changed without the site key (their seal does not match, or their window breaks the 14-day ceiling); they are refused",
                    tampered.join(", ")
                );
            }
        }
        Response::Status(s) => status(s),
        // Written to its file by `host enroll`, never shown.
        Response::HostEnrolled { host, .. } => println!("Host {} enrolled.", host.name),
        Response::HostRevoked { host } => println!(
            "Host {} revoked: the site refuses it from now on (enrollment {}).",
            host.name, host.serial
        ),
        Response::OfflineResponse {
            host,
            user,
            response,
            valid_secs,
        } => {
            println!("Response code for {user} on {host} (shown once; read it to the person):");
            println!();
            println!("    {response}");
            println!();
            println!(
                "Valid for {} from when {host} accepts it.",
                sparekey_conf::Duration::from_secs(*valid_secs)
            );
        }
        Response::Hosts { hosts } => {
            if hosts.is_empty() {
                println!("No member hosts.");
            }
            for h in hosts {
                host_line(h);
            }
        }
        Response::Reloaded { enabled, policies } => println!(
            "Configuration reloaded: {policies} policies, temporary codes {}.",
            if *enabled { "enabled" } else { "disabled" }
        ),
        Response::Error { error } => eprintln!("sparekeyctl: {error}"),
    }
}

fn issued(i: &Issued) {
    println!("Code for {}: {}", i.user, i.code);
    println!("  id        {}", i.id);
    println!("  valid     {} until {}", i.not_before, i.not_after);
    println!("  uses      {}", i.uses);
    println!(
        "  services  {} (policy {})",
        i.services.join(", "),
        i.policy
    );
    if !i.hosts.is_empty() {
        println!("  hosts     {}", i.hosts.join(", "));
    }
    if let Some(d) = &i.lasts_from_first_use {
        println!(
            "  activates at first use (due by {}), then lasts {d}",
            i.not_after
        );
    }
    if !i.replaced.is_empty() {
        println!("  replaces  {}", i.replaced.join(", "));
    }
    if i.user == "*" {
        println!(
            "This universal code works for every user of policy {}. It is shown only once.",
            i.policy
        );
    } else {
        println!(
            "This code is shown only once. Give it to {} over a channel you trust.",
            i.user
        );
    }
}

fn credential(c: &CredentialView) {
    let scope = match (c.services.is_empty(), c.hosts.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" services={}", c.services.join(",")),
        (true, false) => format!(" hosts={}", c.hosts.join(",")),
        (false, false) => format!(
            " services={} hosts={}",
            c.services.join(","),
            c.hosts.join(",")
        ),
    };
    println!(
        "{}  {:<8} {:<10} {}  {} .. {}  {} (used {})  policy={}{} by={}{}",
        c.id,
        c.state,
        c.kind,
        c.user,
        c.not_before,
        c.not_after,
        c.uses,
        c.used,
        c.policy,
        scope,
        c.issued_by,
        c.reason
            .as_deref()
            .map(|r| format!(" reason={r:?}"))
            .unwrap_or_default()
    );
}

fn event(e: &EventView) {
    let mut line = format!(
        "{:>6} {} {:<8} actor={} subject={}",
        e.seq, e.time, e.action, e.actor, e.subject
    );
    for (k, v) in [
        ("credential", &e.credential),
        ("service", &e.service),
        ("reason", &e.reason),
    ] {
        if let Some(v) = v {
            line.push_str(&format!(" {k}={v:?}"));
        }
    }
    line.push_str(&format!(" source={:?}", e.source));
    println!("{line}");
}

fn status(s: &StatusView) {
    println!("sparekeyd {} (started {})", s.version, s.started);
    println!(
        "  temporary codes  {}",
        if s.enabled {
            "enabled"
        } else {
            "DISABLED (enabled = false)"
        }
    );
    println!(
        "  policies         {}",
        if s.policies.is_empty() {
            "none".to_string()
        } else {
            s.policies.join(", ")
        }
    );
    println!(
        "  credentials      {} active, {} stored",
        s.active_credentials, s.stored_credentials
    );
    println!("  audit events     {}", s.audit_events);
    println!("  config           {}", s.config);
    println!("  store            {}", s.store);
    println!(
        "  radius           {}",
        if s.radius_listen.is_empty() {
            "off".to_string()
        } else {
            s.radius_listen.join(", ")
        }
    );
    println!("  you              {}", s.caller);
}

fn host_line(h: &HostView) {
    let state = match &h.revoked_at {
        Some(at) => format!("revoked {at}"),
        None => "enrolled".to_string(),
    };
    println!(
        "{}  {state}  enrollment {} at {} by {}  last asked {}",
        h.name,
        h.serial,
        h.enrolled_at,
        h.enrolled_by,
        h.last_seen.as_deref().unwrap_or("never")
    );
}

/// `host enroll` done: the file is written (its keys are not shown).
pub fn host_enrolled(h: &HostView, path: &std::path::Path, json: bool) {
    if json {
        let v = serde_json::json!({
            "result": "host-enrolled",
            "host": h,
            "out": path.display().to_string(),
        });
        println!("{v}");
    } else {
        println!(
            "Host {} enrolled (enrollment {}). Its host file is {} (mode 0600):",
            h.name,
            h.serial,
            path.display()
        );
        println!(
            "install it on {} alone as /etc/sparekey/host.key (root, 0600), and delete this copy.",
            h.name
        );
    }
}
