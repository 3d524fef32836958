//! DDoS participation: the device sends a flood to one target. Judged per target over a short
//! tumbling window: many packets with (almost) nothing back, or many connection attempts
//! nobody answers, or so many connections that no device needs them. A single flow can be a
//! flood on its own (a long UDP stream at hundreds of packets per second, unanswered).
//!
//! Why asymmetry: legitimate traffic of a device is a conversation, the target of a flood does
//! not (or can no longer) answer. Rates are set an order of magnitude above anything a sensor,
//! a camera's control channel or a voice assistant does toward one host in ten seconds.

use std::net::IpAddr;

use rampart_core::{FlowRecord, proto, tcp_flags};
use serde::{Deserialize, Serialize};

use crate::finding::{Evidence, FindingKind, FlowEvidence, Pattern, Severity};
use crate::net::{Slot, Trigger, recycle, slot_for};

/// Parameters of the flood detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DdosConfig {
    /// Run the detector.
    pub enabled: bool,
    /// Tumbling window per target, seconds.
    pub window_s: u32,
    /// Packets to one target in the window that make a flood (with little coming back).
    pub min_packets: u64,
    /// Largest ratio of packets back to packets sent for a one-sided flood.
    pub max_reply_ratio: f64,
    /// Unanswered flows to one target in the window that make a flood.
    pub min_unanswered_flows: u32,
    /// Flows of any kind to one target in the window that make a flood (HTTP floods answer).
    pub min_flows: u32,
    /// A single flow with at least this many packets ...
    pub min_flow_packets: u64,
    /// ... at this rate (packets per second), unanswered, is a flood.
    pub min_flow_pps: f64,
    /// Severity.
    pub severity: Severity,
    /// Targets tracked at once per device.
    pub max_targets: usize,
}

impl Default for DdosConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_s: 10,
            min_packets: 2000,
            max_reply_ratio: 0.1,
            min_unanswered_flows: 100,
            min_flows: 500,
            min_flow_packets: 1000,
            min_flow_pps: 100.0,
            severity: Severity::High,
            max_targets: 4,
        }
    }
}

/// Counters toward one target in the current window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TargetSlot {
    ip: Option<IpAddr>,
    window_start: i64,
    first: i64,
    last: i64,
    packets_out: u64,
    packets_in: u64,
    flows: u32,
    unanswered: u32,
    flags: u8,
    protos: u8,
    evidence: Vec<FlowEvidence>,
}

impl Slot for TargetSlot {
    fn reset(&mut self) {
        *self = Self {
            evidence: recycle(&mut self.evidence),
            ..Self::default()
        };
    }
}

/// One-sided flows kept as evidence per target.
const TARGET_EVIDENCE: usize = 4;

const P_TCP: u8 = 1;
const P_UDP: u8 = 2;
const P_GRE: u8 = 4;
const P_OTHER: u8 = 8;
const P_HTTP: u8 = 16;

fn proto_bit(flow: &FlowRecord) -> u8 {
    let base = match flow.protocol {
        proto::TCP => P_TCP,
        proto::UDP => P_UDP,
        proto::GRE => P_GRE,
        _ => P_OTHER,
    };
    if flow.service.as_deref() == Some("http") || flow.dst_port == 80 && flow.rev_packets > 0 {
        base | P_HTTP
    } else {
        base
    }
}

fn flavour(protos: u8, flags: u8) -> &'static str {
    if protos & P_GRE != 0 {
        "GRE flood"
    } else if protos & P_UDP != 0 {
        "UDP flood"
    } else if protos & P_HTTP != 0 {
        "HTTP flood"
    } else if protos & P_TCP != 0 && flags & tcp_flags::SYN != 0 && flags & tcp_flags::ACK == 0 {
        "SYN flood"
    } else if protos & P_TCP != 0 && flags & tcp_flags::ACK != 0 && flags & tcp_flags::SYN == 0 {
        "ACK flood"
    } else {
        "flood"
    }
}

/// Feeds one flow the device originated toward a unicast `target`.
pub(crate) fn on_flow(
    cfg: &DdosConfig,
    slots: &mut Vec<TargetSlot>,
    flow: &FlowRecord,
    target: IpAddr,
    out: &mut Vec<Trigger>,
) {
    if !cfg.enabled {
        return;
    }
    let end = flow.end.0;
    // One flow that is a flood by itself.
    let one_sided = (flow.rev_packets as f64) <= cfg.max_reply_ratio * flow.packets as f64;
    let big = flow.packets >= cfg.min_flow_packets && one_sided;
    let dur_s = ((flow.end.0 - flow.start.0) as f64 / 1000.0).max(1.0);
    let pps = if big {
        flow.packets as f64 / dur_s
    } else {
        0.0
    };
    if big && pps >= cfg.min_flow_pps {
        let what = flavour(proto_bit(flow), flow.tcp_flags);
        out.push(trigger(
            cfg,
            target,
            what,
            vec![FlowEvidence::of(flow)],
            1,
            flow.start.0,
            "packets_per_s",
            cfg.min_flow_pps,
            pps,
            format!(
                "{what} toward {target}: {} packets at {pps:.0}/s in one flow, {} back",
                flow.packets, flow.rev_packets
            ),
        ));
        return;
    }
    let window = i64::from(cfg.window_s.max(1)) * 1000;
    let (i, _) = slot_for(slots, cfg.max_targets, |s| s.ip == Some(target), |s| s.last);
    let Some(s) = slots.get_mut(i) else { return };
    if s.ip != Some(target) || end - s.window_start > window || s.flows == 0 {
        *s = TargetSlot {
            ip: Some(target),
            window_start: end,
            first: flow.start.0,
            evidence: recycle(&mut s.evidence),
            ..TargetSlot::default()
        };
    }
    s.last = s.last.max(end);
    s.first = s.first.min(flow.start.0);
    s.packets_out = s.packets_out.saturating_add(flow.packets);
    s.packets_in = s.packets_in.saturating_add(flow.rev_packets);
    s.flows = s.flows.saturating_add(1);
    if flow.rev_packets == 0 {
        s.unanswered = s.unanswered.saturating_add(1);
    }
    s.flags |= flow.tcp_flags;
    s.protos |= proto_bit(flow);
    // Evidence is the one-sided flows (answered ones are what a flood is not); a benign
    // conversation allocates none.
    if s.evidence.len() < TARGET_EVIDENCE && one_sided {
        if s.evidence.capacity() == 0 {
            s.evidence.reserve_exact(TARGET_EVIDENCE);
        }
        s.evidence.push(FlowEvidence::of(flow));
    }
    let ratio_ok = (s.packets_in as f64) <= cfg.max_reply_ratio * s.packets_out as f64;
    let (metric, limit, observed) = if s.packets_out >= cfg.min_packets && ratio_ok {
        (
            "packets_to_target",
            cfg.min_packets as f64,
            s.packets_out as f64,
        )
    } else if s.unanswered >= cfg.min_unanswered_flows
        && f64::from(s.unanswered) >= 0.9 * f64::from(s.flows)
    {
        (
            "unanswered_flows_to_target",
            f64::from(cfg.min_unanswered_flows),
            f64::from(s.unanswered),
        )
    } else if s.flows >= cfg.min_flows {
        (
            "flows_to_target",
            f64::from(cfg.min_flows),
            f64::from(s.flows),
        )
    } else {
        return;
    };
    let what = flavour(s.protos, s.flags);
    let summary = format!(
        "{what} toward {target}: {} flows, {} packets out, {} back within {} s",
        s.flows, s.packets_out, s.packets_in, cfg.window_s
    );
    let evidence = std::mem::take(&mut s.evidence);
    let count = u64::from(s.flows);
    let first = s.first;
    *s = TargetSlot::default();
    out.push(trigger(
        cfg, target, what, evidence, count, first, metric, limit, observed, summary,
    ));
}

#[allow(clippy::too_many_arguments)] // Each argument is one field of the finding.
fn trigger(
    cfg: &DdosConfig,
    target: IpAddr,
    _what: &str,
    evidence: Vec<FlowEvidence>,
    count: u64,
    first_seen: i64,
    metric: &str,
    limit: f64,
    observed: f64,
    summary: String,
) -> Trigger {
    Trigger {
        kind: FindingKind::Ddos,
        severity: cfg.severity,
        pattern: Some(Pattern {
            dst: Some(target),
            ..Pattern::default()
        }),
        summary,
        evidence: evidence.into_iter().map(Evidence::Flow).collect(),
        count,
        first_seen,
        threshold: Trigger::threshold(metric, limit, observed, "fixed"),
        rule: None,
    }
}
