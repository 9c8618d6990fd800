//! Requests handed to a password checker or an upstream and not answered yet, and their
//! answers once sent: a retransmit of one in progress is dropped (never checked or passed
//! on twice), a retransmit of one answered gets the same answer, for [`TTL`]. Bounded, and
//! shared by every answering thread and worker.

use crate::dedup::{RequestKey, TTL};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most requests in progress or answered held at once; past it, new ones are dropped.
/// Answers are kept [`TTL`] for retransmits, so this bounds requests handed on to about
/// 50,000 a second (challenge mode's first rounds, upstream requests); about 200 bytes
/// each, some 50 MB when full.
pub const MAX_PENDING: usize = 1 << 18;

/// How long a request may stay in progress before it is forgotten (a worker that never
/// finished): longer than the slowest upstream exchange (2 minutes times 6 sends).
pub const MAX_IN_PROGRESS: Duration = Duration::from_secs(750);

#[derive(Debug)]
enum Slot {
    InProgress(Instant),
    Answered(Instant, Box<[u8]>),
}

/// What the table holds for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Nothing: a new request.
    New,
    /// A worker has it.
    InProgress,
    /// Answered with this reply.
    Answered(Vec<u8>),
}

/// The table.
#[derive(Debug, Default)]
pub struct PendingTable {
    slots: Mutex<HashMap<RequestKey, Slot>>,
}

impl PendingTable {
    /// What is known of `key` at `now`.
    pub fn get(&self, key: &RequestKey, now: Instant) -> Pending {
        match self.lock().get(key) {
            Some(Slot::InProgress(since)) if now.duration_since(*since) < MAX_IN_PROGRESS => {
                Pending::InProgress
            }
            Some(Slot::Answered(at, reply)) if now.duration_since(*at) < TTL => {
                Pending::Answered(reply.to_vec())
            }
            _ => Pending::New,
        }
    }

    /// Marks `key` in progress at `now`; false when the table is full (drop the request:
    /// the NAS sends it again).
    pub fn start(&self, key: RequestKey, now: Instant) -> bool {
        let mut slots = self.lock();
        if slots.len() >= MAX_PENDING {
            slots.retain(|_, s| match s {
                Slot::InProgress(since) => now.duration_since(*since) < MAX_IN_PROGRESS,
                Slot::Answered(at, _) => now.duration_since(*at) < TTL,
            });
            if slots.len() >= MAX_PENDING {
                return false;
            }
        }
        slots.insert(key, Slot::InProgress(now));
        true
    }

    /// Records the answer sent for `key` at `now`.
    pub fn answered(&self, key: RequestKey, reply: &[u8], now: Instant) {
        self.lock()
            .insert(key, Slot::Answered(now, reply.to_vec().into_boxed_slice()));
    }

    /// Forgets `key` (nothing was sent: the NAS's retransmit starts afresh).
    pub fn forget(&self, key: &RequestKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RequestKey, Slot>> {
        match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
mod tests {
    use super::*;

    fn key(id: u8) -> RequestKey {
        RequestKey {
            source: "192.0.2.1:4000".parse().unwrap(),
            identifier: id,
            authenticator: [id; 16],
        }
    }

    #[test]
    fn in_progress_then_answered_then_gone() {
        let t = PendingTable::default();
        let now = Instant::now();
        assert_eq!(t.get(&key(1), now), Pending::New);
        assert!(t.start(key(1), now));
        assert_eq!(t.get(&key(1), now), Pending::InProgress);
        t.answered(key(1), b"reply", now);
        assert_eq!(
            t.get(&key(1), now + TTL / 2),
            Pending::Answered(b"reply".to_vec())
        );
        assert_eq!(t.get(&key(1), now + TTL), Pending::New);
        assert!(t.start(key(2), now));
        t.forget(&key(2));
        assert_eq!(t.get(&key(2), now), Pending::New);
        assert!(t.start(key(3), now));
        assert_eq!(t.get(&key(3), now + MAX_IN_PROGRESS), Pending::New);
    }
}
