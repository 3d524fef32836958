//! How bad a finding is, and what kind of subject it is about.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A finding's severity, ordered `info < low < medium < high < critical`.
///
/// Mirrors the detection engine's scale by name, so playbooks stay plain data and this crate
/// does not depend on detection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording, not worth a look.
    #[default]
    Info,
    /// Unusual, probably harmless.
    Low,
    /// Should be looked at.
    Medium,
    /// Very likely a compromise or a policy breach.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}, expected one of {expected}")]
pub struct UnknownName {
    /// What was being parsed.
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The accepted names.
    pub expected: &'static str,
}

impl FromStr for Severity {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName {
                what: "severity",
                value: s.to_owned(),
                expected: "info, low, medium, high, critical",
            })
    }
}

/// What a finding is about: a registered device, or an address no device owns (a host).
/// In a playbook's `[match]`, `any` accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A registered device.
    #[default]
    Device,
    /// An address no device owns.
    Host,
    /// Either (only meaningful in a playbook's match).
    Any,
}

impl Scope {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Host => "host",
            Self::Any => "any",
        }
    }

    /// Whether a playbook matching `self` accepts a finding about `subject`.
    pub fn accepts(self, subject: Self) -> bool {
        self == Self::Any || subject == Self::Any || self == subject
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "device" => Ok(Self::Device),
            "host" => Ok(Self::Host),
            "any" => Ok(Self::Any),
            other => Err(UnknownName {
                what: "scope",
                value: other.to_owned(),
                expected: "device, host, any",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_names() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::High < Severity::Critical);
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        let err = "severe".parse::<Severity>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown severity \"severe\", expected one of info, low, medium, high, critical"
        );
    }

    #[test]
    fn scope_acceptance() {
        assert!(Scope::Any.accepts(Scope::Host));
        assert!(Scope::Device.accepts(Scope::Device));
        assert!(!Scope::Device.accepts(Scope::Host));
        assert_eq!("host".parse::<Scope>().unwrap(), Scope::Host);
    }
}
