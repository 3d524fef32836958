//! Datagram-level side of the compiled templates ([`crate::plan`]): which scope a datagram
//! belongs to, decoding a data-only datagram from plans, and keeping the plans in step with
//! the templates the parser learnt or dropped.

use std::time::{Duration, Instant};

use netflow_parser::variable_versions::ipfix::FlowSetBody as IpfixBody;
use netflow_parser::variable_versions::v9::FlowSetBody as V9Body;
use netflow_parser::{EnterpriseFieldRegistry, NetflowPacket};
use rampart_core::FlowRecord;

use crate::collector::{IngestReport, emit};
use crate::exporter::{Exporter, Family};
use crate::fields::{Fields, RecordContext};
use crate::plan::{Plan, PlanScope, ipfix_withdraws, within_budget};

/// Length of the v9 packet header.
pub(crate) const V9_HEADER: usize = 20;
/// Length of the IPFIX message header.
pub(crate) const IPFIX_HEADER: usize = 16;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The template scope the parser files a datagram under: from its first header, as
/// netflow_parser's `extract_scoping_info` reads it.
pub(crate) fn scope_of(version: u16, datagram: &[u8]) -> Option<(Family, u32)> {
    match version {
        9 => Some((Family::V9, be32(datagram, 16)?)),
        10 => Some((Family::Ipfix, be32(datagram, 12)?)),
        _ => None,
    }
}

/// The header facts the records of a data-only datagram need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) export_ms: i64,
    pub(crate) sys_uptime_ms: Option<u32>,
}

/// The header and the sets of a single-message datagram, or `None` when its framing is one
/// the parser might read differently (an IPFIX length other than the datagram's).
pub(crate) fn split(family: Family, datagram: &[u8]) -> Option<(Header, &[u8])> {
    match family {
        Family::V9 => {
            let uptime = be32(datagram, 4)?;
            let secs = be32(datagram, 8)?;
            let sets = datagram.get(V9_HEADER..)?;
            let header = Header {
                export_ms: i64::from(secs) * 1000,
                sys_uptime_ms: Some(uptime),
            };
            Some((header, sets))
        }
        Family::Ipfix => {
            if usize::from(be16(datagram, 2)?) != datagram.len() {
                return None;
            }
            let secs = be32(datagram, 4)?;
            let sets = datagram.get(IPFIX_HEADER..)?;
            let header = Header {
                export_ms: i64::from(secs) * 1000,
                sys_uptime_ms: None,
            };
            Some((header, sets))
        }
    }
}

/// Decodes every set of a data-only datagram from the scope's plans, appending flows to
/// `out`. `None` (with `out` as it was) when any set is not a data set with a live plan, the
/// sets do not exactly fill the datagram, or the parser's per-message budget would be
/// exceeded: the datagram then goes to the parser.
///
/// `shadow` receives the header of the shadow datagram shown to the parser afterwards (see
/// [`crate::plan`]): one empty set per set decoded.
pub(crate) fn decode_sets(
    sets: &[u8],
    plans: &PlanScope,
    ttl: Option<Duration>,
    ctx: &RecordContext<'_>,
    report: &mut IngestReport,
    out: &mut Vec<FlowRecord>,
    shadow: &mut Vec<u8>,
) -> Option<()> {
    let before = out.len();
    let skipped = report.skipped;
    let done = decode_into(sets, plans, ttl, ctx, report, out, shadow);
    if done.is_none() {
        out.truncate(before);
        report.skipped = skipped;
    }
    done
}

fn decode_into(
    sets: &[u8],
    plans: &PlanScope,
    ttl: Option<Duration>,
    ctx: &RecordContext<'_>,
    report: &mut IngestReport,
    out: &mut Vec<FlowRecord>,
    shadow: &mut Vec<u8>,
) -> Option<()> {
    let (mut at, mut values, mut payload) = (0usize, 0usize, 0usize);
    while at < sets.len() {
        let id = be16(sets, at)?;
        let len = usize::from(be16(sets, at + 2)?);
        if id < 256 || len < 4 {
            return None;
        }
        let body = sets.get(at + 4..at + len)?;
        let plan = plans.get(id, ttl)?;
        let n = plan.records(body.len());
        values += n * plan.field_count();
        payload += n * plan.record_len();
        if !within_budget(values, payload) {
            return None;
        }
        out.reserve(n);
        for record in body.chunks_exact(plan.record_len()).take(n) {
            let mut f = Fields::default();
            plan.decode(record, &mut f)?;
            emit(f, ctx, report, out);
        }
        shadow.extend_from_slice(&id.to_be_bytes());
        shadow.extend_from_slice(&4u16.to_be_bytes());
        at += len;
    }
    Some(())
}

/// The shadow of a datagram decoded from plans: its header (IPFIX length adjusted) followed
/// by the empty sets [`decode_sets`] appended to `sets`.
/// Returns the header's length.
pub(crate) fn shadow_header(family: Family, datagram: &[u8], shadow: &mut Vec<u8>) -> usize {
    let header = match family {
        Family::V9 => V9_HEADER,
        Family::Ipfix => IPFIX_HEADER,
    };
    shadow.clear();
    shadow.extend_from_slice(datagram.get(..header).unwrap_or_default());
    shadow.len()
}

/// Finishes the shadow (IPFIX message length) once its sets are appended.
pub(crate) fn shadow_finish(family: Family, shadow: &mut [u8]) -> bool {
    if family == Family::Ipfix {
        let Ok(len) = u16::try_from(shadow.len()) else {
            return false;
        };
        if let Some(field) = shadow.get_mut(2..4) {
            field.copy_from_slice(&len.to_be_bytes());
        }
    }
    true
}

/// Whether the parser read the shadow as one message of `sets` data sets: every template
/// the plans used was live in the parser too.
pub(crate) fn shadow_confirms(packets: &[NetflowPacket], family: Family, sets: usize) -> bool {
    match (family, packets) {
        (Family::V9, [NetflowPacket::V9(p)]) => {
            p.flowsets.len() == sets && p.flowsets.iter().all(|s| matches!(s.body, V9Body::Data(_)))
        }
        (Family::Ipfix, [NetflowPacket::IPFix(p)]) => {
            p.flowsets.len() == sets
                && p.flowsets
                    .iter()
                    .all(|s| matches!(s.body, IpfixBody::Data(_)))
        }
        _ => false,
    }
}

/// What the parser did with one datagram, as far as the plans are concerned.
pub(crate) struct Learnt<'a> {
    pub(crate) scope: (Family, u32),
    pub(crate) packets: &'a [NetflowPacket],
    /// The datagram parsed as exactly one message with nothing left over.
    pub(crate) clean: bool,
    /// The parser reported a template evicted or expired while parsing it.
    pub(crate) evicted: bool,
    /// Taken before the parser saw the datagram.
    pub(crate) started: Instant,
    pub(crate) datagram: &'a [u8],
}

/// Brings the exporter's plans for the datagram's scope in step with what the parser learnt
/// from it: data templates compiled, templates replaced by options or v9-style templates
/// dropped, and the whole scope forgotten when the parser may have dropped templates this
/// datagram does not name (evictions, expiry, withdrawals, partial parses).
pub(crate) fn learn(
    e: &mut Exporter,
    l: &Learnt<'_>,
    cap: usize,
    registry: &EnterpriseFieldRegistry,
) {
    let (family, id) = l.scope;
    let withdraws = family == Family::Ipfix
        && l.packets
            .iter()
            .any(|p| matches!(p, NetflowPacket::IPFix(_)))
        && ipfix_withdraws(l.datagram);
    if !l.clean || l.evicted || withdraws {
        e.forget_plans(family, id);
        return;
    }
    let mut changes: Vec<(u16, Option<Plan>)> = Vec::new();
    for packet in l.packets {
        match (family, packet) {
            (Family::V9, NetflowPacket::V9(p)) => {
                for set in &p.flowsets {
                    match &set.body {
                        V9Body::Template(t) => changes.extend(
                            t.templates
                                .iter()
                                .map(|t| (t.template_id, Plan::v9(t, l.started))),
                        ),
                        V9Body::OptionsTemplate(t) => {
                            changes.extend(t.templates.iter().map(|t| (t.template_id, None)));
                        }
                        _ => {}
                    }
                }
            }
            (Family::Ipfix, NetflowPacket::IPFix(p)) => {
                for set in &p.flowsets {
                    let ipfix = |t: &netflow_parser::variable_versions::ipfix::Template| {
                        (t.template_id, Plan::ipfix(t, registry, l.started))
                    };
                    match &set.body {
                        IpfixBody::Template(t) => changes.push(ipfix(t)),
                        IpfixBody::Templates(ts) => changes.extend(ts.iter().map(ipfix)),
                        IpfixBody::OptionsTemplate(t) => changes.push((t.template_id, None)),
                        IpfixBody::OptionsTemplates(ts) => {
                            changes.extend(ts.iter().map(|t| (t.template_id, None)));
                        }
                        IpfixBody::V9Template(t) => changes.push((t.template_id, None)),
                        IpfixBody::V9Templates(ts) => {
                            changes.extend(ts.iter().map(|t| (t.template_id, None)));
                        }
                        IpfixBody::V9OptionsTemplate(t) => changes.push((t.template_id, None)),
                        IpfixBody::V9OptionsTemplates(ts) => {
                            changes.extend(ts.iter().map(|t| (t.template_id, None)));
                        }
                        _ => {}
                    }
                }
            }
            // A message of the other family filed under this scope: the parser's view of
            // the scope is no longer one this module mirrors.
            _ => {
                e.forget_plans(family, id);
                return;
            }
        }
    }
    let scope = if changes.iter().any(|(_, p)| p.is_some()) {
        e.plans_mut(family, id)
    } else {
        e.plans
            .iter_mut()
            .find(|p| p.family == family && p.id == id)
    };
    if let Some(scope) = scope {
        for (template, plan) in changes {
            scope.set(template, plan, cap);
        }
        if scope.is_empty() {
            e.forget_plans(family, id);
        }
    }
}
