//! Certificate serial numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::IdentityError;

/// A certificate serial number, kept as lowercase hex of its (positive, minimal) integer octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// Draws a random 128-bit serial. The top bit is cleared so the DER INTEGER stays positive
    /// and 16 octets long, and the first octet is never zero so the encoding is minimal: 126
    /// random bits, well above the 64 bits the CA/Browser Forum requires against collision
    /// attacks.
    pub fn random() -> Result<Self, IdentityError> {
        Ok(Self(hex::encode(Self::random_octets()?)))
    }

    /// The integer octets of a [`Self::random`] serial: always 16, the first in 0x01..=0x7f.
    pub(crate) fn random_octets() -> Result<[u8; 16], IdentityError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
        b[0] = (b[0] & 0x7f) | 0x01;
        Ok(b)
    }

    /// An empty serial, only for a record standing in for another (never stored or shown).
    pub(crate) fn placeholder() -> Self {
        Self(String::new())
    }

    /// Builds a serial from the integer octets found in a certificate (leading zero octets
    /// dropped, so `00 8a` and `8a` name the same serial).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let trimmed = bytes.get(start..).unwrap_or_default();
        if trimmed.is_empty() {
            Self("00".to_owned())
        } else {
            Self(hex::encode(trimmed))
        }
    }

    /// Parses hex as printed by `openssl x509 -serial` (case and `:` separators ignored).
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let clean: String = s.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&clean)
            .map_err(|_| IdentityError::BadId(format!("serial {s:?} is not hex")))?;
        if bytes.is_empty() || bytes.len() > 20 {
            return Err(IdentityError::BadId(format!(
                "serial {s:?} has a bad length"
            )));
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// The integer octets.
    pub fn to_bytes(&self) -> Vec<u8> {
        hex::decode(&self.0).unwrap_or_default()
    }

    /// Lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Serial {
    type Error = IdentityError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Serial> for String {
    fn from(s: Serial) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_and_distinct() {
        let a = Serial::random().unwrap();
        let b = Serial::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_bytes().len(), 16);
        assert!(a.to_bytes()[0] & 0x80 == 0 && a.to_bytes()[0] != 0);
        assert_eq!(Serial::parse(&a.to_string().to_uppercase()).unwrap(), a);
        assert_eq!(Serial::from_bytes(&[0, 0x8a]), Serial::parse("8A").unwrap());
    }
}
