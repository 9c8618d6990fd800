//! Keeps the log readable under a flood: a line about a source at most once a second per
//! source address, at most [`MAX_LINES_PER_SECOND`] lines a second in all, with a count of
//! what was held back so nothing goes unnoticed. Memory is bounded by [`MAX_SOURCES`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Lines about one source at most once per this interval.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Lines in all per [`INTERVAL`], whatever the number of sources (spoofed floods).
pub const MAX_LINES_PER_SECOND: u32 = 20;
/// Sources remembered at once.
pub const MAX_SOURCES: usize = 4096;

/// Whether to write a log line now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it; `held_back` lines were suppressed since the last one written.
    Log {
        /// Lines suppressed since the last line written by this limiter.
        held_back: u64,
    },
    /// Stay quiet; counted in the next line's `held_back`.
    Quiet,
}

/// Per-source log rate limiter. Time is a parameter.
#[derive(Debug)]
pub struct LogLimiter {
    last: HashMap<IpAddr, Instant>,
    window_start: Option<Instant>,
    lines_in_window: u32,
    held_back: u64,
    max_sources: usize,
    max_lines: u32,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter::new(MAX_SOURCES, MAX_LINES_PER_SECOND)
    }
}

impl LogLimiter {
    /// A limiter remembering at most `max_sources` sources and writing at most `max_lines`
    /// lines per [`INTERVAL`].
    pub fn new(max_sources: usize, max_lines: u32) -> Self {
        LogLimiter {
            last: HashMap::new(),
            window_start: None,
            lines_in_window: 0,
            held_back: 0,
            max_sources,
            max_lines,
        }
    }

    /// Whether a line about `source` may be written at `now`.
    pub fn check(&mut self, source: IpAddr, now: Instant) -> Verdict {
        if self
            .last
            .get(&source)
            .is_some_and(|t| now.saturating_duration_since(*t) < INTERVAL)
        {
            return self.quiet();
        }
        let new_window = self
            .window_start
            .is_none_or(|t| now.saturating_duration_since(t) >= INTERVAL);
        if new_window {
            self.window_start = Some(now);
            self.lines_in_window = 0;
            // Sources not heard of for an interval need no memory: their next line is allowed anyway.
            self.last
                .retain(|_, t| now.saturating_duration_since(*t) < INTERVAL);
        }
        if self.lines_in_window >= self.max_lines
            || (self.last.len() >= self.max_sources && !self.last.contains_key(&source))
        {
            return self.quiet();
        }
        self.lines_in_window += 1;
        self.last.insert(source, now);
        Verdict::Log {
            held_back: std::mem::take(&mut self.held_back),
        }
    }

    fn quiet(&mut self) -> Verdict {
        self.held_back += 1;
        Verdict::Quiet
    }

    /// How many sources are remembered.
    pub fn sources(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests count from one real Instant
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    #[test]
    fn once_a_second_per_source() {
        let t0 = Instant::now();
        let mut l = LogLimiter::default();
        assert_eq!(l.check(ip(1), t0), Verdict::Log { held_back: 0 });
        for ms in [1, 500, 999] {
            assert_eq!(
                l.check(ip(1), t0 + Duration::from_millis(ms)),
                Verdict::Quiet
            );
        }
        // Another source is not held back by the first.
        assert_eq!(l.check(ip(2), t0), Verdict::Log { held_back: 3 });
        assert_eq!(
            l.check(ip(1), t0 + Duration::from_millis(1000)),
            Verdict::Log { held_back: 0 }
        );
    }

    #[test]
    fn held_back_lines_are_counted_in_the_next_line() {
        let t0 = Instant::now();
        let mut l = LogLimiter::default();
        l.check(ip(1), t0);
        for i in 0..41 {
            l.check(ip(1), t0 + Duration::from_millis(i * 10));
        }
        assert_eq!(
            l.check(ip(1), t0 + Duration::from_secs(2)),
            Verdict::Log { held_back: 41 }
        );
    }

    #[test]
    fn a_spoofed_flood_is_capped_in_lines_and_memory() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(100, 20);
        let mut logged = 0;
        for i in 0..100_000u32 {
            let source = IpAddr::from(i.to_be_bytes());
            let now = t0 + Duration::from_micros(u64::from(i) * 50); // 5 s in all
            if matches!(l.check(source, now), Verdict::Log { .. }) {
                logged += 1;
            }
            assert!(l.sources() <= 100);
        }
        assert!(logged <= 20 * 6, "{logged} lines");
        assert!(
            logged >= 20 * 4,
            "{logged} lines: some must still get through"
        );
    }

    #[test]
    fn memory_is_freed_when_sources_go_quiet() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(10, 100);
        for i in 0..10 {
            l.check(ip(i), t0);
        }
        assert_eq!(l.sources(), 10);
        assert_eq!(l.check(ip(200), t0), Verdict::Quiet, "full");
        assert!(matches!(
            l.check(ip(200), t0 + INTERVAL),
            Verdict::Log { .. }
        ));
        assert_eq!(l.sources(), 1);
    }
}
