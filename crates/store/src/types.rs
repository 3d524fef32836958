//! Query and result shapes shared by both backends.

use std::net::IpAddr;

use rampart_core::{DeviceId, DeviceState, Iccid, Imsi, Label};

/// Which devices to list. All given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Profile name.
    pub profile: Option<Label>,
    /// Lifecycle state.
    pub state: Option<DeviceState>,
    /// Carries this tag.
    pub tag: Option<Label>,
    /// Member of this group.
    pub group: Option<Label>,
    /// Bound to the SIM with this IMSI.
    pub imsi: Option<Imsi>,
    /// Bound to the SIM with this ICCID.
    pub iccid: Option<Iccid>,
    /// Has a static address or network containing this address.
    pub ip: Option<IpAddr>,
    /// Runs this firmware version.
    pub firmware: Option<String>,
}

/// Which SIMs to list.
#[derive(Debug, Clone, Default)]
pub struct SimFilter {
    /// Bound to this device.
    pub device_id: Option<DeviceId>,
    /// With this IMSI.
    pub imsi: Option<Imsi>,
    /// Not bound to any device.
    pub unbound: bool,
}

/// Keyset pagination: the key after which to continue, and how many to return.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The last key of the previous page (`next` of the previous [`Page`]).
    pub after: Option<String>,
    /// Page size, 1 to 1000.
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            after: None,
            limit: 100,
        }
    }
}

/// One page of results and the key to pass as `after` for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// Present when more records may follow.
    pub next: Option<String>,
}

/// A fleet-file row that could not be stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Line number in the input file.
    pub line: u64,
    /// The rule it broke.
    pub reason: String,
}

/// What an import batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Devices that did not exist before.
    pub inserted: u64,
    /// Devices that existed and were replaced.
    pub updated: u64,
    /// Rows refused.
    pub rejected: Vec<RejectedRow>,
}
