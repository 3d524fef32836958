//! Durations written the way operators say them: `"30s"`, `"15m"`, `"2h"`, `"1d"`, `"1h30m"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A whole number of seconds, written as one or more `<number><unit>` parts (units `s`, `m`,
/// `h`, `d`, largest first, each at most once). Shown in canonical form (`"90s"` shows as
/// `"1m30s"`), so a written file reads back equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSpec(u64);

/// Seconds in a minute, hour and day.
const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// The longest duration accepted at all (a year); bounds per use are tighter.
pub(crate) const MAX_SECS: u64 = 366 * 86_400;

/// Text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}")]
pub struct InvalidDuration(pub String);

impl DurationSpec {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Milliseconds, for timestamp arithmetic.
    pub const fn as_millis(self) -> u64 {
        self.0.saturating_mul(1_000)
    }

    /// As a `time` duration.
    pub fn to_time(self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

impl FromStr for DurationSpec {
    type Err = InvalidDuration;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidDuration(s.to_owned());
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        // Units must come largest first, each once: the index of the next allowed unit.
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(bad());
            }
            let (number, tail) = rest.split_at(digits);
            let value: u64 = number.parse().map_err(|_| bad())?;
            let mut chars = tail.chars();
            let unit = chars.next().ok_or_else(bad)?;
            let pos = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(bad)?;
            let (_, secs) = UNITS[next_unit + pos];
            next_unit += pos + 1;
            total = value
                .checked_mul(secs)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            rest = chars.as_str();
        }
        if total > MAX_SECS {
            return Err(bad());
        }
        Ok(Self(total))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut left = self.0;
        for (unit, secs) in UNITS {
            let n = left / secs;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                left %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows() {
        for (text, secs, shown) in [
            ("30s", 30, "30s"),
            ("15m", 900, "15m"),
            ("2h", 7_200, "2h"),
            ("7d", 604_800, "7d"),
            ("1h30m", 5_400, "1h30m"),
            ("90s", 90, "1m30s"),
            ("0s", 0, "0s"),
            ("1d2h3m4s", 93_784, "1d2h3m4s"),
        ] {
            let d: DurationSpec = text.parse().unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<DurationSpec>().unwrap(), d);
        }
    }

    #[test]
    fn refuses_nonsense() {
        for text in [
            "",
            "3x",
            "30",
            "s",
            "1m1h",
            "1s1s",
            "-1s",
            "1.5h",
            "30 s",
            "9999999999999s",
            "367d",
        ] {
            let err = text.parse::<DurationSpec>().unwrap_err();
            assert_eq!(err.to_string(), format!("invalid duration {text:?}"));
        }
    }
}
