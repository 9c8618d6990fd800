//! sparekeyctl's command line, and how each command becomes a request.

use crate::time_arg;
use clap::{Args, Parser, Subcommand};
use sparekey_admin_protocol::{FixedArgs, IssueArgs, OfflineArgs, Request, UniversalArgs};
use std::path::PathBuf;

/// Issue, list and revoke sparekey temporary codes through sparekeyd's admin socket.
#[derive(Debug, Parser)]
#[command(name = "sparekeyctl", version, long_about = None)]
pub struct Cli {
    /// Read the admin socket's path from this sparekey.toml.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// The admin socket [default: /run/sparekey/admin.sock].
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print every answer as one JSON object.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Issue a temporary code for USER; the code is printed once.
    Issue(IssueOpts),
    /// End USER's temporary codes and issue a new one (same scope and length unless given).
    Replace(IssueOpts),
    /// Set USER's fixed passcode, read twice from the terminal (or two lines of stdin).
    Fixed {
        /// For whom.
        user: String,
        /// Lifetime [default: the policy's default-lifetime]; at most 14d.
        #[arg(long = "for", value_name = "DURATION")]
        lifetime: Option<String>,
        /// Justification, shown in list and audit.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Issue a universal (break-glass) code for every user of POLICY (root only).
    Universal {
        /// The policy whose users it serves; the policy's kinds must include "universal".
        policy: String,
        /// Lifetime [default: 1h]; at most 14d.
        #[arg(long = "for", value_name = "DURATION")]
        lifetime: Option<String>,
        /// Only for this service (repeatable).
        #[arg(long = "service", value_name = "NAME")]
        services: Vec<String>,
        /// Only on this host (repeatable).
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Justification, shown in list and audit.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Show credentials that can still be used (with --all, also ended ones).
    List {
        /// Only this user's.
        user: Option<String>,
        /// Also revoked, expired and used credentials.
        #[arg(long)]
        all: bool,
    },
    /// End all of USER's credentials now, or just one with --id.
    Revoke {
        /// Whose.
        user: String,
        /// Only the credential with this id.
        #[arg(long)]
        id: Option<String>,
        /// Why, for the audit log.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Clear USER's lockout after too many wrong codes.
    Unlock {
        /// Whose.
        user: String,
    },
    /// Show the audit log (oldest first), or check its HMAC chain with --verify.
    Audit {
        /// Only events about this user.
        #[arg(long)]
        user: Option<String>,
        /// At most this many of the newest events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Check that no event was altered or removed from within the log.
        #[arg(long)]
        verify: bool,
    },
    /// Show sparekeyd's state and your roles.
    Status,
    /// Make sparekeyd re-read its configuration (root only).
    Reload,
    /// Check sparekey.toml and policy.toml without asking the daemon.
    CheckConfig,
    /// Answer a member host's offline request with a response code (shown once).
    Offline {
        /// What to do.
        #[command(subcommand)]
        action: OfflineCommand,
    },
    /// Enroll, revoke and list the site's member hosts.
    Host {
        /// What to do.
        #[command(subcommand)]
        action: HostCommand,
    },
}

/// `sparekeyctl offline ...`.
#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// The response code for the request code that HOST shows USER; needs no connection to
    /// the host.
    Respond {
        /// The member host showing the request.
        #[arg(long, value_name = "HOST")]
        host: String,
        /// The user logging in there.
        #[arg(long, value_name = "USER")]
        user: String,
        /// The request code, as read over the phone (dashes and spaces do not matter).
        #[arg(long, value_name = "CODE")]
        request: String,
        /// How long the login is valid from the host's acceptance; at most the policy's
        /// max-lifetime and 14d.
        #[arg(long = "for", value_name = "DURATION")]
        lifetime: String,
        /// Justification, for the audit log.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

/// `sparekeyctl host ...`.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Enroll HOST and write its host file (its keys; mode 0600) to FILE, once.
    Enroll {
        /// The host's name (lowercase, as its host file and requests will give it).
        host: String,
        /// Where to write the host file; it must not exist yet. Install it on HOST alone,
        /// as /etc/sparekey/host.key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Revoke HOST: the site refuses it from now on (enroll it again for a new host file).
    Revoke {
        /// The host's name.
        host: String,
        /// Why, for the audit log.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Show the enrolled hosts and when each last asked.
    List,
}

/// Options of `issue` and `replace`.
#[derive(Debug, Args)]
pub struct IssueOpts {
    /// For whom.
    pub user: String,
    /// Lifetime: 15m 30m 1h 2h 4h 8h 1d 2d 5d 14d, or any like 3h or 1d12h [default: the policy's].
    #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
    pub lifetime: Option<String>,
    /// End time: RFC 3339, or local "YYYY-MM-DD HH:MM" or "YYYY-MM-DD".
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Start time (default now), same forms as --until.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Usable any number of times within its window.
    #[arg(long, conflicts_with = "uses")]
    pub multi: bool,
    /// Usable at most N times.
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
    /// Only for this service (repeatable); default: all the policy allows.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Only on this host (repeatable); default: all the policy allows.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Justification, shown in list and audit.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Start the validity (--for) at the first use instead of now.
    #[arg(long, conflicts_with_all = ["from", "until"])]
    pub activate_on_first_use: bool,
    /// With --activate-on-first-use: the first use must come within DURATION [default: 14d].
    #[arg(long, value_name = "DURATION", requires = "activate_on_first_use")]
    pub redeem_within: Option<String>,
}

impl IssueOpts {
    fn to_args(&self) -> Result<IssueArgs, String> {
        Ok(IssueArgs {
            user: self.user.clone(),
            lifetime: self.lifetime.clone(),
            from: self
                .from
                .as_deref()
                .map(|t| time_arg::to_rfc3339("--from", t))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| time_arg::to_rfc3339("--until", t))
                .transpose()?,
            multi: self.multi,
            uses: self.uses,
            services: self.services.clone(),
            hosts: self.hosts.clone(),
            reason: self.reason.clone(),
            activate_on_first_use: self.activate_on_first_use,
            redeem_within: self.redeem_within.clone(),
        })
    }
}

/// The request for a command (all but check-config).
pub fn request(command: &Command) -> Result<Request, String> {
    Ok(match command {
        Command::Issue(o) => Request::Issue(o.to_args()?),
        Command::Replace(o) => Request::Replace(o.to_args()?),
        Command::Fixed {
            user,
            lifetime,
            reason,
        } => {
            let passcode = super::passcode::read_twice(user)?;
            Request::Fixed(FixedArgs {
                user: user.clone(),
                passcode: passcode.to_string(),
                lifetime: lifetime.clone(),
                reason: reason.clone(),
            })
        }
        Command::Universal {
            policy,
            lifetime,
            services,
            hosts,
            reason,
        } => Request::Universal(UniversalArgs {
            policy: policy.clone(),
            lifetime: lifetime.clone(),
            services: services.clone(),
            hosts: hosts.clone(),
            reason: reason.clone(),
        }),
        Command::List { user, all } => Request::List {
            user: user.clone(),
            all: *all,
        },
        Command::Revoke { user, id, reason } => Request::Revoke {
            user: user.clone(),
            id: id.clone(),
            reason: reason.clone(),
        },
        Command::Unlock { user } => Request::Unlock { user: user.clone() },
        Command::Audit {
            user,
            limit,
            verify,
        } => Request::Audit {
            user: user.clone(),
            limit: Some(*limit),
            verify: *verify,
        },
        Command::Status => Request::Status,
        Command::Reload => Request::Reload,
        Command::CheckConfig => return Err("check-config needs no daemon".into()),
        Command::Offline {
            action:
                OfflineCommand::Respond {
                    host,
                    user,
                    request,
                    lifetime,
                    reason,
                },
        } => Request::OfflineRespond(OfflineArgs {
            host: host.clone(),
            user: user.clone(),
            request: request.clone(),
            lifetime: lifetime.clone(),
            reason: reason.clone(),
        }),
        Command::Host { action } => match action {
            HostCommand::Enroll { host, .. } => Request::HostEnroll { host: host.clone() },
            HostCommand::Revoke { host, reason } => Request::HostRevoke {
                host: host.clone(),
                reason: reason.clone(),
            },
            HostCommand::List => Request::HostList,
        },
    })
}
