//! Durations as admins write them ("15m", "1h", "14d", "1d12h") and the 14-day ceiling.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::str::FromStr;

/// A span of time in whole seconds, written as a number with a unit: s, m, h, d, w.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// No credential is ever valid later than this after it was issued: 14 days.
pub const MAX_LIFETIME: Duration = Duration(14 * 86_400);

const EXPECTED: &str = "a duration like 15m, 1h, 8h, 1d or 14d (units s, m, h, d, w)";

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs)
    }

    /// Whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(format!("expected {EXPECTED}, found an empty string"));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(format!("expected {EXPECTED}, found {s:?}")),
            };
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("expected {EXPECTED}, found {s:?}"))?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration {s:?} is too large"))?;
        }
        if !digits.is_empty() {
            return Err(format!(
                "expected {EXPECTED}, found {s:?} (a number needs a unit)"
            ));
        }
        if total == 0 {
            return Err(format!("expected a duration longer than zero, found {s:?}"));
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut out = String::new();
        for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= secs {
                out.push_str(&format!("{}{unit}", rest / secs));
                rest %= secs;
            }
        }
        if out.is_empty() {
            out.push_str("0s");
        }
        f.write_str(&out)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse() {
        for (s, secs) in [
            ("15m", 900),
            ("30m", 1800),
            ("1h", 3600),
            ("2h", 7200),
            ("4h", 14_400),
            ("8h", 28_800),
            ("1d", 86_400),
            ("2d", 172_800),
            ("5d", 432_000),
            ("14d", 1_209_600),
            ("1d12h", 129_600),
            ("2w", 1_209_600),
        ] {
            assert_eq!(s.parse::<Duration>().unwrap().as_secs(), secs, "{s}");
        }
        assert_eq!("14d".parse::<Duration>().unwrap(), MAX_LIFETIME);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "15",
            "m",
            "1x",
            "-1h",
            "0m",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(s.parse::<Duration>().is_err(), "{s:?} should fail");
        }
        let err = "15".parse::<Duration>().unwrap_err();
        assert!(err.contains("a number needs a unit"), "{err}");
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(Duration::from_secs(129_600).to_string(), "1d12h");
        assert_eq!(Duration::from_secs(900).to_string(), "15m");
    }
}
