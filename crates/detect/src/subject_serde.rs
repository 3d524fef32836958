//! Serde for [`Subject`], which the bus only serialises: findings and snapshots are read back.

use std::net::IpAddr;

use rampart_bus::Subject;
use rampart_core::{DeviceId, TenantId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct Mirror {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_id: Option<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<IpAddr>,
}

pub(crate) fn serialize<S: Serializer>(s: &Subject, ser: S) -> Result<S::Ok, S::Error> {
    Mirror {
        tenant: s.tenant.clone(),
        device_id: s.device_id.clone(),
        host: s.host,
    }
    .serialize(ser)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Subject, D::Error> {
    let m = Mirror::deserialize(de)?;
    Ok(Subject {
        tenant: m.tenant,
        device_id: m.device_id,
        host: m.host,
    })
}
