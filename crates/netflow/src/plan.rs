//! Compiled templates: the fast path for data-only datagrams.
//!
//! Decoding a data record through [`netflow_parser`] builds a `Vec` of typed values per
//! record (and one per set), most of them for elements no flow record needs; that was most of
//! the collector's time. When a data template arrives, it is also compiled here into a flat
//! plan: the record length and, for the elements [`Fields`] reads, their offset, length and
//! data type. A later datagram made only of data sets whose plans are known is then decoded
//! straight from its bytes, each element read still by [`FieldValue::from_field_type`] and
//! applied by [`Fields::apply`], so a flow comes out exactly as the parser path makes it.
//!
//! The parser stays the authority on templates: a plan mirrors one of its data templates
//! (learnt from the same datagram, forgotten with its scope, expiring no later than it), and
//! every datagram the fast path does not fully cover — templates, options, unknown template
//! ids, malformed framing, anything unusual — goes through the parser as before. A datagram
//! decoded from plans is still shown to the parser as a shadow: the same header and sets, each
//! emptied of its records. The parser then looks up (and so promotes) the same templates in
//! the same order, checks their lifetime and refreshes the scope's last activity exactly as
//! for the real datagram, so its template and scope caches evict what they would have
//! evicted without the fast path; and the shadow's sets coming back as data sets confirm the
//! templates were live. That costs one parse of a few dozen bytes per datagram instead of
//! materialising every record.

use std::time::{Duration, Instant};

use netflow_parser::variable_versions::ipfix::Template as IpfixTemplate;
use netflow_parser::variable_versions::v9::Template as V9Template;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netflow_parser::{EnterpriseFieldRegistry, FieldDataType, FieldValue};

use crate::exporter::Family;
use crate::fields::{self, Fields, Slot, Val, ipfix_slot};

/// Most records the parser decodes from one set (netflow_parser's default limit): a plan
/// decodes no more, so both paths yield the same records.
pub(crate) const MAX_RECORDS_PER_SET: usize = 1024;
/// The parser's default budget of decoded values per message; a datagram that would exceed
/// it is left to the parser, which refuses it.
pub(crate) const MAX_VALUES_PER_MESSAGE: usize = 65_536;
/// The parser's default budget of decoded payload bytes per message.
const MAX_PAYLOAD_PER_MESSAGE: usize = 4 * 1024 * 1024;

/// Where one element read from a record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Forward(u16),
    Reverse(u16),
}

/// How an element's bytes are read: directly for the shapes flow records are made of, by
/// netflow_parser for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unsigned,
    Ip4,
    Ip6,
    Protocol,
    TcpFlags,
    Seconds,
    Millis,
    Parser(FieldDataType),
}

impl Shape {
    fn of(data_type: FieldDataType, length: u16) -> Self {
        match (data_type, length) {
            (FieldDataType::UnsignedDataNumber, 1..=8) => Self::Unsigned,
            (FieldDataType::Ip4Addr, 4) => Self::Ip4,
            (FieldDataType::Ip6Addr, 16) => Self::Ip6,
            (FieldDataType::ProtocolType, 1) => Self::Protocol,
            (FieldDataType::TcpControlBits, 1 | 2) => Self::TcpFlags,
            (FieldDataType::DurationSeconds, 2 | 4 | 8) => Self::Seconds,
            (FieldDataType::DurationMillis, 2 | 4 | 8) => Self::Millis,
            (t, _) => Self::Parser(t),
        }
    }
}

/// One element read from each record.
#[derive(Debug, Clone, Copy)]
struct Step {
    offset: usize,
    length: u16,
    shape: Shape,
    target: Target,
}

/// A data template compiled for direct decoding.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    id: u16,
    /// Bytes per record (all elements fixed-length).
    record_len: usize,
    /// Elements per record, for the parser's decoded-values budget.
    field_count: usize,
    steps: Vec<Step>,
    /// When the template was learnt: taken before the parser saw it, so the plan expires no
    /// later than the parser's copy.
    learned: Instant,
}

/// Whether the parser decodes an element of this type and length from exactly `length`
/// bytes without failing: a failing element ends the parser's decoding of its set, which a
/// plan could not mirror, so such templates get no plan.
fn infallible(data_type: FieldDataType, length: u16) -> bool {
    match data_type {
        FieldDataType::ApplicationId => length > 0,
        // Decoded as raw bytes when netflow_parser is built with `parse_unknown_fields`
        // (its default), refused otherwise: ask it.
        FieldDataType::Unknown => {
            let probe = [0u8; 1];
            FieldValue::from_field_type(&probe, FieldDataType::Unknown, 1).is_ok()
        }
        _ => true,
    }
}

impl Plan {
    fn build<'a>(
        id: u16,
        learned: Instant,
        fields: impl Iterator<Item = (u16, FieldDataType, Option<Target>)> + 'a,
    ) -> Option<Self> {
        let mut offset = 0usize;
        let mut steps = Vec::new();
        let mut field_count = 0usize;
        for (length, data_type, target) in fields {
            if length == u16::MAX || !infallible(data_type, length) {
                return None;
            }
            if let Some(target) = target {
                steps.push(Step {
                    offset,
                    length,
                    shape: Shape::of(data_type, length),
                    target,
                });
            }
            offset += usize::from(length);
            field_count += 1;
        }
        (offset > 0 && field_count > 0).then_some(Self {
            id,
            record_len: offset,
            field_count,
            steps,
            learned,
        })
    }

    /// A v9 data template's plan; `None` when the fast path cannot mirror the parser on it.
    pub(crate) fn v9(t: &V9Template, learned: Instant) -> Option<Self> {
        Self::build(
            t.template_id,
            learned,
            t.fields.iter().map(|f| {
                let id = u16::from(f.field_type);
                let target = fields::reads(id).then_some(Target::Forward(id));
                (f.field_length, FieldDataType::from(f.field_type), target)
            }),
        )
    }

    /// An IPFIX data template's plan (element types resolved as the parser does, with its
    /// default, empty enterprise registry).
    pub(crate) fn ipfix(
        t: &IpfixTemplate,
        registry: &EnterpriseFieldRegistry,
        learned: Instant,
    ) -> Option<Self> {
        Self::build(
            t.template_id,
            learned,
            t.fields.iter().map(|f| {
                let target = match ipfix_slot(&f.field_type) {
                    Slot::Forward(id) => Some(Target::Forward(id)),
                    Slot::Reverse(id) => Some(Target::Reverse(id)),
                    Slot::Ignored => None,
                };
                let data_type = f.field_type.to_field_data_type(registry);
                (f.field_length, data_type, target)
            }),
        )
    }

    /// Records the parser would decode from a set body of `body_len` bytes.
    pub(crate) fn records(&self, body_len: usize) -> usize {
        (body_len / self.record_len).min(MAX_RECORDS_PER_SET)
    }

    pub(crate) fn record_len(&self) -> usize {
        self.record_len
    }

    pub(crate) fn field_count(&self) -> usize {
        self.field_count
    }

    /// Decodes one record (`record` is exactly [`Plan::record_len`] bytes) into `f` (fresh);
    /// `None` if an element did not decode, which leaves the datagram to the parser.
    #[inline]
    pub(crate) fn decode(&self, record: &[u8], f: &mut Fields) -> Option<()> {
        for s in &self.steps {
            let bytes = record.get(s.offset..s.offset + usize::from(s.length))?;
            let value = read(bytes, s.shape, s.length)?;
            match s.target {
                Target::Forward(id) => f.apply_val(id, &value),
                Target::Reverse(id) => f.apply_reverse_val(id, &value),
            }
        }
        Some(())
    }
}

/// Big-endian unsigned integer of up to 8 bytes.
#[inline]
fn be_uint(b: &[u8]) -> u64 {
    match *b {
        [x] => u64::from(x),
        [x, y] => u64::from(u16::from_be_bytes([x, y])),
        [x, y, z, w] => u64::from(u32::from_be_bytes([x, y, z, w])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => b.iter().fold(0u64, |n, byte| n << 8 | u64::from(*byte)),
    }
}

/// The readings of an element from exactly its `length` bytes, as [`Val::of`] takes them of
/// the value netflow_parser decodes; `None` if the parser would fail on it.
#[inline]
fn read(b: &[u8], shape: Shape, length: u16) -> Option<Val> {
    Some(match shape {
        // DataNumber of 1, 2, 3, 4 or 8 bytes; 5 to 7 bytes are raw bytes, not a number.
        Shape::Unsigned if matches!(b.len(), 1..=4 | 8) => Val::unsigned(be_uint(b)),
        Shape::Unsigned => Val::default(),
        Shape::Ip4 => Val::address(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        Shape::Ip6 => Val::address(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        Shape::Protocol => Val::protocol(u8::try_from(be_uint(b)).ok()?),
        Shape::TcpFlags => Val::tcp_flags(u16::try_from(be_uint(b)).ok()?),
        Shape::Seconds => Val::seconds(be_uint(b)),
        Shape::Millis => Val::millis(be_uint(b)),
        Shape::Parser(t) => Val::of(&FieldValue::from_field_type(b, t, length).ok()?.1),
    })
}

/// The plans of one template scope (exporter and v9 source id or IPFIX observation domain).
#[derive(Debug)]
pub(crate) struct PlanScope {
    pub(crate) family: Family,
    pub(crate) id: u32,
    plans: Vec<Plan>,
}

impl PlanScope {
    pub(crate) fn new(family: Family, id: u32) -> Self {
        Self {
            family,
            id,
            plans: Vec::new(),
        }
    }

    /// The live plan for a template id.
    #[inline]
    pub(crate) fn get(&self, id: u16, ttl: Option<Duration>) -> Option<&Plan> {
        let plan = self.plans.iter().find(|p| p.id == id)?;
        match ttl {
            Some(ttl) if plan.learned.elapsed() >= ttl => None,
            _ => Some(plan),
        }
    }

    /// Replaces the plan of `id` (`None`: the template has no plan, or is gone). A scope
    /// already holding `cap` plans is cleared first: the parser, bounded the same way, has
    /// evicted one of them, and which one is not known here.
    pub(crate) fn set(&mut self, id: u16, plan: Option<Plan>, cap: usize) {
        self.plans.retain(|p| p.id != id);
        if let Some(plan) = plan {
            if self.plans.len() >= cap {
                self.plans.clear();
            }
            self.plans.push(plan);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }
}

/// Scans the template and options-template sets of an IPFIX message for template
/// withdrawals (RFC 7011 §8.1: a record with a field count of 0). `true` when one is found
/// or the sets cannot be walked: the caller then forgets the scope's plans, since the parser
/// has dropped templates this datagram does not redefine.
pub(crate) fn ipfix_withdraws(datagram: &[u8]) -> bool {
    let be16 = |b: &[u8], at: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *b.get(at)?,
            *b.get(at + 1)?,
        ])))
    };
    let end = match be16(datagram, 2) {
        Some(len) => len.min(datagram.len()),
        None => return true,
    };
    let mut at = 16;
    while at + 4 <= end {
        let (Some(set_id), Some(set_len)) = (be16(datagram, at), be16(datagram, at + 2)) else {
            return true;
        };
        if set_len < 4 || at + set_len > end {
            return true;
        }
        if set_id == 2 || set_id == 3 {
            let body = datagram.get(at + 4..at + set_len).unwrap_or_default();
            if template_set_withdraws(body, set_id == 3) {
                return true;
            }
        }
        at += set_len;
    }
    false
}

fn template_set_withdraws(body: &[u8], options: bool) -> bool {
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
    };
    let mut at = 0;
    // Fewer than 4 bytes left: set padding.
    while at + 4 <= body.len() {
        let (Some(id), Some(count)) = (be16(at), be16(at + 2)) else {
            return true;
        };
        if count == 0 {
            // Padding reads as template 0 with no fields, a no-op for the parser; a real
            // withdrawal names a template id (or 2/3: all templates).
            if id >= 256 || id == 2 || id == 3 {
                return true;
            }
            at += 4;
            continue;
        }
        at += if options { 6 } else { 4 };
        for _ in 0..count {
            let Some(ty) = be16(at) else {
                return true;
            };
            at += if ty & 0x8000 != 0 { 8 } else { 4 };
        }
        if at > body.len() {
            return true;
        }
    }
    false
}

/// Whether a datagram's sets total more decoded values or payload than the parser accepts
/// in one message.
pub(crate) fn within_budget(values: usize, payload: usize) -> bool {
    values <= MAX_VALUES_PER_MESSAGE && payload <= MAX_PAYLOAD_PER_MESSAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_readings_equal_the_parsers() {
        let types = [
            FieldDataType::UnsignedDataNumber,
            FieldDataType::SignedDataNumber,
            FieldDataType::Ip4Addr,
            FieldDataType::Ip6Addr,
            FieldDataType::ProtocolType,
            FieldDataType::TcpControlBits,
            FieldDataType::DurationSeconds,
            FieldDataType::DurationMillis,
            FieldDataType::DurationMicrosNTP,
            FieldDataType::DurationNanosNTP,
            FieldDataType::Float64,
            FieldDataType::Vec,
        ];
        let mut samples: Vec<Vec<u8>> = Vec::new();
        for len in 0..=17usize {
            for seed in 0u8..=255 {
                samples.push(
                    (0..len)
                        .map(|i| seed.wrapping_mul(i as u8 + 1).wrapping_add(0x5b ^ i as u8))
                        .collect(),
                );
            }
            samples.push(vec![0xff; len]);
            samples.push(vec![0; len]);
        }
        for t in types {
            for b in &samples {
                let len = b.len() as u16;
                let shape = Shape::of(t, len);
                // Debug text: NaN probabilities compare equal that way.
                let ours = format!("{:?}", read(b, shape, len));
                let parser = format!(
                    "{:?}",
                    FieldValue::from_field_type(b, t, len)
                        .ok()
                        .map(|(_, v)| Val::of(&v))
                );
                assert_eq!(ours, parser, "{t:?} {shape:?} {b:?}");
            }
        }
    }

    #[test]
    fn withdrawals_are_found() {
        // IPFIX header (length 36), template set with template 256 (1 field), then a
        // withdrawal of 257.
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1, 0, 8, 0, 4]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        assert!(!ipfix_withdraws(&m));
        m.extend_from_slice(&[0, 2, 0, 8, 1, 1, 0, 0]);
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        assert!(ipfix_withdraws(&m));
    }
}
