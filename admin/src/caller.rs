//! Who is asking and what they may do: the peer's uid from SO_PEERCRED, their name and groups
//! through NSS, their roles from `[[admin.role]]`. root is superadmin.

use sparekey_conf::{AdminRole, Config, RoleAction};
use sparekey_core::identity;

/// The person (process) on the other end of the admin socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Their uid, from the kernel.
    pub uid: u32,
    /// Their pid, from the kernel, for the audit log.
    pub pid: i32,
    /// Their user name through NSS, or "uid:N" when NSS does not know it.
    pub name: String,
    /// Their groups through NSS.
    pub groups: Vec<String>,
}

impl Caller {
    /// Resolves uid to name and groups through NSS.
    pub fn resolve(uid: u32, pid: i32) -> Result<Self, sparekey_core::Error> {
        let name = identity::user_name(nix::unistd::Uid::from_raw(uid))?;
        let (name, groups) = match name {
            Some(n) => {
                let g = identity::groups_of(&n)?;
                (n, g)
            }
            None => (format!("uid:{uid}"), Vec::new()),
        };
        Ok(Caller {
            uid,
            pid,
            name,
            groups,
        })
    }

    /// root may do everything.
    pub fn is_superadmin(&self) -> bool {
        self.uid == 0
    }

    /// The roles this caller holds.
    pub fn roles<'a>(&self, config: &'a Config) -> Vec<&'a AdminRole> {
        config
            .daemon
            .admin
            .role
            .iter()
            .filter(|r| {
                r.users.contains(&self.name) || r.groups.iter().any(|g| self.groups.contains(g))
            })
            .collect()
    }

    /// Whether the caller may take `action` on credentials of `policy`.
    pub fn may(&self, config: &Config, action: RoleAction, policy: &str) -> bool {
        self.is_superadmin()
            || self
                .roles(config)
                .iter()
                .any(|r| r.allows(action) && r.covers_policy(policy))
    }

    /// Whether the caller may take `action` at all (on some policy).
    pub fn may_at_all(&self, config: &Config, action: RoleAction) -> bool {
        self.is_superadmin() || self.roles(config).iter().any(|r| r.allows(action))
    }

    /// "alice (uid 1000; roles helpdesk)" for messages.
    pub fn describe(&self, config: &Config) -> String {
        if self.is_superadmin() {
            return format!("{} (uid {}; superadmin)", self.name, self.uid);
        }
        let roles: Vec<&str> = self
            .roles(config)
            .iter()
            .map(|r| r.name.get_ref().as_str())
            .collect();
        if roles.is_empty() {
            format!("{} (uid {}; no role)", self.name, self.uid)
        } else {
            format!(
                "{} (uid {}; roles {})",
                self.name,
                self.uid,
                roles.join(", ")
            )
        }
    }

    /// "admin-socket uid=1000 pid=4242", the source of this caller's audit events.
    pub fn source(&self) -> String {
        format!("admin-socket uid={} pid={}", self.uid, self.pid)
    }
}
