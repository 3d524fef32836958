//! Telecom identifiers with their validation rules (3GPP TS 23.003, ITU-T E.118/E.164/E.212).
//!
//! Each type can only hold a valid value: parse once at the edge (CSV row, API body, RADIUS
//! attribute), then pass the type around.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ValidationError, is_plausible_mcc, luhn_check_digit, luhn_valid};

macro_rules! string_newtype {
    ($name:ident) => {
        string_newtype!(@common $name);

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
    // Held as `Arc<str>`: ids copied into every observation, finding and counter key, where a
    // clone must not allocate.
    ($name:ident, shared) => {
        string_newtype!(@common $name);

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.to_string()
            }
        }
    };
    (@common $name:ident) => {
        impl $name {
            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
    };
}
pub(crate) use string_newtype;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// International Mobile Subscriber Identity: MCC (3) + MNC (2-3) + MSIN, 14 or 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Imsi(String);
string_newtype!(Imsi);

impl Imsi {
    /// Parses an IMSI, refusing wrong lengths, non-digits and unassigned country codes.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::Missing { field: "imsi" });
        }
        if !all_digits(s) {
            return Err(ValidationError::invalid("imsi", s, "must be digits only"));
        }
        if !(14..=15).contains(&s.len()) {
            return Err(ValidationError::invalid(
                "imsi",
                s,
                "must be 14 or 15 digits",
            ));
        }
        let mcc: u16 = s[..3].parse().unwrap_or(0);
        if !is_plausible_mcc(mcc) {
            return Err(ValidationError::invalid(
                "imsi",
                s,
                "mobile country code is not assigned (ITU-T E.212)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The mobile country code.
    pub fn mcc(&self) -> u16 {
        self.0[..3].parse().unwrap_or(0)
    }
}

/// Integrated Circuit Card Identifier (ITU-T E.118): 18 to 20 digits ending in a Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iccid(String);
string_newtype!(Iccid);

impl Iccid {
    /// Parses an ICCID; a trailing `F` filler (as read from some SIM tools) is dropped.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim().trim_end_matches(['F', 'f']);
        if s.is_empty() {
            return Err(ValidationError::Missing { field: "iccid" });
        }
        if !all_digits(s) {
            return Err(ValidationError::invalid("iccid", s, "must be digits only"));
        }
        if !(18..=20).contains(&s.len()) {
            return Err(ValidationError::invalid(
                "iccid",
                s,
                "must be 18 to 20 digits",
            ));
        }
        if !luhn_valid(s) {
            return Err(ValidationError::invalid(
                "iccid",
                s,
                "luhn check digit is wrong",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A device's equipment identity: an IMEI (15 digits, Luhn) or an IMEISV (16 digits, no check
/// digit), as 3GPP TS 23.003 §6.2 defines them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Imei(String);
string_newtype!(Imei);

impl Imei {
    /// Parses an IMEI or IMEISV.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::Missing { field: "imei" });
        }
        if !all_digits(s) {
            return Err(ValidationError::invalid("imei", s, "must be digits only"));
        }
        match s.len() {
            15 if luhn_valid(s) => Ok(Self(s.to_owned())),
            15 => Err(ValidationError::invalid(
                "imei",
                s,
                "luhn check digit is wrong",
            )),
            16 => Ok(Self(s.to_owned())),
            _ => Err(ValidationError::invalid(
                "imei",
                s,
                "must be 15 digits (imei) or 16 digits (imeisv)",
            )),
        }
    }

    /// Type Allocation Code: the first 8 digits, which name the device model.
    pub fn tac(&self) -> &str {
        &self.0[..8]
    }

    /// TAC + serial number (14 digits): what identifies the equipment, whether it was given as
    /// IMEI or IMEISV. Two values denote the same device exactly when these are equal.
    pub fn equipment(&self) -> &str {
        &self.0[..14]
    }

    /// The 15-digit IMEI with its check digit, also when this value was an IMEISV.
    pub fn to_imei15(&self) -> String {
        let base = self.equipment();
        let check = luhn_check_digit(base).unwrap_or(0);
        format!("{base}{check}")
    }

    /// True when both denote the same equipment (IMEI vs IMEISV of one device compare equal).
    pub fn same_equipment(&self, other: &Self) -> bool {
        self.equipment() == other.equipment()
    }
}

/// A subscriber's phone number (ITU-T E.164), up to 15 digits, stored without `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Msisdn(String);
string_newtype!(Msisdn);

impl Msisdn {
    /// Parses an MSISDN, accepting a leading `+`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        let digits = s.strip_prefix('+').unwrap_or(s);
        if digits.is_empty() {
            return Err(ValidationError::Missing { field: "msisdn" });
        }
        if !all_digits(digits) || !(5..=15).contains(&digits.len()) {
            return Err(ValidationError::invalid(
                "msisdn",
                s,
                "must be 5 to 15 digits (e.164), optionally with a leading +",
            ));
        }
        Ok(Self(digits.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn imsi_rules() {
        assert!(Imsi::parse("214070123456789").is_ok());
        assert!(Imsi::parse("31026012345678").is_ok());
        assert!(Imsi::parse("21407012345").is_err());
        assert!(Imsi::parse("100070123456789").is_err());
        assert!(Imsi::parse("21407012345678x").is_err());
        assert_eq!(Imsi::parse("214070123456789").unwrap().mcc(), 214);
    }

    #[test]
    fn iccid_rules() {
        assert!(Iccid::parse("8934071234567890123").is_err() || luhn_valid("8934071234567890123"));
        let base = "893407123456789012";
        let full = format!("{base}{}", luhn_check_digit(base).unwrap());
        assert!(Iccid::parse(&full).is_ok());
        assert!(Iccid::parse(&format!("{full}F")).is_ok());
        let wrong = format!("{base}{}", (luhn_check_digit(base).unwrap() + 1) % 10);
        let err = Iccid::parse(&wrong).unwrap_err().to_string();
        assert!(err.contains("luhn"), "{err}");
    }

    #[test]
    fn imei_and_imeisv_compare_by_equipment() {
        let imei = Imei::parse("490154203237518").unwrap();
        let sv = Imei::parse("4901542032375101").unwrap();
        assert!(imei.same_equipment(&sv));
        assert_eq!(sv.to_imei15(), "490154203237518");
        assert_eq!(imei.tac(), "49015420");
        assert!(Imei::parse("490154203237517").is_err());
        assert!(Imei::parse("4901542032").is_err());
    }

    #[test]
    fn msisdn_rules() {
        assert_eq!(
            Msisdn::parse("+34600111222").unwrap().as_str(),
            "34600111222"
        );
        assert!(Msisdn::parse("12ab").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_are_canonical(s in "\\PC{0,40}") {
            // Whatever parses is canonical: parsing its text again gives the same value.
            if let Ok(v) = Imsi::parse(&s) {
                prop_assert_eq!(Imsi::parse(v.as_str()), Ok(v));
            }
            if let Ok(v) = Iccid::parse(&s) {
                prop_assert_eq!(Iccid::parse(v.as_str()), Ok(v));
            }
            if let Ok(v) = Imei::parse(&s) {
                prop_assert_eq!(Imei::parse(v.as_str()), Ok(v));
            }
            if let Ok(v) = Msisdn::parse(&s) {
                prop_assert_eq!(Msisdn::parse(v.as_str()), Ok(v));
            }
        }
    }
}
