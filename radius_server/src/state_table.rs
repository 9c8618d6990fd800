//! The State of challenge mode: made when a password passed and the user has a usable code,
//! sent in the Access-Challenge, and good once, for 60 s, for the same client, source address
//! and user. A bounded table shared by the answering threads and the password checkers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Every State sparekeyd makes starts so; a State without it is an upstream's.
pub const STATE_PREFIX: &[u8] = b"sparekey1:";
/// Random bytes after the prefix.
const STATE_RANDOM: usize = 16;
/// How long a State is good for.
pub const STATE_LIFETIME: Duration = Duration::from_secs(60);
/// Most States outstanding; a new one past this is refused (the login fails closed).
pub const MAX_STATES: usize = 65_536;

/// What a State is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The client's name.
    pub client: String,
    /// The source address of the first request (the NAS).
    pub source: IpAddr,
    /// The user whose password passed.
    pub user: String,
}

#[derive(Debug)]
struct Entry {
    binding: Binding,
    made: Instant,
}

/// Why a State was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// Never made here, used already, or expired and dropped.
    Unknown,
    /// Made here, but more than [`STATE_LIFETIME`] ago.
    Expired,
    /// Made for another client, source or user.
    Mismatch,
}

impl StateRefusal {
    /// For log lines.
    pub fn describe(self) -> &'static str {
        match self {
            StateRefusal::Unknown => "a State that sparekeyd did not make or that was used already",
            StateRefusal::Expired => "a State older than 60 s",
            StateRefusal::Mismatch => "a State made for another client, source address or user",
        }
    }
}

/// The outstanding States.
#[derive(Debug, Default)]
pub struct StateTable {
    states: Mutex<HashMap<[u8; STATE_RANDOM], Entry>>,
}

impl StateTable {
    /// Makes a State for `binding` at `now` from `random` bytes; `None` when the table is
    /// full of live States.
    pub fn make(
        &self,
        binding: Binding,
        now: Instant,
        random: [u8; STATE_RANDOM],
    ) -> Option<Vec<u8>> {
        let mut states = self.lock();
        if states.len() >= MAX_STATES {
            states.retain(|_, e| now.duration_since(e.made) < STATE_LIFETIME);
            if states.len() >= MAX_STATES {
                return None;
            }
        }
        states.insert(random, Entry { binding, made: now });
        let mut state = STATE_PREFIX.to_vec();
        state.extend_from_slice(&random);
        Some(state)
    }

    /// Takes the State `state` for `binding` at `now`: it is gone after this, whatever the
    /// answer (one try per State). The random part is compared in constant time.
    pub fn take(&self, state: &[u8], binding: &Binding, now: Instant) -> Result<(), StateRefusal> {
        let random = state
            .strip_prefix(STATE_PREFIX)
            .and_then(|r| <[u8; STATE_RANDOM]>::try_from(r).ok())
            .ok_or(StateRefusal::Unknown)?;
        let mut states = self.lock();
        // A HashMap lookup compares keys with ==; the found key is compared again in
        // constant time so that the lookup's timing tells nothing beyond presence.
        let found = states
            .get_key_value(&random)
            .filter(|(k, _)| bool::from(k.ct_eq(&random)))
            .map(|(k, _)| *k);
        let entry = found
            .and_then(|k| states.remove(&k))
            .ok_or(StateRefusal::Unknown)?;
        if now.duration_since(entry.made) >= STATE_LIFETIME {
            return Err(StateRefusal::Expired);
        }
        if entry.binding != *binding {
            return Err(StateRefusal::Mismatch);
        }
        Ok(())
    }

    /// Whether `state` is one of sparekeyd's (by its prefix), made here or not.
    pub fn is_ours(state: &[u8]) -> bool {
        state.starts_with(STATE_PREFIX)
    }

    /// States outstanding.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; STATE_RANDOM], Entry>> {
        match self.states.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
mod tests {
    use super::*;

    fn binding(user: &str) -> Binding {
        Binding {
            client: "vpn-gw".into(),
            source: "192.0.2.1".parse().unwrap(),
            user: user.into(),
        }
    }

    #[test]
    fn a_state_is_good_once() {
        let t = StateTable::default();
        let now = Instant::now();
        let s = t.make(binding("alice"), now, [1; 16]).unwrap();
        assert!(StateTable::is_ours(&s));
        assert_eq!(t.take(&s, &binding("alice"), now), Ok(()));
        assert_eq!(
            t.take(&s, &binding("alice"), now),
            Err(StateRefusal::Unknown)
        );
        assert!(t.is_empty());
    }

    #[test]
    fn a_state_is_bound_and_expires() {
        let t = StateTable::default();
        let now = Instant::now();
        let s = t.make(binding("alice"), now, [2; 16]).unwrap();
        assert_eq!(
            t.take(&s, &binding("bob"), now),
            Err(StateRefusal::Mismatch)
        );
        // Gone after a mismatch too: no second guess.
        assert_eq!(
            t.take(&s, &binding("alice"), now),
            Err(StateRefusal::Unknown)
        );
        let mut other_source = binding("alice");
        other_source.source = "192.0.2.2".parse().unwrap();
        let s = t.make(binding("alice"), now, [3; 16]).unwrap();
        assert_eq!(t.take(&s, &other_source, now), Err(StateRefusal::Mismatch));
        let s = t.make(binding("alice"), now, [4; 16]).unwrap();
        assert_eq!(
            t.take(&s, &binding("alice"), now + STATE_LIFETIME),
            Err(StateRefusal::Expired)
        );
        assert_eq!(
            t.take(b"sparekey1:short", &binding("alice"), now),
            Err(StateRefusal::Unknown)
        );
        assert!(!StateTable::is_ours(b"upstream-state"));
    }

    #[test]
    fn the_table_is_bounded() {
        let t = StateTable::default();
        let now = Instant::now();
        for i in 0..MAX_STATES {
            let mut r = [0u8; 16];
            r[..8].copy_from_slice(&(i as u64).to_be_bytes());
            assert!(t.make(binding("u"), now, r).is_some());
        }
        assert!(
            t.make(binding("u"), now, [0xff; 16]).is_none(),
            "full of live States"
        );
        // Expired ones make room.
        assert!(t
            .make(binding("u"), now + STATE_LIFETIME, [0xff; 16])
            .is_some());
        assert_eq!(t.len(), 1);
    }
}
