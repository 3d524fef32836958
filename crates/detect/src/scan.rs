//! Scanning: failed connection attempts fanned out over many hosts on one port (horizontal,
//! how IoT worms spread) or over many ports of one host (vertical). Distinct destinations are
//! counted in a 64-bit linear-counting bitmap per port, so memory stays fixed however wide the
//! scan. Ports IoT worms try first (telnet, SSH, ADB, TR-069, the Huawei and Realtek UPnP
//! holes) need fewer destinations. Mirai's stateless SYNs (sequence number = destination
//! address) convict on sight when a capture shows them.

use std::net::IpAddr;

use rampart_core::{FlowRecord, proto};
use serde::{Deserialize, Serialize};

use crate::finding::{Evidence, FindingKind, FlowEvidence, Fnv, Pattern, Severity, mix};
use crate::net::{Slot, Trigger, distinct_estimate, recycle, slot_for};

/// Parameters of the scan detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Run the detectors.
    pub enabled: bool,
    /// Window, seconds.
    pub window_s: u32,
    /// Distinct destinations with failed attempts on one port that make a horizontal scan.
    pub min_destinations: u32,
    /// Ports worms favour: fewer destinations suffice.
    pub risky_ports: Vec<u16>,
    /// Distinct destinations on a risky port that make a horizontal scan.
    pub risky_min_destinations: u32,
    /// Distinct ports with failed attempts on one host that make a vertical scan.
    pub vertical_min_ports: u32,
    /// SYNs with Mirai's signature that convict.
    pub mirai_min_syns: u32,
    /// Severity of a horizontal scan (a device spreading).
    pub horizontal_severity: Severity,
    /// Severity of a vertical scan.
    pub vertical_severity: Severity,
    /// Distinct hosts probed with ICMP requests (echo, timestamp, address mask, or a type the
    /// source does not say) that make a sweep: a device pings its gateway and a resolver or
    /// two, never a whole subnet. 0 turns the sweep detector off.
    pub icmp_min_destinations: u32,
    /// Severity of an ICMP sweep (reconnaissance before an attack).
    pub icmp_severity: Severity,
    /// Ports tracked at once per device.
    pub max_ports: usize,
    /// Hosts tracked at once per device.
    pub max_hosts: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_s: 120,
            min_destinations: 24,
            risky_ports: vec![23, 2323, 22, 5555, 7547, 37215, 52869],
            risky_min_destinations: 8,
            vertical_min_ports: 24,
            mirai_min_syns: 2,
            horizontal_severity: Severity::High,
            vertical_severity: Severity::Medium,
            icmp_min_destinations: 12,
            icmp_severity: Severity::Medium,
            max_ports: 4,
            max_hosts: 2,
        }
    }
}

/// Fan-out on one port.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PortSlot {
    port: u16,
    #[serde(default)]
    proto: u8,
    used: bool,
    window_start: i64,
    first: i64,
    last: i64,
    bitmap: u64,
    failed: u32,
    mirai: u32,
    evidence: Vec<FlowEvidence>,
}

/// Fan-out over the ports of one host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HostSlot {
    ip: Option<IpAddr>,
    window_start: i64,
    first: i64,
    last: i64,
    bitmap: u64,
    failed: u32,
    evidence: Vec<FlowEvidence>,
}

impl Slot for PortSlot {
    fn reset(&mut self) {
        *self = Self {
            evidence: recycle(&mut self.evidence),
            ..Self::default()
        };
    }
}

impl Slot for HostSlot {
    fn reset(&mut self) {
        *self = Self {
            evidence: recycle(&mut self.evidence),
            ..Self::default()
        };
    }
}

const MAX_EVIDENCE: usize = 8;

/// Feeds one failed TCP attempt (or a flow with Mirai SYNs) the device originated.
pub(crate) fn on_flow(
    cfg: &ScanConfig,
    ports: &mut Vec<PortSlot>,
    hosts: &mut Vec<HostSlot>,
    flow: &FlowRecord,
    remote: IpAddr,
    failed: bool,
    out: &mut Vec<Trigger>,
) {
    let mirai = flow.facts.seq_eq_dst_syns;
    if !cfg.enabled {
        return;
    }
    if is_icmp_probe(flow) {
        if cfg.icmp_min_destinations == 0 {
            return;
        }
        horizontal(cfg, ports, flow, remote, 0, out);
        return;
    }
    if flow.protocol != proto::TCP || !(failed || mirai > 0) {
        return;
    }
    horizontal(cfg, ports, flow, remote, mirai, out);
    if failed {
        vertical(cfg, hosts, flow, remote, out);
    }
}

/// An ICMP request the device sent: echo, timestamp or address mask. Captures give the type
/// in the source port and the code in the destination port; NetFlow folds both into the
/// destination port as `type << 8 | code`; a source that says nothing leaves both 0, and a flow
/// a device originates is then its request. Errors and replies are answers, not probes.
pub(crate) fn is_icmp_probe(flow: &FlowRecord) -> bool {
    let (ty, unknown) = match (flow.src_port, flow.dst_port) {
        (t @ 1..=255, _) => (t, false),
        (_, 0) => (0, true),
        (_, tc) => (tc >> 8, false),
    };
    match flow.protocol {
        proto::ICMP => unknown || matches!(ty, 8 | 13 | 17),
        proto::ICMPV6 => unknown || ty == 128,
        _ => false,
    }
}

fn horizontal(
    cfg: &ScanConfig,
    ports: &mut Vec<PortSlot>,
    flow: &FlowRecord,
    remote: IpAddr,
    mirai: u32,
    out: &mut Vec<Trigger>,
) {
    let window = i64::from(cfg.window_s.max(1)) * 1000;
    let icmp = flow.protocol != proto::TCP;
    // ICMP probes share one slot whatever their type: a sweep mixes echo and timestamp.
    let (port, protocol) = if icmp {
        (0, flow.protocol)
    } else {
        (flow.dst_port, proto::TCP)
    };
    let t = flow.start.0;
    let (i, _) = slot_for(
        ports,
        cfg.max_ports,
        |s| s.used && s.port == port && s.proto == protocol,
        |s| s.last,
    );
    let Some(s) = ports.get_mut(i) else { return };
    if !s.used || s.port != port || s.proto != protocol || t - s.window_start > window {
        *s = PortSlot {
            port,
            proto: protocol,
            used: true,
            window_start: t,
            first: t,
            evidence: recycle(&mut s.evidence),
            ..PortSlot::default()
        };
    }
    s.last = s.last.max(flow.end.0);
    s.bitmap |= 1u64 << (Fnv::ip(remote) & 63);
    s.failed = s.failed.saturating_add(1);
    s.mirai = s.mirai.saturating_add(mirai);
    if s.evidence.len() < MAX_EVIDENCE {
        s.evidence.push(FlowEvidence::of(flow));
    }
    let distinct = distinct_estimate(s.bitmap);
    let need = if icmp {
        cfg.icmp_min_destinations
    } else if cfg.risky_ports.contains(&port) {
        cfg.risky_min_destinations
    } else {
        cfg.min_destinations
    };
    let by_mirai = cfg.mirai_min_syns > 0 && s.mirai >= cfg.mirai_min_syns;
    if !(by_mirai || distinct >= f64::from(need.max(2))) {
        return;
    }
    if icmp {
        out.push(Trigger {
            kind: FindingKind::HorizontalScan,
            severity: cfg.icmp_severity,
            pattern: Some(Pattern {
                protocol: Some(protocol),
                ..Pattern::default()
            }),
            summary: format!(
                "ICMP requests to about {distinct:.0} hosts within {} s: a ping sweep",
                cfg.window_s
            ),
            evidence: std::mem::take(&mut s.evidence)
                .into_iter()
                .map(Evidence::Flow)
                .collect(),
            count: u64::from(s.failed),
            first_seen: s.first,
            threshold: Trigger::threshold(
                "distinct_icmp_destinations",
                f64::from(need),
                distinct,
                "fixed",
            ),
            rule: None,
        });
        *s = PortSlot::default();
        return;
    }
    let (metric, limit, observed, why) = if by_mirai {
        (
            "mirai_signature_syns",
            f64::from(cfg.mirai_min_syns),
            f64::from(s.mirai),
            " with Mirai's SYN signature",
        )
    } else {
        ("distinct_destinations", f64::from(need), distinct, "")
    };
    out.push(Trigger {
        kind: FindingKind::HorizontalScan,
        severity: cfg.horizontal_severity,
        pattern: Some(Pattern {
            dst_port: Some(port),
            protocol: Some(proto::TCP),
            failed_only: true,
            dst: None,
        }),
        summary: format!(
            "failed attempts to about {distinct:.0} hosts on port {port} within {} s{why}",
            cfg.window_s
        ),
        evidence: std::mem::take(&mut s.evidence)
            .into_iter()
            .map(Evidence::Flow)
            .collect(),
        count: u64::from(s.failed),
        first_seen: s.first,
        threshold: Trigger::threshold(metric, limit, observed, "fixed"),
        rule: None,
    });
    *s = PortSlot::default();
}

fn vertical(
    cfg: &ScanConfig,
    hosts: &mut Vec<HostSlot>,
    flow: &FlowRecord,
    remote: IpAddr,
    out: &mut Vec<Trigger>,
) {
    let window = i64::from(cfg.window_s.max(1)) * 1000;
    let t = flow.start.0;
    let (i, _) = slot_for(hosts, cfg.max_hosts, |s| s.ip == Some(remote), |s| s.last);
    let Some(s) = hosts.get_mut(i) else { return };
    if s.ip != Some(remote) || t - s.window_start > window {
        *s = HostSlot {
            ip: Some(remote),
            window_start: t,
            first: t,
            evidence: recycle(&mut s.evidence),
            ..HostSlot::default()
        };
    }
    s.last = s.last.max(flow.end.0);
    s.bitmap |= 1u64 << (mix(u64::from(flow.dst_port)) & 63);
    s.failed = s.failed.saturating_add(1);
    if s.evidence.len() < MAX_EVIDENCE {
        s.evidence.push(FlowEvidence::of(flow));
    }
    let distinct = distinct_estimate(s.bitmap);
    if distinct < f64::from(cfg.vertical_min_ports.max(2)) {
        return;
    }
    out.push(Trigger {
        kind: FindingKind::VerticalScan,
        severity: cfg.vertical_severity,
        pattern: Some(Pattern {
            dst: Some(remote),
            protocol: Some(proto::TCP),
            failed_only: true,
            dst_port: None,
        }),
        summary: format!(
            "failed attempts to about {distinct:.0} ports of {remote} within {} s",
            cfg.window_s
        ),
        evidence: std::mem::take(&mut s.evidence)
            .into_iter()
            .map(Evidence::Flow)
            .collect(),
        count: u64::from(s.failed),
        first_seen: s.first,
        threshold: Trigger::threshold(
            "distinct_ports",
            f64::from(cfg.vertical_min_ports),
            distinct,
            "fixed",
        ),
        rule: None,
    });
    *s = HostSlot::default();
}
