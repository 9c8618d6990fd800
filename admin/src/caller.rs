//! Who is asking and what they may do: the peer's uid from SO_PEERCRED, their name and groups
//! from the directory (NSS), their roles from `[[admin.role]]`. root is superadmin.

use sparekey_conf::{AdminRole, Config, RoleAction};
use sparekey_core::identity::Directory;

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
    /// Resolves uid to name and groups through `directory` (NSS in sparekeyd).
    pub fn resolve(
        directory: &dyn Directory,
        uid: u32,
        pid: i32,
    ) -> Result<Self, sparekey_core::Error> {
        let name = directory.user_name(uid)?;
        let (name, groups) = match name {
            Some(n) => {
                let g = directory.groups_of(&n)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sparekey.toml"),
            "[[admin.role]]\nname = \"helpdesk\"\ngroups = [\"helpdesk\"]\nmay = [\"issue\", \"list\"]\npolicies = [\"staff\"]\n\n[[admin.role]]\nname = \"auditor\"\nusers = [\"ann\"]\nmay = [\"audit\"]\npolicies = [\"*\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("policy.toml"),
            "[[policy]]\nname = \"staff\"\nusers = [\"a\"]\nservices = [\"sshd\"]\n\n[[policy]]\nname = \"ops\"\nusers = [\"b\"]\nservices = [\"sshd\"]\n",
        )
        .unwrap();
        let c = sparekey_conf::load(&dir.path().join("sparekey.toml")).unwrap();
        (dir, c)
    }

    fn caller(uid: u32, name: &str, groups: &[&str]) -> Caller {
        Caller {
            uid,
            pid: 1,
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn roles_act_only_on_their_policies_and_actions() {
        let (_d, c) = config();
        let hd = caller(1000, "hank", &["helpdesk"]);
        assert!(hd.may(&c, RoleAction::Issue, "staff"));
        assert!(!hd.may(&c, RoleAction::Issue, "ops"));
        assert!(!hd.may(&c, RoleAction::Revoke, "staff"));
        assert_eq!(hd.describe(&c), "hank (uid 1000; roles helpdesk)");
        let auditor = caller(1001, "ann", &[]);
        assert!(
            auditor.may(&c, RoleAction::Audit, "ops")
                && auditor.may(&c, RoleAction::Audit, "staff")
        );
        assert!(!auditor.may_at_all(&c, RoleAction::Issue));
    }

    #[test]
    fn root_is_superadmin_and_strangers_have_nothing() {
        let (_d, c) = config();
        let root = caller(0, "root", &["root"]);
        assert!(root.may(&c, RoleAction::Universal, "ops"));
        assert_eq!(root.describe(&c), "root (uid 0; superadmin)");
        let stranger = caller(4242, "uid:4242", &[]);
        assert!(stranger.roles(&c).is_empty());
        assert!(!stranger.may_at_all(&c, RoleAction::List));
        assert_eq!(stranger.source(), "admin-socket uid=4242 pid=1");
    }
}
