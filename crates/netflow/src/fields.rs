//! From decoded information elements to one flow: which element wins when several carry the
//! same fact (delta vs total counters, absolute vs uptime-relative times), how sampling and
//! event times are resolved, and how a TCP flag set maps onto a connection state.

use std::net::IpAddr;
use std::sync::Arc;

use netflow_parser::FieldValue;
use netflow_parser::variable_versions::field_value::DurationValue;
use netflow_parser::variable_versions::ipfix::lookup::{
    IANAIPFixField, IPFixField, ReverseInformationElement,
};
use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto, tcp_flags};

/// Milliseconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET_MS: u64 = 2_208_988_800_000;

/// IANA information element numbers this crate reads (shared by NetFlow v9 field types,
/// which IPFIX inherited).
pub(crate) mod ie {
    pub(crate) const OCTET_DELTA: u16 = 1;
    pub(crate) const PACKET_DELTA: u16 = 2;
    pub(crate) const PROTOCOL: u16 = 4;
    pub(crate) const TCP_FLAGS: u16 = 6;
    pub(crate) const SRC_PORT: u16 = 7;
    pub(crate) const SRC_V4: u16 = 8;
    pub(crate) const DST_PORT: u16 = 11;
    pub(crate) const DST_V4: u16 = 12;
    pub(crate) const END_UPTIME: u16 = 21;
    pub(crate) const START_UPTIME: u16 = 22;
    pub(crate) const POST_OCTET_DELTA: u16 = 23;
    pub(crate) const POST_PACKET_DELTA: u16 = 24;
    pub(crate) const SRC_V6: u16 = 27;
    pub(crate) const DST_V6: u16 = 28;
    pub(crate) const ICMP_TYPE_CODE_V4: u16 = 32;
    pub(crate) const SAMPLING_INTERVAL: u16 = 34;
    pub(crate) const SAMPLER_ID: u16 = 48;
    pub(crate) const SAMPLER_RANDOM_INTERVAL: u16 = 50;
    pub(crate) const OCTET_TOTAL: u16 = 85;
    pub(crate) const PACKET_TOTAL: u16 = 86;
    pub(crate) const ICMP_TYPE_CODE_V6: u16 = 139;
    pub(crate) const START_SECONDS: u16 = 150;
    pub(crate) const END_SECONDS: u16 = 151;
    pub(crate) const START_MILLIS: u16 = 152;
    pub(crate) const END_MILLIS: u16 = 153;
    pub(crate) const START_MICROS: u16 = 154;
    pub(crate) const END_MICROS: u16 = 155;
    pub(crate) const START_NANOS: u16 = 156;
    pub(crate) const END_NANOS: u16 = 157;
    pub(crate) const START_DELTA_MICROS: u16 = 158;
    pub(crate) const END_DELTA_MICROS: u16 = 159;
    pub(crate) const SYSTEM_INIT_MILLIS: u16 = 160;
    pub(crate) const ICMP_TYPE_V4: u16 = 176;
    pub(crate) const ICMP_CODE_V4: u16 = 177;
    pub(crate) const ICMP_TYPE_V6: u16 = 178;
    pub(crate) const ICMP_CODE_V6: u16 = 179;
    pub(crate) const INITIATOR_OCTETS: u16 = 231;
    pub(crate) const RESPONDER_OCTETS: u16 = 232;
    pub(crate) const INITIATOR_PACKETS: u16 = 298;
    pub(crate) const RESPONDER_PACKETS: u16 = 299;
    pub(crate) const SELECTOR_ID: u16 = 302;
    pub(crate) const SAMPLING_PACKET_INTERVAL: u16 = 305;
    pub(crate) const SAMPLING_PACKET_SPACE: u16 = 306;
    pub(crate) const SAMPLING_SIZE: u16 = 309;
    pub(crate) const SAMPLING_POPULATION: u16 = 310;
    pub(crate) const SAMPLING_PROBABILITY: u16 = 311;
}

/// The IANA number of the IPFIX elements read here; `None` for every other element.
fn iana_number(f: IANAIPFixField) -> Option<u16> {
    use IANAIPFixField as F;
    Some(match f {
        F::OctetDeltaCount => ie::OCTET_DELTA,
        F::PacketDeltaCount => ie::PACKET_DELTA,
        F::ProtocolIdentifier => ie::PROTOCOL,
        F::TcpControlBits => ie::TCP_FLAGS,
        F::SourceTransportPort => ie::SRC_PORT,
        F::SourceIpv4address => ie::SRC_V4,
        F::DestinationTransportPort => ie::DST_PORT,
        F::DestinationIpv4address => ie::DST_V4,
        F::FlowEndSysUpTime => ie::END_UPTIME,
        F::FlowStartSysUpTime => ie::START_UPTIME,
        F::PostOctetDeltaCount => ie::POST_OCTET_DELTA,
        F::PostPacketDeltaCount => ie::POST_PACKET_DELTA,
        F::SourceIpv6address => ie::SRC_V6,
        F::DestinationIpv6address => ie::DST_V6,
        F::IcmpTypeCodeIpv4 => ie::ICMP_TYPE_CODE_V4,
        F::SamplingInterval => ie::SAMPLING_INTERVAL,
        F::SamplerId => ie::SAMPLER_ID,
        F::SamplerRandomInterval => ie::SAMPLER_RANDOM_INTERVAL,
        F::OctetTotalCount => ie::OCTET_TOTAL,
        F::PacketTotalCount => ie::PACKET_TOTAL,
        F::IcmpTypeCodeIpv6 => ie::ICMP_TYPE_CODE_V6,
        F::FlowStartSeconds => ie::START_SECONDS,
        F::FlowEndSeconds => ie::END_SECONDS,
        F::FlowStartMilliseconds => ie::START_MILLIS,
        F::FlowEndMilliseconds => ie::END_MILLIS,
        F::FlowStartMicroseconds => ie::START_MICROS,
        F::FlowEndMicroseconds => ie::END_MICROS,
        F::FlowStartNanoseconds => ie::START_NANOS,
        F::FlowEndNanoseconds => ie::END_NANOS,
        F::FlowStartDeltaMicroseconds => ie::START_DELTA_MICROS,
        F::FlowEndDeltaMicroseconds => ie::END_DELTA_MICROS,
        F::SystemInitTimeMilliseconds => ie::SYSTEM_INIT_MILLIS,
        F::IcmpTypeIpv4 => ie::ICMP_TYPE_V4,
        F::IcmpCodeIpv4 => ie::ICMP_CODE_V4,
        F::IcmpTypeIpv6 => ie::ICMP_TYPE_V6,
        F::IcmpCodeIpv6 => ie::ICMP_CODE_V6,
        F::InitiatorOctets => ie::INITIATOR_OCTETS,
        F::ResponderOctets => ie::RESPONDER_OCTETS,
        F::InitiatorPackets => ie::INITIATOR_PACKETS,
        F::ResponderPackets => ie::RESPONDER_PACKETS,
        F::SelectorId => ie::SELECTOR_ID,
        F::SamplingPacketInterval => ie::SAMPLING_PACKET_INTERVAL,
        F::SamplingPacketSpace => ie::SAMPLING_PACKET_SPACE,
        F::SamplingSize => ie::SAMPLING_SIZE,
        F::SamplingPopulation => ie::SAMPLING_POPULATION,
        F::SamplingProbability => ie::SAMPLING_PROBABILITY,
        _ => return None,
    })
}

/// Where an IPFIX field lands: a forward IANA element, a reverse one (RFC 5103 biflows),
/// or nowhere (vendor elements are skipped; their length was already consumed by the parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Forward(u16),
    Reverse(u16),
    Ignored,
}

/// Classifies an IPFIX field.
pub(crate) fn ipfix_slot(field: &IPFixField) -> Slot {
    match field {
        IPFixField::IANA(f) => iana_number(*f).map_or(Slot::Ignored, Slot::Forward),
        IPFixField::ReverseInformationElement(r) => match r {
            ReverseInformationElement::ReverseOctetDeltaCount => Slot::Reverse(ie::OCTET_DELTA),
            ReverseInformationElement::ReversePacketDeltaCount => Slot::Reverse(ie::PACKET_DELTA),
            ReverseInformationElement::ReverseOctetTotalCount => Slot::Reverse(ie::OCTET_TOTAL),
            ReverseInformationElement::ReversePacketTotalCount => Slot::Reverse(ie::PACKET_TOTAL),
            ReverseInformationElement::ReverseTcpControlBits => Slot::Reverse(ie::TCP_FLAGS),
            _ => Slot::Ignored,
        },
        _ => Slot::Ignored,
    }
}

/// A time as an exporter states it, resolved to event time once the whole record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Time {
    /// Unix milliseconds.
    Abs(i64),
    /// Milliseconds since the exporter booted (NetFlow v9 switched times, IPFIX sysUpTime).
    Uptime(u64),
    /// Microseconds before the export time.
    DeltaMicros(u64),
}

/// What a record (or an options record) said, before resolution.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields {
    pub(crate) src: Option<IpAddr>,
    pub(crate) dst: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    protocol: u8,
    tcp_flags: u8,
    rev_tcp_flags: u8,
    octets: Option<u64>,
    packets: Option<u64>,
    octets_total: Option<u64>,
    packets_total: Option<u64>,
    post_octets: Option<u64>,
    post_packets: Option<u64>,
    initiator_octets: Option<u64>,
    initiator_packets: Option<u64>,
    responder_octets: Option<u64>,
    responder_packets: Option<u64>,
    rev_octets: Option<u64>,
    rev_packets: Option<u64>,
    icmp_type_code: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    start: Option<Time>,
    end: Option<Time>,
    pub(crate) system_init_ms: Option<i64>,
    sampling_interval: Option<u64>,
    pub(crate) sampler_id: Option<u64>,
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    sample_size: Option<u64>,
    sample_population: Option<u64>,
    probability: Option<f64>,
}

fn number(v: &FieldValue) -> Option<u64> {
    match v {
        FieldValue::TcpControlBits(bits, _) => Some(u64::from(u16::from(*bits))),
        FieldValue::ProtocolType(_) => other_u8(v),
        other => other.as_u64(),
    }
}

fn other_u8(v: &FieldValue) -> Option<u64> {
    v.as_u8().map(u64::from)
}

fn address(v: &FieldValue) -> Option<IpAddr> {
    match v {
        FieldValue::Ip4Addr(a) => Some(IpAddr::V4(*a)),
        FieldValue::Ip6Addr(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// Unix milliseconds of an absolute IPFIX time (seconds, milliseconds, NTP micro/nano).
fn absolute_ms(v: &FieldValue) -> Option<i64> {
    let ms = match v {
        FieldValue::Duration(d) => match d {
            DurationValue::Seconds { value, .. } => value.checked_mul(1000)?,
            DurationValue::Millis { value, .. } => *value,
            DurationValue::MicrosNtp { .. } | DurationValue::NanosNtp { .. } => {
                v.as_u64()?.checked_sub(NTP_UNIX_OFFSET_MS)?
            }
        },
        other => other.as_u64()?,
    };
    i64::try_from(ms).ok()
}

fn low_u16(v: u64) -> u16 {
    u16::try_from(v & 0xffff).unwrap_or(0)
}

fn low_u8(v: u64) -> u8 {
    u8::try_from(v & 0xff).unwrap_or(0)
}

/// Whether [`Fields::apply`] reads this forward element (every other one it ignores): the
/// compiled templates skip the rest without decoding them.
pub(crate) fn reads(id: u16) -> bool {
    matches!(
        id,
        ie::SRC_V4
            | ie::SRC_V6
            | ie::DST_V4
            | ie::DST_V6
            | ie::SRC_PORT
            | ie::DST_PORT
            | ie::PROTOCOL
            | ie::TCP_FLAGS
            | ie::OCTET_DELTA
            | ie::PACKET_DELTA
            | ie::OCTET_TOTAL
            | ie::PACKET_TOTAL
            | ie::POST_OCTET_DELTA
            | ie::POST_PACKET_DELTA
            | ie::INITIATOR_OCTETS
            | ie::INITIATOR_PACKETS
            | ie::RESPONDER_OCTETS
            | ie::RESPONDER_PACKETS
            | ie::ICMP_TYPE_CODE_V4
            | ie::ICMP_TYPE_CODE_V6
            | ie::ICMP_TYPE_V4
            | ie::ICMP_TYPE_V6
            | ie::ICMP_CODE_V4
            | ie::ICMP_CODE_V6
            | ie::START_UPTIME
            | ie::END_UPTIME
            | ie::START_SECONDS
            | ie::START_MILLIS
            | ie::START_MICROS
            | ie::START_NANOS
            | ie::END_SECONDS
            | ie::END_MILLIS
            | ie::END_MICROS
            | ie::END_NANOS
            | ie::START_DELTA_MICROS
            | ie::END_DELTA_MICROS
            | ie::SYSTEM_INIT_MILLIS
            | ie::SAMPLING_INTERVAL
            | ie::SAMPLER_RANDOM_INTERVAL
            | ie::SAMPLER_ID
            | ie::SELECTOR_ID
            | ie::SAMPLING_PACKET_INTERVAL
            | ie::SAMPLING_PACKET_SPACE
            | ie::SAMPLING_SIZE
            | ie::SAMPLING_POPULATION
            | ie::SAMPLING_PROBABILITY
    )
}

/// The readings an element's value is taken for: as a number (counters, ports, uptimes),
/// an address, an absolute time in Unix milliseconds, a probability. Which one counts depends
/// on the element; computing them from the decoded value in one place lets the compiled
/// templates build them straight from the bytes for the common shapes and be checked
/// against this.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Val {
    pub(crate) number: Option<u64>,
    pub(crate) address: Option<IpAddr>,
    pub(crate) absolute: Option<i64>,
    pub(crate) probability: Option<f64>,
}

impl Val {
    /// The readings of a value netflow_parser decoded.
    pub(crate) fn of(v: &FieldValue) -> Self {
        Self {
            number: number(v),
            address: address(v),
            absolute: absolute_ms(v),
            probability: match v {
                FieldValue::Float64(p) => Some(*p),
                _ => None,
            },
        }
    }

    /// An unsigned integer (`DataNumber`).
    #[inline]
    pub(crate) fn unsigned(n: u64) -> Self {
        Self {
            number: Some(n),
            absolute: i64::try_from(n).ok(),
            ..Self::default()
        }
    }

    /// An IPv4 or IPv6 address.
    #[inline]
    pub(crate) fn address(a: IpAddr) -> Self {
        Self {
            address: Some(a),
            ..Self::default()
        }
    }

    /// Milliseconds since the Unix epoch (dateTimeMilliseconds).
    #[inline]
    pub(crate) fn millis(ms: u64) -> Self {
        Self {
            number: Some(ms),
            absolute: i64::try_from(ms).ok(),
            ..Self::default()
        }
    }

    /// Seconds since the Unix epoch (dateTimeSeconds).
    #[inline]
    pub(crate) fn seconds(s: u64) -> Self {
        let ms = s.checked_mul(1000);
        Self {
            number: ms,
            absolute: ms.and_then(|ms| i64::try_from(ms).ok()),
            ..Self::default()
        }
    }

    /// TCP control bits as netflow_parser keeps them (the nine defined flags).
    #[inline]
    pub(crate) fn tcp_flags(bits: u16) -> Self {
        Self {
            number: Some(u64::from(bits & 0x01ff)),
            ..Self::default()
        }
    }

    /// A protocol number.
    #[inline]
    pub(crate) fn protocol(p: u8) -> Self {
        Self {
            number: Some(u64::from(p)),
            ..Self::default()
        }
    }
}

impl Fields {
    /// Applies one forward element (IANA number) to the record.
    #[inline]
    pub(crate) fn apply(&mut self, id: u16, v: &FieldValue) {
        // Only the reading the element is taken for: `apply_val` looks at no other.
        let val = match id {
            ie::SRC_V4 | ie::SRC_V6 | ie::DST_V4 | ie::DST_V6 => Val {
                address: address(v),
                ..Val::default()
            },
            ie::START_SECONDS
            | ie::START_MILLIS
            | ie::START_MICROS
            | ie::START_NANOS
            | ie::END_SECONDS
            | ie::END_MILLIS
            | ie::END_MICROS
            | ie::END_NANOS
            | ie::SYSTEM_INIT_MILLIS => Val {
                absolute: absolute_ms(v),
                ..Val::default()
            },
            ie::SAMPLING_PROBABILITY => Val::of(v),
            _ if reads(id) => Val {
                number: number(v),
                ..Val::default()
            },
            _ => return,
        };
        self.apply_val(id, &val);
    }

    /// Applies one forward element, given as the readings [`Val`] takes of its value.
    #[inline]
    pub(crate) fn apply_val(&mut self, id: u16, v: &Val) {
        match id {
            ie::SRC_V4 | ie::SRC_V6 => self.src = v.address.or(self.src),
            ie::DST_V4 | ie::DST_V6 => self.dst = v.address.or(self.dst),
            ie::SRC_PORT => self.src_port = v.number.map(low_u16),
            ie::DST_PORT => self.dst_port = v.number.map(low_u16),
            ie::PROTOCOL => self.protocol = v.number.map_or(0, low_u8),
            ie::TCP_FLAGS => self.tcp_flags = v.number.map_or(0, low_u8),
            ie::OCTET_DELTA => self.octets = v.number,
            ie::PACKET_DELTA => self.packets = v.number,
            ie::OCTET_TOTAL => self.octets_total = v.number,
            ie::PACKET_TOTAL => self.packets_total = v.number,
            ie::POST_OCTET_DELTA => self.post_octets = v.number,
            ie::POST_PACKET_DELTA => self.post_packets = v.number,
            ie::INITIATOR_OCTETS => self.initiator_octets = v.number,
            ie::INITIATOR_PACKETS => self.initiator_packets = v.number,
            ie::RESPONDER_OCTETS => self.responder_octets = v.number,
            ie::RESPONDER_PACKETS => self.responder_packets = v.number,
            ie::ICMP_TYPE_CODE_V4 | ie::ICMP_TYPE_CODE_V6 => {
                self.icmp_type_code = v.number.map(low_u16);
            }
            ie::ICMP_TYPE_V4 | ie::ICMP_TYPE_V6 => self.icmp_type = v.number.map(low_u8),
            ie::ICMP_CODE_V4 | ie::ICMP_CODE_V6 => self.icmp_code = v.number.map(low_u8),
            ie::START_UPTIME => self.start = v.number.map(Time::Uptime).or(self.start),
            ie::END_UPTIME => self.end = v.number.map(Time::Uptime).or(self.end),
            ie::START_SECONDS | ie::START_MILLIS | ie::START_MICROS | ie::START_NANOS => {
                self.start = v.absolute.map(Time::Abs).or(self.start);
            }
            ie::END_SECONDS | ie::END_MILLIS | ie::END_MICROS | ie::END_NANOS => {
                self.end = v.absolute.map(Time::Abs).or(self.end);
            }
            ie::START_DELTA_MICROS => {
                self.start = v.number.map(Time::DeltaMicros).or(self.start);
            }
            ie::END_DELTA_MICROS => self.end = v.number.map(Time::DeltaMicros).or(self.end),
            ie::SYSTEM_INIT_MILLIS => self.system_init_ms = v.absolute,
            ie::SAMPLING_INTERVAL | ie::SAMPLER_RANDOM_INTERVAL => {
                self.sampling_interval = v.number.filter(|n| *n > 0).or(self.sampling_interval);
            }
            ie::SAMPLER_ID | ie::SELECTOR_ID => self.sampler_id = v.number,
            ie::SAMPLING_PACKET_INTERVAL => self.packet_interval = v.number,
            ie::SAMPLING_PACKET_SPACE => self.packet_space = v.number,
            ie::SAMPLING_SIZE => self.sample_size = v.number,
            ie::SAMPLING_POPULATION => self.sample_population = v.number,
            ie::SAMPLING_PROBABILITY => {
                if let Some(p) = v.probability {
                    self.probability = Some(p);
                }
            }
            _ => {}
        }
    }

    /// Applies one reverse-direction element (RFC 5103).
    #[inline]
    pub(crate) fn apply_reverse(&mut self, id: u16, v: &FieldValue) {
        self.apply_reverse_val(id, &Val::of(v));
    }

    /// Applies one reverse-direction element, given as its readings.
    #[inline]
    pub(crate) fn apply_reverse_val(&mut self, id: u16, v: &Val) {
        match id {
            ie::OCTET_DELTA | ie::OCTET_TOTAL => self.rev_octets = v.number,
            ie::PACKET_DELTA | ie::PACKET_TOTAL => self.rev_packets = v.number,
            ie::TCP_FLAGS => self.rev_tcp_flags = v.number.map_or(0, low_u8),
            _ => {}
        }
    }

    /// The sampling rate this record (or options record) states, if any: 1-in-N.
    pub(crate) fn sampling(&self) -> Option<u64> {
        if let Some(n) = self.sampling_interval {
            return Some(n);
        }
        // Random n-out-of-N (RFC 5476): N / n.
        if let (Some(size), Some(population)) =
            (self.sample_size.filter(|n| *n > 0), self.sample_population)
        {
            return Some((population / size).max(1));
        }
        // Systematic count-based: `interval` packets taken, then `space` skipped.
        if let (Some(interval), Some(space)) =
            (self.packet_interval.filter(|n| *n > 0), self.packet_space)
        {
            return Some(interval.saturating_add(space) / interval);
        }
        let p = self.probability?;
        if p > 0.0 && p <= 1.0 {
            // In range: 1/p is at least 1 and finite.
            let n = (1.0 / p).round();
            if (1.0..1e18).contains(&n) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                return Some(n as u64);
            }
        }
        None
    }

    /// Turns the record into a flow. `None` when it carries no addresses.
    pub(crate) fn into_flow(self, ctx: &RecordContext<'_>) -> Option<FlowRecord> {
        let src = self.src?;
        let dst = self.dst?;
        let sampling = self
            .sampling()
            .or_else(|| self.sampler_id.and_then(|id| ctx.sampler(id)))
            .or(ctx.default_sampling)
            .unwrap_or(1)
            .max(1);
        let octets = self
            .octets
            .or(self.octets_total)
            .or(self.initiator_octets)
            .or(self.post_octets)
            .unwrap_or(0);
        let packets = self
            .packets
            .or(self.packets_total)
            .or(self.initiator_packets)
            .or(self.post_packets)
            .unwrap_or(0);
        let rev_octets = self.rev_octets.or(self.responder_octets).unwrap_or(0);
        let rev_packets = self.rev_packets.or(self.responder_packets).unwrap_or(0);
        let (mut src_port, mut dst_port) = (self.src_port.unwrap_or(0), self.dst_port.unwrap_or(0));
        if self.protocol == proto::ICMP || self.protocol == proto::ICMPV6 {
            let type_code = self.icmp_type_code.or_else(|| {
                self.icmp_type
                    .map(|t| u16::from(t) << 8 | u16::from(self.icmp_code.unwrap_or(0)))
            });
            // NetFlow convention: type and code travel in the destination port.
            let tc = type_code.unwrap_or(dst_port);
            src_port = tc >> 8;
            dst_port = tc & 0xff;
        }
        let system_init = self.system_init_ms.or(ctx.system_init_ms);
        let resolve = |t: Option<Time>| -> Option<i64> {
            match t? {
                Time::Abs(ms) => Some(ms),
                Time::Uptime(up) => match (system_init, ctx.sys_uptime_ms) {
                    (Some(base), _) => base.checked_add(i64::try_from(up).ok()?),
                    (None, Some(header_uptime)) => Some(switched_ms(
                        ctx.export_ms,
                        header_uptime,
                        u32::try_from(up & 0xffff_ffff).ok()?,
                    )),
                    (None, None) => None,
                },
                Time::DeltaMicros(us) => ctx.export_ms.checked_sub(i64::try_from(us / 1000).ok()?),
            }
        };
        let end = resolve(self.end).unwrap_or(ctx.export_ms);
        let start = resolve(self.start).unwrap_or(end);
        let state = conn_state(self.protocol, self.tcp_flags);
        Some(FlowRecord {
            source: ctx.source,
            exporter: Some(ctx.exporter.clone()),
            uid: None,
            start: Timestamp(start),
            end: Timestamp(end),
            src,
            dst,
            src_port,
            dst_port,
            protocol: self.protocol,
            packets: packets.saturating_mul(sampling),
            bytes: octets.saturating_mul(sampling),
            rev_packets: rev_packets.saturating_mul(sampling),
            rev_bytes: rev_octets.saturating_mul(sampling),
            tcp_flags: self.tcp_flags,
            rev_tcp_flags: self.rev_tcp_flags,
            state,
            service: None,
            facts: Default::default(),
        })
    }
}

/// What the packet header and the exporter's state contribute to each of its records.
pub(crate) struct RecordContext<'a> {
    pub(crate) source: SignalSource,
    pub(crate) exporter: &'a Arc<str>,
    /// Export time of the packet, Unix milliseconds.
    pub(crate) export_ms: i64,
    /// The header's uptime (NetFlow v5/v9), against which switched times are read.
    pub(crate) sys_uptime_ms: Option<u32>,
    /// Exporter boot time learnt from options data (IPFIX systemInitTimeMilliseconds).
    pub(crate) system_init_ms: Option<i64>,
    /// Sampling rate learnt from options data without a sampler id.
    pub(crate) default_sampling: Option<u64>,
    pub(crate) samplers: &'a [(u64, u64)],
}

impl RecordContext<'_> {
    fn sampler(&self, id: u64) -> Option<u64> {
        self.samplers
            .iter()
            .find(|(sid, _)| *sid == id)
            .map(|(_, rate)| *rate)
    }
}

/// Zeek-style state from the flags one direction of a TCP flow carried. A unidirectional
/// record cannot see the reply, so only the originator-side shapes are told apart: a lone
/// SYN is an unanswered attempt (S0), SYN with RST or FIN but no ACK is RSTOS0 or SH, a
/// handshake (SYN and ACK) is established (S1), closed by FIN (SF) or aborted by RST
/// (RSTO); anything without a SYN is midstream (OTH), and so is every other protocol.
pub fn conn_state(protocol: u8, flags: u8) -> ConnState {
    use tcp_flags::{ACK, FIN, RST, SYN};
    if protocol != proto::TCP || flags & SYN == 0 {
        return ConnState::OTH;
    }
    let (ack, fin, rst) = (flags & ACK != 0, flags & FIN != 0, flags & RST != 0);
    match (ack, rst, fin) {
        (false, false, false) => ConnState::S0,
        (false, true, _) => ConnState::RSTOS0,
        (false, false, true) => ConnState::SH,
        (true, true, _) => ConnState::RSTO,
        (true, false, true) => ConnState::SF,
        (true, false, false) => ConnState::S1,
    }
}

/// Absolute time of a 32-bit uptime stamp (NetFlow First/LastSwitched), read relative to the
/// header's uptime so that a counter wrap between the two does not throw it 49 days off.
pub(crate) fn switched_ms(export_ms: i64, sys_uptime_ms: u32, switched: u32) -> i64 {
    #[allow(clippy::cast_possible_wrap)]
    let behind = sys_uptime_ms.wrapping_sub(switched) as i32;
    export_ms - i64::from(behind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_from_flags() {
        use tcp_flags::*;
        assert_eq!(conn_state(proto::TCP, SYN), ConnState::S0);
        assert_eq!(conn_state(proto::TCP, SYN | RST), ConnState::RSTOS0);
        assert_eq!(conn_state(proto::TCP, SYN | FIN), ConnState::SH);
        assert_eq!(conn_state(proto::TCP, SYN | ACK), ConnState::S1);
        assert_eq!(conn_state(proto::TCP, SYN | ACK | PSH | FIN), ConnState::SF);
        assert_eq!(conn_state(proto::TCP, SYN | ACK | RST), ConnState::RSTO);
        assert_eq!(conn_state(proto::TCP, ACK | PSH), ConnState::OTH);
        assert_eq!(conn_state(proto::UDP, SYN), ConnState::OTH);
    }

    #[test]
    fn reads_lists_exactly_what_apply_uses() {
        // Every element id, with a value of each shape apply distinguishes.
        let values = [
            FieldValue::DataNumber(netflow_parser::DataNumber::U32(7)),
            FieldValue::Ip4Addr(std::net::Ipv4Addr::new(192, 0, 2, 1)),
            FieldValue::Float64(0.5),
        ];
        let blank = format!("{:?}", Fields::default());
        for id in 0..=u16::MAX {
            let changed = values.iter().any(|v| {
                let mut f = Fields::default();
                f.apply(id, v);
                format!("{f:?}") != blank
            });
            assert_eq!(changed, reads(id), "element {id}");
        }
    }

    #[test]
    fn apply_takes_the_same_readings_as_apply_val() {
        use netflow_parser::DataNumber;
        let values = [
            FieldValue::DataNumber(DataNumber::U32(7)),
            FieldValue::DataNumber(DataNumber::I64(-3)),
            FieldValue::DataNumber(DataNumber::U64(u64::MAX)),
            FieldValue::Ip4Addr(std::net::Ipv4Addr::new(192, 0, 2, 1)),
            FieldValue::Ip6Addr(std::net::Ipv6Addr::LOCALHOST),
            FieldValue::Float64(0.25),
            FieldValue::Duration(DurationValue::Seconds {
                value: 1_700_000_000,
                width: 4,
            }),
            FieldValue::Duration(DurationValue::Millis {
                value: 1_700_000_000_123,
                width: 8,
            }),
            FieldValue::Vec(vec![1, 2, 3]),
        ];
        for id in 0..=u16::MAX {
            for v in &values {
                let (mut a, mut b) = (Fields::default(), Fields::default());
                a.apply(id, v);
                b.apply_val(id, &Val::of(v));
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "element {id} {v:?}");
            }
        }
    }

    #[test]
    fn switched_times_survive_uptime_wrap() {
        // Uptime wrapped to 1000 ms; the flow started 3000 ms before, i.e. before the wrap.
        let t = switched_ms(1_700_000_000_000, 1000, u32::MAX - 1999);
        assert_eq!(t, 1_700_000_000_000 - 3000);
        // A stamp slightly after the header's uptime is in the future, not 49 days ago.
        assert_eq!(switched_ms(10_000, 500, 700), 10_200);
    }

    #[test]
    fn sampling_from_packet_interval_and_probability() {
        let mut f = Fields::default();
        f.apply(
            ie::SAMPLING_PACKET_INTERVAL,
            &FieldValue::DataNumber(netflow_parser::DataNumber::U32(1)),
        );
        f.apply(
            ie::SAMPLING_PACKET_SPACE,
            &FieldValue::DataNumber(netflow_parser::DataNumber::U32(99)),
        );
        assert_eq!(f.sampling(), Some(100));
        let mut g = Fields::default();
        g.apply(ie::SAMPLING_PROBABILITY, &FieldValue::Float64(0.001));
        assert_eq!(g.sampling(), Some(1000));
        let mut h = Fields::default();
        h.apply(ie::SAMPLING_PROBABILITY, &FieldValue::Float64(f64::NAN));
        assert_eq!(h.sampling(), None);
    }
}
