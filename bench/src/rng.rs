//! A small, fast PRNG (SplitMix64) seeded from the OS, for Request Authenticators.
//!
//! RFC 2865 wants Request Authenticators unpredictable; for a load generator on loopback
//! what matters is that they are distinct, so that no request is a retransmit of another
//! in the servers' duplicate caches. 128 bits from SplitMix64 seeded by the OS are.

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A generator seeded from the OS CSPRNG.
    pub fn from_os() -> Self {
        let mut b = [0u8; 8];
        // Without OS randomness, a time-based seed still gives distinct sequences per run.
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9e37_79b9);
            b = t.to_le_bytes();
        }
        SplitMix64(u64::from_le_bytes(b))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 16 bytes for a Request Authenticator.
    pub fn authenticator(&mut self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        a[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn authenticators_are_distinct() {
        let mut r = SplitMix64::new(1);
        let set: HashSet<[u8; 16]> = (0..100_000).map(|_| r.authenticator()).collect();
        assert_eq!(set.len(), 100_000);
    }

    #[test]
    fn known_first_value() {
        // Reference value of SplitMix64 with seed 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }
}
