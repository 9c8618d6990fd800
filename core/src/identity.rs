//! Users and their unix groups: the [`Directory`] that policy matching and the admin
//! handlers ask, and [`Nss`], which asks NSS (so LDAP and SSSD groups count).

use crate::Error;
use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;

/// Where users' groups come from. Behind a trait so that policy matching and the admin
/// handlers are tested with a fake directory.
pub trait Directory: Send + Sync + std::fmt::Debug {
    /// The names of all groups `user` is in, primary group included; none for a user the
    /// directory does not know.
    fn groups_of(&self, user: &str) -> Result<Vec<String>, Error>;

    /// The name of the user `uid`, if the directory knows it.
    fn user_name(&self, uid: u32) -> Result<Option<String>, Error>;

    /// The uid of the account `user` names, if the directory knows it. Several names may
    /// reach one account: a case variant under SSSD's `case_sensitive = false`, a short and a
    /// fully-qualified name, two passwd entries with one uid.
    fn uid_of(&self, user: &str) -> Result<Option<u32>, Error>;
}

/// The system's users and groups, through NSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nss;

impl Directory for Nss {
    fn groups_of(&self, user: &str) -> Result<Vec<String>, Error> {
        groups_of(user)
    }

    fn user_name(&self, uid: u32) -> Result<Option<String>, Error> {
        user_name(Uid::from_raw(uid))
    }

    fn uid_of(&self, user: &str) -> Result<Option<u32>, Error> {
        not_found_is_none(User::from_name(user))
            .map(|u| u.map(|u| u.uid.as_raw()))
            .map_err(|e| Error::Identity(format!("cannot look up user {user:?} through NSS: {e}")))
    }
}

/// The names of all groups `user` is in, primary group included. A user NSS does not know
/// has no groups (they may still be named in a policy's `users`).
pub fn groups_of(user: &str) -> Result<Vec<String>, Error> {
    let fail =
        |e: nix::Error| Error::Identity(format!("cannot look up user {user:?} through NSS: {e}"));
    let Some(pw) = not_found_is_none(User::from_name(user)).map_err(fail)? else {
        return Ok(Vec::new());
    };
    let cname = CString::new(user)
        .map_err(|_| Error::Identity(format!("user name {user:?} contains a NUL byte")))?;
    let gids = nix::unistd::getgrouplist(&cname, pw.gid).map_err(fail)?;
    let mut names = Vec::with_capacity(gids.len());
    for gid in gids {
        if let Some(name) = group_name(gid)? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// getpwnam(3) and friends may report "no such entry" as ENOENT, ESRCH, EBADF or EPERM
/// depending on the NSS module; those mean "not found", not a failure.
fn not_found_is_none<T>(r: nix::Result<Option<T>>) -> nix::Result<Option<T>> {
    match r {
        Err(nix::Error::ENOENT | nix::Error::ESRCH | nix::Error::EBADF | nix::Error::EPERM) => {
            Ok(None)
        }
        other => other,
    }
}

/// The name of the group `gid`, if NSS knows it.
pub fn group_name(gid: Gid) -> Result<Option<String>, Error> {
    not_found_is_none(Group::from_gid(gid))
        .map(|g| g.map(|g| g.name))
        .map_err(|e| Error::Identity(format!("cannot look up group {gid} through NSS: {e}")))
}

/// The gid of the group `name`, if NSS knows it.
pub fn group_id(name: &str) -> Result<Option<Gid>, Error> {
    not_found_is_none(Group::from_name(name))
        .map(|g| g.map(|g| g.gid))
        .map_err(|e| Error::Identity(format!("cannot look up group {name:?} through NSS: {e}")))
}

/// The name of the user `uid`, if NSS knows it.
pub fn user_name(uid: Uid) -> Result<Option<String>, Error> {
    not_found_is_none(User::from_uid(uid))
        .map(|u| u.map(|u| u.name))
        .map_err(|e| Error::Identity(format!("cannot look up uid {uid} through NSS: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_group_root() {
        assert!(groups_of("root").unwrap().contains(&"root".to_string()));
        assert_eq!(
            user_name(Uid::from_raw(0)).unwrap().as_deref(),
            Some("root")
        );
    }

    #[test]
    fn unknown_user_has_no_groups() {
        assert!(groups_of("no-such-user-sparekey").unwrap().is_empty());
    }
}
