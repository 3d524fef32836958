//! What the registry said about a device a moment ago.
//!
//! Detection looks up every device it sees in the registry and keeps the answers for a few
//! seconds. When a burst of findings arrives (hundreds of devices at once), reading each
//! device and its SIMs from the store again before the first action queues every run behind
//! the store; taking them from detection's answers lets the first action go out at once. A
//! device not described recently is read from the store as before.

use rampart_core::{DeviceId, DeviceState, TenantId};

/// A device as the registry described it recently: what playbook matching, the first poll of
/// a run and the session look-up of RADIUS actions need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentDevice {
    /// Profile name.
    pub profile: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Lifecycle state.
    pub state: DeviceState,
    /// IMSIs of the SIMs bound to it (empty: unknown, read the store).
    pub imsis: Vec<String>,
}

/// Recent registry answers kept by a part of the process that reads them anyway.
pub trait RecentDevices: Send + Sync {
    /// The device as the registry described it a few seconds ago at most; `None` when it
    /// was not looked up recently (the caller reads the store).
    fn recent(&self, tenant: &TenantId, device: &DeviceId) -> Option<RecentDevice>;
}
