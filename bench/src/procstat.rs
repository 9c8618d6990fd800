//! CPU time of a process: the server's from `/proc/PID/stat` (utime + stime, which cover
//! all its threads, including threads that have exited), and the generator's own from
//! getrusage(2).

use std::time::Duration;

/// CPU time a process has used, split into user and system time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time in user mode.
    pub user: Duration,
    /// Time in the kernel on its behalf (system calls, and on loopback the delivery of the
    /// datagrams it sends).
    pub system: Duration,
}

impl CpuTime {
    /// user + system.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The CPU time used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// Parses utime and stime (fields 14 and 15, in clock ticks) from the text of
/// `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted after the last ')'.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th here and stime the 13th.
    let utime = fields.nth(11)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Clock ticks per second (sysconf(_SC_CLK_TCK)), normally 100.
pub fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

fn ticks(n: u64, hz: u64) -> Duration {
    Duration::from_nanos(n.saturating_mul(1_000_000_000) / hz.max(1))
}

/// The CPU time of process `pid`, all threads, from `/proc/PID/stat` (tick resolution,
/// 10 ms at the usual 100 Hz).
pub fn process_cpu(pid: u32) -> std::io::Result<CpuTime> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (u, s) = parse_stat(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("cannot parse /proc/{pid}/stat"),
        )
    })?;
    let hz = clock_ticks();
    Ok(CpuTime {
        user: ticks(u, hz),
        system: ticks(s, hz),
    })
}

/// The on-CPU time of every live thread of `pid`, summed from
/// `/proc/PID/task/*/schedstat` (nanoseconds; user and system together). Finer than
/// [`process_cpu`] but blind to threads that exit in between; a cross-check.
pub fn sched_runtime(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // the thread exited meanwhile
        };
        total += text.split_ascii_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The calling process's own CPU time (all threads), from getrusage(RUSAGE_SELF).
pub fn own_cpu() -> CpuTime {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let d = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            CpuTime {
                user: d(u.user_time()),
                system: d(u.system_time()),
            }
        }
        Err(_) => CpuTime::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let line = "1234 (free radius) (x)) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 75 0 0 20 0 9 0 12345 1000000 500 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some((150, 75)));
        assert_eq!(parse_stat("1 (a) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        // Burn a little CPU so that there is something to see.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let cpu = process_cpu(pid).unwrap();
        assert!(cpu.total() > Duration::ZERO);
        assert!(sched_runtime(pid).unwrap() > Duration::ZERO);
        assert!(own_cpu().total() > Duration::ZERO);
        let later = CpuTime {
            user: cpu.user + Duration::from_millis(30),
            system: cpu.system,
        };
        assert_eq!(later.since(&cpu).total(), Duration::from_millis(30));
    }
}
