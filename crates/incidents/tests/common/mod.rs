//! Shared helpers for the incident tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_incidents::{
    FindingFacts, GroupDecision, Incident, IncidentId, Severity, TimelineEntry,
};

pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;
/// A fixed start (2024-01-01T00:00:00Z) so ids and times are readable and stable.
pub(crate) const T0: i64 = 1_704_067_200_000;

pub(crate) fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

pub(crate) fn device(s: &str) -> DeviceId {
    DeviceId::parse(s).unwrap()
}

pub(crate) fn at(offset_ms: i64) -> Timestamp {
    Timestamp(T0 + offset_ms)
}

/// A device finding with a unique id derived from its fields.
pub(crate) fn finding(
    t: &str,
    dev: &str,
    kind: &str,
    severity: Severity,
    offset_ms: i64,
    keys: &[&str],
) -> FindingFacts {
    FindingFacts {
        finding_id: format!("f-{t}-{dev}-{kind}-{offset_ms}-{}", severity.as_str()),
        tenant: Some(tenant(t)),
        device: Some(device(dev)),
        host: None,
        kind: kind.to_owned(),
        severity,
        summary: format!("{kind} seen on {dev}"),
        raised_at: at(offset_ms),
        campaign_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    }
}

/// A finding about an unattributed address.
pub(crate) fn host_finding(
    ip: &str,
    kind: &str,
    severity: Severity,
    offset_ms: i64,
) -> FindingFacts {
    let ip: IpAddr = ip.parse().unwrap();
    FindingFacts {
        finding_id: format!("f-host-{ip}-{kind}-{offset_ms}"),
        tenant: None,
        device: None,
        host: Some(ip),
        kind: kind.to_owned(),
        severity,
        summary: format!("{kind} from {ip}"),
        raised_at: at(offset_ms),
        campaign_keys: Vec::new(),
    }
}

/// What a store would hold after applying decisions: the latest copy of each incident and
/// its timeline.
#[derive(Default)]
pub(crate) struct Sink {
    pub(crate) incidents: BTreeMap<IncidentId, Incident>,
    pub(crate) timelines: BTreeMap<IncidentId, Vec<TimelineEntry>>,
}

impl Sink {
    pub(crate) fn apply(&mut self, d: &GroupDecision) {
        for c in &d.changes {
            if c.created {
                assert!(
                    !self.incidents.contains_key(&c.incident.id),
                    "created twice: {}",
                    c.incident.id
                );
            } else {
                assert!(
                    self.incidents.contains_key(&c.incident.id),
                    "changed before created: {}",
                    c.incident.id
                );
            }
            self.incidents
                .insert(c.incident.id.clone(), c.incident.clone());
            self.timelines
                .entry(c.incident.id.clone())
                .or_default()
                .extend(c.entries.iter().cloned());
        }
    }

    pub(crate) fn get(&self, id: &IncidentId) -> &Incident {
        &self.incidents[id]
    }

    pub(crate) fn timeline(&self, id: &IncidentId) -> &[TimelineEntry] {
        self.timelines.get(id).map_or(&[], Vec::as_slice)
    }
}
