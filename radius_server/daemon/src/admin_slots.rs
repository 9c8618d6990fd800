//! Who may hold how many admin-socket connections at once: each non-root uid a few, all of
//! them together a bounded number, and root a share of its own, so that a member of the
//! socket's group holding connections open can neither exhaust the daemon nor lock root out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Connections one non-root uid may hold at once.
pub const PER_UID: usize = 4;
/// Connections all non-root callers may hold together.
pub const NON_ROOT: usize = 32;
/// Connections root may hold, beside the others'.
pub const ROOT: usize = 8;

#[derive(Debug, Default)]
struct Counts {
    by_uid: HashMap<u32, usize>,
    non_root: usize,
}

/// The connections held now, per uid.
#[derive(Debug, Clone, Default)]
pub struct Slots(Arc<Mutex<Counts>>);

/// One connection's place: given back when dropped, however its thread ends.
#[derive(Debug)]
pub struct Slot {
    slots: Slots,
    uid: u32,
}

impl Slots {
    /// A place for a connection from `uid`, or why there is none.
    pub fn admit(&self, uid: u32) -> Result<Slot, String> {
        let mut c = self.lock();
        let held = c.by_uid.get(&uid).copied().unwrap_or(0);
        if uid == 0 {
            if held >= ROOT {
                return Err(format!("root already holds {ROOT} connections"));
            }
        } else if held >= PER_UID {
            return Err(format!("uid {uid} already holds {PER_UID} connections"));
        } else if c.non_root >= NON_ROOT {
            return Err(format!("{NON_ROOT} connections of other users are open"));
        }
        *c.by_uid.entry(uid).or_insert(0) += 1;
        if uid != 0 {
            c.non_root += 1;
        }
        Ok(Slot {
            slots: self.clone(),
            uid,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.lock();
        if let Some(n) = c.by_uid.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_uid.remove(&self.uid);
            }
        }
        if self.uid != 0 {
            c.non_root = c.non_root.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_holds_a_few_and_root_always_gets_in() {
        let slots = Slots::default();
        let held: Vec<Slot> = (0..PER_UID).map(|_| slots.admit(1000).unwrap()).collect();
        assert_eq!(
            slots.admit(1000).unwrap_err(),
            "uid 1000 already holds 4 connections"
        );
        assert!(slots.admit(1001).is_ok(), "another user is not held back");
        let root = slots.admit(0).expect("root gets in");
        drop(held);
        assert!(slots.admit(1000).is_ok(), "places are given back");
        drop(root);
    }

    #[test]
    fn all_other_users_together_are_bounded_but_not_root() {
        let slots = Slots::default();
        let held: Vec<Slot> = (0..NON_ROOT as u32)
            .map(|i| slots.admit(2000 + i).unwrap())
            .collect();
        assert!(slots.admit(4000).is_err());
        let roots: Vec<Slot> = (0..ROOT).map(|_| slots.admit(0).unwrap()).collect();
        assert_eq!(
            slots.admit(0).unwrap_err(),
            "root already holds 8 connections"
        );
        drop((held, roots));
        assert!(slots.admit(4000).is_ok());
    }
}
