//! SIEM export. JSON Lines is [`Incident::to_json_line`](crate::Incident::to_json_line); CEF
//! gets the fields here, and the CEF writer (escaping, header) formats them.

use std::net::IpAddr;

use crate::{Incident, Scope};

/// The parts of a CEF record for one incident. Extension keys are CEF dictionary keys (or
/// `csN`/`cnN` custom fields with their labels); values are unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefFields {
    /// Signature ID: `incident:<scope kind>`, stable per class of incident.
    pub signature_id: String,
    /// Name: the incident's title.
    pub name: String,
    /// Severity 0-10 ([`Severity::cef`](crate::Severity::cef)).
    pub severity: u8,
    /// Extension key/values, in order.
    pub extensions: Vec<(String, String)>,
}

/// CEF fields for an incident: `externalId` (incident id), `act` (status), `cat` (kinds,
/// comma-separated), `cnt` (findings), `start`/`rt`/`end` (opened, updated, closed; ms since
/// the epoch), the tenant, scope, subject, assignee and campaign as labelled custom strings,
/// `src` or `c6a2` for a host's address, and the device count of a campaign.
pub fn incident_cef_fields(incident: &Incident) -> CefFields {
    let mut ext: Vec<(String, String)> = Vec::with_capacity(24);
    let mut push = |k: &str, v: String| ext.push((k.to_owned(), v));
    push("externalId", incident.id.to_string());
    push("act", incident.status.as_str().to_owned());
    push("cat", incident.kinds.join(","));
    push("cnt", incident.counts.findings.to_string());
    push("start", incident.opened_at.0.to_string());
    push("rt", incident.updated_at.0.to_string());
    if let Some(end) = incident.closed_at {
        push("end", end.0.to_string());
    }
    if let Some(t) = &incident.tenant {
        push("cs1Label", "tenant".to_owned());
        push("cs1", t.to_string());
    }
    push("cs2Label", "scope".to_owned());
    push("cs2", incident.scope_kind().to_owned());
    push("cs3Label", "subject".to_owned());
    push("cs3", incident.subject());
    if let Some(a) = &incident.assignee {
        push("cs4Label", "assignee".to_owned());
        push("cs4", a.clone());
    }
    if let Some(c) = &incident.campaign {
        push("cs5Label", "campaign".to_owned());
        push("cs5", c.to_string());
    }
    match &incident.scope {
        Scope::Host(IpAddr::V4(ip)) => push("src", ip.to_string()),
        Scope::Host(IpAddr::V6(ip)) => {
            push("c6a2Label", "host".to_owned());
            push("c6a2", ip.to_string());
        }
        Scope::Campaign { device_count, .. } => {
            push("cn1Label", "devices".to_owned());
            push("cn1", device_count.to_string());
        }
        Scope::Device(_) => {}
    }
    CefFields {
        signature_id: format!("incident:{}", incident.scope_kind()),
        name: incident.title.clone(),
        severity: incident.severity.cef(),
        extensions: ext,
    }
}
