//! The admin socket protocol: one JSON object per line each way, a request and its answer.

use serde::{Deserialize, Serialize};

/// The largest request line accepted, in bytes; a longer one closes the connection.
pub const MAX_REQUEST: usize = 64 * 1024;

/// The largest answer line a client accepts, in bytes.
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// A request to sparekeyd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Issue a temporary code.
    Issue(IssueArgs),
    /// End a user's temporary codes and issue a new one.
    Replace(IssueArgs),
    /// Set a user's fixed passcode (RSA style), ending the previous one.
    Fixed(FixedArgs),
    /// Issue a universal (break-glass) code for any user of a policy; superadmin only.
    Universal(UniversalArgs),
    /// Show credentials.
    List {
        /// Only this user's.
        #[serde(default)]
        user: Option<String>,
        /// Also ended ones (revoked, expired, used).
        #[serde(default)]
        all: bool,
    },
    /// End a user's credentials, or one of them.
    Revoke {
        /// Whose.
        user: String,
        /// Only this one.
        #[serde(default)]
        id: Option<String>,
        /// Why, for the audit log.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Clear a user's lockout.
    Unlock {
        /// Whose.
        user: String,
    },
    /// Read the audit log.
    Audit {
        /// Only events about this user.
        #[serde(default)]
        user: Option<String>,
        /// At most this many, newest (default 100).
        #[serde(default)]
        limit: Option<usize>,
        /// Check the HMAC chain of the whole log instead.
        #[serde(default)]
        verify: bool,
    },
    /// The daemon's state.
    Status,
    /// Re-read the configuration.
    Reload,
    /// Enroll a member host: its host file, with its keys, comes back once.
    HostEnroll {
        /// Its name.
        host: String,
    },
    /// Revoke a member host: the site refuses it from now on.
    HostRevoke {
        /// Its name.
        host: String,
        /// Why, for the audit log.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Show the member hosts.
    HostList,
    /// Answer a member host's offline request with a response code.
    OfflineRespond(OfflineArgs),
}

/// What `offline respond` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OfflineArgs {
    /// The member host that shows the request.
    pub host: String,
    /// The user logging in there.
    pub user: String,
    /// The request code the host shows, as read over the phone.
    pub request: String,
    /// How long the login is valid from the host's acceptance (at most 14 days).
    pub lifetime: String,
    /// The justification, for the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What `issue` and `replace` take. Unset fields take the policy's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IssueArgs {
    /// For whom.
    pub user: String,
    /// Lifetime like "1h" or "14d".
    #[serde(default, rename = "for")]
    pub lifetime: Option<String>,
    /// Start, RFC 3339.
    #[serde(default)]
    pub from: Option<String>,
    /// End, RFC 3339.
    #[serde(default)]
    pub until: Option<String>,
    /// Multi-use without cap.
    #[serde(default)]
    pub multi: bool,
    /// At most this many uses.
    #[serde(default)]
    pub uses: Option<u32>,
    /// Narrow to these services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Narrow to these hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Justification.
    #[serde(default)]
    pub reason: Option<String>,
    /// The window starts at the first use (Endpoint Protector style); `for` is its length.
    #[serde(default)]
    pub activate_on_first_use: bool,
    /// With `activate_on_first_use`: the first use must come within this long, like "5d".
    #[serde(default)]
    pub redeem_within: Option<String>,
}

/// What `fixed` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FixedArgs {
    /// For whom.
    pub user: String,
    /// The passcode the admin chose (entered twice at the terminal; never echoed back).
    pub passcode: String,
    /// Lifetime like "5d".
    #[serde(default, rename = "for")]
    pub lifetime: Option<String>,
    /// Justification.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What `universal` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UniversalArgs {
    /// The policy whose users it serves.
    pub policy: String,
    /// Lifetime like "1h" (default 1h).
    #[serde(default, rename = "for")]
    pub lifetime: Option<String>,
    /// Narrow to these services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Narrow to these hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Justification.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An answer from sparekeyd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    /// A code was issued (by `issue`, `replace` or `universal`); it is in this answer and
    /// nowhere else.
    Issued(Issued),
    /// A fixed passcode was set; the passcode itself is not repeated.
    FixedSet {
        /// Credential id.
        id: String,
        /// For whom.
        user: String,
        /// Valid from (RFC 3339, UTC).
        not_before: String,
        /// Valid until (RFC 3339, UTC).
        not_after: String,
        /// The policy.
        policy: String,
        /// Ids of the fixed passcodes it replaced.
        replaced: Vec<String>,
    },
    /// Credentials.
    Credentials {
        /// The credentials, newest first.
        credentials: Vec<CredentialView>,
        /// Users currently locked out among those the caller may see.
        lockouts: Vec<LockoutView>,
    },
    /// Credentials ended.
    Revoked {
        /// Whose.
        user: String,
        /// Which.
        ids: Vec<String>,
    },
    /// A lockout cleared.
    Unlocked {
        /// Whose.
        user: String,
        /// How many failures were forgotten.
        cleared: usize,
    },
    /// Audit events, oldest first.
    Events {
        /// The events.
        events: Vec<EventView>,
    },
    /// The audit chain and the credentials' seals were checked.
    Verified {
        /// Whether every event's HMAC matches.
        intact: bool,
        /// The first event that does not match.
        first_broken: Option<i64>,
        /// Credentials whose row was changed without the site key (seal or ceiling), by id.
        #[serde(default)]
        tampered: Vec<String>,
    },
    /// The daemon's state.
    Status(StatusView),
    /// A member host was enrolled.
    HostEnrolled {
        /// The host.
        host: HostView,
        /// Its host file, keys included: written to `--out` by sparekeyctl, never printed.
        file: String,
    },
    /// A member host was revoked.
    HostRevoked {
        /// The host.
        host: HostView,
    },
    /// The member hosts.
    Hosts {
        /// By name.
        hosts: Vec<HostView>,
    },
    /// The response code for an offline request, shown once.
    OfflineResponse {
        /// The host.
        host: String,
        /// The user.
        user: String,
        /// The response code to read back.
        response: String,
        /// How long the login is valid from the host's acceptance, in seconds.
        valid_secs: u64,
    },
    /// The configuration was re-read.
    Reloaded {
        /// The switch after the reload.
        enabled: bool,
        /// How many policies.
        policies: usize,
    },
    /// The request was refused or failed; the sentence says why and what to do.
    Error {
        /// For a person.
        error: String,
    },
}

/// A newly issued code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Credential id.
    pub id: String,
    /// The code, shown this once, grouped with dashes.
    pub code: String,
    /// For whom.
    pub user: String,
    /// Valid from (RFC 3339, UTC).
    pub not_before: String,
    /// Valid until (RFC 3339, UTC).
    pub not_after: String,
    /// "single-use", "multi-use" or "N uses".
    pub uses: String,
    /// The policy it was issued under.
    pub policy: String,
    /// Where it works.
    pub services: Vec<String>,
    /// On which hosts; empty means any.
    pub hosts: Vec<String>,
    /// Ids of the codes it replaced (for `replace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
    /// With activate-on-first-use: how long it lasts from its first use; `not_after` is then
    /// the deadline for that first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lasts_from_first_use: Option<String>,
}

/// A credential as `list` shows it; never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// User.
    pub user: String,
    /// Policy.
    pub policy: String,
    /// active, pending, used, expired, revoked.
    pub state: String,
    /// Valid from.
    pub not_before: String,
    /// Valid until.
    pub not_after: String,
    /// "single-use", ...
    pub uses: String,
    /// How often used.
    pub used: u32,
    /// Narrowed services, empty: all of the policy's.
    pub services: Vec<String>,
    /// Narrowed hosts, empty: all of the policy's.
    pub hosts: Vec<String>,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at: String,
    /// Why.
    pub reason: Option<String>,
}

/// A user whose temporary codes are refused for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutView {
    /// Who.
    pub user: String,
    /// Recent failures.
    pub failures: u32,
}

/// An audit event as `audit` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// Position in the log.
    pub seq: i64,
    /// When (RFC 3339).
    pub time: String,
    /// What.
    pub action: String,
    /// Who.
    pub actor: String,
    /// Whom.
    pub subject: String,
    /// Which credential.
    pub credential: Option<String>,
    /// Which service.
    pub service: Option<String>,
    /// From where.
    pub source: String,
    /// Why.
    pub reason: Option<String>,
}

/// A member host, as `host list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    /// Its name.
    pub name: String,
    /// Its enrollment number (its keys change with it).
    pub serial: u32,
    /// When it was last enrolled (RFC 3339).
    pub enrolled_at: String,
    /// Who enrolled it.
    pub enrolled_by: String,
    /// When it was revoked, if it is.
    pub revoked_at: Option<String>,
    /// When it last asked the site; null for a host that never asked.
    pub last_seen: Option<String>,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// sparekeyd's version.
    pub version: String,
    /// The organisation-wide switch.
    pub enabled: bool,
    /// Policy names in order.
    pub policies: Vec<String>,
    /// Credentials that could still be used.
    pub active_credentials: u64,
    /// All credentials ever stored.
    pub stored_credentials: u64,
    /// Audit events stored.
    pub audit_events: u64,
    /// The configuration file.
    pub config: String,
    /// The store file.
    pub store: String,
    /// RADIUS addresses answered on.
    pub radius_listen: Vec<String>,
    /// When sparekeyd started (RFC 3339).
    pub started: String,
    /// Who asked, and their roles.
    pub caller: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The member-host requests and answers as they travel (the fuzz seeds hold the same).
    #[test]
    fn host_and_offline_messages_travel_as_documented() {
        let r: Request = serde_json::from_str(r#"{"op":"offline-respond","host":"host-a","user":"alice","request":"234-567-897","lifetime":"8h"}"#).unwrap();
        assert!(
            matches!(r, Request::OfflineRespond(OfflineArgs { ref host, .. }) if host == "host-a")
        );
        let r: Request = serde_json::from_str(r#"{"op":"host-enroll","host":"web1"}"#).unwrap();
        assert_eq!(
            r,
            Request::HostEnroll {
                host: "web1".into()
            }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"host-list"}"#).unwrap(),
            Request::HostList
        );
        let a: Response = serde_json::from_str(r#"{"result":"hosts","hosts":[{"name":"a","serial":1,"enrolled_at":"t","enrolled_by":"root","revoked_at":null,"last_seen":null}]}"#).unwrap();
        assert!(matches!(a, Response::Hosts { ref hosts } if hosts[0].last_seen.is_none()));
        let json = serde_json::to_string(&Response::OfflineResponse {
            host: "h".into(),
            user: "u".into(),
            response: "0110-5FH7-2AFB".into(),
            valid_secs: 28_800,
        })
        .unwrap();
        assert!(json.contains(r#""result":"offline-response""#), "{json}");
    }
}
