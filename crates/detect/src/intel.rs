//! The seams to the rest of Rampart that detection reads from but does not own: threat
//! intelligence (implemented over the intel crate's feed set) and the registry's view of a
//! device (its profile, SIM policy, groups and tags).

use std::net::IpAddr;

use rampart_bus::Subject;
use rampart_core::Sim;
use serde::{Deserialize, Serialize};

use crate::Severity;

/// A feed entry an address or a name matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelHit {
    /// The feed's name.
    pub feed: String,
    /// The indicator as listed (address, network or domain).
    pub indicator: String,
    /// What the feed says it is (`c2`, `malware`, `scanner`, ...).
    #[serde(default)]
    pub category: Option<String>,
    /// Severity to report, when the feed says; the detector's default otherwise.
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// Threat-intelligence lookups. Must be cheap: it is asked once per flow destination.
pub trait ThreatIntel: Send + Sync {
    /// The feed entry listing `ip`, if any.
    fn match_ip(&self, ip: IpAddr) -> Option<IntelHit>;
    /// The feed entry listing `name` (lowercase, no trailing dot) or a parent domain, if any.
    fn match_domain(&self, name: &str) -> Option<IntelHit>;
}

/// No feeds loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIntel;

impl ThreatIntel for NoIntel {
    fn match_ip(&self, _ip: IpAddr) -> Option<IntelHit> {
        None
    }
    fn match_domain(&self, _name: &str) -> Option<IntelHit> {
        None
    }
}

/// What the registry knows about a device that detection needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceContext {
    /// The device's profile name (selects allow-lists, zones, caps and population baselines).
    pub profile: Option<String>,
    /// The SIM bound to the device, with its IMEI policy.
    pub sim: Option<Sim>,
    /// The groups it belongs to (suppression windows select by them).
    pub groups: Vec<String>,
    /// Its tags (suppression windows select by them).
    pub tags: Vec<String>,
}

/// Looks up a subject's registry context. Asked when a subject is first seen and on every
/// accounting record (SIM policies change).
pub trait ContextProvider: Send + Sync {
    /// Context of a subject; `None` when the registry does not know it.
    fn context(&self, subject: &Subject) -> Option<DeviceContext>;
}

/// No registry: every subject is anonymous.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContext;

impl ContextProvider for NoContext {
    fn context(&self, _subject: &Subject) -> Option<DeviceContext> {
        None
    }
}
