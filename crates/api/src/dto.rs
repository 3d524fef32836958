//! What the API reads and writes. Kept apart from the domain types so that the wire format (and
//! its OpenAPI schema) is explicit and changes only on purpose. Inputs are plain strings that are
//! parsed into domain types, so every invalid field gets a 422 naming it.

use ipnet::IpNet;
use rampart_core::{
    ApiToken, Device, DeviceId, DeviceState, Group, Iccid, Imei, ImeiPolicy, Imsi, Label, MacAddr,
    Msisdn, Profile, Sim, Tenant, TenantId, ValidationError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A device as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// Identifier, unique within the tenant.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Human name.
    pub name: String,
    /// Device class.
    pub profile: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Static addresses / networks (CIDR).
    pub ips: Vec<String>,
    /// MAC address.
    pub mac: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// active, quarantined, disabled or decommissioned.
    pub state: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// SIMs bound to the device (only in single-device answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sims: Option<Vec<SimView>>,
    /// Live RADIUS session of its SIM, if any (only in single-device answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<crate::connectivity::SessionView>,
    /// Last 24 h of hourly data usage (only in single-device answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::connectivity::UsageView>,
    /// Last IMEI(SV) seen with its SIMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_imei: Option<crate::connectivity::SightingView>,
    /// Last location seen with its SIMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_location: Option<crate::connectivity::SightingView>,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            id: d.id.into(),
            tenant: d.tenant.into(),
            name: d.name,
            profile: d.profile.map(Into::into),
            groups: d.groups.into_iter().map(Into::into).collect(),
            tags: d.tags.into_iter().map(Into::into).collect(),
            ips: d.ips.iter().map(ToString::to_string).collect(),
            mac: d.mac.map(Into::into),
            firmware: d.firmware,
            state: d.state.as_str().to_owned(),
            created_at: d.created_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
            sims: None,
            session: None,
            usage: None,
            last_imei: None,
            last_location: None,
        }
    }
}

/// A SIM as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimView {
    /// Card identifier.
    pub iccid: String,
    /// Subscriber identity.
    pub imsi: String,
    /// Owning tenant.
    pub tenant: String,
    /// Phone number.
    pub msisdn: Option<String>,
    /// none, fixed or learn.
    pub imei_policy: String,
    /// IMEIs allowed by a fixed policy.
    pub allowed_imeis: Vec<String>,
    /// IMEI learned under a learn policy.
    pub learned_imei: Option<String>,
    /// Bound device.
    pub device_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Sim> for SimView {
    fn from(s: Sim) -> Self {
        Self {
            iccid: s.iccid.into(),
            imsi: s.imsi.into(),
            tenant: s.tenant.into(),
            msisdn: s.msisdn.map(Into::into),
            imei_policy: s.imei_policy.as_str().to_owned(),
            allowed_imeis: s.allowed_imeis.into_iter().map(Into::into).collect(),
            learned_imei: s.learned_imei.map(Into::into),
            device_id: s.device_id.map(Into::into),
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// A device to create or change. On create and replace (POST, PUT) an absent field takes its
/// default; on PATCH an absent field is left as it is and an empty string clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// Identifier (required on POST; on PUT/PATCH it must match the path if given).
    pub id: Option<String>,
    /// Human name.
    pub name: Option<String>,
    /// Device class.
    pub profile: Option<String>,
    /// Groups.
    pub groups: Option<Vec<String>>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Static addresses or networks, e.g. `10.0.0.5` or `10.0.1.0/24`.
    pub ips: Option<Vec<String>>,
    /// MAC address.
    pub mac: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// active, quarantined, disabled or decommissioned.
    pub state: Option<String>,
}

fn labels(field: &'static str, v: &[String]) -> Result<Vec<Label>, ValidationError> {
    v.iter().map(|s| Label::parse_field(field, s)).collect()
}

fn opt_nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses an address or network; a bare address becomes a host network.
pub fn parse_ipnet(s: &str) -> Result<IpNet, ValidationError> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| ValidationError::Invalid {
            field: "ips",
            value: s.chars().take(64).collect(),
            reason: "must be an ip address or cidr network",
        })
}

impl DeviceInput {
    /// Applies the present fields onto `d`.
    pub fn apply(&self, d: &mut Device) -> Result<(), ValidationError> {
        if let Some(n) = &self.name {
            d.name = n.clone();
        }
        if self.profile.is_some() {
            d.profile = opt_nonempty(&self.profile)
                .map(|p| Label::parse_field("profile", p))
                .transpose()?;
        }
        if let Some(g) = &self.groups {
            d.groups = labels("groups", g)?;
        }
        if let Some(t) = &self.tags {
            d.tags = labels("tags", t)?;
        }
        if let Some(ips) = &self.ips {
            d.ips = ips
                .iter()
                .map(|s| parse_ipnet(s))
                .collect::<Result<_, _>>()?;
        }
        if self.mac.is_some() {
            d.mac = opt_nonempty(&self.mac).map(MacAddr::parse).transpose()?;
        }
        if self.firmware.is_some() {
            d.firmware = opt_nonempty(&self.firmware).map(str::to_owned);
        }
        if let Some(s) = &self.state {
            d.state = s.parse::<DeviceState>()?;
        }
        d.normalize()
    }

    /// A whole new device from this input.
    pub fn to_device(&self, tenant: &TenantId, id: DeviceId) -> Result<Device, ValidationError> {
        let mut d = Device::new(tenant.clone(), id);
        self.apply(&mut d)?;
        Ok(d)
    }
}

/// A SIM to create or change (same absent-field rules as devices).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimInput {
    /// Card identifier (required on POST).
    pub iccid: Option<String>,
    /// Subscriber identity (required on POST).
    pub imsi: Option<String>,
    /// Phone number.
    pub msisdn: Option<String>,
    /// none, fixed or learn.
    pub imei_policy: Option<String>,
    /// IMEIs (or IMEISVs) allowed.
    pub allowed_imeis: Option<Vec<String>>,
    /// Learned IMEI; an empty string forgets it (the next one seen is learned).
    pub learned_imei: Option<String>,
    /// Device to bind to; an empty string unbinds.
    pub device_id: Option<String>,
}

impl SimInput {
    /// Applies the present fields onto `s`.
    pub fn apply(&self, s: &mut Sim) -> Result<(), ValidationError> {
        if let Some(i) = &self.imsi {
            s.imsi = Imsi::parse(i)?;
        }
        if self.msisdn.is_some() {
            s.msisdn = opt_nonempty(&self.msisdn).map(Msisdn::parse).transpose()?;
        }
        if let Some(list) = &self.allowed_imeis {
            s.allowed_imeis = list
                .iter()
                .map(|i| Imei::parse(i))
                .collect::<Result<_, _>>()?;
        }
        if let Some(p) = &self.imei_policy {
            s.imei_policy = p.parse::<ImeiPolicy>()?;
        } else if self.allowed_imeis.is_some() && s.imei_policy == ImeiPolicy::None {
            s.imei_policy = if s.allowed_imeis.is_empty() {
                ImeiPolicy::None
            } else {
                ImeiPolicy::Fixed
            };
        }
        if self.learned_imei.is_some() {
            s.learned_imei = opt_nonempty(&self.learned_imei)
                .map(Imei::parse)
                .transpose()?;
        }
        if self.device_id.is_some() {
            s.device_id = opt_nonempty(&self.device_id)
                .map(DeviceId::parse)
                .transpose()?;
        }
        s.normalize()
    }

    /// A whole new SIM from this input.
    pub fn to_sim(&self, tenant: &TenantId) -> Result<Sim, ValidationError> {
        let iccid = Iccid::parse(self.iccid.as_deref().unwrap_or_default())?;
        let imsi = Imsi::parse(self.imsi.as_deref().unwrap_or_default())?;
        let mut s = Sim {
            tenant: tenant.clone(),
            iccid,
            imsi,
            msisdn: None,
            imei_policy: ImeiPolicy::None,
            allowed_imeis: Vec::new(),
            learned_imei: None,
            device_id: None,
            created_at: Default::default(),
            updated_at: Default::default(),
        };
        self.apply(&mut s)?;
        Ok(s)
    }
}

/// One page of devices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DevicePage {
    /// The devices, ordered by id.
    pub items: Vec<DeviceView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One page of SIMs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimPage {
    /// The SIMs, ordered by ICCID.
    pub items: Vec<SimView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A profile or group.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamedView {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

impl From<Profile> for NamedView {
    fn from(p: Profile) -> Self {
        Self {
            name: p.name.into(),
            description: p.description,
        }
    }
}

impl From<Group> for NamedView {
    fn from(g: Group) -> Self {
        Self {
            name: g.name.into(),
            description: g.description,
        }
    }
}

/// A profile or group to create or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedInput {
    /// Name (required on POST; must match the path on PUT).
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.into(),
            name: t.name,
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// Identifier: letters, digits, - _ .
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
}

/// A token's metadata (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Identifier.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// Tenant it is confined to; absent for platform tokens.
    pub tenant: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            role: t.role.as_str().to_owned(),
            tenant: t.tenant.map(Into::into),
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// What it is for.
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// Tenant to confine it to. A tenant admin can only create tokens for its own tenant, and
    /// that is the default. For a platform admin the default is the tenant named by the
    /// `X-Rampart-Tenant` header; without header and field it creates a platform token.
    pub tenant: Option<String>,
}

/// A created token: the only time its secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// Metadata.
    pub token: TokenView,
    /// The secret, to send as `Authorization: Bearer <secret>`.
    pub secret: String,
}
