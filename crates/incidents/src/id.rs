//! Incident identifiers: `inc-` and a ULID (48-bit millisecond time, 80 random bits, Crockford
//! base 32). They sort by creation time as text, so the store's primary key orders like the
//! timeline, and several processes can mint them without coordination.

use std::fmt;
use std::str::FromStr;

use rampart_core::{Timestamp, ValidationError};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "inc-";
const ULID_LEN: usize = 26;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MAX_MS: i64 = (1 << 48) - 1;
const RANDOM_MASK: u128 = (1 << 80) - 1;

/// An incident's identifier, e.g. `inc-01JD8X3Q4ZK9V7R5M2N6P8T0AB`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentId(String);

impl IncidentId {
    /// The identifier for time `at` with the low 80 bits of `entropy` as its random part.
    /// Times before 1970 or after the year 10889 are clamped.
    pub fn new(at: Timestamp, entropy: u128) -> Self {
        // Clamped to 0..2^48, so the conversion cannot fail.
        let ms = u128::try_from(at.0.clamp(0, MAX_MS)).unwrap_or(0);
        Self::from_value((ms << 80) | (entropy & RANDOM_MASK))
    }

    fn from_value(v: u128) -> Self {
        let mut s = String::with_capacity(PREFIX.len() + ULID_LEN);
        s.push_str(PREFIX);
        for i in 0..ULID_LEN {
            let shift = 5 * (ULID_LEN - 1 - i);
            let digit = usize::try_from((v >> shift) & 31).unwrap_or(0);
            s.push(char::from(ALPHABET[digit]));
        }
        Self(s)
    }

    /// Parses `inc-` and 26 Crockford base-32 digits (either case; stored upper case).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::Invalid {
            field: "incident_id",
            value: s.chars().take(64).collect(),
            reason: "must be inc- followed by 26 base-32 digits",
        };
        let s = s.trim();
        let body = s
            .get(..PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PREFIX))
            .and_then(|_| s.get(PREFIX.len()..))
            .ok_or_else(invalid)?;
        if body.len() != ULID_LEN {
            return Err(invalid());
        }
        let mut v: u128 = 0;
        for (i, b) in body.bytes().enumerate() {
            let d = digit_value(b).ok_or_else(invalid)?;
            // The first digit carries only 3 bits (26 × 5 = 130 > 128).
            if i == 0 && d > 7 {
                return Err(invalid());
            }
            v = (v << 5) | u128::from(d);
        }
        Ok(Self::from_value(v))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the identifier was minted (its time prefix).
    pub fn timestamp(&self) -> Timestamp {
        let mut ms: i64 = 0;
        for b in self.0.bytes().skip(PREFIX.len()).take(10) {
            ms = (ms << 5) | i64::from(digit_value(b).unwrap_or(0));
        }
        Timestamp(ms)
    }
}

fn digit_value(b: u8) -> Option<u8> {
    let b = b.to_ascii_uppercase();
    ALPHABET
        .iter()
        .position(|&a| a == b)
        .and_then(|p| u8::try_from(p).ok())
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IncidentId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for IncidentId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<IncidentId> for String {
    fn from(id: IncidentId) -> Self {
        id.0
    }
}

impl AsRef<str> for IncidentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Mints strictly increasing identifiers: a new random part per millisecond, incremented
/// within one (monotonic ULID), so ids from one generator never collide or reorder even when
/// the caller's clock stalls or steps back. Seed it from the operating system's randomness;
/// the sequence of random parts is a fixed function of the seed.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    state: u64,
    last_ms: i64,
    last_random: u128,
}

impl IdGenerator {
    /// A generator whose random parts derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            last_ms: -1,
            last_random: 0,
        }
    }

    /// The next identifier at time `now`.
    pub fn next_id(&mut self, now: Timestamp) -> IncidentId {
        let ms = now.0.clamp(0, MAX_MS);
        if ms > self.last_ms {
            self.last_ms = ms;
            self.last_random = self.random80();
        } else {
            self.last_random = (self.last_random + 1) & RANDOM_MASK;
            if self.last_random == 0 {
                // 2^80 ids in one millisecond: borrow the next one.
                self.last_ms = (self.last_ms + 1).min(MAX_MS);
            }
        }
        let entropy = self.last_random;
        IncidentId::new(Timestamp(self.last_ms), entropy)
    }

    fn random80(&mut self) -> u128 {
        let hi = u128::from(self.splitmix());
        let lo = u128::from(self.splitmix());
        // Keep the top bit clear so increments within a millisecond have room.
        ((hi << 64) | lo) & (RANDOM_MASK >> 1)
    }

    /// SplitMix64: small, fast, and good enough for the random part of an identifier.
    fn splitmix(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parse_and_time() {
        let id = IncidentId::new(Timestamp(1_700_000_000_123), 0xABCD);
        assert!(id.as_str().starts_with("inc-01HF"));
        assert_eq!(id.as_str().len(), 30);
        assert_eq!(id.timestamp(), Timestamp(1_700_000_000_123));
        assert_eq!(IncidentId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            IncidentId::parse(&id.as_str().to_ascii_lowercase()).unwrap(),
            id
        );
        for bad in [
            "",
            "inc-",
            "inc-01HF",
            "abc-01HFAAAAAAAAAAAAAAAAAAAAAA",
            "inc-81HFAAAAAAAAAAAAAAAAAAAAAA",
            "inc-01HFAAAAAAAAAAAAAAAAAAAAAU",
            "inc-01HFAAAAAAAAAAAAAAAAAAAAAAA",
            "inc-é1HFAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(IncidentId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generator_is_monotonic_even_when_the_clock_stalls() {
        let mut g = IdGenerator::new(42);
        let mut prev = g.next_id(Timestamp(1000));
        for now in [1000, 1000, 999, 1001, 5, 2000] {
            let id = g.next_id(Timestamp(now));
            assert!(id > prev, "{id} after {prev}");
            prev = id;
        }
        let a = IdGenerator::new(1).next_id(Timestamp(7));
        let b = IdGenerator::new(2).next_id(Timestamp(7));
        assert_ne!(a, b);
    }
}
