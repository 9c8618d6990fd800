//! The duplicate cache: a retransmitted Access-Request (same source address and port,
//! Identifier and Request Authenticator) gets the reply already sent, for 5 seconds, and is
//! never verified twice, so a retransmit of an accepted single-use code is not refused.
//!
//! Only replies to verified requests are stored, so filling the cache takes the client's
//! secret. Memory is bounded by a cap on entries and on reply bytes. When the cache is full
//! of live replies, [`ReplyCache::has_room`] says no and new requests are dropped (the NAS
//! retries) rather than evicting a live reply, which could let a retransmit be verified again.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a reply is replayed to retransmits.
pub const TTL: Duration = Duration::from_secs(5);
/// Most replies held at once (per answering thread; each has its own socket and cache, and
/// one client source port always reaches the same one): 5 s of about 100,000 requests/s, the
/// most one answering thread serves. About 250 bytes each with the index, so at most about
/// 130 MB per thread, and only a client holding the secret can fill it.
pub const MAX_ENTRIES: usize = 1 << 19;
/// Most reply bytes held at once (per answering thread).
pub const MAX_BYTES: usize = 64 << 20;

/// What identifies a request and its retransmits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// Source address and port.
    pub source: SocketAddr,
    /// The Identifier field.
    pub identifier: u8,
    /// The Request Authenticator.
    pub authenticator: [u8; 16],
}

#[derive(Debug)]
struct Entry {
    stored: Instant,
    reply: Box<[u8]>,
}

/// Replies sent in the last [`TTL`], bounded in entries and bytes.
#[derive(Debug)]
pub struct ReplyCache {
    map: HashMap<RequestKey, Entry>,
    /// Insertion order (which is also expiry order: every entry lives exactly [`TTL`]).
    order: VecDeque<(RequestKey, Instant)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
}

impl Default for ReplyCache {
    fn default() -> Self {
        ReplyCache::new(MAX_ENTRIES, MAX_BYTES, TTL)
    }
}

impl ReplyCache {
    /// A cache holding at most `max_entries` replies and `max_bytes` reply bytes, each for `ttl`.
    pub fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> Self {
        ReplyCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
            ttl,
        }
    }

    /// The reply to replay for `key`, if one was stored less than the TTL before `now`.
    pub fn get(&self, key: &RequestKey, now: Instant) -> Option<&[u8]> {
        self.map
            .get(key)
            .filter(|e| now.saturating_duration_since(e.stored) < self.ttl)
            .map(|e| &*e.reply)
    }

    /// Whether a reply of up to `len` bytes can be stored at `now` (after dropping expired
    /// ones). Ask before verifying a request, so a full cache costs no crypto.
    pub fn has_room(&mut self, len: usize, now: Instant) -> bool {
        self.expire(now);
        self.map.len() < self.max_entries && self.bytes + len <= self.max_bytes
    }

    /// Stores `reply` for `key` at `now`, if there is room; gives it back if there is not.
    pub fn insert(&mut self, key: RequestKey, reply: Vec<u8>, now: Instant) -> Result<(), Vec<u8>> {
        if !self.has_room(reply.len(), now) {
            return Err(reply);
        }
        let reply = reply.into_boxed_slice();
        self.bytes += reply.len();
        if let Some(old) = self.map.insert(key, Entry { stored: now, reply }) {
            self.bytes -= old.reply.len();
        }
        self.order.push_back((key, now));
        Ok(())
    }

    /// How many replies are held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many reply bytes are held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops every reply stored a TTL or more before `now`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(key, stored)) = self.order.front() {
            if now.saturating_duration_since(stored) < self.ttl {
                break;
            }
            self.order.pop_front();
            // A key stored again later has a newer entry: leave that one.
            if self.map.get(&key).is_some_and(|e| e.stored == stored) {
                if let Some(old) = self.map.remove(&key) {
                    self.bytes -= old.reply.len();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16, identifier: u8, a: u8) -> RequestKey {
        RequestKey {
            source: SocketAddr::from(([192, 0, 2, 1], port)),
            identifier,
            authenticator: [a; 16],
        }
    }

    #[test]
    fn replays_within_ttl_and_forgets_after() {
        let t0 = Instant::now();
        let mut c = ReplyCache::default();
        assert!(c.insert(key(1000, 7, 1), b"reply".to_vec(), t0).is_ok());
        assert_eq!(c.get(&key(1000, 7, 1), t0), Some(&b"reply"[..]));
        let almost = t0 + TTL - Duration::from_millis(1);
        assert_eq!(c.get(&key(1000, 7, 1), almost), Some(&b"reply"[..]));
        assert_eq!(c.get(&key(1000, 7, 1), t0 + TTL), None);
        // Expired entries are freed on the next insert or room check.
        assert!(c.has_room(10, t0 + TTL));
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn every_part_of_the_key_matters() {
        let t0 = Instant::now();
        let mut c = ReplyCache::default();
        c.insert(key(1000, 7, 1), b"r".to_vec(), t0).unwrap();
        assert!(c.get(&key(1001, 7, 1), t0).is_none(), "other port");
        assert!(c.get(&key(1000, 8, 1), t0).is_none(), "other identifier");
        assert!(c.get(&key(1000, 7, 2), t0).is_none(), "other authenticator");
        let mut other_ip = key(1000, 7, 1);
        other_ip.source = SocketAddr::from(([192, 0, 2, 2], 1000));
        assert!(c.get(&other_ip, t0).is_none(), "other address");
    }

    #[test]
    fn storing_again_after_expiry_keeps_the_new_reply() {
        let t0 = Instant::now();
        let mut c = ReplyCache::default();
        c.insert(key(1, 1, 1), b"old".to_vec(), t0).unwrap();
        let t1 = t0 + TTL;
        assert!(c.get(&key(1, 1, 1), t1).is_none());
        c.insert(key(1, 1, 1), b"newer".to_vec(), t1).unwrap();
        assert_eq!(c.get(&key(1, 1, 1), t1 + TTL / 2), Some(&b"newer"[..]));
        assert_eq!(c.len(), 1);
        assert_eq!(c.bytes(), 5);
    }

    #[test]
    fn a_flood_never_grows_past_the_caps() {
        let t0 = Instant::now();
        let mut c = ReplyCache::new(1000, 20_000, TTL);
        let mut stored = 0;
        for i in 0..50_000u32 {
            let k = RequestKey {
                source: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], (i % 60_000) as u16)),
                identifier: i as u8,
                authenticator: [(i % 251) as u8; 16],
            };
            if c.insert(k, vec![0; 38], t0 + Duration::from_micros(u64::from(i)))
                .is_ok()
            {
                stored += 1;
            }
            assert!(c.len() <= 1000 && c.bytes() <= 20_000);
            assert!(c.order.len() <= 1000);
        }
        assert_eq!(stored, 20_000 / 38, "the byte cap binds first here");
        // Live replies are never evicted to make room: they are all still replayed.
        assert!(!c.has_room(38, t0 + Duration::from_secs(1)));
        // Once they expire there is room again.
        assert!(c.has_room(38, t0 + TTL + Duration::from_secs(1)));
        assert!(c.is_empty());
    }

    #[test]
    fn entry_cap_binds_with_small_replies() {
        let t0 = Instant::now();
        let mut c = ReplyCache::new(3, 1 << 20, TTL);
        for i in 0..3 {
            assert!(c.insert(key(i, 0, 0), vec![1], t0).is_ok());
        }
        assert_eq!(c.insert(key(9, 0, 0), vec![1], t0), Err(vec![1]));
        assert_eq!(c.len(), 3);
    }
}
