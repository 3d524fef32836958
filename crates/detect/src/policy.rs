//! Expected behaviour: per-profile allow-lists and MUD files (RFC 8520). A flow of a device
//! whose profile has a policy, that no entry accepts, is a finding. MUD name entries
//! (`ietf-acldns:dst-dnsname`) match addresses the device resolved that name to (remembered
//! from DNS observations, bounded per device).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use rampart_core::{FlowRecord, proto};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ConfigError;
use crate::c2::{NameSlot, name_hash};
use crate::finding::{Evidence, FindingKind, FlowEvidence, Pattern, Severity};
use crate::net::{HomeNets, Trigger};

/// One allow-list entry; empty lists match anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Allow {
    /// Remote networks.
    pub nets: Vec<IpNet>,
    /// Remote names (matched through the device's DNS answers).
    pub names: Vec<String>,
    /// Remote ports (device-initiated) or the device's own ports (inbound).
    pub ports: Vec<u16>,
    /// IP protocols.
    pub protocols: Vec<u8>,
    /// The entry is for connections toward the device (else from it).
    pub inbound: bool,
}

/// The policy of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilePolicy {
    /// Allow-list entries.
    pub allow: Vec<Allow>,
    /// A MUD file's JSON text (its accept entries are added to the allow-list).
    pub mud: Option<String>,
}

/// Expected-behaviour parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Run the detector.
    pub enabled: bool,
    /// Policies per profile name; devices of other profiles are not checked.
    pub profiles: BTreeMap<String, ProfilePolicy>,
    /// DNS, NTP and DHCP are always allowed (policies rarely list them, every device needs them).
    pub allow_infrastructure: bool,
    /// Addresses remembered per device from DNS answers.
    pub max_names: usize,
    /// Severity.
    pub severity: Severity,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            profiles: BTreeMap::new(),
            allow_infrastructure: true,
            max_names: 16,
            severity: Severity::Medium,
        }
    }
}

/// Why a MUD file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mud file: {0}")]
pub struct MudError(String);

/// The accept entries of a MUD file's from-device and to-device policies.
pub fn parse_mud(json: &str) -> Result<Vec<Allow>, MudError> {
    let v: Value = serde_json::from_str(json).map_err(|e| MudError(e.to_string()))?;
    let mud = v
        .get("ietf-mud:mud")
        .ok_or_else(|| MudError("no ietf-mud:mud container".to_owned()))?;
    let acl_names = |policy: &str| -> Vec<String> {
        mud.pointer(&format!("/{policy}/access-lists/access-list"))
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let from = acl_names("from-device-policy");
    let to = acl_names("to-device-policy");
    let acls = v
        .pointer("/ietf-access-control-list:acls/acl")
        .and_then(Value::as_array)
        .ok_or_else(|| MudError("no ietf-access-control-list:acls/acl list".to_owned()))?;
    let mut out = Vec::new();
    for acl in acls {
        let name = acl.get("name").and_then(Value::as_str).unwrap_or_default();
        let inbound = match (from.iter().any(|n| n == name), to.iter().any(|n| n == name)) {
            (true, _) => false,
            (_, true) => true,
            _ => continue,
        };
        let aces = acl
            .pointer("/aces/ace")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for ace in aces {
            let accept = ace
                .pointer("/actions/forwarding")
                .and_then(Value::as_str)
                .is_some_and(|f| f.ends_with("accept"));
            if !accept {
                continue;
            }
            out.push(ace_entry(ace, inbound)?);
        }
    }
    Ok(out)
}

fn ace_entry(ace: &Value, inbound: bool) -> Result<Allow, MudError> {
    let m = ace.get("matches").cloned().unwrap_or(Value::Null);
    let mut a = Allow {
        inbound,
        ..Allow::default()
    };
    let (name_key, net4, net6, port_key) = if inbound {
        (
            "ietf-acldns:src-dnsname",
            "source-ipv4-network",
            "source-ipv6-network",
            "destination-port",
        )
    } else {
        (
            "ietf-acldns:dst-dnsname",
            "destination-ipv4-network",
            "destination-ipv6-network",
            "destination-port",
        )
    };
    for l3 in ["ipv4", "ipv6"] {
        let Some(x) = m.get(l3) else { continue };
        if let Some(n) = x.get(name_key).and_then(Value::as_str) {
            a.names.push(n.trim_end_matches('.').to_ascii_lowercase());
        }
        for k in [net4, net6] {
            if let Some(n) = x.get(k).and_then(Value::as_str) {
                a.nets.push(
                    n.parse()
                        .map_err(|_| MudError(format!("bad network {n:?}")))?,
                );
            }
        }
        if let Some(p) = x.get("protocol").and_then(Value::as_u64) {
            a.protocols
                .push(u8::try_from(p).map_err(|_| MudError(format!("bad protocol {p}")))?);
        }
    }
    for (l4, p) in [("tcp", proto::TCP), ("udp", proto::UDP)] {
        let Some(x) = m.get(l4) else { continue };
        if a.protocols.is_empty() {
            a.protocols.push(p);
        }
        if let Some(port) = x
            .pointer(&format!("/{port_key}/port"))
            .and_then(Value::as_u64)
        {
            a.ports
                .push(u16::try_from(port).map_err(|_| MudError(format!("bad port {port}")))?);
        }
    }
    Ok(a)
}

impl PolicyConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (name, p) in &self.profiles {
            if let Some(mud) = &p.mud {
                parse_mud(mud).map_err(|e| {
                    ConfigError::invalid(format!("policy.profiles.{name}.mud"), e.to_string())
                })?;
            }
        }
        Ok(())
    }

    /// The allow-lists with MUD entries merged, per profile (MUD files validated earlier).
    pub(crate) fn compile(&self) -> BTreeMap<String, Vec<Allow>> {
        self.profiles
            .iter()
            .map(|(name, p)| {
                let mut v = p.allow.clone();
                if let Some(Ok(mud)) = p.mud.as_deref().map(parse_mud) {
                    v.extend(mud);
                }
                (name.clone(), v)
            })
            .collect()
    }
}

fn infrastructure(flow: &FlowRecord) -> bool {
    matches!(
        (flow.protocol, flow.dst_port),
        (proto::UDP | proto::TCP, 53) | (proto::UDP, 123 | 67 | 68)
    )
}

/// Checks one flow of a device against its profile's policy.
#[allow(clippy::too_many_arguments)] // The parts of the device's view a policy needs.
pub(crate) fn on_flow(
    cfg: &PolicyConfig,
    compiled: &BTreeMap<String, Vec<Allow>>,
    home: &HomeNets,
    profile: Option<&str>,
    names: &[NameSlot],
    flow: &FlowRecord,
    inbound: bool,
    remote: IpAddr,
    out: &mut Vec<Trigger>,
) {
    let Some(allow) = profile.and_then(|p| compiled.get(p)) else {
        return;
    };
    if !cfg.enabled || (cfg.allow_infrastructure && infrastructure(flow)) {
        return;
    }
    let port = flow.dst_port;
    let resolved = names
        .iter()
        .find(|s| s.ip == Some(remote))
        .map(|s| s.name_hash);
    let ok = allow.iter().any(|a| {
        a.inbound == inbound
            && (a.protocols.is_empty() || a.protocols.contains(&flow.protocol))
            && (a.ports.is_empty() || a.ports.contains(&port))
            && ((a.nets.is_empty() && a.names.is_empty())
                || a.nets.iter().any(|n| n.contains(&remote))
                || resolved.is_some_and(|h| a.names.iter().any(|n| name_hash(n) == h))
                || a.names.iter().any(|n| n == "local-networks") && home.contains(remote))
    });
    if ok {
        return;
    }
    let dir = if inbound { "from" } else { "to" };
    out.push(Trigger {
        kind: FindingKind::UnexpectedTraffic,
        severity: cfg.severity,
        pattern: Some(Pattern {
            dst: Some(remote),
            dst_port: (!inbound).then_some(port),
            protocol: Some(flow.protocol),
            failed_only: false,
        }),
        summary: format!(
            "traffic {dir} {remote} (port {port}, protocol {}) outside the {} policy",
            flow.protocol,
            profile.unwrap_or_default()
        ),
        evidence: vec![Evidence::Flow(FlowEvidence::of(flow))],
        count: 1,
        first_seen: flow.start.0,
        threshold: Trigger::threshold("allowed_entries", allow.len() as f64, 0.0, "profile_policy"),
        rule: None,
    });
}
