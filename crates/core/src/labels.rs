//! Names chosen by operators: tenant and device identifiers, tags, groups, profile names.
//!
//! They end up in URLs, CSV cells, SQL parameters and log fields, so the alphabet is kept to
//! characters that need no escaping anywhere and cannot confuse list separators (`;`, `,`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::ids::string_newtype;

fn check_name(
    field: &'static str,
    s: &str,
    max: usize,
    extra: &[u8],
) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Missing { field });
    }
    if s.len() > max {
        return Err(ValidationError::invalid(field, s, "is too long"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b) || extra.contains(&b))
    {
        return Err(ValidationError::invalid(
            field,
            s,
            "contains a character outside letters, digits and - _ . (and : / = @ for ids)",
        ));
    }
    Ok(())
}

/// A tenant: an isolated fleet (one customer of an operator, or one business unit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(Arc<str>);
string_newtype!(TenantId, shared);

impl TenantId {
    /// The tenant used when none is named (single-tenant deployments).
    pub fn default_tenant() -> Self {
        Self("default".into())
    }

    /// Parses a tenant id: 1-64 of letters, digits, `-`, `_`, `.`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        check_name("tenant", s, 64, b"")?;
        Ok(Self(s.into()))
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

/// A device's identifier, unique within its tenant; goes into certificate subjects later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(Arc<str>);
string_newtype!(DeviceId, shared);

impl DeviceId {
    /// Parses a device id: 1-128 of letters, digits and `-_.:/=@`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        check_name("device_id", s, 128, b":/=@")?;
        Ok(Self(s.into()))
    }
}

/// A tag, group or profile name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);
string_newtype!(Label);

impl Label {
    /// Parses a label: 1-64 of letters, digits and `-_.:/=`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        check_name("label", s, 64, b":/=")?;
        Ok(Self(s.to_owned()))
    }

    /// Parses a label, naming the field in errors.
    pub fn parse_field(field: &'static str, s: &str) -> Result<Self, ValidationError> {
        Self::parse(s).map_err(|e| match e {
            ValidationError::Missing { .. } => ValidationError::Missing { field },
            ValidationError::Invalid { value, reason, .. } => ValidationError::Invalid {
                field,
                value,
                reason,
            },
        })
    }
}

/// An IEEE 802 MAC address, kept as lowercase `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(String);
string_newtype!(MacAddr);

impl MacAddr {
    /// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-...` or `aabbccddeeff`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        let hex: String = s.chars().filter(|c| *c != ':' && *c != '-').collect();
        if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError::invalid("mac", s, "must be 6 hex octets"));
        }
        let hex = hex.to_ascii_lowercase();
        let parts: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
        Ok(Self(parts.join(":")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(DeviceId::parse("meter-000001").is_ok());
        assert!(DeviceId::parse("urn:dev:mac=0011").is_ok());
        assert!(DeviceId::parse("a b").is_err());
        assert!(DeviceId::parse("").is_err());
        assert!(Label::parse("x;y").is_err());
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("ac/me").is_err());
        assert_eq!(
            MacAddr::parse("AA-BB-CC-00-11-22").unwrap().as_str(),
            "aa:bb:cc:00:11:22"
        );
        assert!(MacAddr::parse("zz").is_err());
    }
}
