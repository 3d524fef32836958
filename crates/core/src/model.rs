//! The registry's records: what the store persists and the API serves.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{DeviceId, Iccid, Imei, Imsi, Label, MacAddr, Msisdn, TenantId, ValidationError};

/// Milliseconds since the Unix epoch, shown as RFC 3339 in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time. Only the control plane calls this (record bookkeeping);
    /// detection uses the observations' own event time.
    pub fn now() -> Self {
        let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// RFC 3339 text with millisecond precision.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .map_err(serde::de::Error::custom)?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Ok(Self(i64::try_from(ms).map_err(serde::de::Error::custom)?))
    }
}

macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? } field $field:literal reason $reason:literal) => {
        impl $name {
            /// The stored and serialized name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(ValidationError::invalid($field, other, $reason)),
                }
            }
        }
    };
}

/// Where a device is in its life; detection and containment act differently on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// In service.
    #[default]
    Active,
    /// Contained after a finding; traffic restricted, still reachable for remediation.
    Quarantined,
    /// Switched off by an operator; its traffic is unexpected.
    Disabled,
    /// Retired for good; kept for history.
    Decommissioned,
}
text_enum!(DeviceState {
    Active => "active", Quarantined => "quarantined", Disabled => "disabled",
    Decommissioned => "decommissioned",
} field "state" reason "must be one of active, quarantined, disabled, decommissioned");

/// Which devices (IMEIs) a SIM may be used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImeiPolicy {
    /// No lock: any IMEI is accepted.
    #[default]
    None,
    /// Only the IMEIs in `allowed_imeis`.
    Fixed,
    /// The first IMEI seen is learned and locked in (then behaves as `fixed`).
    Learn,
}
text_enum!(ImeiPolicy {
    None => "none", Fixed => "fixed", Learn => "learn",
} field "imei_policy" reason "must be one of none, fixed, learn");

/// A tenant: an isolated fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A device class ("smart-meter-v2", "camera"); later carries expected behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Name, unique within the tenant.
    pub name: Label,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A named set of devices (a site, a customer, a rollout wave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Name, unique within the tenant.
    pub name: Label,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A connected device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Identifier, unique within the tenant.
    pub id: DeviceId,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// Device class.
    #[serde(default)]
    pub profile: Option<Label>,
    /// Groups it belongs to.
    #[serde(default)]
    pub groups: Vec<Label>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<Label>,
    /// Static addresses or networks that belong to this device (used for attribution when no
    /// RADIUS session names it).
    #[serde(default)]
    pub ips: Vec<IpNet>,
    /// Hardware address.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Installed firmware version.
    #[serde(default)]
    pub firmware: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub state: DeviceState,
    /// When it was first registered.
    #[serde(default)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Timestamp,
}

impl Device {
    /// A new active device with only its identity set.
    pub fn new(tenant: TenantId, id: DeviceId) -> Self {
        Self {
            tenant,
            id,
            name: String::new(),
            profile: None,
            groups: Vec::new(),
            tags: Vec::new(),
            ips: Vec::new(),
            mac: None,
            firmware: None,
            state: DeviceState::Active,
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
        }
    }

    /// Checks the free-text fields, and normalises lists (sorted, no duplicates) so that two
    /// equal devices compare and store equal.
    pub fn normalize(&mut self) -> Result<(), ValidationError> {
        if self.name.len() > 256 || self.name.chars().any(char::is_control) {
            return Err(ValidationError::invalid(
                "name",
                &self.name,
                "must be at most 256 characters without control characters",
            ));
        }
        if let Some(fw) = &self.firmware {
            if fw.len() > 64 || fw.chars().any(|c| c.is_control() || c == ';') {
                return Err(ValidationError::invalid(
                    "firmware",
                    fw,
                    "must be at most 64 characters without control characters or ;",
                ));
            }
            if fw.trim().is_empty() {
                self.firmware = None;
            }
        }
        for list in [&mut self.groups, &mut self.tags] {
            list.sort();
            list.dedup();
        }
        self.ips = self.ips.iter().map(IpNet::trunc).collect();
        self.ips.sort();
        self.ips.dedup();
        if self.groups.len() > 64 || self.tags.len() > 64 || self.ips.len() > 64 {
            return Err(ValidationError::invalid(
                "device",
                self.id.as_str(),
                "at most 64 groups, 64 tags and 64 ips",
            ));
        }
        Ok(())
    }
}

/// A SIM card (or eSIM profile) and the rule for which devices may use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sim {
    /// Owning tenant.
    pub tenant: TenantId,
    /// The card's identifier; unique across all tenants (a physical card exists once).
    pub iccid: Iccid,
    /// The subscriber identity; unique across all tenants.
    pub imsi: Imsi,
    /// Phone number, if any.
    #[serde(default)]
    pub msisdn: Option<Msisdn>,
    /// IMEI lock.
    #[serde(default)]
    pub imei_policy: ImeiPolicy,
    /// IMEIs allowed by a `fixed` policy (and the learned one under `learn`).
    #[serde(default)]
    pub allowed_imeis: Vec<Imei>,
    /// The IMEI learned under a `learn` policy.
    #[serde(default)]
    pub learned_imei: Option<Imei>,
    /// The device this SIM is bound to.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// When it was first registered.
    #[serde(default)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Timestamp,
}

impl Sim {
    /// Checks cross-field rules and normalises the IMEI list.
    pub fn normalize(&mut self) -> Result<(), ValidationError> {
        self.allowed_imeis.sort();
        self.allowed_imeis.dedup();
        if self.allowed_imeis.len() > 32 {
            return Err(ValidationError::invalid(
                "allowed_imeis",
                self.iccid.as_str(),
                "at most 32 imeis",
            ));
        }
        if self.imei_policy == ImeiPolicy::Fixed && self.allowed_imeis.is_empty() {
            return Err(ValidationError::invalid(
                "imei_policy",
                "fixed",
                "a fixed policy needs at least one allowed imei",
            ));
        }
        Ok(())
    }

    /// Whether the SIM may be used in the equipment `imei` under its policy. A `learn` SIM that
    /// has learned nothing yet accepts (and the caller learns) the first one.
    pub fn allows(&self, imei: &Imei) -> bool {
        match self.imei_policy {
            ImeiPolicy::None => true,
            ImeiPolicy::Fixed => self.allowed_imeis.iter().any(|a| a.same_equipment(imei)),
            ImeiPolicy::Learn => match &self.learned_imei {
                None => true,
                Some(l) => {
                    l.same_equipment(imei)
                        || self.allowed_imeis.iter().any(|a| a.same_equipment(imei))
                }
            },
        }
    }
}

/// One row of a fleet file: a device and, optionally, the SIM bound to it. The unit of bulk
/// import and export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    pub device: Device,
    /// Its SIM, bound to it.
    pub sim: Option<Sim>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trip() {
        let t = Timestamp(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn enums_parse() {
        assert_eq!(
            "Quarantined".parse::<DeviceState>().unwrap(),
            DeviceState::Quarantined
        );
        assert!("gone".parse::<DeviceState>().is_err());
        assert_eq!("learn".parse::<ImeiPolicy>().unwrap(), ImeiPolicy::Learn);
    }

    #[test]
    fn sim_policy() {
        let imei = Imei::parse("490154203237518").unwrap();
        let other = Imei::parse("356938035643809").unwrap();
        let mut sim = Sim {
            tenant: TenantId::default(),
            iccid: Iccid::parse("89340712345678901").unwrap_or_else(|_| {
                let base = "893407123456789012";
                Iccid::parse(&format!("{base}{}", crate::luhn_check_digit(base).unwrap())).unwrap()
            }),
            imsi: Imsi::parse("214070123456789").unwrap(),
            msisdn: None,
            imei_policy: ImeiPolicy::Fixed,
            allowed_imeis: vec![],
            learned_imei: None,
            device_id: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        assert!(sim.normalize().is_err());
        sim.allowed_imeis.push(imei.clone());
        sim.normalize().unwrap();
        assert!(sim.allows(&Imei::parse("4901542032375101").unwrap()));
        assert!(!sim.allows(&other));
        sim.imei_policy = ImeiPolicy::Learn;
        sim.allowed_imeis.clear();
        assert!(sim.allows(&other));
        sim.learned_imei = Some(imei);
        assert!(!sim.allows(&other));
    }
}
