//! The duplicate cache: a retransmitted Access-Request (same source address and port,
//! Identifier and Request Authenticator) gets the reply already sent, for 5 seconds, and is
//! never verified twice, so a retransmit of an accepted single-use code is not refused.
//!
//! Only replies to verified requests are stored, so filling the cache takes the client's
//! secret. Memory is bounded by a cap on entries and on reply bytes. When the cache is full
//! of live replies, [`ReplyCache::has_room`] says no and new requests are dropped (the NAS
//! retries) rather than evicting a live reply, which could let a retransmit be verified again.

use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestKey {
    /// Source address and port.
    pub source: SocketAddr,
    /// The Identifier field.
    pub identifier: u8,
    /// The Request Authenticator.
    pub authenticator: [u8; 16],
}

impl Hash for RequestKey {
    /// The key's 35 bytes in one write: SipHash costs mostly per call, and hashing the fields
    /// one by one takes seven. Equal keys give equal bytes (an IPv4 source as its IPv4-mapped
    /// IPv6 address; equal IPv6 sources differing only in flow or scope would merely collide).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ip = match self.source {
            SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
            SocketAddr::V6(a) => a.ip().octets(),
        };
        let mut bytes = [0u8; 35];
        bytes[..16].copy_from_slice(&ip);
        bytes[16..18].copy_from_slice(&self.source.port().to_le_bytes());
        bytes[18] = self.identifier;
        bytes[19..].copy_from_slice(&self.authenticator);
        state.write(&bytes);
    }
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

    /// Stores `reply` for `key` at `now` and lends it back, if there is room; gives it back
    /// if there is not.
    pub fn insert(
        &mut self,
        key: RequestKey,
        reply: Vec<u8>,
        now: Instant,
    ) -> Result<&[u8], Vec<u8>> {
        if !self.has_room(reply.len(), now) {
            return Err(reply);
        }
        let reply = reply.into_boxed_slice();
        self.bytes += reply.len();
        self.order.push_back((key, now));
        let entry = Entry { stored: now, reply };
        let stored = match self.map.entry(key) {
            Slot::Occupied(mut old) => {
                self.bytes -= old.get().reply.len();
                old.insert(entry);
                old.into_mut()
            }
            Slot::Vacant(slot) => slot.insert(entry),
        };
        Ok(&stored.reply)
    }

    /// Forgets every reply (their answers could not be made to last: see
    /// [`crate::responder::Responder::settle`]), so that retransmits are decided afresh.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
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
            if let Slot::Occupied(entry) = self.map.entry(key) {
                if entry.get().stored == stored {
                    self.bytes -= entry.remove().reply.len();
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
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
    fn insert_lends_the_reply_and_replacing_a_live_one_keeps_the_counts_right() {
        let t0 = Instant::now();
        let mut c = ReplyCache::default();
        assert_eq!(
            c.insert(key(1, 1, 1), b"first".to_vec(), t0),
            Ok(&b"first"[..])
        );
        let t1 = t0 + Duration::from_secs(1);
        let second = c.insert(key(1, 1, 1), b"second!".to_vec(), t1);
        assert_eq!(second, Ok(&b"second!"[..]));
        assert_eq!((c.len(), c.bytes()), (1, 7));
        // The first store's expiry leaves the newer reply; the newer one's takes it.
        assert!(c.has_room(1, t0 + TTL));
        assert_eq!(c.get(&key(1, 1, 1), t0 + TTL), Some(&b"second!"[..]));
        assert!(c.has_room(1, t1 + TTL));
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn an_ipv4_source_and_its_mapped_ipv6_form_are_different_requests() {
        let t0 = Instant::now();
        let mut c = ReplyCache::default();
        let v4 = key(1812, 3, 9);
        let mut mapped = v4;
        mapped.source =
            SocketAddr::from((std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(), 1812));
        c.insert(v4, b"v4".to_vec(), t0).unwrap();
        assert_eq!(c.get(&v4, t0), Some(&b"v4"[..]));
        assert_eq!(
            c.get(&mapped, t0),
            None,
            "same hash input, not the same key"
        );
        c.insert(mapped, b"v6".to_vec(), t0).unwrap();
        assert_eq!(
            (c.get(&v4, t0), c.get(&mapped, t0)),
            (Some(&b"v4"[..]), Some(&b"v6"[..]))
        );
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
