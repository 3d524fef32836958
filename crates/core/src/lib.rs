//! Domain types of Rampart's registry: tenants, device profiles, groups, devices and SIMs.
//!
//! Everything here is pure: parsing and validation of identifiers (IMSI, ICCID, IMEI), the
//! records the store persists and the API serves. No I/O, so every rule is unit-testable and the
//! same validation runs in the CLI importer, the API and the store conformance suite.

#![forbid(unsafe_code)]

mod accounting;
mod auth;
mod flow;
mod ids;
mod labels;
mod luhn;
mod mcc;
mod model;

pub use accounting::{
    AccountingRecord, Location, RadiusSession, SimSighting, UnknownImsi, UsageHour,
};
pub use auth::{ApiToken, Role};
pub use flow::{
    AlertRecord, ConnState, DeviceMetrics, DnsRecord, FlowRecord, GeoPoint, NameRecord,
    PacketFacts, SignalSource, proto, tcp_flags,
};
pub use ids::{Iccid, Imei, Imsi, Msisdn};
pub use labels::{DeviceId, Label, MacAddr, TenantId};
pub use luhn::{luhn_check_digit, luhn_valid};
pub use mcc::{is_plausible_mcc, mcc_country};
pub use model::{
    Device, DeviceRecord, DeviceState, Group, ImeiPolicy, Profile, Sim, Tenant, Timestamp,
};

/// Why a value was refused. Messages are lowercase and name the offending value so an operator
/// can fix the row or request without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A field that must be present was empty.
    #[error("{field} is required")]
    Missing {
        /// The field's name.
        field: &'static str,
    },
    /// A field's value did not parse or broke a rule.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// The value as given (truncated to 64 characters).
        value: String,
        /// What rule it broke.
        reason: &'static str,
    },
}

impl ValidationError {
    pub(crate) fn invalid(field: &'static str, value: &str, reason: &'static str) -> Self {
        let value = value.chars().take(64).collect();
        Self::Invalid {
            field,
            value,
            reason,
        }
    }
}
