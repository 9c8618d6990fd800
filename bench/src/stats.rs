//! Latency percentiles by the nearest-rank method.
//!
//! The p-th percentile of N sorted samples is the sample at rank ceil(p/100 * N) (1-based):
//! always a value that was measured, never an interpolation. p50 of [1, 2, 3, 4] is 2; p99
//! of 100 samples is the 99th; p99 of fewer than 100 samples is the maximum.

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted` (ascending). 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let p = p.clamp(0.0, 100.0);
    // Rank in 1..=n; computed in integers where possible so that p99 of 100 samples is
    // exactly rank 99 (floating point would give 99.00000000000001 and round up to 100).
    let scaled = (p * 1000.0).round() as u128; // p in thousandths of a percent
    let rank = (scaled * n as u128).div_ceil(100_000) as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// A summary of latency samples (nanoseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Minimum.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl Summary {
    /// Summarises `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Summary {
            count: samples.len(),
            mean: sum as f64 / samples.len() as f64,
            min: samples[0],
            p50: percentile(samples, 50.0),
            p90: percentile(samples, 90.0),
            p99: percentile(samples, 99.0),
            p999: percentile(samples, 99.9),
            max: samples[samples.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero() {
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn single_sample_is_every_percentile() {
        for p in [0.1, 1.0, 50.0, 99.0, 99.9, 100.0] {
            assert_eq!(percentile(&[42], p), 42);
        }
    }

    #[test]
    fn nearest_rank_small() {
        let v = [1, 2, 3, 4];
        assert_eq!(percentile(&v, 25.0), 1);
        assert_eq!(percentile(&v, 50.0), 2);
        assert_eq!(percentile(&v, 50.1), 3);
        assert_eq!(percentile(&v, 75.0), 3);
        assert_eq!(percentile(&v, 99.0), 4);
        assert_eq!(percentile(&v, 100.0), 4);
        // p0 is taken as the minimum.
        assert_eq!(percentile(&v, 0.0), 1);
    }

    #[test]
    fn p99_of_hundred_is_rank_99_exactly() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 100.0), 100);
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 99.9), 999);
        assert_eq!(percentile(&v, 99.0), 990);
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 99.0), 10, "p99 of 10 samples is the max");
        assert_eq!(percentile(&v, 50.0), 5);
    }

    #[test]
    fn matches_a_brute_force_definition() {
        // Smallest value such that at least p% of samples are <= it.
        let mut rng = crate::rng::SplitMix64::new(7);
        for n in [1usize, 2, 3, 7, 99, 100, 101, 1234] {
            let mut v: Vec<u64> = (0..n).map(|_| rng.next_u64() % 1000).collect();
            v.sort_unstable();
            for p in [1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
                let brute = *v
                    .iter()
                    .find(|&&x| {
                        let at_or_below = v.iter().filter(|&&y| y <= x).count();
                        at_or_below as f64 * 100.0 >= p * n as f64 - 1e-9
                    })
                    .unwrap();
                assert_eq!(percentile(&v, p), brute, "n={n} p={p}");
            }
        }
    }

    #[test]
    fn summary_sorts_and_summarises() {
        let mut v: Vec<u64> = (1..=200).rev().collect();
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 200);
        assert_eq!(s.min, 1);
        assert_eq!(s.max, 200);
        assert_eq!(s.p50, 100);
        assert_eq!(s.p90, 180);
        assert_eq!(s.p99, 198);
        assert_eq!(s.p999, 200);
        assert!((s.mean - 100.5).abs() < 1e-9);
    }
}
